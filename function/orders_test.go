package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/httpevent"
	"github.com/wxpay-scf/wxpay-scf/pkg/outbound"
	"github.com/wxpay-scf/wxpay-scf/pkg/payment"
	"github.com/wxpay-scf/wxpay-scf/pkg/store/storetest"
	"github.com/wxpay-scf/wxpay-scf/pkg/trade"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpay"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpay/wxpaytest"
)

// eachStore runs an end-to-end test on SQLite and on MySQL (see storetest).
func eachStore(t *testing.T, test func(t *testing.T, edit func(map[string]string))) {
	t.Run("sqlite", func(t *testing.T) { test(t, nil) })
	t.Run("mysql", func(t *testing.T) {
		dsn := storetest.FreshMySQLDSN(t)
		test(t, func(env map[string]string) { env["WXPAY_STORE"] = dsn })
	})
}

func unique(prefix string) string {
	b := make([]byte, 6)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// token logs openid in through …/login.
func (f *fixture) token(openid string) string {
	f.t.Helper()
	a := f.http(urlEvent("POST", "/release/login", `{"code":"`+f.sim.LoginCode(openid)+`"}`, nil))
	tok, _ := a.body["token"].(string)
	if a.status != 200 || tok == "" || a.body["expires_in"] != float64(7200) {
		f.t.Fatalf("login: %d %s", a.status, a.raw)
	}
	return tok
}

func bearer(tok string) map[string]any { return map[string]any{"authorization": "Bearer " + tok} }

// notify posts a notification body to …/notify and returns the reply,
// checking it has the form WeChat Pay expects.
func (f *fixture) notify(body []byte) string {
	f.t.Helper()
	out, err := f.invoke(urlEvent("POST", "/release/notify", string(body), map[string]any{"content-type": "text/xml"}), 3*time.Second)
	if err != nil {
		f.t.Fatal(err)
	}
	resp := out.(*httpevent.Response)
	if resp.StatusCode != 200 || resp.Headers["Content-Type"] != "text/xml" {
		f.t.Fatalf("notify answered %d %v", resp.StatusCode, resp.Headers)
	}
	switch resp.Body {
	case string(wxpay.NotifyReply(true)):
		return "SUCCESS"
	case string(wxpay.NotifyReply(false)):
		return "FAIL"
	}
	f.t.Fatalf("not a notification reply: %q", resp.Body)
	return ""
}

// deliver is wxpaytest.Deliver through the handler.
func (f *fixture) deliver(ctx context.Context, body []byte) ([]byte, error) {
	out, err := f.invoke(urlEvent("POST", "/release/notify", string(body), nil), 3*time.Second)
	if err != nil {
		return nil, err
	}
	return []byte(out.(*httpevent.Response).Body), nil
}

// order reads an order through GET …/orders/{no}.
func (f *fixture) order(no, tok string) answer {
	f.t.Helper()
	return f.http(urlEvent("GET", "/release/orders/"+no, "", bearer(tok)))
}

// payWithToken creates an order for tok's user and returns its number.
func (f *fixture) payWithToken(tok, body string) string {
	f.t.Helper()
	a := f.http(urlEvent("POST", "/release/pay", body, bearer(tok)))
	no, _ := a.body["out_trade_no"].(string)
	if a.status != 200 || no == "" {
		f.t.Fatalf("pay: %d %s", a.status, a.raw)
	}
	return no
}

func (f *fixture) sent(path string) int {
	n := 0
	for _, r := range f.sim.Requests() {
		if r.Path == path {
			n++
		}
	}
	return n
}

func (f *fixture) stateChanges(no string) int {
	return strings.Count(f.log.String(), `"event":"order_state","out_trade_no":"`+no+`"`)
}

func TestOrderLife(t *testing.T) {
	eachStore(t, func(t *testing.T, edit func(map[string]string)) {
		f := newFixture(t, edit)
		alice, bob := unique("o-alice-"), unique("o-bob-")
		tok := f.token(alice)
		no := f.payWithToken(tok, `{"total_fee":180,"description":"会员充值"}`)
		a := f.order(no, tok)
		if a.status != 200 || a.body["state"] != "NOTPAY" || a.body["total_fee"] != float64(180) || a.body["transaction_id"] != "" ||
			a.body["paid_at"] != nil || !strings.HasSuffix(a.body["created_at"].(string), "+08:00") || len(a.body) != 8 {
			t.Fatalf("%d %s", a.status, a.raw)
		}
		if f.sent("/pay/orderquery") != 1 {
			t.Fatal("a NOTPAY order was not confirmed with orderquery")
		}
		// Someone else's order, and an unknown one, are 404.
		f.expectError(f.order(no, f.token(bob)), 404, "ORDER_NOT_FOUND")
		f.expectError(f.order("20261126170000ffffffffffffffffff", tok), 404, "ORDER_NOT_FOUND")

		note, _ := f.sim.Pay(no)
		if r := f.notify(note); r != "SUCCESS" {
			t.Fatalf("notification: %s", r)
		}
		a = f.order(no, tok)
		if a.body["state"] != "SUCCESS" || a.body["transaction_id"] == "" || a.body["paid_at"] == nil {
			t.Fatalf("%s", a.raw)
		}
		if f.sent("/pay/orderquery") != 1 {
			t.Fatal("a final state was not answered from the store")
		}
		if f.stateChanges(no) != 1 || !strings.Contains(f.log.String(), `"from":"NOTPAY","to":"SUCCESS"`) {
			t.Fatalf("state change not logged once: %s", f.log.String())
		}
		// A paid order cannot be closed, and nothing changes.
		f.expectError(f.http(urlEvent("POST", "/release/orders/"+no+"/close", ``, bearer(tok))), 409, "ORDERPAID")
		if f.sent("/pay/closeorder") != 0 || f.order(no, tok).body["state"] != "SUCCESS" {
			t.Fatal("closing a paid order changed something")
		}

		// Refund by direct invocation, then its notification.
		out, err := f.invoke(`{"action":"refund","out_trade_no":"`+no+`","refund_fee":100,"reason":"退货"}`, 3*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		rv := out.(*payment.RefundView)
		if rv.RefundFee != 100 || rv.State != "PROCESSING" || rv.OutRefundNo == "" {
			t.Fatalf("%+v", rv)
		}
		// The retry reuses out_refund_no and refunds once.
		if _, err := f.invoke(`{"action":"refund","out_trade_no":"`+no+`","refund_fee":100,"out_refund_no":"`+rv.OutRefundNo+`"}`, 3*time.Second); err != nil {
			t.Fatal(err)
		}
		if f.sim.Order(no).Refunded != 100 {
			t.Fatalf("WeChat Pay refunded %d", f.sim.Order(no).Refunded)
		}
		sent := f.sent("/secapi/pay/refund")
		_, err = f.invoke(`{"action":"refund","out_trade_no":"`+no+`","refund_fee":81}`, 3*time.Second)
		if err == nil || !strings.HasPrefix(err.Error(), "REFUND_EXCEEDS_PAID: ") || f.sent("/secapi/pay/refund") != sent {
			t.Fatalf("over the refundable amount: %v", err)
		}
		refundNote, _ := f.sim.CompleteRefund(rv.OutRefundNo, "SUCCESS")
		if r := f.notify(refundNote); r != "SUCCESS" {
			t.Fatalf("refund notification: %s", r)
		}
		if a := f.order(no, tok); a.body["state"] != "REFUND" {
			t.Fatalf("%s", a.raw)
		}
		if !strings.Contains(f.log.String(), `"from":"SUCCESS","to":"REFUND"`) || f.stateChanges(no) != 2 {
			t.Fatalf("refund state change not logged once: %s", f.log.String())
		}
		if r := f.notify(refundNote); r != "SUCCESS" || f.stateChanges(no) != 2 {
			t.Fatal("a repeated refund notification changed something")
		}
	})
}

func TestNotificationsRefused(t *testing.T) {
	eachStore(t, func(t *testing.T, edit func(map[string]string)) {
		f := newFixture(t, edit)
		tok := f.token(unique("o-"))
		no := f.payWithToken(tok, `{"total_fee":180}`)
		note, _ := f.sim.Pay(no)
		p, _ := wxpay.DecodeXML(note)
		resign := func(change func(wxpay.Params), key string) []byte {
			q := wxpay.Params{}
			for k, v := range p {
				if k != "sign" {
					q[k] = v
				}
			}
			change(q)
			b, _ := wxpay.EncodeSigned(q, key, wxpay.SignMD5)
			return b
		}
		cases := map[string][]byte{
			"probe signature":   f.sim.PaymentNotification(no, true),
			"wrong key":         resign(func(wxpay.Params) {}, strings.Repeat("x", 32)),
			"another appid":     resign(func(q wxpay.Params) { q["appid"] = "wx0000000000000000" }, testKey),
			"another mch_id":    resign(func(q wxpay.Params) { q["mch_id"] = "1999999999" }, testKey),
			"another amount":    resign(func(q wxpay.Params) { q["total_fee"], q["cash_fee"] = "1", "1" }, testKey),
			"unsigned":          []byte(strings.Replace(string(note), "<sign>", "<nosign>", 1)),
			"malformed":         []byte("<xml><return_code>SUCCESS"),
			"DTD":               []byte(`<!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]><xml><a>&x;</a></xml>`),
			"oversized":         []byte("<xml><a>" + strings.Repeat("x", 1<<20) + "</a></xml>"),
			"refund, wrong key": mustRefundNote(t, strings.Repeat("k", 32)),
			"not xml":           []byte(`{"return_code":"SUCCESS"}`),
			"empty":             nil,
		}
		for name, body := range cases {
			if r := f.notify(body); r != "FAIL" {
				t.Errorf("%s: %s", name, r)
			}
		}
		if n := f.store.notes.Load(); n != 0 || f.stateChanges(no) != 0 {
			t.Fatalf("refused notifications were recorded (%d) or changed state", n)
		}
		if r := f.notify(note); r != "SUCCESS" || f.stateChanges(no) != 1 {
			t.Fatalf("the authentic notification: %s", r)
		}
	})
}

// WeChat Pay's verified word on a refund is final too: a refund recorded
// FAILED (refused, its amount released) that an authentic notification
// says succeeded is recorded SUCCESS, its amount reserved again, its
// event sent, and the change logged at ERROR.
func TestRefundSucceededAfterItFailed(t *testing.T) {
	f := newFixture(t, nil)
	no := f.payWithToken(f.token(unique("o-")), `{"total_fee":100}`)
	note, _ := f.sim.Pay(no)
	if r := f.notify(note); r != "SUCCESS" {
		t.Fatalf("payment notification: %s", r)
	}
	f.sim.Inject("/secapi/pay/refund", wxpaytest.Fault{Kind: wxpaytest.ResultFail, Code: "NOTENOUGH"})
	if _, err := f.invoke(`{"action":"refund","out_trade_no":"`+no+`","refund_fee":30,"out_refund_no":"R-after"}`, 3*time.Second); err == nil {
		t.Fatal("a refused refund answered no error")
	}
	if o := f.stored(no); o.RefundedFee != 0 {
		t.Fatalf("the refused refund holds %d", o.RefundedFee)
	}
	reqInfo, err := wxpay.EncryptReqInfo(wxpay.Params{"out_trade_no": no, "out_refund_no": "R-after", "refund_id": "50000001",
		"refund_status": "SUCCESS", "refund_fee": "30", "total_fee": "100"}, testKey)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := wxpay.EncodeXML(wxpay.Params{"return_code": "SUCCESS", "appid": testAppID, "mch_id": testMchID, "req_info": reqInfo})
	if r := f.notify(b); r != "SUCCESS" {
		t.Fatalf("refund notification: %s", r)
	}
	if o := f.stored(no); o.RefundedFee != 30 || o.State != trade.Refunded {
		t.Fatalf("after WeChat Pay's word: %+v", o)
	}
	if n := len(f.eventsOf(no, "refund.succeeded")); n != 1 {
		t.Fatalf("%d refund.succeeded", n)
	}
	if !strings.Contains(f.log.String(), `"level":"ERROR","msg":"refunded_after_failure","event":"refund_state","out_refund_no":"R-after","from":"FAILED","to":"SUCCESS"`) {
		t.Fatalf("not logged: %s", f.log.String())
	}
}

// mustRefundNote builds a refund notification encrypted under key.
func mustRefundNote(t *testing.T, key string) []byte {
	reqInfo, err := wxpay.EncryptReqInfo(wxpay.Params{"out_trade_no": "20261126170000aaaaaaaaaaaaaaaaaa", "out_refund_no": "R1", "refund_status": "SUCCESS", "refund_fee": "1", "total_fee": "1"}, key)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := wxpay.EncodeXML(wxpay.Params{"return_code": "SUCCESS", "appid": testAppID, "mch_id": testMchID, "req_info": reqInfo})
	return b
}

func TestDuplicateNotificationsChangeOnce(t *testing.T) {
	eachStore(t, func(t *testing.T, edit func(map[string]string)) {
		f := newFixture(t, edit)
		no := f.payWithToken(f.token(unique("o-")), `{"total_fee":66}`)
		note, _ := f.sim.Pay(no)
		var wg sync.WaitGroup
		replies := make([]string, 10)
		for i := range replies {
			wg.Add(1)
			go func() {
				defer wg.Done()
				replies[i] = f.notify(note)
			}()
		}
		wg.Wait()
		for i, r := range replies {
			if r != "SUCCESS" {
				t.Fatalf("copy %d: %s", i, r)
			}
		}
		if f.stateChanges(no) != 1 {
			t.Fatalf("%d state changes for ten copies", f.stateChanges(no))
		}
		// And through the simulator's delivery: ten copies per attempt, re-signed.
		no2 := f.payWithToken(f.token(unique("o-")), `{"total_fee":67}`)
		f.sim.Pay(no2)
		res := wxpaytest.Notify(context.Background(), f.deliver, nil, wxpaytest.NotifyOptions{
			Copies: 10, Body: func(int) []byte { return f.sim.PaymentNotification(no2, false) },
		})
		if !res.Delivered || res.Attempts != 1 || f.stateChanges(no2) != 1 {
			t.Fatalf("%+v, %d changes", res, f.stateChanges(no2))
		}
	})
}

func TestNotificationWhileStoreIsDown(t *testing.T) {
	eachStore(t, func(t *testing.T, edit func(map[string]string)) {
		f := newFixture(t, edit)
		no := f.payWithToken(f.token(unique("o-")), `{"total_fee":99}`)
		note, _ := f.sim.Pay(no)
		f.store.down.Store(true)
		attempts := 0
		res := wxpaytest.Notify(context.Background(), func(ctx context.Context, body []byte) ([]byte, error) {
			attempts++
			if attempts == 3 {
				f.store.down.Store(false) // back after two failed deliveries
			}
			return f.deliver(ctx, body)
		}, note, wxpaytest.NotifyOptions{TimeScale: 1e-7})
		if !res.Delivered || res.Attempts != 3 || f.stateChanges(no) != 1 {
			t.Fatalf("%+v, %d changes", res, f.stateChanges(no))
		}
	})
}

func TestNotificationForUnknownOrderIsRecorded(t *testing.T) {
	f := newFixture(t, nil)
	// An order made outside this function (say, another system sharing the merchant).
	c := &wxpay.Client{AppID: testAppID, MchID: testMchID, Key: testKey, HTTP: outbound.Client{BaseURL: "http://wxpay.sim", Transport: f.sim.Transport()}, Rand: rand.Reader}
	f.sim.AddUser(testOpenID)
	no, _ := c.NewOutTradeNo()
	if _, err := c.UnifiedOrder(context.Background(), &wxpay.UnifiedOrderRequest{OutTradeNo: no, Body: "x", TotalFee: 5, SpbillCreateIP: "1.2.3.4", NotifyURL: "https://e.com/n", OpenID: testOpenID}); err != nil {
		t.Fatal(err)
	}
	note, _ := f.sim.Pay(no)
	if r := f.notify(note); r != "SUCCESS" || f.store.notes.Load() != 1 {
		t.Fatalf("%s, %d recorded", r, f.store.notes.Load())
	}
	out, err := f.invoke(`{"action":"query","out_trade_no":"`+no+`"}`, time.Second)
	if err != nil || out.(*trade.OrderView).State != "SUCCESS" || out.(*trade.OrderView).TotalFee != 5 {
		t.Fatalf("%+v %v", out, err)
	}
}

func TestTokens(t *testing.T) {
	f := newFixture(t, nil)
	alice := unique("o-")
	tok := f.token(alice)
	no := f.payWithToken(tok, `{"total_fee":1}`)
	if f.sim.Order(no).Params["openid"] != alice {
		t.Fatal("the token's openid was not used")
	}
	code := f.sim.LoginCode(alice)
	for _, h := range map[string]map[string]any{
		"tampered": bearer(tok[:len(tok)-2] + "xx"),
		"forged":   bearer("v1.eyJ4IjoxfQ.AAAA"),
		"scheme":   {"authorization": "Basic " + tok},
		"twice":    {"authorization": []string{"Bearer " + tok, "Bearer " + tok}},
	} {
		// A bad token is refused even when a valid code comes with it.
		f.expectError(f.http(urlEvent("POST", "/release/pay", `{"total_fee":1,"code":"`+code+`"}`, h)), 401, "INVALID_TOKEN")
	}
	later := newFixture(t, nil)
	later.app.now = func() time.Time { return time.Now().Add(3 * time.Hour) }
	later.expectError(later.http(urlEvent("POST", "/release/pay", `{"total_fee":1}`, bearer(tok))), 401, "TOKEN_EXPIRED")
	noSecret := newFixture(t, func(env map[string]string) { delete(env, "WXPAY_SESSION_SECRET") })
	noSecret.expectError(noSecret.http(urlEvent("POST", "/release/login", `{"code":"`+noSecret.sim.LoginCode(alice)+`"}`, nil)), 500, "CONFIG_ERROR")
	// Everything else keeps working without it.
	noSecret.checkPaid(noSecret.http(urlEvent("POST", "/release/pay", `{"total_fee":1,"code":"`+noSecret.sim.LoginCode(alice)+`"}`, nil)), wxpay.SignMD5)
	f.expectError(f.http(urlEvent("POST", "/release/login", `{"code":"nope"}`, nil)), 401, "INVALID_LOGIN_CODE")
	f.expectError(f.http(urlEvent("POST", "/release/login", `[]`, nil)), 400, "INVALID_BODY")
}

func TestRequestID(t *testing.T) {
	eachStore(t, func(t *testing.T, edit func(map[string]string)) {
		f := newFixture(t, edit)
		alice, bob := f.token(unique("o-")), f.token(unique("o-"))
		rid := unique("req-")
		body := `{"total_fee":180,"request_id":"` + rid + `"}`
		first := f.http(urlEvent("POST", "/release/pay", body, bearer(alice)))
		again := f.http(urlEvent("POST", "/release/pay", body, bearer(alice)))
		no := f.checkPaid(first, wxpay.SignMD5)
		if f.checkPaid(again, wxpay.SignMD5) != no || f.sent("/pay/unifiedorder") != 1 {
			t.Fatalf("the same request_id made another order (%d unified orders)", f.sent("/pay/unifiedorder"))
		}
		f.expectError(f.http(urlEvent("POST", "/release/pay", `{"total_fee":181,"request_id":"`+rid+`"}`, bearer(alice))), 409, "REQUEST_ID_CONFLICT")
		if f.checkPaid(f.http(urlEvent("POST", "/release/pay", body, bearer(bob))), wxpay.SignMD5) == no {
			t.Fatal("another user's request_id collided")
		}
		note, _ := f.sim.Pay(no)
		f.notify(note)
		f.expectError(f.http(urlEvent("POST", "/release/pay", body, bearer(alice))), 409, "ORDERPAID")
		f.expectError(f.http(urlEvent("POST", "/release/pay", `{"total_fee":1,"request_id":"`+strings.Repeat("r", 65)+`"}`, bearer(alice))), 400, "INVALID_REQUEST_ID")
		// Ten at once: one order at WeChat Pay.
		rid2 := unique("req-")
		before := f.sent("/pay/unifiedorder")
		var wg sync.WaitGroup
		nos := make([]string, 10)
		for i := range nos {
			wg.Add(1)
			go func() {
				defer wg.Done()
				a := f.http(urlEvent("POST", "/release/pay", `{"total_fee":5,"request_id":"`+rid2+`"}`, bearer(alice)))
				nos[i], _ = a.body["out_trade_no"].(string)
			}()
		}
		wg.Wait()
		for _, n := range nos {
			if n == "" || n != nos[0] {
				t.Fatalf("order numbers %v", nos)
			}
		}
		if got := f.sent("/pay/unifiedorder") - before; got < 1 || f.sim.Order(nos[0]) == nil {
			t.Fatalf("%d unified orders", got)
		}
	})
}

func TestCloseAndQuery(t *testing.T) {
	f := newFixture(t, nil)
	tok := f.token(unique("o-"))
	no := f.payWithToken(tok, `{"total_fee":3}`)
	f.expectError(f.http(urlEvent("POST", "/release/orders/"+no+"/close", ``, bearer(f.token(unique("o-"))))), 404, "ORDER_NOT_FOUND")
	// WeChat Pay v2 closes no order in its first 5 minutes.
	f.expectError(f.http(urlEvent("POST", "/release/orders/"+no+"/close", ``, bearer(tok))), 502, "RULELIMIT")
	f.sim.Advance(wxpaytest.MinCloseAge)
	a := f.http(urlEvent("POST", "/release/orders/"+no+"/close", ``, bearer(tok)))
	if a.status != 200 || a.body["state"] != "CLOSED" || f.sim.Order(no).TradeState != "CLOSED" || f.stateChanges(no) != 1 {
		t.Fatalf("%d %s", a.status, a.raw)
	}
	if a := f.http(urlEvent("POST", "/release/orders/"+no+"/close", ``, bearer(tok))); a.status != 200 || f.sent("/pay/closeorder") != 2 {
		t.Fatalf("closing a closed order again: %s", a.raw)
	}
	// Paid without a notification: reading the order confirms and records it.
	no2 := f.payWithToken(tok, `{"total_fee":4}`)
	f.sim.Pay(no2)
	out, err := f.invoke(`{"action":"query","out_trade_no":"`+no2+`"}`, time.Second)
	if err != nil || out.(*trade.OrderView).State != "SUCCESS" || f.stateChanges(no2) != 1 {
		t.Fatalf("%+v %v", out, err)
	}
	// Direct close of a paid order: ORDERPAID; of an unknown one: not found.
	for event, prefix := range map[string]string{
		`{"action":"close","out_trade_no":"` + no2 + `"}`:                 "ORDERPAID: ",
		`{"action":"close","out_trade_no":"20261126170000ffffffffffff"}`:  "ORDER_NOT_FOUND: ",
		`{"action":"refund","out_trade_no":"` + no + `","refund_fee":1}`:  "ORDER_NOT_PAID: ",
		`{"action":"refund","out_trade_no":"` + no2 + `","refund_fee":0}`: "INVALID_REFUND_FEE: ",
		`{"action":"refund","out_trade_no":"` + no2 + `","refund_fee":5}`: "REFUND_EXCEEDS_PAID: ",
	} {
		if _, err := f.invoke(event, time.Second); err == nil || !strings.HasPrefix(err.Error(), prefix) {
			t.Errorf("%s: %v", event, err)
		}
	}
	noCert := newFixture(t, func(env map[string]string) { delete(env, "WXPAY_CLIENT_CERT"); delete(env, "WXPAY_CLIENT_KEY") })
	if _, err := noCert.invoke(`{"action":"refund","out_trade_no":"`+no2+`","refund_fee":1}`, time.Second); err == nil || !strings.HasPrefix(err.Error(), "CONFIG_ERROR: ") {
		t.Fatalf("refund without a certificate: %v", err)
	}
}

func TestFeatureConfiguration(t *testing.T) {
	// A short session secret disables tokens alone, and says so.
	f := newFixture(t, func(env map[string]string) { env["WXPAY_SESSION_SECRET"] = "too-short" })
	f.expectError(f.http(urlEvent("POST", "/release/login", `{"code":"`+f.sim.LoginCode(testOpenID)+`"}`, nil)), 500, "CONFIG_ERROR")
	f.expectError(f.http(urlEvent("POST", "/release/pay", `{"total_fee":1}`, bearer("v1.x.y"))), 500, "CONFIG_ERROR")
	f.checkPaid(f.http(urlEvent("POST", "/release/pay", `{"total_fee":1,"code":"`+f.sim.LoginCode(testOpenID)+`"}`, nil)), wxpay.SignMD5)
	if !strings.Contains(f.log.String(), `"variable":"WXPAY_SESSION_SECRET"`) || strings.Contains(f.log.String(), "too-short") {
		t.Fatalf("%s", f.log.String())
	}
	// So does one left as a deployment variable, however long its name.
	for _, secret := range []string{"${env:WXPAY_SESSION_SECRET}", "${env:A_DEPLOYMENT_VARIABLE_OF_A_LONG_NAME}"} {
		f := newFixture(t, func(env map[string]string) { env["WXPAY_SESSION_SECRET"] = secret })
		f.expectError(f.http(urlEvent("POST", "/release/login", `{"code":"`+f.sim.LoginCode(testOpenID)+`"}`, nil)), 500, "CONFIG_ERROR")
		f.checkPaid(f.http(urlEvent("POST", "/release/pay", `{"total_fee":1,"code":"`+f.sim.LoginCode(testOpenID)+`"}`, nil)), wxpay.SignMD5)
		if !strings.Contains(f.log.String(), `"variable":"WXPAY_SESSION_SECRET","problem":"holds an unresolved deployment variable`) {
			t.Fatalf("%s", f.log.String())
		}
	}
	// A price list left as a deployment variable refuses /pay, never
	// taking the client's amount instead, and names it.
	p := newFixture(t, func(env map[string]string) { env["WXPAY_PRICES"] = "${env:WXPAY_PRICES}" })
	p.expectError(p.http(urlEvent("POST", "/release/pay", `{"total_fee":1,"code":"`+p.sim.LoginCode(testOpenID)+`"}`, nil)), 500, "CONFIG_ERROR")
	if !strings.Contains(p.log.String(), `"variable":"WXPAY_PRICES","problem":"holds an unresolved deployment variable`) {
		t.Fatalf("%s", p.log.String())
	}
	// A certificate that does not match its key disables refunds alone.
	otherCert, _, _, _ := wxpaytest.NewMerchantCert(testMchID)
	g := newFixture(t, func(env map[string]string) { env["WXPAY_CLIENT_CERT"] = string(otherCert) })
	g.checkPaid(g.http(urlEvent("POST", "/release/pay", `{"total_fee":1,"code":"`+g.sim.LoginCode(testOpenID)+`"}`, nil)), wxpay.SignMD5)
	if _, err := g.invoke(`{"action":"refund","out_trade_no":"20261126170000aaaaaaaa","refund_fee":1}`, time.Second); err == nil || !strings.HasPrefix(err.Error(), "CONFIG_ERROR: ") {
		t.Fatalf("refund: %v", err)
	}
	if !strings.Contains(g.log.String(), `"variable":"WXPAY_CLIENT_CERT"`) {
		t.Fatalf("%s", g.log.String())
	}
	// So do a certificate and key left as deployment variables, each named.
	k := newFixture(t, func(env map[string]string) {
		env["WXPAY_CLIENT_CERT"], env["WXPAY_CLIENT_KEY"] = "${env:WXPAY_CLIENT_CERT}", "${env:WXPAY_CLIENT_KEY}"
	})
	if _, err := k.invoke(`{"action":"refund","out_trade_no":"20261126170000aaaaaaaa","refund_fee":1}`, time.Second); err == nil || !strings.HasPrefix(err.Error(), "CONFIG_ERROR: ") {
		t.Fatalf("refund: %v", err)
	}
	for _, name := range []string{"WXPAY_CLIENT_CERT", "WXPAY_CLIENT_KEY"} {
		if !strings.Contains(k.log.String(), `"variable":"`+name+`","problem":"holds an unresolved deployment variable`) {
			t.Fatalf("%s not named: %s", name, k.log.String())
		}
	}
	// PEM pasted on one line with literal \n works.
	h := newFixture(t, func(env map[string]string) {
		env["WXPAY_CLIENT_CERT"] = strings.ReplaceAll(env["WXPAY_CLIENT_CERT"], "\n", `\n`)
		env["WXPAY_CLIENT_KEY"] = strings.ReplaceAll(env["WXPAY_CLIENT_KEY"], "\n", `\n`)
	})
	h.invoke(`{"total_fee":1}`, time.Second)
	if strings.Contains(h.log.String(), `"variable":"WXPAY_CLIENT_CERT"`) {
		t.Fatalf("one-line PEM refused: %s", h.log.String())
	}
	// On SCF, the embedded store is a warning, not an error.
	s := newFixture(t, func(env map[string]string) { env["TENCENTCLOUD_RUNENV"] = "SCF" })
	s.checkPaid(s.http(urlEvent("POST", "/release/pay", `{"total_fee":1,"code":"`+s.sim.LoginCode(testOpenID)+`"}`, nil)), wxpay.SignMD5)
	if !strings.Contains(s.log.String(), `"level":"WARN","msg":"configuration","variable":"WXPAY_STORE"`) {
		t.Fatalf("no warning: %s", s.log.String())
	}
	// A store that cannot open answers 503 and is tried again next time.
	u := newFixture(t, func(env map[string]string) { env["WXPAY_STORE"] = "mysql://u:p@127.0.0.1:1/db" })
	u.expectError(u.http(urlEvent("POST", "/release/pay", `{"total_fee":1,"code":"x"}`, nil)), 503, "STORE_UNAVAILABLE")
	u.expectError(u.http(urlEvent("POST", "/release/pay", `{"total_fee":1,"code":"x"}`, nil)), 503, "STORE_UNAVAILABLE")
	if strings.Count(u.log.String(), `"msg":"store"`) != 2 {
		t.Fatalf("the store was not retried: %s", u.log.String())
	}
	if r := u.notify(nil); r != "FAIL" {
		t.Fatalf("notify without a store: %s", r)
	}
}
