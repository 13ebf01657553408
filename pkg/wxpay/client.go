package wxpay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/retry"
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
	BaseURL  string   // "" means DefaultBaseURL
	// FailoverURL, when set, receives the retries that follow a network
	// failure or an HTTP 5xx (typically BackupBaseURL); the request is the
	// same, so is the out_trade_no.
	FailoverURL string

	// Transport sends requests; nil means http.DefaultTransport. Requests
	// go to it directly: a payment request never follows a redirect.
	Transport http.RoundTripper
	// CertTransport sends the requests that need the merchant's client
	// certificate (refunds); nil means refunds are not available.
	CertTransport http.RoundTripper
	Now           func() time.Time // nil means time.Now
	Rand          io.Reader        // source of nonces; must be cryptographic (crypto/rand.Reader)

	// MaxAttempts bounds the sends of one request when WeChat answers
	// SYSTEMERROR or BIZERR_NEED_RETRY, HTTP 5xx, or the network fails;
	// 0 means 3. Retries send the same bytes, so the same out_trade_no.
	MaxAttempts int
	// AttemptTimeout bounds each send within the caller's context; 0 means
	// only the context's deadline applies.
	AttemptTimeout time.Duration
	// RetryWait is the pause before the first retry, doubled for each
	// later one; 0 means 50 ms.
	RetryWait time.Duration
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
	return c.call(ctx, c.Transport, path, params)
}

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

// send posts body until an attempt gives a final answer, the attempts run
// out, or the context ends; retries after an unreachable or failing host go
// to FailoverURL when it is set.
func (c *Client) send(ctx context.Context, rt http.RoundTripper, path string, body []byte) (Params, error) {
	base := c.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	var answer Params
	var last error
	err := retry.Policy{Attempts: c.MaxAttempts, Wait: c.RetryWait}.Do(ctx, func() error {
		host := base
		if c.FailoverURL != "" && hostFailed(last) {
			host = c.FailoverURL
		}
		answer, last = c.attempt(ctx, rt, host+path, body)
		return last
	}, retryable)
	return answer, err
}

// hostFailed reports a failure of the host rather than of the request.
func hostFailed(err error) bool {
	var status *HTTPError
	return errors.Is(err, ErrTransport) || errors.As(err, &status) && status.StatusCode >= 500
}

func retryable(err error) bool {
	var refusal *Error
	if errors.As(err, &refusal) {
		return refusal.Retryable()
	}
	var status *HTTPError
	if errors.As(err, &status) {
		return status.StatusCode >= 500
	}
	return errors.Is(err, ErrTransport)
}

func (c *Client) attempt(ctx context.Context, rt http.RoundTripper, endpoint string, body []byte) (Params, error) {
	if deadline, ok := ctx.Deadline(); c.AttemptTimeout > 0 && (!ok || time.Until(deadline) > c.AttemptTimeout) {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.AttemptTimeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	if rt == nil {
		rt = http.DefaultTransport
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return nil, transportError(err)
	}
	defer resp.Body.Close()
	raw, err := ReadBody(resp.Body, resp.ContentLength)
	if err != nil {
		return nil, transportError(err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &HTTPError{StatusCode: resp.StatusCode}
	}
	return c.checkAnswer(raw)
}

// ReadBody reads at most MaxBodySize+1 bytes of an HTTP body, sized by its
// Content-Length when one is known, so that callers can refuse bodies over
// MaxBodySize.
func ReadBody(r io.Reader, contentLength int64) ([]byte, error) {
	if contentLength < 0 || contentLength > MaxBodySize {
		return io.ReadAll(io.LimitReader(r, MaxBodySize+1))
	}
	buf := make([]byte, contentLength, contentLength+1)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, err
	}
	// Anything past the declared length means the length lied.
	if n, _ := r.Read(buf[len(buf):cap(buf)]); n > 0 {
		return nil, fmt.Errorf("body longer than its Content-Length")
	}
	return buf, nil
}

// transportError drops the URL that net/http puts in its errors (requests
// can carry secrets in the query) and keeps the cause, so that
// errors.Is(err, context.DeadlineExceeded) still holds.
func transportError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fmt.Errorf("%w: %w", ErrTransport, err)
}

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
