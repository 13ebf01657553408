package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/httpevent"
	"github.com/wxpay-scf/wxpay-scf/pkg/store"
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
