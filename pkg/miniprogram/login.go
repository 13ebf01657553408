// Package miniprogram exchanges wx.login codes for the user's identity with
// the mini-program login API (code2Session).
//
// https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/user-login/code2Session.html
package miniprogram

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/tidwall/gjson"
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
	ErrTransport = errors.New("miniprogram: request did not complete")
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

// Client exchanges codes for one mini-program. Transport nil means
// http.DefaultTransport (redirects are not followed); BaseURL "" means
// DefaultBaseURL.
type Client struct {
	AppID     string
	AppSecret string // never logged or returned
	BaseURL   string
	Transport http.RoundTripper
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
// A busy answer (errcode -1) is asked once more; every other errcode is an
// *Error.
func (c *Client) Code2Session(ctx context.Context, code string) (Session, error) {
	if code == "" || len(code) > MaxCodeLen {
		return Session{}, &Error{Code: ErrCodeInvalidCode, Msg: "code is empty or too long"}
	}
	s, err := c.exchange(ctx, code)
	var e *Error
	if errors.As(err, &e) && e.Code == ErrCodeBusy && ctx.Err() == nil {
		s, err = c.exchange(ctx, code)
	}
	return s, err
}

func (c *Client) exchange(ctx context.Context, code string) (Session, error) {
	base := c.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	q := url.Values{"appid": {c.AppID}, "secret": {c.AppSecret}, "js_code": {code}, "grant_type": {"authorization_code"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/sns/jscode2session?"+q.Encode(), nil)
	if err != nil {
		return Session{}, fmt.Errorf("%w: bad base URL", ErrTransport)
	}
	rt := c.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		// The URL holds the AppSecret: keep only the cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return Session{}, fmt.Errorf("%w: %w", ErrTransport, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return Session{}, fmt.Errorf("%w: %w", ErrTransport, err)
	}
	if resp.StatusCode != http.StatusOK {
		return Session{}, fmt.Errorf("%w: HTTP status %d", ErrTransport, resp.StatusCode)
	}
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
