package wxpay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/outbound"
)

// The merchant API's production hosts: the main one, and the backup a
// request may fail over to when the main one cannot be reached.
const (
	DefaultBaseURL = "https://api.mch.weixin.qq.com"
	BackupBaseURL  = "https://api2.mch.weixin.qq.com"
)

// Client calls the merchant API v2 for one merchant and one mini-program.
// Every field is set by the caller; the zero values of the optional ones are
// documented below. A Client is safe for concurrent use.
type Client struct {
	AppID    string   // the mini-program's AppID
	MchID    string   // the merchant id, mch_id
	Key      string   // the API v2 key; never logged or returned
	SignType SignType // signs requests and verifies answers; "" means MD5
	// HTTP sends every request: timeout per attempt, retries of the same
	// bytes (so of the same out_trade_no) after SYSTEMERROR,
	// BIZERR_NEED_RETRY, an HTTP 5xx or a network failure, failover to
	// HTTP.FailoverURL (typically BackupBaseURL). HTTP.BaseURL "" means
	// DefaultBaseURL.
	HTTP outbound.Client
	// CertTransport sends the requests that need the merchant's client
	// certificate (refunds) in place of HTTP.Transport; nil means refunds
	// are not available.
	CertTransport http.RoundTripper
	Now           func() time.Time // nil means time.Now
	Rand          io.Reader        // source of nonces; must be cryptographic (crypto/rand.Reader)
	// MaxBillSize bounds a bill once decompressed (HTTP.MaxDownloadSize
	// bounds it as sent); 0 means DefaultMaxBillSize.
	MaxBillSize int64
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Client) signType() SignType {
	if c.SignType == "" {
		return SignMD5
	}
	return c.SignType
}

// Call sends a signed request to the API path (for example
// "/pay/unifiedorder") and returns the answer's fields once the answer has
// passed every check, in this order: HTTP status, XML form, return_code,
// sign, result_code. A refusal is an *Error; a failed check wraps one of the
// package's sentinel errors. appid, mch_id, nonce_str, sign_type and sign are
// filled in and must not be in params.
func (c *Client) Call(ctx context.Context, path string, params Params) (Params, error) {
	return c.call(ctx, nil, path, params)
}

// call is Call through rt in place of HTTP.Transport when rt is not nil.
func (c *Client) call(ctx context.Context, rt http.RoundTripper, path string, params Params) (Params, error) {
	body, err := c.encodeRequest(params)
	if err != nil {
		return nil, err
	}
	return c.send(ctx, rt, path, body)
}

// encodeRequest adds the merchant's identity and a fresh nonce to params,
// signs them and writes the XML body.
func (c *Client) encodeRequest(params Params) ([]byte, error) {
	nonce, err := NewNonce(c.Rand)
	if err != nil {
		return nil, err
	}
	st := c.signType()
	var fb [32]field
	fs := append(fb[:0], field{"appid", c.AppID}, field{"mch_id", c.MchID}, field{"nonce_str", nonce})
	if st != SignMD5 {
		fs = append(fs, field{"sign_type", string(st)})
	}
	for k, v := range params {
		if v == "" {
			continue // optional and unsigned; nothing to send
		}
		switch k {
		case "appid", "mch_id", "nonce_str", "sign_type", "sign":
			return nil, fmt.Errorf("%w: %s is set by the client", ErrInvalidField, k)
		}
		fs = append(fs, field{k, v})
	}
	slices.SortFunc(fs, func(a, b field) int { return strings.Compare(a.k, b.k) })
	return encodeSigned(fs, c.Key, st)
}

// send posts body through the client's one HTTP path and returns the
// answer once it has passed every check.
func (c *Client) send(ctx context.Context, rt http.RoundTripper, path string, body []byte) (Params, error) {
	h := c.http()
	if rt != nil {
		h.Transport = rt
	}
	var answer Params
	_, err := h.Do(ctx, &outbound.Request{
		Method: http.MethodPost, Path: path, Body: body, Header: xmlHeader(),
		Check: func(r *outbound.Response) (err error) {
			if r.StatusCode != http.StatusOK {
				return &HTTPError{StatusCode: r.StatusCode}
			}
			answer, err = c.checkAnswer(r.Body)
			return err
		},
		Retryable: func(err error) bool {
			var refusal *Error
			return errors.As(err, &refusal) && refusal.Retryable()
		},
	})
	if err != nil {
		return nil, err
	}
	return answer, nil
}

// http is the client's HTTP path with its defaults.
func (c *Client) http() outbound.Client {
	h := c.HTTP
	if h.BaseURL == "" {
		h.BaseURL = DefaultBaseURL
	}
	return h
}

// xmlHeader is the header of every v2 request.
func xmlHeader() http.Header { return http.Header{"Content-Type": {"text/xml; charset=utf-8"}} }

// checkAnswer decodes an answer and applies the checks WeChat Pay requires
// before any field may be used.
func (c *Client) checkAnswer(raw []byte) (Params, error) {
	answer, err := DecodeXML(raw)
	if err != nil {
		return nil, err
	}
	switch answer["return_code"] {
	case "SUCCESS":
	case "FAIL":
		return nil, &Error{ReturnCode: "FAIL", ReturnMsg: answer["return_msg"]}
	default:
		return nil, fmt.Errorf("%w: return_code %q", ErrMalformedXML, answer["return_code"])
	}
	if err := Verify(answer, c.Key, c.signType()); err != nil {
		return nil, err
	}
	if answer["appid"] != c.AppID || answer["mch_id"] != c.MchID {
		return nil, fmt.Errorf("%w: answer names another appid or mch_id", ErrInvalidField)
	}
	if answer["result_code"] != "SUCCESS" {
		return nil, &Error{
			ReturnCode: "SUCCESS",
			ResultCode: answer["result_code"],
			ErrCode:    answer["err_code"],
			ErrCodeDes: answer["err_code_des"],
		}
	}
	return answer, nil
}
