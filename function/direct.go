package main

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/tencentyun/scf-go-lib/functioncontext"
	"github.com/tidwall/gjson"
	"github.com/wxpay-scf/wxpay-scf/pkg/payinput"
	"github.com/wxpay-scf/wxpay-scf/pkg/payment"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpay"
)

// direct serves a direct invocation: a trusted caller's JSON (SCF Invoke
// API, another backend, CloudBase callFunction), answered with the result
// itself or a function error "CODE: message". "action" picks pay (the
// default), refund, query, close, sweep, events (the pull API),
// redeliver, reconcile or reconciliation (a day's report); all but pay are
// operator actions.
func (a *app) direct(ctx context.Context, event []byte) (string, any, error) {
	ev := gjson.ParseBytes(event)
	action := "pay"
	if v := ev.Get("action"); v.Exists() {
		action = v.String()
	}
	invalidAction := &payment.Error{Kind: payment.Invalid, Code: "INVALID_ACTION", Message: "action must be pay, refund, query, close, sweep, events, redeliver, reconcile or reconciliation"}
	switch action {
	case "pay", "refund", "query", "close", "sweep", "events", "redeliver", "reconcile", "reconciliation":
	default:
		return "direct", nil, invalidAction
	}
	svc, err := a.service(ctx)
	if err != nil {
		return action, nil, err
	}
	var res any
	switch action {
	case "pay":
		res, err = a.directPay(ctx, svc, ev, event)
	case "refund":
		var in payment.RefundRequest
		if in, err = payinput.ParseRefund(ev); err == nil {
			res, err = svc.Refund(ctx, in)
		}
	case "sweep":
		var minAge time.Duration
		if minAge, err = payinput.ParseSweep(ev); err == nil {
			res, err = a.sweep(ctx, svc, minAge)
		}
	case "events":
		after, limit, perr := payinput.ParseEventsQuery(ev)
		if err = perr; err == nil {
			res, err = svc.Events(ctx, after, limit)
		}
	case "redeliver":
		var id string
		if id, err = payinput.ParseEventID(ev); err == nil {
			res, err = svc.Redeliver(ctx, id)
		}
	case "reconcile", "reconciliation":
		var day time.Time
		if day, err = payinput.ParseDate(ev, a.now()); err == nil {
			if action == "reconcile" {
				res, err = svc.Reconcile(ctx, day)
			} else {
				res, err = svc.Reconciliation(ctx, day)
			}
		}
	case "query", "close":
		no := ev.Get("out_trade_no")
		if no.Type != gjson.String || !wxpay.ValidOutTradeNo(no.Str) {
			return action, nil, &payment.Error{Kind: payment.Invalid, Code: "INVALID_OUT_TRADE_NO", Message: "out_trade_no must be the order's number"}
		}
		if action == "query" {
			res, err = svc.Order(ctx, "", no.Str)
		} else {
			res, err = svc.Close(ctx, "", no.Str)
		}
	}
	if err != nil {
		return action, nil, err
	}
	return action, res, nil
}

func (a *app) directPay(ctx context.Context, svc *payment.Service, ev gjson.Result, event []byte) (any, error) {
	if a.noPrices != nil && ev.Get("item").Exists() {
		return nil, a.noPrices
	}
	req, err := payinput.ParseRequest(event, a.cfg.maxTotalFee, a.prices != nil)
	if err != nil {
		return nil, err
	}
	req.Trusted = true // a backend with cloud credentials may set its own amount
	for _, path := range []string{"userInfo.openId", "openid"} {
		if v := ev.Get(path); v.Type == gjson.String && v.Str != "" {
			req.OpenID = v.Str
			break
		}
	}
	if ip := ev.Get("spbill_create_ip"); ip.Exists() {
		if req.ClientIP, err = payinput.ParseClientIP(ip.String()); err != nil || ip.Type != gjson.String {
			return nil, &payment.Error{Kind: payment.Invalid, Code: "INVALID_SPBILL_CREATE_IP", Message: "spbill_create_ip must be an IPv4 or IPv6 address"}
		}
	}
	return svc.Pay(ctx, req)
}

// sweep runs the sweep and logs its summary as one line with the counters
// at its top level: timer invocations are asynchronous, so the line is the
// record.
func (a *app) sweep(ctx context.Context, svc *payment.Service, minAge time.Duration) (*payment.SweepSummary, error) {
	sum, err := svc.Sweep(ctx, minAge)
	attrs := []slog.Attr{slog.String("event", "sweep"),
		slog.Int("queried", sum.Queried), slog.Int("paid", sum.Paid), slog.Int("closed", sum.Closed),
		slog.Int("refunds_finished", sum.RefundsFinished), slog.Int("events_delivered", sum.EventsDelivered),
		slog.Int("events_failed", sum.EventsFailed), slog.Bool("more", sum.More)}
	if lc, ok := functioncontext.FromContext(ctx); ok {
		attrs = append(attrs, slog.String("request_id", lc.RequestID))
	}
	level := slog.LevelInfo
	if sum.EventsFailed > 0 || err != nil {
		level = slog.LevelWarn
	}
	a.log.LogAttrs(ctx, level, "sweep", attrs...)
	if a.cfg.onSCF && strings.HasPrefix(a.cfg.storeDSN, "sqlite:") {
		a.log.Warn("sweep", "variable", "WXPAY_STORE",
			"problem", "the sweep sees only this instance's embedded SQLite store; set WXPAY_STORE to a shared MySQL")
	}
	return sum, err
}
