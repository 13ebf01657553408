// Package miniprogram exchanges wx.login codes for the user's identity with
// the mini-program login API (code2Session).
//
// https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/user-login/code2Session.html
package miniprogram

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/tidwall/gjson"

	"github.com/wxpay-scf/wxpay-scf/pkg/outbound"
)

// DefaultBaseURL is the login API's production host.
const DefaultBaseURL = "https://api.weixin.qq.com"

// The errcode values code2Session documents.
const (
	ErrCodeBusy         = -1    // system busy; try again
	ErrCodeInvalidCode  = 40029 // unknown or expired code
	ErrCodeCodeUsed     = 40163 // the code was already exchanged
	ErrCodeRateLimited  = 45011 // the mini-program's per-minute quota is spent
	ErrCodeHighRiskUser = 40226 // the user is blocked for risk
)

// Sentinel errors of the exchange.
var (
	// ErrTransport is an exchange that got no complete answer, or an HTTP
	// error; it is outbound.ErrTransport, so either name matches.
	ErrTransport = outbound.ErrTransport
	ErrMalformed = errors.New("miniprogram: malformed answer")
)

// Error is a refusal by the login API.
type Error struct {
	Code int
	Msg  string
}

// Error gives WeChat's errcode and errmsg.
func (e *Error) Error() string {
	return fmt.Sprintf("miniprogram: errcode %d: %s", e.Code, e.Msg)
}

// Client exchanges codes for one mini-program.
type Client struct {
	AppID     string
	AppSecret string // never logged or returned
	// HTTP sends the exchange: timeout per attempt, the same request again
	// after a network failure, an HTTP 5xx or errcode -1 (busy).
	// HTTP.BaseURL "" means DefaultBaseURL; HTTP.MaxBodySize 0 means 64 KiB.
	HTTP outbound.Client
}

// Session is the verified identity of a user. The session_key is dropped:
// nothing here needs it, and what is not kept cannot leak.
type Session struct {
	OpenID  string
	UnionID string
}

// MaxCodeLen bounds a code; real codes are 32 characters.
const MaxCodeLen = 128

// Code2Session exchanges a wx.login code (single use, valid five minutes).
// A busy answer (errcode -1) is asked again; every other errcode is an
// *Error.
func (c *Client) Code2Session(ctx context.Context, code string) (Session, error) {
	if code == "" || len(code) > MaxCodeLen {
		return Session{}, &Error{Code: ErrCodeInvalidCode, Msg: "code is empty or too long"}
	}
	h := c.HTTP
	if h.BaseURL == "" {
		h.BaseURL = DefaultBaseURL
	}
	if h.MaxBodySize == 0 {
		h.MaxBodySize = 64 << 10
	}
	// The query holds the AppSecret; outbound's errors never show the URL.
	q := url.Values{"appid": {c.AppID}, "secret": {c.AppSecret}, "js_code": {code}, "grant_type": {"authorization_code"}}
	var s Session
	_, err := h.Do(ctx, &outbound.Request{
		Method: http.MethodGet, Path: "/sns/jscode2session?" + q.Encode(),
		Check: func(r *outbound.Response) (err error) {
			s, err = session(r)
			return err
		},
		Retryable: func(err error) bool {
			var e *Error
			return errors.As(err, &e) && e.Code == ErrCodeBusy
		},
	})
	return s, err
}

// session reads an answer of code2Session.
func session(r *outbound.Response) (Session, error) {
	if r.StatusCode != http.StatusOK {
		return Session{}, fmt.Errorf("%w: HTTP status %d", ErrTransport, r.StatusCode)
	}
	raw := r.Body
	if !gjson.ValidBytes(raw) {
		return Session{}, fmt.Errorf("%w: not JSON", ErrMalformed)
	}
	if ec := gjson.GetBytes(raw, "errcode"); ec.Int() != 0 {
		return Session{}, &Error{Code: int(ec.Int()), Msg: gjson.GetBytes(raw, "errmsg").String()}
	}
	openid := gjson.GetBytes(raw, "openid")
	if openid.Type != gjson.String || openid.Str == "" || len(openid.Str) > 128 {
		return Session{}, fmt.Errorf("%w: no openid", ErrMalformed)
	}
	return Session{OpenID: openid.Str, UnionID: gjson.GetBytes(raw, "unionid").String()}, nil
}
