package main

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/httpevent"
	"github.com/wxpay-scf/wxpay-scf/pkg/payment"
	"github.com/wxpay-scf/wxpay-scf/pkg/store/storetest"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpay"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpay/wxpaytest"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpayv3/wxpayv3test"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// startBinaryV3 runs the real binary on API v3 (public-key mode) against
// the v3 simulator.
func startBinaryV3(t *testing.T, edit func(map[string]string)) (*binaryFixture, *wxpayv3test.Sim) {
	t.Helper()
	sim3 := newSimV3(t, false)
	b := startBinaryWith(t, sim3, func(env map[string]string) {
		v3Env(t, sim3, false)(env)
		if edit != nil {
			edit(env)
		}
	})
	return b, sim3
}

// rawAnswer invokes the binary with an HTTP event and returns the
// integrated response as it came, whatever its body.
func (b *binaryFixture) rawAnswer(t *testing.T, event string, timeout time.Duration) httpevent.Response {
	t.Helper()
	r, err := b.fn.Invoke([]byte(event), timeout, "bin-raw")
	if err != nil || r.Error != nil {
		t.Fatalf("%v %+v", err, r)
	}
	var resp httpevent.Response
	if err := json.Unmarshal(r.Payload, &resp); err != nil {
		t.Fatalf("not an integrated response: %s", r.Payload)
	}
	return resp
}

// direct invokes the binary directly and returns the payload or the
// function error's message.
func (b *binaryFixture) direct(t *testing.T, event string) (payload, errMsg string) {
	t.Helper()
	r, err := b.fn.Invoke([]byte(event), 3*time.Second, "bin-direct")
	if err != nil {
		t.Fatal(err)
	}
	if r.Error != nil {
		return "", r.Error.Message
	}
	return string(r.Payload), ""
}

// logLines returns the binary's log lines that contain every one of parts.
func (b *binaryFixture) logLines(parts ...string) []string {
	time.Sleep(20 * time.Millisecond) // the log arrives through a pipe
	var out []string
	for _, l := range strings.Split(b.log.String(), "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(l, p)
		}
		if all && l != "" {
			out = append(out, l)
		}
	}
	return out
}

// A notification must never be acknowledged by a function that cannot
// record it: with the configuration broken, …/notify answers 500 on both
// protocol versions (a v2 200 or a v3 2xx would be read as "received").
func TestBinaryNotifyWithBrokenConfiguration(t *testing.T) {
	for name, edit := range map[string]func(map[string]string){
		"v2": func(env map[string]string) { delete(env, "WXPAY_KEY") },
		"v3": func(env map[string]string) { env["WXPAY_APIV3_KEY"] = "short" },
	} {
		t.Run(name, func(t *testing.T) {
			var b *binaryFixture
			if name == "v3" {
				b, _ = startBinaryV3(t, edit)
			} else {
				b = startBinary(t, edit)
			}
			resp := b.rawAnswer(t, urlEvent("POST", "/release/notify", `{"id":"EV-1","resource":{}}`, map[string]any{"wechatpay-serial": "x"}), time.Second)
			if resp.StatusCode != 500 || resp.Body != string(wxpay.NotifyReply(false)) || resp.Headers["Content-Type"] != "text/xml" {
				t.Fatalf("%d %v %q", resp.StatusCode, resp.Headers, resp.Body)
			}
			if len(b.logLines(`"level":"ERROR"`, `"route":"notify"`, `"code":"CONFIG_ERROR"`)) != 1 {
				t.Fatalf("no ERROR line for the refused notification: %s", b.log.String())
			}
		})
	}
}

// WeChat Pay's verified word on a payment is final: a payment of an order
// closed here (the close raced the payment) is recorded paid and logged
// paid_after_close at ERROR.
func TestBinaryPaidAfterClose(t *testing.T) {
	b := startBinary(t, nil)
	b.sim.AddUser(testOpenID)
	payload, msg := b.direct(t, `{"total_fee":180,"openid":"`+testOpenID+`"}`)
	var res struct {
		OutTradeNo string `json:"out_trade_no"`
	}
	if json.Unmarshal([]byte(payload), &res) != nil || res.OutTradeNo == "" {
		t.Fatalf("pay: %s %s", payload, msg)
	}
	no := res.OutTradeNo
	// WeChat says the order is closed when it is not (the race): closed here.
	b.sim.Inject("/pay/closeorder", wxpaytest.Fault{Kind: wxpaytest.ResultFail, Code: "ORDERCLOSED", Msg: "订单已关闭"})
	if payload, msg := b.direct(t, `{"action":"close","out_trade_no":"`+no+`"}`); !strings.Contains(payload, `"state":"CLOSED"`) {
		t.Fatalf("close: %s %s", payload, msg)
	}
	note, ok := b.sim.Pay(no)
	if !ok {
		t.Fatal("the simulator refused the payment")
	}
	resp := b.rawAnswer(t, urlEvent("POST", "/release/notify", string(note), map[string]any{"content-type": "text/xml"}), 3*time.Second)
	if resp.StatusCode != 200 || !wxpaytest.IsSuccessReply([]byte(resp.Body)) {
		t.Fatalf("the payment was not acknowledged: %d %s", resp.StatusCode, resp.Body)
	}
	if payload, _ := b.direct(t, `{"action":"query","out_trade_no":"`+no+`"}`); !strings.Contains(payload, `"state":"SUCCESS"`) {
		t.Fatalf("query: %s", payload)
	}
	if n := len(b.logLines(`"level":"ERROR"`, `"msg":"paid_after_close"`, `"out_trade_no":"`+no+`"`, `"from":"CLOSED","to":"SUCCESS"`)); n != 1 {
		t.Fatalf("%d paid_after_close lines: %s", n, b.log.String())
	}
}

// paidV3 creates an order for testOpenID on the v3 binary and has the user
// pay it, notification included; it returns the order number.
func paidV3(t *testing.T, b *binaryFixture, sim3 *wxpayv3test.Sim) string {
	t.Helper()
	sim3.AddUser(testOpenID)
	payload, msg := b.direct(t, `{"total_fee":180,"openid":"`+testOpenID+`"}`)
	var res struct {
		OutTradeNo string `json:"out_trade_no"`
	}
	if json.Unmarshal([]byte(payload), &res) != nil || res.OutTradeNo == "" {
		t.Fatalf("pay: %s %s", payload, msg)
	}
	n, ok := sim3.Pay(res.OutTradeNo)
	if !ok {
		t.Fatal("the simulator refused the payment")
	}
	if resp := b.rawAnswer(t, v3NotifyEvent(n), 3*time.Second); resp.StatusCode != 204 {
		t.Fatalf("notification: %d %s", resp.StatusCode, resp.Body)
	}
	return res.OutTradeNo
}

// out_refund_no follows WeChat's rule for it (1–64 of 0-9 A-Z a-z _ - | * @),
// not out_trade_no's.
func TestBinaryRefundNumbers(t *testing.T) {
	b, sim3 := startBinaryV3(t, nil)
	no := paidV3(t, b, sim3)
	for _, refundNo := range []string{"R-1", "3f2b8c1e-8d4a-4c6e-9b1a-2f6d7e8a9b0c", "a@b|c*d_e"} {
		payload, msg := b.direct(t, `{"action":"refund","out_trade_no":"`+no+`","refund_fee":10,"out_refund_no":"`+refundNo+`"}`)
		if !strings.Contains(payload, `"out_refund_no":"`+refundNo+`"`) || !strings.Contains(payload, `"state":"PROCESSING"`) {
			t.Fatalf("%s: %s %s", refundNo, payload, msg)
		}
	}
	for _, bad := range []string{"", strings.Repeat("a", 65), "R 1", "退款1"} {
		if _, msg := b.direct(t, `{"action":"refund","out_trade_no":"`+no+`","refund_fee":10,"out_refund_no":"`+bad+`"}`); !strings.HasPrefix(msg, "INVALID_OUT_REFUND_NO: ") {
			t.Fatalf("%q: %s", bad, msg)
		}
	}
}

// Error codes are stable upper-case identifiers, whatever WeChat answers:
// a bare v3 4xx used to reach the client as "HTTP_Bad Request".
func TestBinaryErrorCodesAreIdentifiers(t *testing.T) {
	b, sim3 := startBinaryV3(t, nil)
	f := &fixture{t: t, sim: b.sim}
	for _, status := range []int{400, 403, 404, 429} {
		sim3.Inject(wxpayv3test.Fault{Kind: wxpayv3test.Refuse, Status: status})
		a := b.httpAnswer(t, urlEvent("POST", "/pay", `{"total_fee":1,"code":"`+b.sim.LoginCode(testOpenID)+`"}`, nil), 3*time.Second)
		f.expectError(a, 502, "WXPAY_HTTP_ERROR")
	}
	sim3.Inject(wxpayv3test.Fault{Kind: wxpayv3test.Refuse, Status: 400, Code: "not an identifier"})
	f.expectError(b.httpAnswer(t, urlEvent("POST", "/pay", `{"total_fee":1,"code":"`+b.sim.LoginCode(testOpenID)+`"}`, nil), 3*time.Second), 502, "WXPAY_FAIL")
	// 5xx answers are ERROR lines, and carry WeChat's Request-ID.
	if lines := b.logLines(`"level":"ERROR"`, `"status":502`, `"wechatpay_request_id":"`); len(lines) != 5 {
		t.Fatalf("%d ERROR lines with a Request-ID: %s", len(lines), b.log.String())
	}
}

// One anonymous request must not take the function's memory: a 1 MiB body
// of nested arrays is refused before any parse.
func TestBinaryDeepNesting(t *testing.T) {
	b := startBinary(t, nil)
	f := &fixture{t: t, sim: b.sim}
	deep := strings.Repeat("[", 1<<20-200)
	for _, path := range []string{"/release/pay", "/release/login"} {
		f.expectError(b.httpAnswer(t, urlEvent("POST", path, deep, nil), 3*time.Second), 400, "INVALID_BODY")
	}
	// A deep direct event: refused by the runtime's own JSON check (over
	// 10000 levels) or by the function's, never parsed.
	for _, depth := range []int{1 << 20, 5000} {
		r, err := b.fn.Invoke([]byte(strings.Repeat("[", depth)+strings.Repeat("]", depth)), 3*time.Second, "bin-deep")
		if err != nil || r.Error == nil {
			t.Fatalf("depth %d: %+v %v", depth, r, err)
		}
		if depth == 5000 && !strings.HasPrefix(r.Error.Message, "INVALID_EVENT: ") {
			t.Fatalf("depth %d: %+v", depth, r.Error)
		}
	}
	if peak := peakRSS(t, b.fn.PID()); peak > 48<<20 {
		t.Fatalf("peak RSS %d MB after deep requests", peak>>20)
	}
}

// peakRSS reads a process's peak resident set size (Linux).
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Skip("no /proc")
	}
	for _, l := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmHWM")
	return 0
}

// The MySQL DSN takes the driver's own options (charset, timeouts, TLS):
// production reaches TencentDB with ?tls=true.
func TestBinaryMySQLOptions(t *testing.T) {
	dsn := storetest.MySQLDSN(t)
	b := startBinary(t, func(env map[string]string) {
		env["WXPAY_STORE"] = dsn + "?charset=utf8mb4&readTimeout=5s&writeTimeout=5s"
	})
	f := &fixture{t: t, sim: b.sim}
	f.checkPaid(b.httpAnswer(t, urlEvent("POST", "/pay", `{"total_fee":180,"code":"`+b.sim.LoginCode(testOpenID)+`"}`, nil), 3*time.Second), wxpay.SignMD5)
}

// Every kind of failure has a status at the edge, and the response and
// the log line come from one classification.
func TestEveryKindHasAStatus(t *testing.T) {
	for _, k := range payment.Kinds {
		status, ok := statusOf[k]
		if !ok || status < 400 {
			t.Errorf("kind %d has no error status", k)
		}
		o := classify(&payment.Error{Kind: k, Code: "X", Message: "m"})
		if o.status != status || errorResponse(&payment.Error{Kind: k, Code: "X", Message: "m"}).StatusCode != status {
			t.Errorf("kind %d: answered %d, classified %d", k, status, o.status)
		}
		if (status >= 500) != (o.level == slog.LevelError) {
			t.Errorf("kind %d (%d) logged at %v", k, status, o.level)
		}
	}
	if o := classify(&payment.Error{Kind: payment.Invalid, Code: "NOTIFICATION_REFUSED", Message: "m"}); o.level != slog.LevelWarn {
		t.Errorf("a refused notification is %v", o.level)
	}
	if o := classify(&payment.Error{Kind: payment.Upstream, Code: "WXPAY_AMOUNT_MISMATCH", Message: "m", Err: payment.ErrAmountMismatch}); o.level != slog.LevelError {
		t.Errorf("an amount mismatch is %v", o.level)
	}
	if r := errorResponse(&routeError{http.StatusNotFound, "NOT_FOUND", "no such route"}); r.StatusCode != 404 {
		t.Errorf("%+v", r)
	}
}

// A MySQL commit whose answer is lost must not hang the invocation: the
// notification is answered FAIL before its deadline (WeChat retries), and
// the retry finds it recorded.
func TestBinaryLostCommitAnswer(t *testing.T) {
	dsn := storetest.FreshMySQLDSN(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	relay := storetest.NewRelay(t, u.Host)
	b := startBinary(t, func(env map[string]string) { env["WXPAY_STORE"] = relay.DSN(dsn) })
	f := &fixture{t: t, sim: b.sim}
	no := f.checkPaid(b.httpAnswer(t, urlEvent("POST", "/pay", `{"total_fee":180,"code":"`+b.sim.LoginCode(testOpenID)+`"}`, nil), 3*time.Second), wxpay.SignMD5)
	note, _ := b.sim.Pay(no)

	relay.DropCommitReplies(true)
	start := time.Now()
	r, err := b.fn.Invoke([]byte(urlEvent("POST", "/release/notify", string(note), nil)), 3*time.Second, "bin-lost-commit")
	if err != nil || r.Error != nil {
		t.Fatalf("no answer: %v %+v", err, r)
	}
	var resp httpevent.Response
	if json.Unmarshal(r.Payload, &resp) != nil || wxpaytest.IsSuccessReply([]byte(resp.Body)) {
		t.Fatalf("a notification whose commit is unconfirmed was acknowledged: %s", r.Payload)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("answered after %v", d)
	}
	relay.DropCommitReplies(false)
	resp = b.rawAnswer(t, urlEvent("POST", "/release/notify", string(note), nil), 3*time.Second)
	if !wxpaytest.IsSuccessReply([]byte(resp.Body)) {
		t.Fatalf("the retry: %s", resp.Body)
	}
	if payload, _ := b.direct(t, `{"action":"query","out_trade_no":"`+no+`"}`); !strings.Contains(payload, `"state":"SUCCESS"`) {
		t.Fatalf("query: %s", payload)
	}
}

// A tick of the timer trigger runs the sweep, and is never a payment,
// whatever it carries.
func TestTimerEventIsNeverAPayment(t *testing.T) {
	f := newFixture(t, nil)
	f.sim.AddUser(testOpenID)
	out, err := f.invoke(`{"Type":"Timer","TriggerName":"sweep","Time":"2026-11-26T09:00:00Z","Message":"","total_fee":180,"openid":"`+testOpenID+`"}`, time.Second)
	if sum, ok := out.(*payment.SweepSummary); !ok || *sum != (payment.SweepSummary{}) || err != nil || len(f.sim.Requests()) != 0 {
		t.Fatalf("%v %v, %d calls to WeChat Pay", out, err, len(f.sim.Requests()))
	}
	if !strings.Contains(f.log.String(), `"kind":"timer"`) || !strings.Contains(f.log.String(), `"trigger":"sweep"`) {
		t.Fatalf("%s", f.log.String())
	}
}
