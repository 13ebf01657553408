package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/tidwall/gjson"
	"github.com/wxpay-scf/wxpay-scf/pkg/httpevent"
	"github.com/wxpay-scf/wxpay-scf/pkg/payinput"
	"github.com/wxpay-scf/wxpay-scf/pkg/payment"
	"github.com/wxpay-scf/wxpay-scf/pkg/session"
)

// routeInfo is where an HTTP event goes: a route name and, for the order
// routes, the order number.
type routeInfo struct {
	name   string // "pay", "login", "notify", "order", "close", or "" for none
	method string // the one method the route takes
	no     string
}

// route matches the path's last segments, so the function works under any
// base path: …/pay, …/login, …/notify, …/orders/{no}, …/orders/{no}/close.
func route(ev *httpevent.Request) routeInfo {
	var segs []string
	for _, s := range strings.Split(ev.Path, "/") {
		if s != "" {
			segs = append(segs, s)
		}
	}
	n := len(segs)
	switch {
	case n >= 3 && segs[n-3] == "orders" && segs[n-1] == "close":
		return routeInfo{name: "close", method: http.MethodPost, no: segs[n-2]}
	case n >= 2 && segs[n-2] == "orders":
		return routeInfo{name: "order", method: http.MethodGet, no: segs[n-1]}
	case n >= 1 && (segs[n-1] == "pay" || segs[n-1] == "login" || segs[n-1] == "notify"):
		return routeInfo{name: segs[n-1], method: http.MethodPost}
	}
	return routeInfo{}
}

// serveHTTP answers an HTTP event on its route.
func (a *app) serveHTTP(ctx context.Context, ev *httpevent.Request, r routeInfo) (*httpevent.Response, error) {
	if r.name == "" {
		return nil, &routeError{http.StatusNotFound, "NOT_FOUND", "no such route"}
	}
	if ev.Method != r.method {
		return methodNotAllowed(r.method), nil
	}
	if r.name == "notify" {
		return a.notify(ctx, ev)
	}
	if len(ev.Body) > maxRequestBytes {
		return nil, &payment.Error{Kind: payment.Invalid, Code: "INVALID_BODY", Message: "the body is too large"}
	}
	svc, err := a.service(ctx)
	if err != nil {
		return nil, err
	}
	var answer any
	switch r.name {
	case "pay":
		answer, err = a.pay(ctx, svc, ev)
	case "login":
		answer, err = a.loginRoute(ctx, svc, ev)
	case "order":
		answer, err = a.withIdentity(ctx, svc, ev, "", func(openid string) (any, error) { return svc.Order(ctx, openid, r.no) })
	case "close":
		answer, err = a.withIdentity(ctx, svc, ev, bodyCode(ev.Body), func(openid string) (any, error) { return svc.Close(ctx, openid, r.no) })
	}
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(answer)
	if err != nil {
		return nil, err
	}
	return httpevent.JSON(http.StatusOK, body), nil
}

// bodyCode is the wx.login code in an optional JSON body.
func bodyCode(body []byte) string {
	if v := gjson.GetBytes(body, "code"); v.Type == gjson.String {
		return v.Str
	}
	return ""
}

// identity returns the caller's openid from, in order: the trusted header,
// a bearer token, a wx.login code. A bearer token that is present but
// invalid is refused even when a code is also sent.
func (a *app) identity(ctx context.Context, svc *payment.Service, ev *httpevent.Request, code string) (string, error) {
	unauth := func(code, msg string) error {
		return &payment.Error{Kind: payment.Unauthenticated, Code: code, Message: msg}
	}
	if name := a.cfg.openidHeader; name != "" {
		switch vs := ev.Header[name]; {
		case len(vs) > 1:
			return "", unauth("UNAUTHENTICATED", "the identity header "+name+" arrived more than once")
		case len(vs) == 1 && vs[0] != "":
			return vs[0], nil
		}
	}
	if auth := ev.Header["authorization"]; len(auth) > 0 {
		scheme, token, _ := strings.Cut(auth[0], " ")
		switch {
		case len(auth) > 1 || !strings.EqualFold(scheme, "Bearer") || token == "":
			return "", unauth("INVALID_TOKEN", "Authorization must be one header: Bearer <token from …/login>")
		case a.signer == nil:
			return "", a.noSigner
		}
		openid, err := a.signer.Verify(token)
		switch {
		case errors.Is(err, session.ErrExpired):
			return "", unauth("TOKEN_EXPIRED", "the login token expired; log in again")
		case err != nil:
			return "", unauth("INVALID_TOKEN", "the login token is not valid")
		}
		return openid, nil
	}
	return svc.OpenID(ctx, code)
}

func (a *app) withIdentity(ctx context.Context, svc *payment.Service, ev *httpevent.Request, code string, f func(openid string) (any, error)) (any, error) {
	openid, err := a.identity(ctx, svc, ev, code)
	if err != nil {
		return nil, err
	}
	return f(openid)
}

func (a *app) pay(ctx context.Context, svc *payment.Service, ev *httpevent.Request) (any, error) {
	if a.noPrices != nil {
		return nil, a.noPrices // never a client's own amount when the merchant meant to set prices
	}
	req, err := payinput.ParseRequest(ev.Body, a.cfg.maxTotalFee, a.prices != nil)
	if err != nil {
		return nil, err
	}
	// Settled before the login code is spent.
	if err := svc.Quote(&req); err != nil {
		return nil, err
	}
	if req.OpenID, err = a.identity(ctx, svc, ev, req.Code); err != nil {
		return nil, err
	}
	// Every platform trigger sets the address; only a hand-made event lacks
	// it, and then v2 sends 127.0.0.1 and v3 sends none. Never a client's claim.
	req.ClientIP = ev.SourceIP
	return svc.Pay(ctx, req)
}

// loginAnswer is the answer of …/login.
type loginAnswer struct {
	Token     string `json:"token"`
	ExpiresIn int    `json:"expires_in"`
}

func (a *app) loginRoute(ctx context.Context, svc *payment.Service, ev *httpevent.Request) (any, error) {
	body, err := payinput.Object(ev.Body)
	if err != nil {
		return nil, err
	}
	code := body.Get("code")
	if code.Exists() && code.Type != gjson.String {
		return nil, &payment.Error{Kind: payment.Invalid, Code: "INVALID_CODE", Message: "code must be the string wx.login returned"}
	}
	if a.signer == nil {
		return nil, a.noSigner
	}
	openid, err := svc.OpenID(ctx, code.Str)
	if err != nil {
		return nil, err
	}
	token, ttl := a.signer.Issue(openid)
	return loginAnswer{Token: token, ExpiresIn: ttl}, nil
}

// notify answers WeChat Pay in its protocol's own form: success only once
// the notification is verified and recorded, failure otherwise, so that it
// retries. While the configuration is broken the function cannot even tell
// the protocol, and answers what both versions retry.
func (a *app) notify(ctx context.Context, ev *httpevent.Request) (*httpevent.Response, error) {
	if a.cfg == nil {
		return notifyResponse(payment.UnconfiguredNotifyAnswer()), errConfig
	}
	var err error
	if len(ev.Body) > maxRequestBytes {
		err = &payment.Error{Kind: payment.Invalid, Code: "NOTIFICATION_REFUSED", Message: "the notification is too large"}
	} else if svc, serr := a.service(ctx); serr != nil {
		err = serr
	} else {
		_, err = svc.Notification(ctx, ev.Header.Get, ev.Body)
	}
	return notifyResponse(a.wechat.NotifyAnswer(err)), err
}

func notifyResponse(n payment.NotifyAnswer) *httpevent.Response {
	r := &httpevent.Response{StatusCode: n.Status, Headers: map[string]string{}, Body: string(n.Body)}
	if n.ContentType != "" {
		r.Headers["Content-Type"] = n.ContentType
	}
	return r
}
