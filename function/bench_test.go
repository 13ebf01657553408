//go:build unix

package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxpay-scf/wxpay-scf/internal/benchcpu"
	"github.com/wxpay-scf/wxpay-scf/pkg/httpevent"
	"github.com/wxpay-scf/wxpay-scf/pkg/payment"
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
// for a different order, so each one changes state. Compare builds with
// -benchtime 20000x or more: a shorter run holds too few WAL checkpoints
// (one every 1000 pages) to count their share.
func BenchmarkNotification(b *testing.B) {
	benchNotification(b, testEnv())
}

// BenchmarkNotificationWithWebhook is BenchmarkNotification with an events
// target configured: the reply also waits for the first delivery attempt
// of the order.paid event, to a local webhook over http on a kept-alive
// connection. The receiver answers 204 from this process, so cpu-ns/op
// counts it too.
func BenchmarkNotificationWithWebhook(b *testing.B) {
	var received atomic.Int64
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		received.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer receiver.Close()
	env := testEnv()
	env["WXPAY_EVENTS_URL"] = receiver.URL + "/events"
	env["WXPAY_EVENTS_SECRET"] = benchEventsSecret
	benchNotification(b, env)
	if n := received.Load(); n != int64(b.N) {
		b.Fatalf("%d deliveries for %d notifications", n, b.N)
	}
}

// benchEventsSecret is a valid WXPAY_EVENTS_SECRET.
var benchEventsSecret = "whsec_" + base64.StdEncoding.EncodeToString([]byte("benchmark-secret-of-32-bytes-len"))

// benchApp is the function on a new SQLite store with env, its service
// open.
func benchApp(b *testing.B, env map[string]string) (*app, *payment.Service) {
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
	return a, svc
}

func benchNotification(b *testing.B, env map[string]string) {
	a, svc := benchApp(b, env)
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

// BenchmarkSweepNothingDue measures a direct {"action":"sweep"} through the
// handler while all is well, what every timer tick costs: SQLite holds
// 10,000 final orders, half paid (one in ten of those with a finished
// refund) and half closed, whose events were all delivered, and a webhook
// is configured, so the sweep asks for due orders, due refunds and due
// events, finds none, reads that yesterday is reconciled, logs its line
// and answers. Run it with -cpu 1.
func BenchmarkSweepNothingDue(b *testing.B) {
	env := testEnv()
	env["WXPAY_EVENTS_URL"] = "http://127.0.0.1:9/events" // never called: nothing is due
	env["WXPAY_EVENTS_SECRET"] = benchEventsSecret
	a, svc := benchApp(b, env)
	ctx := context.Background()
	st := svc.Store
	now := time.Now()
	for i := range 10000 {
		no := fmt.Sprintf("20261126170000%018d", i)
		o := trade.Order{OutTradeNo: no, OpenID: testOpenID, TotalFee: 180, Description: "x", ExpiresAt: now.Add(-time.Hour)}
		if _, _, err := st.CreateOrder(ctx, o); err != nil {
			b.Fatal(err)
		}
		to := trade.Success
		if i%2 == 1 {
			to = trade.Closed
		}
		if _, _, err := st.Transition(ctx, no, to, fmt.Sprintf("42000000%020d", i), now); err != nil {
			b.Fatal(err)
		}
		if i%20 == 0 {
			r := trade.Refund{OutRefundNo: no + "R", OutTradeNo: no, RefundFee: 100}
			if _, _, err := st.ReserveRefund(ctx, r); err != nil {
				b.Fatal(err)
			}
			if _, _, err := st.FinishRefund(ctx, r.OutRefundNo, trade.RefundSuccess, "5000"); err != nil {
				b.Fatal(err)
			}
		}
	}
	events, err := st.Events(ctx, "", 20000)
	if err != nil {
		b.Fatal(err)
	}
	for _, e := range events {
		if err := st.SetDelivery(ctx, e.ID, trade.Delivery{State: trade.DeliveryDelivered, Attempts: 1, DeliveredAt: now}); err != nil {
			b.Fatal(err)
		}
	}
	// Yesterday is reconciled, as it is once its bill was read: the sweep
	// only finds its report.
	yesterday := payment.ChinaDay(now).AddDate(0, 0, -1).Format(time.DateOnly)
	rep := trade.Report{Date: yesterday, Status: trade.ReconcileMatched, Discrepancies: []trade.Discrepancy{}}
	if _, err := st.SaveReconciliation(ctx, trade.Reconciliation{Report: rep}, nil); err != nil {
		b.Fatal(err)
	}
	sweep := json.RawMessage(`{"action":"sweep"}`)
	// The first sweep queues the events recorded above, once, as the
	// first tick after a deploy would; every later tick finds none new.
	if _, err := a.invoke(ctx, sweep); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	stop := benchcpu.Start(b)
	for b.Loop() {
		out, err := a.invoke(ctx, sweep)
		if sum, ok := out.(*payment.SweepSummary); err != nil || !ok || *sum != (payment.SweepSummary{}) {
			b.Fatalf("%+v %v", out, err)
		}
	}
	stop()
}
