package wxpayv3

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/wxpay-scf/wxpay-scf/pkg/outbound"
)

// The merchant API's production hosts: the main one, and the backup a
// request may fail over to when the main one cannot be reached.
const (
	DefaultBaseURL = "https://api.mch.weixin.qq.com"
	BackupBaseURL  = "https://api2.mch.weixin.qq.com"
)

// MaxBodySize bounds every notification read.
const MaxBodySize = 1 << 20

// Errors of the transport and of answers that are not the API's.
var (
	// ErrTransport is a request that got no complete answer; it is
	// outbound.ErrTransport, so either name matches.
	ErrTransport = outbound.ErrTransport
	ErrMalformed = errors.New("wxpayv3: malformed answer")
)

// Error is a refusal by WeChat Pay: a non-2xx answer with its code.
type Error struct {
	StatusCode int
	Code       string // WeChat's code; "" for an answer without one (a bare 4xx or 5xx)
	Message    string
	RequestID  string // the answer's Request-ID header, which WeChat's support asks for first
	// Signed reports that the refusal carried a signature, which verified.
	// WeChat signs its answers to every request whose own signature
	// verified; an unsigned refusal is believed where it can only stop
	// something, but one that would release money needs Signed.
	Signed bool
}

// Error gives WeChat's code, message and Request-ID.
func (e *Error) Error() string {
	code := ""
	if e.Code != "" {
		code = " " + e.Code
	}
	return fmt.Sprintf("wxpayv3: HTTP %d%s: %s%s", e.StatusCode, code, e.Message, requestIDSuffix(e.RequestID))
}

// Retryable reports whether the same request may be sent again.
func (e *Error) Retryable() bool {
	return e.StatusCode >= 500 || e.Code == "SYSTEM_ERROR" || e.Code == "FREQUENCY_LIMITED"
}

// answerError is an answer that failed verification or decoding, with the
// answer's Request-ID.
type answerError struct {
	requestID string
	err       error
}

func (e *answerError) Error() string { return e.err.Error() + requestIDSuffix(e.requestID) }
func (e *answerError) Unwrap() error { return e.err }

func requestIDSuffix(id string) string {
	if id == "" {
		return ""
	}
	return " (Request-ID " + id + ")"
}

// RequestID returns the Request-ID of the answer err was built from: a
// refusal, or an answer that failed verification or decoding. It is ""
// when err came from no answer (a timeout, say).
func RequestID(err error) string {
	var refusal *Error
	if errors.As(err, &refusal) {
		return refusal.RequestID
	}
	var a *answerError
	if errors.As(err, &a) {
		return a.requestID
	}
	return ""
}

// Client calls the merchant API v3 for one merchant and mini-program.
type Client struct {
	AppID  string
	Signer *Signer
	// Verifier checks every answer (required). Its PublicKeyID, when set,
	// is sent as Wechatpay-Serial; its Download is typically the client's
	// own DownloadCertificates.
	Verifier *Verifier
	// APIv3Key decrypts the platform certificates DownloadCertificates
	// fetches, and is what a gateway decrypts notifications with (see
	// ParseNotification); never logged.
	APIv3Key []byte
	// HTTP sends every request: timeout per attempt, retries of the same
	// body after a network failure, an HTTP 5xx, SYSTEM_ERROR or
	// FREQUENCY_LIMITED, failover to HTTP.FailoverURL (typically
	// BackupBaseURL). HTTP.BaseURL "" means DefaultBaseURL.
	HTTP outbound.Client
	// MaxBillSize bounds a bill once decompressed (HTTP.MaxDownloadSize
	// bounds it as sent); 0 means wxpay.DefaultMaxBillSize.
	MaxBillSize int64
}

// Do sends a signed request and decodes the verified answer into out (nil
// for none). A 2xx answer must carry a valid signature (an unknown serial
// may make the Verifier download the platform certificates); a refusal is
// an *Error. Every error built from an answer carries its Request-ID (see
// RequestID).
func (c *Client) Do(ctx context.Context, method, pathQuery string, body, out any) error {
	return c.do(ctx, method, pathQuery, body, out, nil)
}

// do is Do with valid, when not nil, checking the decoded answer, so that
// its refusal carries the answer's Request-ID too.
func (c *Client) do(ctx context.Context, method, pathQuery string, body, out any, valid func() error) error {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return err
		}
	}
	req := c.request(method, pathQuery, payload)
	req.Check = func(r *outbound.Response) error {
		if r.StatusCode/100 != 2 {
			return c.refusal(ctx, r)
		}
		if err := c.accept(ctx, r, out, valid); err != nil {
			return &answerError{r.RequestID, err}
		}
		return nil
	}
	req.Retryable = retryable
	h := c.http()
	_, err := h.Do(ctx, req)
	return err
}

// retryable reports whether an error of a Check asks for the same request
// again.
func retryable(err error) bool {
	var refusal *Error
	return errors.As(err, &refusal) && refusal.Retryable()
}

// accept verifies a 2xx answer, then decodes and checks it.
func (c *Client) accept(ctx context.Context, r *outbound.Response, out any, valid func() error) error {
	if err := c.Verifier.Verify(ctx, SignedFromHeader(r.Header), r.Body); err != nil {
		return err
	}
	if out != nil && len(r.Body) > 0 {
		if err := jsonUnmarshal(r.Body, out); err != nil {
			return err
		}
	}
	if valid != nil {
		return valid()
	}
	return nil
}

// http is the client's HTTP path with its defaults.
func (c *Client) http() outbound.Client {
	h := c.HTTP
	if h.BaseURL == "" {
		h.BaseURL = DefaultBaseURL
	}
	return h
}

// request is a request of the API, signed afresh on each attempt.
func (c *Client) request(method, pathQuery string, payload []byte) *outbound.Request {
	h := http.Header{"Accept": {"application/json"}, "User-Agent": {"wxpay-scf (Go)"}}
	if payload != nil {
		h.Set("Content-Type", "application/json")
	}
	if c.Verifier.PublicKeyID != "" {
		h.Set("Wechatpay-Serial", c.Verifier.PublicKeyID)
	}
	return &outbound.Request{Method: method, Path: pathQuery, Header: h, Body: payload, Prepare: func(r *http.Request) error {
		auth, err := c.Signer.Authorization(method, pathQuery, payload)
		r.Header.Set("Authorization", auth)
		return err
	}}
}

// refusal reads a non-2xx answer. A refusal can only stop a payment, never
// make one, so an unsigned one is believed; a signed one must verify.
func (c *Client) refusal(ctx context.Context, r *outbound.Response) error {
	var e struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	if json.Unmarshal(r.Body, &e) != nil || e.Code == "" {
		return &Error{StatusCode: r.StatusCode, Message: "no error body", RequestID: r.RequestID}
	}
	signed := SignedFromHeader(r.Header)
	if signed.Signature != "" {
		if err := c.Verifier.Verify(ctx, signed, r.Body); err != nil {
			return &answerError{r.RequestID, err}
		}
	}
	return &Error{StatusCode: r.StatusCode, Code: e.Code, Message: e.Message, RequestID: r.RequestID, Signed: signed.Signature != ""}
}

// SignedFromHeader reads the Wechatpay-* signature headers.
func SignedFromHeader(h http.Header) Signed {
	return Signed{
		Timestamp: h.Get("Wechatpay-Timestamp"),
		Nonce:     h.Get("Wechatpay-Nonce"),
		Signature: h.Get("Wechatpay-Signature"),
		Serial:    h.Get("Wechatpay-Serial"),
	}
}
