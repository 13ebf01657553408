package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/tencentyun/scf-go-lib/functioncontext"
	"github.com/wxpay-scf/wxpay-scf/pkg/httpevent"
	"github.com/wxpay-scf/wxpay-scf/pkg/miniprogram"
	"github.com/wxpay-scf/wxpay-scf/pkg/outbound"
	"github.com/wxpay-scf/wxpay-scf/pkg/payinput"
	"github.com/wxpay-scf/wxpay-scf/pkg/payment"
	"github.com/wxpay-scf/wxpay-scf/pkg/session"
	"github.com/wxpay-scf/wxpay-scf/pkg/trade"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpay"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpayv3"
)

// app holds what the function builds once per instance.
type app struct {
	getenv        func(string) string
	log           *slog.Logger
	transport     http.RoundTripper
	certTransport func(tls.Certificate) http.RoundTripper // presents the merchant's client certificate
	now           func() time.Time
	rand          io.Reader
	openStore     func(ctx context.Context, dsn string, now func() time.Time) (trade.Store, error)

	once     sync.Once
	cfg      *config
	wechat   payment.Gateway
	wx       *wxpay.Client // API v2; nil with v3
	login    *miniprogram.Client
	signer   *session.Signer // nil when WXPAY_SESSION_SECRET is unset or invalid
	noSigner *payment.Error  // why signer is nil

	target      payment.Sender // nil when no events target is configured (or it is broken)
	prices      *payment.PriceList
	noPrices    *payment.Error // why /pay is refused: WXPAY_PRICES is set but broken
	minCloseAge time.Duration

	mu  sync.Mutex
	svc *payment.Service // nil until the store has opened
}

// errConfig answers every call while the required configuration is invalid.
var errConfig = &payment.Error{Kind: payment.Config, Code: "CONFIG_ERROR", Message: "the function is not configured correctly; its log names the variable"}

// featureOff is the answer of a feature whose variable is missing or invalid.
func featureOff(variable, problem string) *payment.Error {
	return &payment.Error{Kind: payment.Config, Code: "CONFIG_ERROR", Message: "this feature needs " + variable + ", which " + problem}
}

// setup reads the configuration on the first invocation (SCF may deliver
// the environment with it) and logs each problem by variable name. An
// invalid required variable leaves cfg nil, so every call answers
// CONFIG_ERROR and the process keeps serving; an optional feature's problem
// disables only that feature.
func (a *app) setup() {
	a.once.Do(func() {
		cfg, errs := loadConfig(a.getenv)
		for _, e := range errs {
			a.log.Error("configuration", "variable", e.Var, "problem", e.Reason)
		}
		if len(errs) > 0 {
			return
		}
		if cfg.v3 {
			a.wechat = a.v3Gateway(cfg)
		} else {
			a.wx = &wxpay.Client{
				AppID: cfg.appID, MchID: cfg.mchID, Key: cfg.key, SignType: cfg.signType, Now: a.now, Rand: a.rand,
				HTTP: a.outbound(cfg.apiBase, failover(cfg.apiBase, wxpay.DefaultBaseURL, wxpay.BackupBaseURL)),
			}
			a.wechat = payment.V2{Client: a.wx}
			a.minCloseAge = wxpay.MinCloseAge
		}
		if cfg.appSecret != "" {
			a.login = &miniprogram.Client{AppID: cfg.appID, AppSecret: cfg.appSecret, HTTP: a.outbound(cfg.loginAPIBase, "")}
		}
		a.noSigner = featureOff("WXPAY_SESSION_SECRET", "is not set")
		switch {
		case cfg.unresolved["WXPAY_SESSION_SECRET"]:
			a.noSigner = featureOff("WXPAY_SESSION_SECRET", "holds an unresolved deployment variable")
			a.featureProblem(cfg, "WXPAY_SESSION_SECRET", "", "login tokens are off")
		case cfg.sessionSecret != "":
			var err error
			if a.signer, err = session.NewSigner([]byte(cfg.sessionSecret), 0, a.now); err != nil {
				a.noSigner = featureOff("WXPAY_SESSION_SECRET", "must be at least 32 bytes")
				a.featureProblem(cfg, "WXPAY_SESSION_SECRET", "must be at least 32 bytes", "login tokens are off")
			}
		}
		switch {
		case cfg.v3 || cfg.clientCert == "" && cfg.clientKey == "": // v3 refunds need no certificate
		case cfg.unresolved["WXPAY_CLIENT_CERT"] || cfg.unresolved["WXPAY_CLIENT_KEY"]:
			for _, name := range []string{"WXPAY_CLIENT_CERT", "WXPAY_CLIENT_KEY"} {
				if cfg.unresolved[name] {
					a.featureProblem(cfg, name, "", "v2 refunds are off")
				}
			}
		case cfg.clientCert == "" || cfg.clientKey == "":
			a.featureProblem(cfg, "WXPAY_CLIENT_CERT", "WXPAY_CLIENT_CERT and WXPAY_CLIENT_KEY must be set together", "v2 refunds are off")
		default:
			cert, err := tls.X509KeyPair([]byte(cfg.clientCert), []byte(cfg.clientKey))
			if err != nil {
				a.featureProblem(cfg, "WXPAY_CLIENT_CERT", "WXPAY_CLIENT_CERT and WXPAY_CLIENT_KEY are not a matching PEM certificate and key", "v2 refunds are off")
			} else {
				a.wx.CertTransport = a.certTransport(cert)
			}
		}
		var problem string
		if cfg.orderTTL, problem = parseOrderTTL(cfg.orderTTLRaw); problem != "" {
			a.featureProblem(cfg, "WXPAY_ORDER_TTL", problem, "the default 2h applies")
		}
		a.setupEvents(cfg)
		if cfg.pricesRaw != "" {
			var err error
			if a.prices, err = payinput.ParsePrices(cfg.pricesRaw, cfg.maxTotalFee); err != nil {
				a.noPrices = featureOff("WXPAY_PRICES", "is not a valid price list")
				a.featureProblem(cfg, "WXPAY_PRICES", err.Error(), "/pay is refused until it is fixed")
			}
		}
		if cfg.onSCF && strings.HasPrefix(cfg.storeDSN, "sqlite:") {
			a.log.Warn("configuration", "variable", "WXPAY_STORE",
				"problem", "the embedded SQLite store is per instance on SCF; set WXPAY_STORE to a shared MySQL (mysql://…) in production")
		}
		a.cfg = cfg
	})
}

// featureProblem logs, at ERROR and by name, what is wrong with an optional
// feature's variable and what follows; a variable left as an unresolved
// deployment variable is said to be so, whatever its feature found.
func (a *app) featureProblem(cfg *config, variable, problem, consequence string) {
	if cfg.unresolved[variable] {
		problem = "holds an unresolved deployment variable; set it in the deploying shell"
	}
	a.log.Error("configuration", "variable", variable, "problem", problem+"; "+consequence)
}

// service returns the payment service once the store is open. Opening is
// retried on later invocations while the store is unreachable.
func (a *app) service(ctx context.Context) (*payment.Service, error) {
	if a.cfg == nil {
		return nil, errConfig
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.svc != nil {
		return a.svc, nil
	}
	st, err := a.openStore(ctx, a.cfg.storeDSN, a.now)
	if err != nil {
		a.log.Error("store", "variable", "WXPAY_STORE", "problem", err.Error())
		return nil, &payment.Error{Kind: payment.Unavailable, Code: "STORE_UNAVAILABLE", Message: "the order store is unavailable; try again", Err: err}
	}
	a.svc = &payment.Service{
		AppID: a.cfg.appID, MchID: a.cfg.mchID, WeChat: a.wechat, Login: a.login, Store: st, NotifyURL: a.cfg.notifyURL, DefaultBody: a.cfg.body, Now: a.now,
		StateChanged: a.logStateChange, RefundChanged: a.logRefundChange,
		Target: a.target, OrderTTL: a.cfg.orderTTL, MinCloseAge: a.minCloseAge, Log: a.log, Prices: a.prices,
	}
	return a.svc, nil
}

// v3Gateway builds the API v3 client: public-key mode when the WeChat Pay
// public key is configured, certificate mode otherwise.
func (a *app) v3Gateway(cfg *config) payment.V3 {
	c := &wxpayv3.Client{
		AppID:    cfg.appID,
		Signer:   &wxpayv3.Signer{MchID: cfg.mchID, Serial: cfg.mchSerial, Key: cfg.mchKey, Rand: a.rand, Now: a.now},
		APIv3Key: cfg.apiV3Key,
		HTTP:     a.outbound(cfg.apiBase, failover(cfg.apiBase, wxpayv3.DefaultBaseURL, wxpayv3.BackupBaseURL)),
	}
	// Public-key mode when the WeChat Pay public key is configured; any
	// other serial (certificate mode, or a merchant migrating between the
	// two) is looked up in the platform certificates, downloaded on demand.
	c.Verifier = &wxpayv3.Verifier{PublicKeyID: cfg.publicKeyID, PublicKey: cfg.publicKey, Download: c.DownloadCertificates, Now: a.now}
	return payment.V3{Client: c}
}

// outbound is the HTTP path of a WeChat API client.
func (a *app) outbound(base, failover string) outbound.Client {
	return outbound.Client{BaseURL: base, FailoverURL: failover, Transport: a.transport,
		AttemptTimeout: attemptTimeout, DownloadTimeout: downloadTimeout}
}

// failover is WeChat Pay's backup host when the function talks to the
// production one, and nothing when WXPAY_API_BASE points elsewhere (a
// simulator has no backup).
func failover(base, production, backup string) string {
	if base == production {
		return backup
	}
	return ""
}

// Timing of outbound calls. Each merchant API attempt is bounded so that a
// hung connection leaves room for a retry; the whole call is bounded by the
// invocation deadline less a reserve for answering.
const (
	attemptTimeout = 4 * time.Second
	// downloadTimeout bounds a bill's download and reading (with its store
	// lookups), within the invocation's budget: a day of 100,000 rows takes
	// seconds, not one API attempt's 4.
	downloadTimeout = 5 * time.Minute
	defaultBudget   = 10 * time.Second // when the invocation has no deadline
	minReserve      = 50 * time.Millisecond
	maxReserve      = 500 * time.Millisecond
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
	bctx, cancel := a.budget(ctx)
	defer cancel()
	switch ev.Kind {
	case httpevent.Timer:
		// A tick of the timer trigger runs the sweep; told apart from every
		// other event first, so a tick is never read as a payment.
		var sum *payment.SweepSummary
		svc, err := a.service(bctx)
		if err == nil {
			sum, err = a.sweep(bctx, svc, payment.DefaultSweepMinAge)
		}
		a.logInvocation(start, append(attrs, slog.String("route", "sweep"), slog.String("trigger", ev.TriggerName)), 0, err)
		if err != nil {
			return nil, err
		}
		return sum, nil
	case httpevent.Direct:
		action, res, err := a.direct(bctx, ev.Body)
		a.logInvocation(start, append(attrs, slog.String("route", action)), 0, err)
		if err != nil {
			return nil, err
		}
		return res, nil
	}
	r := route(ev)
	resp, err := a.serveHTTP(bctx, ev, r)
	if resp == nil {
		resp = errorResponse(err)
	}
	a.logInvocation(start, append(attrs, slog.String("route", r.name), slog.String("method", ev.Method)), resp.StatusCode, err)
	return resp, nil
}

// logInvocation writes the one line each invocation gets, at the level
// classify gives err. err's cause is logged for operators; causes never
// hold secrets (see pkg/wxpay and pkg/miniprogram), and no code, key, token
// or session_key is ever an attribute.
func (a *app) logInvocation(start time.Time, attrs []slog.Attr, status int, err error) {
	attrs = append(attrs, slog.Float64("duration_ms", float64(a.now().Sub(start).Microseconds())/1000))
	if status != 0 {
		attrs = append(attrs, slog.Int("status", status))
	}
	o := classify(err)
	if err != nil {
		attrs = append(attrs, slog.String("code", o.code))
	}
	if o.cause != "" {
		attrs = append(attrs, slog.String("cause", o.cause))
	}
	if o.wechatRequest != "" {
		attrs = append(attrs, slog.String("wechatpay_request_id", o.wechatRequest))
	}
	level := o.level
	if status >= 500 {
		level = slog.LevelError
	}
	a.log.LogAttrs(context.Background(), level, "invocation", attrs...)
}

// logStateChange is the audit trail: one line per change of an order's
// state. A payment of a closed order is ERROR: the money was taken for an
// order the merchant thought closed.
func (a *app) logStateChange(ctx context.Context, outTradeNo string, from, to trade.State) {
	msg, level := "order_state", slog.LevelInfo
	if trade.PaidAfterClose(from, to) {
		msg, level = "paid_after_close", slog.LevelError
	}
	a.logChange(ctx, level, msg, slog.String("out_trade_no", outTradeNo), string(from), string(to))
}

// logRefundChange is the same for refunds; ABNORMAL needs the merchant's
// hand in the merchant platform, so it is WARN, and a refund that WeChat
// Pay took after it was recorded failed is an ERROR operators must see.
func (a *app) logRefundChange(ctx context.Context, outRefundNo string, from, to trade.RefundState) {
	msg, level := "refund_state", slog.LevelInfo
	switch {
	case trade.RefundedAfterFailure(from, to):
		msg, level = "refunded_after_failure", slog.LevelError
	case to == trade.RefundAbnormal:
		level = slog.LevelWarn
	}
	a.logChange(ctx, level, msg, slog.String("out_refund_no", outRefundNo), string(from), string(to))
}

func (a *app) logChange(ctx context.Context, level slog.Level, msg string, subject slog.Attr, from, to string) {
	event := "order_state"
	if subject.Key == "out_refund_no" {
		event = "refund_state"
	}
	attrs := []slog.Attr{slog.String("event", event), subject, slog.String("from", from), slog.String("to", to)}
	if lc, ok := functioncontext.FromContext(ctx); ok {
		attrs = append(attrs, slog.String("request_id", lc.RequestID))
	}
	a.log.LogAttrs(ctx, level, msg, attrs...)
}
