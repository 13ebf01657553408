package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tencentyun/scf-go-lib/functioncontext"
	"github.com/wxpay-scf/wxpay-scf/pkg/httpevent"
	"github.com/wxpay-scf/wxpay-scf/pkg/payment"
	"github.com/wxpay-scf/wxpay-scf/pkg/store"
	"github.com/wxpay-scf/wxpay-scf/pkg/trade"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpay"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpay/wxpaytest"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpayv3/wxpayv3test"
)

const (
	testAppID     = "wxd678efh567hg6787"
	testMchID     = "1230000109"
	testKey       = "TESTKEY0testkey0TESTKEY0testkey0" // test key
	testAppSecret = "TEST-appsecret-00000000000000000" // test secret
	testOpenID    = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
)

func testEnv() map[string]string {
	return map[string]string{
		"WXPAY_APPID":          testAppID,
		"WXPAY_MCHID":          testMchID,
		"WXPAY_KEY":            testKey,
		"WXPAY_APPSECRET":      testAppSecret,
		"WXPAY_NOTIFY_URL":     "https://pay.example.com/release/notify",
		"WXPAY_API_BASE":       "http://" + simHost,
		"WXPAY_LOGIN_API_BASE": "http://" + simHost,
	}
}

// syncBuffer collects log lines from concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type fixture struct {
	t     *testing.T
	app   *app
	sim   *wxpaytest.Sim
	sim3  *wxpayv3test.Sim // API v3's simulator (newFixtureV3); nil on v2
	log   *syncBuffer
	store *testStore
	clock *testClock
}

// testClock is the function's and the simulator's clock in a fixture: real
// time, moved on by Advance, so that a test reaches a retry's time without
// sleeping.
type testClock struct{ offset atomic.Int64 }

func (c *testClock) Now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

// Advance moves the clock on by d, as if d had passed.
func (c *testClock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// simRouter sends requests for the simulator's host to it in process, and
// any other (a webhook receiver, the SCF API stand-in) over loopback with
// the transport main uses, which trusts only the system's roots.
type simRouter struct {
	sim, other http.RoundTripper
}

func (r simRouter) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host == simHost {
		return r.sim.RoundTrip(req)
	}
	return r.other.RoundTrip(req)
}

// simHost is the host of WXPAY_API_BASE and WXPAY_LOGIN_API_BASE in testEnv.
const simHost = "wxpay.sim"

// testStore is the real store with a switch to make it fail, and a count
// of the notifications it recorded. down fails the calls that record and
// deliver (notifications, state changes, refunds, events) as an
// unreachable database would; downAfter names a call after whose success
// the store goes down, as if the database failed right after that commit.
type testStore struct {
	trade.Store
	down      atomic.Bool
	downAfter atomic.Pointer[string]
	notes     atomic.Int32
	// reconcile lets the sweep's daily reconciliation run; without it every
	// day reads as already reconciled, so that a test's sweeps do the same
	// whatever the hour (the daily run starts at 10:00 China time).
	reconcile atomic.Bool
}

func (s *testStore) Reconciliation(ctx context.Context, day string) (trade.Reconciliation, error) {
	if !s.reconcile.Load() {
		return trade.Reconciliation{Report: trade.Report{Date: day, Status: trade.ReconcileMatched}}, nil
	}
	return s.Store.Reconciliation(ctx, day)
}

var errStoreDown = errors.New("test: store is down")

// goDownAfter takes the store down once call next succeeds.
func (s *testStore) goDownAfter(call string) { s.downAfter.Store(&call) }

// succeeded is told of each successful call.
func (s *testStore) succeeded(call string) {
	if p := s.downAfter.Load(); p != nil && *p == call {
		s.down.Store(true)
		s.downAfter.Store(nil)
	}
}

func (s *testStore) RecordNotification(ctx context.Context, n trade.Notification) error {
	if s.down.Load() {
		return errStoreDown
	}
	if err := s.Store.RecordNotification(ctx, n); err != nil {
		return err
	}
	s.notes.Add(1)
	s.succeeded("RecordNotification")
	return nil
}

func (s *testStore) ApplyNotification(ctx context.Context, n trade.Notification, fee int64, to trade.State, tx string, at time.Time) (trade.State, bool, error) {
	if s.down.Load() {
		return "", false, errStoreDown
	}
	from, changed, err := s.Store.ApplyNotification(ctx, n, fee, to, tx, at)
	if err == nil {
		s.notes.Add(1)
		s.succeeded("ApplyNotification")
	}
	return from, changed, err
}

func (s *testStore) Transition(ctx context.Context, no string, to trade.State, tx string, at time.Time) (trade.State, bool, error) {
	if s.down.Load() {
		return "", false, errStoreDown
	}
	return s.Store.Transition(ctx, no, to, tx, at)
}

func (s *testStore) Order(ctx context.Context, no string) (trade.Order, error) {
	if s.down.Load() {
		return trade.Order{}, errStoreDown
	}
	return s.Store.Order(ctx, no)
}

func (s *testStore) AdoptOrder(ctx context.Context, o trade.Order) (bool, error) {
	if s.down.Load() {
		return false, errStoreDown
	}
	return s.Store.AdoptOrder(ctx, o)
}

func (s *testStore) FinishRefund(ctx context.Context, no string, to trade.RefundState, refundID string) (trade.RefundState, bool, error) {
	if s.down.Load() {
		return "", false, errStoreDown
	}
	return s.Store.FinishRefund(ctx, no, to, refundID)
}

func (s *testStore) ClaimEvents(ctx context.Context, now time.Time, lease time.Duration, no string, limit int) ([]trade.Event, error) {
	if s.down.Load() {
		return nil, errStoreDown
	}
	events, err := s.Store.ClaimEvents(ctx, now, lease, no, limit)
	if err == nil {
		s.succeeded("ClaimEvents")
	}
	return events, err
}

func (s *testStore) ClaimEvent(ctx context.Context, id string, now time.Time, lease time.Duration) (trade.Event, bool, error) {
	if s.down.Load() {
		return trade.Event{}, false, errStoreDown
	}
	return s.Store.ClaimEvent(ctx, id, now, lease)
}

func (s *testStore) SetDelivery(ctx context.Context, id string, d trade.Delivery) error {
	if s.down.Load() {
		return errStoreDown
	}
	return s.Store.SetDelivery(ctx, id, d)
}

// newFixture builds the function as main does, talking to an in-process
// simulator, with login tokens and refunds configured; edit tweaks the
// environment.
func newFixture(t *testing.T, edit func(map[string]string)) *fixture {
	t.Helper()
	certPEM, keyPEM, cert, err := wxpaytest.NewMerchantCert(testMchID)
	if err != nil {
		t.Fatal(err)
	}
	env := testEnv()
	env["WXPAY_STORE"] = "sqlite:" + filepath.Join(t.TempDir(), "wxpay.db")
	env["WXPAY_SESSION_SECRET"] = "TEST-session-secret-0123456789abcdef"
	env["WXPAY_CLIENT_CERT"], env["WXPAY_CLIENT_KEY"] = string(certPEM), string(keyPEM)
	if edit != nil {
		edit(env)
	}
	clock := &testClock{}
	sim := wxpaytest.New(wxpaytest.Config{AppID: testAppID, MchID: testMchID, Key: testKey, AppSecret: testAppSecret, MerchantCert: cert, Now: clock.Now})
	t.Cleanup(sim.Close)
	log := &syncBuffer{}
	f := &fixture{t: t, sim: sim, log: log, clock: clock}
	loopback := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(loopback.CloseIdleConnections)
	f.app = &app{
		getenv:        func(k string) string { return env[k] },
		log:           slog.New(slog.NewJSONHandler(log, nil)),
		transport:     simRouter{sim: sim.Transport(), other: loopback},
		certTransport: sim.CertTransport,
		now:           clock.Now,
		rand:          rand.Reader,
		openStore: func(ctx context.Context, dsn string, now func() time.Time) (trade.Store, error) {
			s, err := store.Open(ctx, dsn, now)
			if err != nil {
				return nil, err
			}
			t.Cleanup(func() { s.Close() })
			f.store = &testStore{Store: s}
			return f.store, nil
		},
	}
	return f
}

func (f *fixture) invoke(event string, timeout time.Duration) (any, error) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	ctx = functioncontext.NewContext(ctx, &functioncontext.FunctionContext{RequestID: "req-test-1"})
	return f.app.invoke(ctx, json.RawMessage(event))
}

type answer struct {
	status  int
	headers map[string]string
	body    map[string]any
	raw     string
}

// http invokes with an HTTP event and decodes the integrated response.
func (f *fixture) http(event string) answer {
	f.t.Helper()
	out, err := f.invoke(event, 3*time.Second)
	if err != nil {
		f.t.Fatalf("HTTP events must never be function errors: %v", err)
	}
	raw, _ := json.Marshal(out)
	var resp httpevent.Response
	if err := json.Unmarshal(raw, &resp); err != nil {
		f.t.Fatal(err)
	}
	if resp.IsBase64Encoded || resp.Headers["Content-Type"] != "application/json; charset=utf-8" {
		f.t.Fatalf("not an integrated JSON response: %s", raw)
	}
	a := answer{status: resp.StatusCode, headers: resp.Headers, raw: resp.Body}
	if err := json.Unmarshal([]byte(resp.Body), &a.body); err != nil {
		f.t.Fatalf("body is not JSON: %q", resp.Body)
	}
	return a
}

// urlEvent is a Function URL event.
func urlEvent(method, path, body string, headers map[string]any) string {
	h := map[string]any{"content-type": "application/json", "x-scf-remote-addr": "111.206.96.145:53412"}
	maps.Copy(h, headers)
	b, _ := json.Marshal(map[string]any{"httpMethod": method, "path": path, "headers": h, "body": body, "queryString": map[string]any{}})
	return string(b)
}

func (a answer) errorCode() string {
	e, _ := a.body["error"].(map[string]any)
	if e == nil || e["message"] == "" {
		return ""
	}
	code, _ := e["code"].(string)
	return code
}

// expectError checks status and code, and that nothing but the error came back.
func (f *fixture) expectError(a answer, status int, code string) {
	f.t.Helper()
	if a.status != status || a.errorCode() != code || len(a.body) != 1 {
		f.t.Fatalf("got %d %s, want %d %s", a.status, a.raw, status, code)
	}
	if strings.Contains(a.raw, "prepay_id") || strings.Contains(a.raw, "paySign") {
		f.t.Fatalf("error answer carries payment parameters: %s", a.raw)
	}
}

// checkPaid verifies a success answer against what WeChat Pay recorded and
// returns the order number.
func (f *fixture) checkPaid(a answer, st wxpay.SignType) string {
	f.t.Helper()
	if a.status != 200 || len(a.body) != 2 {
		f.t.Fatalf("got %d %s", a.status, a.raw)
	}
	no, _ := a.body["out_trade_no"].(string)
	data, _ := a.body["data"].(map[string]any)
	if len(data) != 5 {
		f.t.Fatalf("data must hold exactly five parameters: %v", data)
	}
	order := f.sim.Order(no)
	if order == nil {
		f.t.Fatalf("WeChat Pay has no order %q", no)
	}
	p := wxpay.Params{"appId": testAppID}
	for _, k := range []string{"timeStamp", "nonceStr", "package", "signType", "paySign"} {
		s, ok := data[k].(string)
		if !ok || s == "" {
			f.t.Fatalf("%s is not a non-empty string: %v", k, data)
		}
		p[k] = s
	}
	p["sign"] = p["paySign"]
	delete(p, "paySign")
	if p["package"] != "prepay_id="+order.PrepayID || p["signType"] != string(st) {
		f.t.Fatalf("package %q signType %q, WeChat's prepay_id %q", p["package"], p["signType"], order.PrepayID)
	}
	if err := wxpay.Verify(p, testKey, st); err != nil {
		f.t.Fatalf("paySign: %v", err)
	}
	if d := time.Since(time.Unix(parseInt(f.t, p["timeStamp"]), 0)); d < 0 || d > time.Minute {
		f.t.Fatalf("timeStamp %s is not now in seconds", p["timeStamp"])
	}
	return no
}

func parseInt(t *testing.T, s string) int64 {
	var n int64
	for _, c := range s {
		if c < '0' || c > '9' {
			t.Fatalf("not digits: %q", s)
		}
		n = n*10 + int64(c-'0')
	}
	return n
}

func TestPayFunctionURL(t *testing.T) {
	f := newFixture(t, nil)
	code := f.sim.LoginCode(testOpenID)
	a := f.http(urlEvent("POST", "/pay", `{"total_fee":180,"code":"`+code+`","openid":"forged","description":"会员充值","attach":"cart=42"}`,
		map[string]any{"x-forwarded-for": "6.6.6.6"}))
	no := f.checkPaid(a, wxpay.SignMD5)
	got := f.sim.Order(no).Params
	// The order can be paid for WXPAY_ORDER_TTL, 2 h by default.
	expires, err := time.ParseInLocation("20060102150405", got["time_expire"], trade.ChinaTime)
	if d := time.Until(expires); err != nil || d < 2*time.Hour-time.Minute || d > 2*time.Hour {
		t.Fatalf("time_expire %q", got["time_expire"])
	}
	want := wxpay.Params{
		"body": "会员充值", "attach": "cart=42", "out_trade_no": no, "total_fee": "180", "spbill_create_ip": "111.206.96.145",
		"notify_url": "https://pay.example.com/release/notify", "trade_type": "JSAPI", "openid": testOpenID, "time_expire": got["time_expire"],
	}
	if !maps.Equal(got, want) {
		t.Fatalf("WeChat Pay received %q\nwant %q", got, want)
	}
	// The code was used up; the same request again is refused as unauthenticated.
	f.expectError(f.http(urlEvent("POST", "/pay", `{"total_fee":180,"code":"`+code+`"}`, nil)), 401, "INVALID_LOGIN_CODE")
}

func TestPayAPIGatewayBase64(t *testing.T) {
	f := newFixture(t, nil)
	body := base64.StdEncoding.EncodeToString([]byte(`{"total_fee":"2147483647","code":"` + f.sim.LoginCode(testOpenID) + `"}`))
	ev := `{"requestContext":{"sourceIp":"10.0.2.14","stage":"release"},"headers":{"X-Forwarded-For":"6.6.6.6"},"httpMethod":"POST",
		"path":"/release/pay/","body":"` + body + `","isBase64Encoded":true,"queryString":{}}`
	no := f.checkPaid(f.http(ev), wxpay.SignMD5)
	p := f.sim.Order(no).Params
	if p["spbill_create_ip"] != "10.0.2.14" || p["total_fee"] != "2147483647" || p["body"] != defaultBody {
		t.Fatalf("WeChat Pay received %q", p)
	}
}

func TestPayHMACAndConfiguredBody(t *testing.T) {
	f := newFixture(t, func(env map[string]string) {
		env["WXPAY_SIGN_TYPE"] = "HMAC-SHA256"
		env["WXPAY_BODY"] = "小店-商品"
	})
	no := f.checkPaid(f.http(urlEvent("POST", "/pay", `{"total_fee":1,"code":"`+f.sim.LoginCode(testOpenID)+`"}`, nil)), wxpay.SignHMACSHA256)
	if f.sim.Order(no).Params["body"] != "小店-商品" {
		t.Fatalf("%q", f.sim.Order(no).Params)
	}
}

func TestPayTrustedHeader(t *testing.T) {
	f := newFixture(t, func(env map[string]string) { env["WXPAY_OPENID_HEADER"] = "X-WX-OpenID" })
	f.sim.AddUser(testOpenID)
	no := f.checkPaid(f.http(urlEvent("POST", "/pay", `{"total_fee":180}`, map[string]any{"x-wx-openid": testOpenID})), wxpay.SignMD5)
	if f.sim.Order(no).Params["openid"] != testOpenID {
		t.Fatal("openid not taken from the trusted header")
	}
	f.expectError(f.http(urlEvent("POST", "/pay", `{"total_fee":180}`, map[string]any{"x-wx-openid": []string{testOpenID, "other"}})), 401, "UNAUTHENTICATED")
}

func TestPayRefusesBadInputBeforeAnyCall(t *testing.T) {
	f := newFixture(t, func(env map[string]string) { env["WXPAY_MAX_TOTAL_FEE"] = "100000" })
	code := f.sim.LoginCode(testOpenID)
	cases := []struct{ body, code string }{
		{``, "INVALID_BODY"},
		{`not json`, "INVALID_BODY"},
		{`[{"total_fee":180}]`, "INVALID_BODY"},
		{`"180"`, "INVALID_BODY"},
		{`{"code":"C"}`, "INVALID_TOTAL_FEE"},
		{`{"total_fee":0,"code":"C"}`, "INVALID_TOTAL_FEE"},
		{`{"total_fee":-180,"code":"C"}`, "INVALID_TOTAL_FEE"},
		{`{"total_fee":180.0,"code":"C"}`, "INVALID_TOTAL_FEE"},
		{`{"total_fee":1.5,"code":"C"}`, "INVALID_TOTAL_FEE"},
		{`{"total_fee":1e3,"code":"C"}`, "INVALID_TOTAL_FEE"},
		{`{"total_fee":"0180","code":"C"}`, "INVALID_TOTAL_FEE"},
		{`{"total_fee":"+180","code":"C"}`, "INVALID_TOTAL_FEE"},
		{`{"total_fee":"0x10","code":"C"}`, "INVALID_TOTAL_FEE"},
		{`{"total_fee":" 180","code":"C"}`, "INVALID_TOTAL_FEE"},
		{`{"total_fee":true,"code":"C"}`, "INVALID_TOTAL_FEE"},
		{`{"total_fee":null,"code":"C"}`, "INVALID_TOTAL_FEE"},
		{`{"total_fee":[180],"code":"C"}`, "INVALID_TOTAL_FEE"},
		{`{"total_fee":100001,"code":"C"}`, "INVALID_TOTAL_FEE"},
		{`{"total_fee":180,"code":"C","description":"` + strings.Repeat("商", 43) + `"}`, "INVALID_DESCRIPTION"},
		{`{"total_fee":180,"code":"C","description":"🧧 红包"}`, "INVALID_DESCRIPTION"},
		{`{"total_fee":180,"code":"C","attach":"` + strings.Repeat("x", 128) + `"}`, "INVALID_ATTACH"},
		{`{"total_fee":180,"code":7}`, "INVALID_CODE"},
	}
	for _, c := range cases {
		f.expectError(f.http(urlEvent("POST", "/pay", strings.ReplaceAll(c.body, `"C"`, `"`+code+`"`), nil)), 400, c.code)
	}
	if n := len(f.sim.Requests()); n != 0 {
		t.Fatalf("bad input reached WeChat %d times", n)
	}
	// The code was never spent, so it still works.
	f.checkPaid(f.http(urlEvent("POST", "/pay", `{"total_fee":100000,"code":"`+code+`"}`, nil)), wxpay.SignMD5)
}

func TestPayIdentityFailures(t *testing.T) {
	f := newFixture(t, nil)
	f.expectError(f.http(urlEvent("POST", "/pay", `{"total_fee":180}`, nil)), 401, "UNAUTHENTICATED")
	f.expectError(f.http(urlEvent("POST", "/pay", `{"total_fee":180,"openid":"`+testOpenID+`"}`, nil)), 401, "UNAUTHENTICATED")
	f.expectError(f.http(urlEvent("POST", "/pay", `{"total_fee":180,"code":"made-up"}`, nil)), 401, "INVALID_LOGIN_CODE")
	for errcode, want := range map[string]struct {
		status int
		code   string
	}{
		"40226": {401, "LOGIN_BLOCKED"}, "45011": {502, "LOGIN_RATE_LIMITED"}, "40125": {500, "CONFIG_ERROR"}, "61000": {502, "LOGIN_FAILED"},
	} {
		f.sim.Inject("/sns/jscode2session", wxpaytest.Fault{Kind: wxpaytest.ResultFail, Code: errcode, Msg: "x"})
		f.expectError(f.http(urlEvent("POST", "/pay", `{"total_fee":180,"code":"`+f.sim.LoginCode(testOpenID)+`"}`, nil)), want.status, want.code)
	}
	for _, r := range f.sim.Requests() {
		if r.Path == "/pay/unifiedorder" {
			t.Fatal("an order was created without a verified identity")
		}
	}
	g := newFixture(t, func(env map[string]string) { delete(env, "WXPAY_APPSECRET") })
	g.expectError(g.http(urlEvent("POST", "/pay", `{"total_fee":180,"code":"abc"}`, nil)), 500, "CONFIG_ERROR")
}

func TestPayWeChatFailures(t *testing.T) {
	cases := []struct {
		fault  []wxpaytest.Fault
		status int
		code   string
	}{
		{[]wxpaytest.Fault{{Kind: wxpaytest.ResultFail, Code: "ORDERPAID", Msg: "商户订单已支付"}}, 409, "ORDERPAID"},
		{[]wxpaytest.Fault{{Kind: wxpaytest.ResultFail, Code: "ORDERCLOSED", Msg: "订单已关闭"}}, 409, "ORDERCLOSED"},
		{[]wxpaytest.Fault{{Kind: wxpaytest.ResultFail, Code: "OUT_TRADE_NO_USED", Msg: "商户订单号重复"}}, 409, "OUT_TRADE_NO_USED"},
		{[]wxpaytest.Fault{{Kind: wxpaytest.ResultFail, Code: "NOAUTH", Msg: "商户无此接口权限"}}, 502, "NOAUTH"},
		{[]wxpaytest.Fault{{Kind: wxpaytest.ReturnFail, Msg: "签名错误"}}, 502, "WXPAY_FAIL"},
		{[]wxpaytest.Fault{{Kind: wxpaytest.BadSignature}}, 502, "WXPAY_BAD_SIGNATURE"},
		{[]wxpaytest.Fault{{Kind: wxpaytest.NoSignature}}, 502, "WXPAY_BAD_SIGNATURE"},
		{[]wxpaytest.Fault{{Kind: wxpaytest.Garbage}}, 502, "WXPAY_BAD_ANSWER"},
		{[]wxpaytest.Fault{{Kind: wxpaytest.HTTP500}, {Kind: wxpaytest.HTTP500}, {Kind: wxpaytest.HTTP500}}, 502, "WXPAY_HTTP_ERROR"},
		{[]wxpaytest.Fault{{Kind: wxpaytest.ResultFail, Code: "SYSTEMERROR"}, {Kind: wxpaytest.ResultFail, Code: "SYSTEMERROR"}, {Kind: wxpaytest.ResultFail, Code: "SYSTEMERROR"}}, 502, "SYSTEMERROR"},
	}
	for _, c := range cases {
		f := newFixture(t, nil)
		f.sim.Inject("/pay/unifiedorder", c.fault...)
		a := f.http(urlEvent("POST", "/pay", `{"total_fee":180,"code":"`+f.sim.LoginCode(testOpenID)+`"}`, nil))
		f.expectError(a, c.status, c.code)
		if !strings.Contains(f.log.String(), `"code":"`+c.code+`"`) {
			t.Errorf("%s not logged: %s", c.code, f.log.String())
		}
	}
	// One SYSTEMERROR is retried with the same out_trade_no and succeeds.
	f := newFixture(t, nil)
	f.sim.Inject("/pay/unifiedorder", wxpaytest.Fault{Kind: wxpaytest.ResultFail, Code: "SYSTEMERROR"})
	no := f.checkPaid(f.http(urlEvent("POST", "/pay", `{"total_fee":180,"code":"`+f.sim.LoginCode(testOpenID)+`"}`, nil)), wxpay.SignMD5)
	var sent []string
	for _, r := range f.sim.Requests() {
		if r.Path == "/pay/unifiedorder" {
			sent = append(sent, r.Params["out_trade_no"])
		}
	}
	if len(sent) != 2 || sent[0] != no || sent[1] != no {
		t.Fatalf("retries sent %v, want twice %s", sent, no)
	}
}

func TestPayTimesOutBeforeTheDeadline(t *testing.T) {
	for _, path := range []string{"/pay/unifiedorder", "/sns/jscode2session"} {
		f := newFixture(t, nil)
		f.sim.Inject(path, wxpaytest.Fault{Kind: wxpaytest.Hang}, wxpaytest.Fault{Kind: wxpaytest.Hang})
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 800*time.Millisecond)
		out, err := f.app.invoke(ctx, json.RawMessage(urlEvent("POST", "/pay", `{"total_fee":180,"code":"`+f.sim.LoginCode(testOpenID)+`"}`, nil)))
		deadline, _ := ctx.Deadline()
		cancel()
		resp, _ := out.(*httpevent.Response)
		if err != nil || resp == nil || resp.StatusCode != 504 {
			t.Fatalf("%s: got %+v, %v", path, out, err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: answered after the invocation deadline (%v)", path, time.Since(start))
		}
	}
}

func TestRoutes(t *testing.T) {
	f := newFixture(t, nil)
	f.expectError(f.http(urlEvent("POST", "/release/refund", `{}`, nil)), 404, "NOT_FOUND")
	f.expectError(f.http(urlEvent("POST", "/PAY", `{}`, nil)), 404, "NOT_FOUND")
	f.expectError(f.http(urlEvent("POST", "/", `{}`, nil)), 404, "NOT_FOUND")
	a := f.http(urlEvent("GET", "/pay", ``, nil))
	f.expectError(a, 405, "METHOD_NOT_ALLOWED")
	if a.headers["Allow"] != "POST" {
		t.Fatalf("405 without Allow: %v", a.headers)
	}
	f.expectError(f.http(urlEvent("GET", "/notify", ``, nil)), 405, "METHOD_NOT_ALLOWED")
	f.expectError(f.http(urlEvent("GET", "/release/orders", ``, nil)), 404, "NOT_FOUND")
	f.expectError(f.http(urlEvent("POST", "/release/orders/20261126170000abcdef", `{}`, nil)), 405, "METHOD_NOT_ALLOWED")
	f.expectError(f.http(urlEvent("GET", "/release/orders/20261126170000abcdef/close", ``, nil)), 405, "METHOD_NOT_ALLOWED")
	f.expectError(f.http(urlEvent("GET", "/login", ``, nil)), 405, "METHOD_NOT_ALLOWED")
}

func TestConfigErrors(t *testing.T) {
	cases := map[string]func(map[string]string){
		"WXPAY_APPID":          func(e map[string]string) { delete(e, "WXPAY_APPID") },
		"WXPAY_MCHID":          func(e map[string]string) { e["WXPAY_MCHID"] = "12ab" },
		"WXPAY_KEY":            func(e map[string]string) { e["WXPAY_KEY"] = "short-secret-value" },
		"WXPAY_NOTIFY_URL":     func(e map[string]string) { e["WXPAY_NOTIFY_URL"] = "https://pay.example.com/notify?x=1" },
		"WXPAY_SIGN_TYPE":      func(e map[string]string) { e["WXPAY_SIGN_TYPE"] = "SHA1" },
		"WXPAY_API_VERSION":    func(e map[string]string) { e["WXPAY_API_VERSION"] = "v4" },
		"WXPAY_MAX_TOTAL_FEE":  func(e map[string]string) { e["WXPAY_MAX_TOTAL_FEE"] = "0" },
		"WXPAY_BODY":           func(e map[string]string) { e["WXPAY_BODY"] = strings.Repeat("x", 128) },
		"WXPAY_API_BASE":       func(e map[string]string) { e["WXPAY_API_BASE"] = "ftp://x" },
		"WXPAY_LOGIN_API_BASE": func(e map[string]string) { e["WXPAY_LOGIN_API_BASE"] = "not a url" },
		"WXPAY_NOTIFY_URL ":    func(e map[string]string) { e["WXPAY_NOTIFY_URL"] = "${env:WXPAY_NOTIFY_URL}" },
	}
	for name, edit := range cases {
		f := newFixture(t, edit)
		for i := 0; i < 2; i++ { // keeps serving
			f.expectError(f.http(urlEvent("POST", "/pay", `{"total_fee":180,"code":"x"}`, nil)), 500, "CONFIG_ERROR")
		}
		if _, err := f.invoke(`{"total_fee":180,"openid":"o"}`, time.Second); err == nil || !strings.HasPrefix(err.Error(), "CONFIG_ERROR: ") {
			t.Errorf("%s: direct invocation got %v", name, err)
		}
		log := f.log.String()
		name = strings.TrimSpace(name)
		if !strings.Contains(log, `"variable":"`+name+`"`) || strings.Count(log, `"msg":"configuration"`) != 1 {
			t.Errorf("%s: log does not name the variable once: %s", name, log)
		}
		if strings.Contains(log, "short-secret-value") {
			t.Errorf("the log carries a configured value: %s", log)
		}
		if len(f.sim.Requests()) != 0 {
			t.Errorf("%s: calls were made with a bad configuration", name)
		}
	}
}

func TestDirectInvocation(t *testing.T) {
	f := newFixture(t, nil)
	f.sim.AddUser(testOpenID)
	out, err := f.invoke(`{"total_fee":180,"spbill_create_ip":"1.2.3.4","openid":"`+testOpenID+`"}`, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	res, ok := out.(*payment.Result)
	if !ok || f.sim.Order(res.OutTradeNo).Params["spbill_create_ip"] != "1.2.3.4" {
		t.Fatalf("%#v", out)
	}
	raw, _ := json.Marshal(out)
	f.checkPaid(answer{status: 200, body: decode(t, raw), raw: string(raw)}, wxpay.SignMD5)

	// CloudBase's injected userInfo.openId wins over openid; the IP defaults to 127.0.0.1.
	f.sim.AddUser("o-cloudbase")
	out, err = f.invoke(`{"total_fee":"1","userInfo":{"openId":"o-cloudbase"},"openid":"`+testOpenID+`"}`, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	p := f.sim.Order(out.(*payment.Result).OutTradeNo).Params
	if p["openid"] != "o-cloudbase" || p["spbill_create_ip"] != "127.0.0.1" {
		t.Fatalf("%q", p)
	}
	// A code works too.
	if _, err := f.invoke(`{"total_fee":5,"code":"`+f.sim.LoginCode("o-code")+`"}`, time.Second); err != nil {
		t.Fatal(err)
	}
	for event, prefix := range map[string]string{
		`{"total_fee":0,"openid":"o"}`:                           "INVALID_TOTAL_FEE: ",
		`{"total_fee":180}`:                                      "UNAUTHENTICATED: ",
		`{"total_fee":180,"openid":"o","spbill_create_ip":"x"}`:  "INVALID_SPBILL_CREATE_IP: ",
		`{"total_fee":180,"openid":"o","spbill_create_ip":1234}`: "INVALID_SPBILL_CREATE_IP: ",
		`{"action":"refund","out_trade_no":"x"}`:                 "INVALID_OUT_TRADE_NO: ",
		`{"action":"transfer"}`:                                  "INVALID_ACTION: ",
		`[1,2]`:                                                  "INVALID_EVENT: ",
		`{"total_fee":180,"openid":"unknown-user"}`:              "PARAM_ERROR: ",
	} {
		out, err := f.invoke(event, time.Second)
		if out != nil || err == nil || !strings.HasPrefix(err.Error(), prefix) {
			t.Errorf("%s: got %v, %v; want %s…", event, out, err, prefix)
		}
	}
}

func decode(t *testing.T, raw []byte) map[string]any {
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestLogsOneLinePerInvocationWithoutSecrets(t *testing.T) {
	f := newFixture(t, nil)
	code := f.sim.LoginCode(testOpenID)
	f.http(urlEvent("POST", "/pay", `{"total_fee":180,"code":"`+code+`"}`, nil))
	f.http(urlEvent("POST", "/pay", `{"total_fee":0}`, nil))
	f.invoke(`{"total_fee":180,"openid":"nobody"}`, time.Second)
	lines := strings.Split(strings.TrimSpace(f.log.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("want 3 lines, got %d: %s", len(lines), f.log.String())
	}
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not one JSON object: %q", l)
		}
		if m["request_id"] != "req-test-1" || m["duration_ms"] == nil || m["kind"] == nil {
			t.Fatalf("missing fields: %q", l)
		}
		for _, secret := range []string{testKey, testAppSecret, code, "session_key"} {
			if strings.Contains(l, secret) {
				t.Fatalf("log line carries a secret: %q", l)
			}
		}
	}
	if !strings.Contains(lines[0], `"status":200`) || !strings.Contains(lines[1], `"code":"INVALID_TOTAL_FEE"`) || !strings.Contains(lines[1], `"status":400`) {
		t.Fatalf("%s", f.log.String())
	}
}

func TestInvalidEvent(t *testing.T) {
	f := newFixture(t, nil)
	for _, ev := range []string{`{"httpMethod":5}`, `{"httpMethod":"POST","headers":"x"}`} {
		if _, err := f.invoke(ev, time.Second); err == nil || !strings.HasPrefix(err.Error(), "INVALID_EVENT: ") {
			t.Errorf("%s: %v", ev, err)
		}
	}
}

func TestErrorResponseHidesUnknownErrors(t *testing.T) {
	r := errorResponse(errors.New("dial tcp 10.0.0.1: secret detail"))
	if r.StatusCode != 500 || strings.Contains(r.Body, "secret") {
		t.Fatalf("%+v", r)
	}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestFailoverOnlyToProduction(t *testing.T) {
	f := newFixture(t, func(env map[string]string) { delete(env, "WXPAY_API_BASE") })
	f.app.setup()
	if f.app.wx.HTTP.BaseURL != wxpay.DefaultBaseURL || f.app.wx.HTTP.FailoverURL != wxpay.BackupBaseURL {
		t.Fatalf("production: %q → %q", f.app.wx.HTTP.BaseURL, f.app.wx.HTTP.FailoverURL)
	}
	g := newFixture(t, nil)
	g.app.setup()
	if g.app.wx.HTTP.FailoverURL != "" {
		t.Fatalf("a simulator got a failover host: %q", g.app.wx.HTTP.FailoverURL)
	}
}
