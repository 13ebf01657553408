//go:build unix

package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/wxpay-scf/wxpay-scf/internal/benchcpu"
	"github.com/wxpay-scf/wxpay-scf/pkg/httpevent"
	"github.com/wxpay-scf/wxpay-scf/pkg/store"
	"github.com/wxpay-scf/wxpay-scf/pkg/trade"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpay"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpay/wxpaytest"
)

// BenchmarkPayInvocation measures one whole POST /pay invocation through the
// handler: event parsing, validation, the unified order against an
// in-process simulator (which decodes, verifies, stores and signs), answer
// verification, paySign, and the integrated response. The openid comes from
// a trusted header, so there is one upstream call; the order is recorded in
// SQLite before it is created at WeChat Pay.
func BenchmarkPayInvocation(b *testing.B) {
	env := testEnv()
	env["WXPAY_OPENID_HEADER"] = "x-wx-openid"
	env["WXPAY_STORE"] = "sqlite:" + filepath.Join(b.TempDir(), "wxpay.db")
	sim := wxpaytest.New(wxpaytest.Config{AppID: testAppID, MchID: testMchID, Key: testKey, AppSecret: testAppSecret})
	defer sim.Close()
	sim.AddUser(testOpenID)
	a := &app{
		getenv:    func(k string) string { return env[k] },
		log:       slog.New(slog.NewJSONHandler(io.Discard, nil)),
		transport: sim.Transport(),
		now:       time.Now,
		rand:      rand.Reader,
		openStore: store.Open,
	}
	event := json.RawMessage(urlEvent("POST", "/release/pay", `{"total_fee":180,"description":"会员充值"}`, map[string]any{"x-wx-openid": testOpenID}))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		out, err := a.invoke(ctx, event)
		if err != nil || out.(*httpevent.Response).StatusCode != 200 {
			b.Fatalf("%v %v", out, err)
		}
	}
}

// BenchmarkNotification measures one payment notification through the
// handler on SQLite: parse the event, decode and verify the XML, check the
// merchant and the amount against the stored order, record the
// notification, change the order's state, and reply. Every notification is
// for a different order, so each one changes state.
func BenchmarkNotification(b *testing.B) {
	env := testEnv()
	env["WXPAY_STORE"] = "sqlite:" + filepath.Join(b.TempDir(), "wxpay.db")
	a := &app{
		getenv:    func(k string) string { return env[k] },
		log:       slog.New(slog.NewJSONHandler(io.Discard, nil)),
		now:       time.Now,
		rand:      rand.Reader,
		openStore: store.Open,
	}
	a.setup()
	svc, err := a.service(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	events := make([]json.RawMessage, b.N)
	for i := range events {
		no := fmt.Sprintf("20261126170000%018d", i)
		if _, _, err := svc.Store.CreateOrder(context.Background(), trade.Order{OutTradeNo: no, OpenID: testOpenID, TotalFee: 180, Description: "x"}); err != nil {
			b.Fatal(err)
		}
		body, _ := wxpay.EncodeSigned(wxpay.Params{
			"return_code": "SUCCESS", "result_code": "SUCCESS", "appid": testAppID, "mch_id": testMchID,
			"nonce_str": "5K8264ILTKCH16CQ2502SI8ZNMTM67VS", "openid": testOpenID, "trade_type": "JSAPI",
			"bank_type": "OTHERS", "total_fee": "180", "cash_fee": "180", "fee_type": "CNY",
			"transaction_id": fmt.Sprintf("42000000%020d", i), "out_trade_no": no, "time_end": "20261126170000",
		}, testKey, wxpay.SignMD5)
		events[i] = json.RawMessage(urlEvent("POST", "/release/notify", string(body), map[string]any{"content-type": "text/xml"}))
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	stop := benchcpu.Start(b)
	for i := 0; i < b.N; i++ {
		out, err := a.invoke(ctx, events[i])
		if err != nil || out.(*httpevent.Response).Body != string(wxpay.NotifyReply(true)) {
			b.Fatalf("%v %v", out, err)
		}
	}
	stop()
}
