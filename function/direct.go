package main

import (
	"context"

	"github.com/tidwall/gjson"
	"github.com/wxpay-scf/wxpay-scf/pkg/payinput"
	"github.com/wxpay-scf/wxpay-scf/pkg/payment"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpay"
)

// direct serves a direct invocation: a trusted caller's JSON (SCF Invoke
// API, another backend, CloudBase callFunction), answered with the result
// itself or a function error "CODE: message". "action" picks pay (the
// default), refund, query or close; the last three are operator actions on
// any order.
func (a *app) direct(ctx context.Context, event []byte) (string, any, error) {
	ev := gjson.ParseBytes(event)
	action := "pay"
	if v := ev.Get("action"); v.Exists() {
		action = v.String()
	}
	invalidAction := &payment.Error{Kind: payment.Invalid, Code: "INVALID_ACTION", Message: "action must be pay, refund, query or close"}
	switch action {
	case "pay", "refund", "query", "close":
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
	req, err := payinput.ParseRequest(event, a.cfg.maxTotalFee)
	if err != nil {
		return nil, err
	}
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
