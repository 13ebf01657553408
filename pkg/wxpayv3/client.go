package wxpayv3

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/retry"
)

// The merchant API's production hosts: the main one, and the backup a
// request may fail over to when the main one cannot be reached.
const (
	DefaultBaseURL = "https://api.mch.weixin.qq.com"
	BackupBaseURL  = "https://api2.mch.weixin.qq.com"
)

// MaxBodySize bounds every answer and notification read.
const MaxBodySize = 1 << 20

// Errors of the transport and of answers that are not the API's.
var (
	ErrTransport = errors.New("wxpayv3: request did not complete")
	ErrMalformed = errors.New("wxpayv3: malformed answer")
)

// Error is a refusal by WeChat Pay: a non-2xx answer with its code.
type Error struct {
	StatusCode int
	Code       string
	Message    string
}

// Error gives WeChat's code and message.
func (e *Error) Error() string {
	return fmt.Sprintf("wxpayv3: HTTP %d %s: %s", e.StatusCode, e.Code, e.Message)
}

// Retryable reports whether the same request may be sent again.
func (e *Error) Retryable() bool {
	return e.StatusCode >= 500 || e.Code == "SYSTEM_ERROR" || e.Code == "FREQUENCY_LIMITED"
}

// Client calls the merchant API v3 for one merchant and mini-program.
type Client struct {
	AppID  string
	Signer *Signer
	// Keys verify every answer. In public-key mode they are the WeChat Pay
	// public key under its id; in certificate mode, a *Certificates.
	Keys Keys
	// PublicKeyID, in public-key mode, is sent as Wechatpay-Serial.
	PublicKeyID string
	BaseURL     string // "" means DefaultBaseURL
	// FailoverURL, when set, receives the retries that follow a network
	// failure or an HTTP 5xx (typically BackupBaseURL).
	FailoverURL string
	Transport   http.RoundTripper // nil means http.DefaultTransport; redirects are never followed

	MaxAttempts    int           // 0 means 3
	AttemptTimeout time.Duration // 0 means only the context's deadline
	RetryWait      time.Duration // 0 means 50 ms, doubled per retry
}

// refresher is a key set that can fetch keys it lacks (platform certificates).
type refresher interface {
	Refresh(ctx context.Context, c *Client) error
}

// Do sends a signed request and decodes the verified answer into out (nil
// for none). A 2xx answer must carry a valid signature; a refusal is an
// *Error. In certificate mode an unknown serial triggers one certificate
// download and a second verification.
func (c *Client) Do(ctx context.Context, method, pathQuery string, body, out any) error {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return err
		}
	}
	var last error
	return retry.Policy{Attempts: c.MaxAttempts, Wait: c.RetryWait}.Do(ctx, func() error {
		host := c.BaseURL
		if host == "" {
			host = DefaultBaseURL
		}
		var refusal *Error
		if c.FailoverURL != "" && (errors.Is(last, ErrTransport) || errors.As(last, &refusal) && refusal.StatusCode >= 500) {
			host = c.FailoverURL
		}
		last = c.attempt(ctx, host, method, pathQuery, payload, out)
		return last
	}, func(err error) bool {
		var refusal *Error
		return errors.Is(err, ErrTransport) || errors.As(err, &refusal) && refusal.Retryable()
	})
}

func (c *Client) attempt(ctx context.Context, host, method, pathQuery string, payload []byte, out any) error {
	if deadline, ok := ctx.Deadline(); c.AttemptTimeout > 0 && (!ok || time.Until(deadline) > c.AttemptTimeout) {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.AttemptTimeout)
		defer cancel()
	}
	status, signed, raw, err := c.send(ctx, host, method, pathQuery, payload)
	if err != nil {
		return err
	}
	if status/100 != 2 {
		var e struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		}
		if json.Unmarshal(raw, &e) != nil || e.Code == "" {
			return &Error{StatusCode: status, Code: "HTTP_" + http.StatusText(status), Message: "no error body"}
		}
		// A refusal can only stop a payment, never make one, so an
		// unsigned one is believed; a signed one must verify.
		if signed.Signature != "" {
			if err := c.verify(ctx, signed, raw); err != nil {
				return err
			}
		}
		return &Error{StatusCode: status, Code: e.Code, Message: e.Message}
	}
	if err := c.verify(ctx, signed, raw); err != nil {
		return err
	}
	if out == nil || len(raw) == 0 {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return nil
}

// verify checks an answer, fetching platform certificates once when the
// serial is unknown and the key set can refresh.
func (c *Client) verify(ctx context.Context, signed Signed, raw []byte) error {
	err := Verify(c.Keys, signed, raw, c.Signer.now())
	if r, ok := c.Keys.(refresher); ok && errors.Is(err, ErrUnknownSerial) {
		if rerr := r.Refresh(ctx, c); rerr != nil {
			return fmt.Errorf("%w (refreshing certificates: %v)", err, rerr)
		}
		err = Verify(c.Keys, signed, raw, c.Signer.now())
	}
	return err
}

// send makes one HTTP exchange and returns the status, the signature
// headers and the raw body.
func (c *Client) send(ctx context.Context, host, method, pathQuery string, payload []byte) (int, Signed, []byte, error) {
	auth, err := c.Signer.Authorization(method, pathQuery, payload)
	if err != nil {
		return 0, Signed{}, nil, err
	}
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, host+pathQuery, rd)
	if err != nil {
		return 0, Signed{}, nil, err
	}
	req.Header.Set("Authorization", auth)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "wxpay-scf (Go)")
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.PublicKeyID != "" {
		req.Header.Set("Wechatpay-Serial", c.PublicKeyID)
	}
	rt := c.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return 0, Signed{}, nil, fmt.Errorf("%w: %w", ErrTransport, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, MaxBodySize+1))
	if err != nil {
		return 0, Signed{}, nil, fmt.Errorf("%w: %w", ErrTransport, err)
	}
	if len(raw) > MaxBodySize {
		return 0, Signed{}, nil, fmt.Errorf("%w: answer over %d bytes", ErrMalformed, MaxBodySize)
	}
	if resp.StatusCode >= 500 {
		return resp.StatusCode, Signed{}, nil, &Error{StatusCode: resp.StatusCode, Code: "HTTP_" + http.StatusText(resp.StatusCode)}
	}
	return resp.StatusCode, SignedFromHeader(resp.Header), raw, nil
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
