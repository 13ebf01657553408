package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/tencentyun/scf-go-lib/functioncontext"
	"github.com/tidwall/gjson"
	"github.com/wxpay-scf/wxpay-scf/pkg/httpevent"
	"github.com/wxpay-scf/wxpay-scf/pkg/miniprogram"
	"github.com/wxpay-scf/wxpay-scf/pkg/payment"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpay"
)

// app holds what the function builds once per instance.
type app struct {
	getenv    func(string) string
	log       *slog.Logger
	transport http.RoundTripper
	now       func() time.Time
	rand      io.Reader

	once sync.Once
	cfg  *config
	svc  *payment.Service
}

// errConfig answers every call while the configuration is invalid.
var errConfig = &payment.Error{Kind: payment.Config, Code: "CONFIG_ERROR", Message: "the function is not configured correctly; its log names the variable"}

// setup reads the configuration on the first invocation (SCF may deliver
// the environment with it) and logs each problem by variable name. An
// invalid configuration leaves svc nil, so every call answers CONFIG_ERROR
// and the process keeps serving.
func (a *app) setup() {
	a.once.Do(func() {
		cfg, errs := loadConfig(a.getenv)
		for _, e := range errs {
			a.log.Error("configuration", "variable", e.Var, "problem", e.Reason)
		}
		if len(errs) > 0 {
			return
		}
		a.cfg = cfg
		wx := &wxpay.Client{
			AppID: cfg.appID, MchID: cfg.mchID, Key: cfg.key, SignType: cfg.signType,
			BaseURL: cfg.apiBase, Transport: a.transport, Now: a.now, Rand: a.rand,
			AttemptTimeout: attemptTimeout,
		}
		a.svc = &payment.Service{WxPay: wx, NotifyURL: cfg.notifyURL, DefaultBody: cfg.body}
		if cfg.appSecret != "" {
			a.svc.Login = &miniprogram.Client{AppID: cfg.appID, AppSecret: cfg.appSecret, BaseURL: cfg.loginAPIBase, Transport: a.transport}
		}
	})
}

// Timing of outbound calls. Each merchant API attempt is bounded so that a
// hung connection leaves room for a retry; the whole call is bounded by the
// invocation deadline less a reserve for answering.
const (
	attemptTimeout  = 4 * time.Second
	defaultBudget   = 10 * time.Second // when the invocation has no deadline
	minReserve      = 50 * time.Millisecond
	maxReserve      = 500 * time.Millisecond
	fallbackIP      = "127.0.0.1"
	maxRequestBytes = 1 << 20
)

// budget returns a context for outbound calls that ends early enough to
// answer before the invocation's deadline.
func (a *app) budget(ctx context.Context) (context.Context, context.CancelFunc) {
	deadline, ok := ctx.Deadline()
	if !ok {
		return context.WithTimeout(ctx, defaultBudget)
	}
	reserve := min(max(deadline.Sub(a.now())/10, minReserve), maxReserve)
	return context.WithDeadline(ctx, deadline.Add(-reserve))
}

// invoke is the SCF handler.
func (a *app) invoke(ctx context.Context, event json.RawMessage) (any, error) {
	start := a.now()
	a.setup()
	attrs := make([]slog.Attr, 0, 10)
	if lc, ok := functioncontext.FromContext(ctx); ok {
		attrs = append(attrs, slog.String("request_id", lc.RequestID))
	}
	ev, err := httpevent.Parse(event)
	if err != nil {
		err := &payment.Error{Kind: payment.Invalid, Code: "INVALID_EVENT", Message: "the event is not valid JSON of a known shape", Err: err}
		a.logInvocation(start, append(attrs, slog.String("kind", "unknown")), 0, err)
		return nil, err
	}
	attrs = append(attrs, slog.String("kind", ev.Kind.String()))
	if ev.Kind == httpevent.Direct {
		res, err := a.direct(ctx, ev.Body)
		a.logInvocation(start, append(attrs, slog.String("route", "pay")), 0, err)
		if err != nil {
			return nil, err
		}
		return res, nil
	}
	resp, err := a.serveHTTP(ctx, ev)
	if err != nil {
		resp = errorResponse(err)
	}
	a.logInvocation(start, append(attrs, slog.String("route", ev.Route()), slog.String("method", ev.Method)), resp.StatusCode, err)
	return resp, nil
}

// logInvocation writes the one line each invocation gets. err's cause is
// logged for operators; causes never hold secrets (see pkg/wxpay and
// pkg/miniprogram), and no code, key or session_key is ever an attribute.
func (a *app) logInvocation(start time.Time, attrs []slog.Attr, status int, err error) {
	attrs = append(attrs, slog.Float64("duration_ms", float64(a.now().Sub(start).Microseconds())/1000))
	if status != 0 {
		attrs = append(attrs, slog.Int("status", status))
	}
	var pe *payment.Error
	if errors.As(err, &pe) {
		attrs = append(attrs, slog.String("code", pe.Code))
		if pe.Err != nil {
			attrs = append(attrs, slog.String("cause", pe.Err.Error()))
		}
	}
	a.log.LogAttrs(context.Background(), slog.LevelInfo, "invocation", attrs...)
}

// serveHTTP routes an HTTP event on the last segment of its path.
func (a *app) serveHTTP(ctx context.Context, ev *httpevent.Request) (*httpevent.Response, error) {
	switch ev.Route() {
	case "pay":
		if ev.Method != http.MethodPost {
			return methodNotAllowed(http.MethodPost), nil
		}
		return a.pay(ctx, ev)
	case "notify":
		if ev.Method != http.MethodPost {
			return methodNotAllowed(http.MethodPost), nil
		}
		return errorResponse(&routeError{http.StatusNotImplemented, "NOT_IMPLEMENTED", "payment notifications are not handled yet"}), nil
	}
	return errorResponse(&routeError{http.StatusNotFound, "NOT_FOUND", "no such route; use POST …/pay"}), nil
}

func (a *app) pay(ctx context.Context, ev *httpevent.Request) (*httpevent.Response, error) {
	if a.svc == nil {
		return nil, errConfig
	}
	if len(ev.Body) > maxRequestBytes {
		return nil, &payment.Error{Kind: payment.Invalid, Code: "INVALID_BODY", Message: "the body is too large"}
	}
	req, err := payment.ParseRequest(ev.Body, a.cfg.maxTotalFee)
	if err != nil {
		return nil, err
	}
	if name := a.cfg.openidHeader; name != "" {
		switch vs := ev.Header[name]; {
		case len(vs) > 1:
			return nil, &payment.Error{Kind: payment.Unauthenticated, Code: "UNAUTHENTICATED", Message: "the identity header " + name + " arrived more than once"}
		case len(vs) == 1 && vs[0] != "":
			req.OpenID = vs[0]
		}
	}
	req.ClientIP = ev.SourceIP
	if req.ClientIP == "" {
		// Every platform trigger sets the address; only a hand-made event
		// lacks it. WeChat Pay needs some address, and never a client's claim.
		req.ClientIP = fallbackIP
	}
	bctx, cancel := a.budget(ctx)
	defer cancel()
	res, err := a.svc.Pay(bctx, req)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(res)
	if err != nil {
		return nil, err
	}
	return httpevent.JSON(http.StatusOK, body), nil
}

// direct serves a direct invocation: a trusted caller's JSON, answered with
// the success body itself or a function error "CODE: message".
func (a *app) direct(ctx context.Context, event []byte) (*payment.Result, error) {
	if a.svc == nil {
		return nil, errConfig
	}
	ev := gjson.ParseBytes(event)
	if action := ev.Get("action"); action.Exists() && action.String() != "pay" {
		return nil, &payment.Error{Kind: payment.Invalid, Code: "INVALID_ACTION", Message: "action must be pay or absent"}
	}
	req, err := payment.ParseRequest(event, a.cfg.maxTotalFee)
	if err != nil {
		return nil, err
	}
	for _, path := range []string{"userInfo.openId", "openid"} {
		if v := ev.Get(path); v.Type == gjson.String && v.Str != "" {
			req.OpenID = v.Str
			break
		}
	}
	req.ClientIP = fallbackIP
	if ip := ev.Get("spbill_create_ip"); ip.Exists() {
		if req.ClientIP, err = payment.ParseClientIP(ip.String()); err != nil || ip.Type != gjson.String {
			return nil, &payment.Error{Kind: payment.Invalid, Code: "INVALID_SPBILL_CREATE_IP", Message: "spbill_create_ip must be an IPv4 or IPv6 address"}
		}
	}
	bctx, cancel := a.budget(ctx)
	defer cancel()
	return a.svc.Pay(bctx, req)
}
