package main

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/httpevent"
	"github.com/wxpay-scf/wxpay-scf/pkg/payment"
	"github.com/wxpay-scf/wxpay-scf/pkg/scflocal"
	"github.com/wxpay-scf/wxpay-scf/pkg/store"
	"github.com/wxpay-scf/wxpay-scf/pkg/trade"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpay"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpay/wxpaytest"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// builtBinary builds the function as `make build` does, once per test run.
func builtBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	buildOnce.Do(func() {
		dir, err := filepathTemp()
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "main")
		// As make build builds it (the Makefile's GOBUILD).
		cmd := exec.Command("go", "build", "-trimpath", "-tags", "nethttpomithttp2", "-ldflags", "-s -w", "-o", binPath, ".")
		cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = &buildError{string(out)}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

type buildError struct{ out string }

func (e *buildError) Error() string { return "go build: " + e.out }

// filepathTemp is a directory that outlives single tests; the OS cleans it.
func filepathTemp() (string, error) {
	out, err := exec.Command("mktemp", "-d").Output()
	return strings.TrimSpace(string(out)), err
}

type binaryFixture struct {
	sim *wxpaytest.Sim
	fn  *scflocal.Process
	log *syncBuffer
	env []string // the binary's environment, for a restart
}

func startBinary(t *testing.T, edit func(map[string]string)) *binaryFixture {
	t.Helper()
	return startBinaryWith(t, nil, edit)
}

// startBinaryWith runs the binary against a v2 simulator (the login API,
// and the merchant API unless api is given) served over TLS, with the
// merchant's client certificate configured for refunds.
func startBinaryWith(t *testing.T, api http.Handler, edit func(map[string]string)) *binaryFixture {
	t.Helper()
	bin := builtBinary(t)
	certPEM, keyPEM, cert, err := wxpaytest.NewMerchantCert(testMchID)
	if err != nil {
		t.Fatal(err)
	}
	sim := wxpaytest.New(wxpaytest.Config{AppID: testAppID, MchID: testMchID, Key: testKey, AppSecret: testAppSecret, MerchantCert: cert})
	if api == nil {
		api = sim
	}
	mux := http.NewServeMux()
	mux.Handle("/sns/", sim)
	mux.Handle("/", api)
	srv := httptest.NewUnstartedServer(mux)
	srv.TLS = sim.TLSConfig()
	srv.StartTLS()
	t.Cleanup(func() { sim.Close(); srv.Close() })
	dir := t.TempDir()
	ca := filepath.Join(dir, "simulator-ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	env := testEnv()
	env["WXPAY_API_BASE"], env["WXPAY_LOGIN_API_BASE"] = srv.URL, srv.URL
	env["WXPAY_STORE"] = "sqlite:" + filepath.Join(dir, "wxpay.db")
	env["WXPAY_CLIENT_CERT"], env["WXPAY_CLIENT_KEY"] = string(certPEM), string(keyPEM)
	env["SSL_CERT_FILE"] = ca // trust the simulator's certificate
	if edit != nil {
		edit(env)
	}
	if env["WXPAY_TEST_RECONCILE"] == "" {
		markReconciled(t, env["WXPAY_STORE"])
	}
	delete(env, "WXPAY_TEST_RECONCILE")
	b := &binaryFixture{sim: sim, log: &syncBuffer{}}
	for k, v := range env {
		b.env = append(b.env, k+"="+v)
	}
	b.start(t, bin)
	return b
}

// markReconciled records the last two days as reconciled in the store,
// so that the binary's sweeps do the same whatever the hour (the daily
// reconciliation starts at 10:00 China time). A test of reconciliation
// sets WXPAY_TEST_RECONCILE to keep them open.
func markReconciled(t *testing.T, dsn string) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	today := payment.ChinaDay(time.Now())
	for _, day := range []time.Time{today.AddDate(0, 0, -1), today.AddDate(0, 0, -2)} {
		rep := trade.Report{Date: day.Format(time.DateOnly), Status: trade.ReconcileMatched, Discrepancies: []trade.Discrepancy{}}
		if _, err := st.SaveReconciliation(ctx, trade.Reconciliation{Report: rep}, nil); err != nil {
			t.Fatal(err)
		}
	}
}

func (b *binaryFixture) start(t *testing.T, bin string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fn, err := scflocal.Start(ctx, bin, b.env, b.log)
	if err != nil {
		t.Fatal(err)
	}
	b.fn = fn
	t.Cleanup(func() { fn.Close() })
}

// httpAnswer invokes the binary with an HTTP event and unpacks the answer.
func (b *binaryFixture) httpAnswer(t *testing.T, event string, timeout time.Duration) answer {
	t.Helper()
	r, err := b.fn.Invoke([]byte(event), timeout, "bin-1")
	if err != nil {
		t.Fatal(err)
	}
	if r.Error != nil {
		t.Fatalf("HTTP event became a function error: %+v", r.Error)
	}
	var resp struct {
		IsBase64Encoded *bool             `json:"isBase64Encoded"`
		StatusCode      int               `json:"statusCode"`
		Headers         map[string]string `json:"headers"`
		Body            string            `json:"body"`
	}
	if err := json.Unmarshal(r.Payload, &resp); err != nil || resp.IsBase64Encoded == nil || *resp.IsBase64Encoded {
		t.Fatalf("not an integrated response: %s", r.Payload)
	}
	a := answer{status: resp.StatusCode, headers: resp.Headers, raw: resp.Body}
	if err := json.Unmarshal([]byte(resp.Body), &a.body); err != nil {
		t.Fatalf("body is not JSON: %q", resp.Body)
	}
	return a
}

// TestBinaryPayContract drives every row of the POST /pay contract through
// the real binary over the SCF protocol.
func TestBinaryPayContract(t *testing.T) {
	b := startBinary(t, nil)
	f := &fixture{t: t, sim: b.sim}
	pay := func(body string, headers map[string]any) answer {
		return b.httpAnswer(t, urlEvent("POST", "/release/pay", body, headers), 3*time.Second)
	}
	code := func() string { return b.sim.LoginCode(testOpenID) }

	no := f.checkPaid(pay(`{"total_fee":180,"code":"`+code()+`"}`, map[string]any{"x-forwarded-for": "6.6.6.6"}), wxpay.SignMD5)
	if ip := b.sim.Order(no).Params["spbill_create_ip"]; ip != "111.206.96.145" {
		t.Fatalf("spbill_create_ip %s", ip)
	}
	gw := `{"requestContext":{"sourceIp":"10.0.2.14"},"headers":{},"httpMethod":"POST","path":"/pay","isBase64Encoded":true,"body":"` +
		b64(`{"total_fee":"180","code":"`+code()+`"}`) + `"}`
	f.checkPaid(b.httpAnswer(t, gw, 3*time.Second), wxpay.SignMD5)

	f.expectError(pay(``, nil), 400, "INVALID_BODY")
	f.expectError(pay(`{"total_fee":"0180","code":"x"}`, nil), 400, "INVALID_TOTAL_FEE")
	f.expectError(pay(`{"total_fee":1,"code":"x","description":"😀"}`, nil), 400, "INVALID_DESCRIPTION")
	f.expectError(pay(`{"total_fee":1,"code":"x","attach":"`+strings.Repeat("a", 128)+`"}`, nil), 400, "INVALID_ATTACH")
	f.expectError(pay(`{"total_fee":1}`, nil), 401, "UNAUTHENTICATED")
	f.expectError(pay(`{"total_fee":1,"code":"not-issued"}`, nil), 401, "INVALID_LOGIN_CODE")
	f.expectError(b.httpAnswer(t, urlEvent("POST", "/release/nope", `{}`, nil), time.Second), 404, "NOT_FOUND")
	a := b.httpAnswer(t, urlEvent("PUT", "/release/pay", `{}`, nil), time.Second)
	f.expectError(a, 405, "METHOD_NOT_ALLOWED")
	if a.headers["Allow"] != "POST" {
		t.Fatalf("Allow: %v", a.headers)
	}
	b.sim.Inject("/pay/unifiedorder", wxpaytest.Fault{Kind: wxpaytest.ResultFail, Code: "ORDERPAID", Msg: "商户订单已支付"})
	f.expectError(pay(`{"total_fee":1,"code":"`+code()+`"}`, nil), 409, "ORDERPAID")
	b.sim.Inject("/pay/unifiedorder", wxpaytest.Fault{Kind: wxpaytest.BadSignature})
	f.expectError(pay(`{"total_fee":1,"code":"`+code()+`"}`, nil), 502, "WXPAY_BAD_SIGNATURE")

	// A hung WeChat Pay: the answer is a 504 before the invocation's 1 s deadline.
	b.sim.Inject("/pay/unifiedorder", wxpaytest.Fault{Kind: wxpaytest.Hang})
	start := time.Now()
	f.expectError(b.httpAnswer(t, urlEvent("POST", "/pay", `{"total_fee":1,"code":"`+code()+`"}`, nil), time.Second), 504, "WXPAY_TIMEOUT")
	if d := time.Since(start); d >= time.Second {
		t.Fatalf("answered after the deadline: %v", d)
	}

	// Direct invocation: the success body itself, or an error "CODE: message".
	b.sim.AddUser(testOpenID)
	r, err := b.fn.Invoke([]byte(`{"total_fee":180,"spbill_create_ip":"1.2.3.4","openid":"`+testOpenID+`"}`), 3*time.Second, "bin-2")
	if err != nil || r.Error != nil {
		t.Fatalf("%+v %+v %v", r, r.Error, err)
	}
	f.checkPaid(answer{status: 200, body: decode(t, r.Payload), raw: string(r.Payload)}, wxpay.SignMD5)
	r, err = b.fn.Invoke([]byte(`{"total_fee":-1,"openid":"o"}`), time.Second, "bin-3")
	if err != nil || r.Error == nil || !strings.HasPrefix(r.Error.Message, "INVALID_TOTAL_FEE: ") {
		t.Fatalf("%+v %v", r, err)
	}

	for _, secret := range []string{testKey, testAppSecret} {
		if strings.Contains(b.log.String(), secret) {
			t.Fatal("a secret reached the binary's output")
		}
	}
}

func TestBinaryConfigError(t *testing.T) {
	b := startBinary(t, func(env map[string]string) { delete(env, "WXPAY_KEY") })
	f := &fixture{t: t, sim: b.sim}
	for i := 0; i < 2; i++ {
		f.expectError(b.httpAnswer(t, urlEvent("POST", "/pay", `{"total_fee":1,"code":"x"}`, nil), time.Second), 500, "CONFIG_ERROR")
	}
	time.Sleep(10 * time.Millisecond)
	if !strings.Contains(b.log.String(), `"variable":"WXPAY_KEY"`) {
		t.Fatalf("the log does not name WXPAY_KEY: %s", b.log.String())
	}
}

// TestBinaryNotification takes an order through payment and its
// notification in the real binary.
func TestBinaryNotification(t *testing.T) {
	b := startBinary(t, nil)
	f := &fixture{t: t, sim: b.sim}
	no := f.checkPaid(b.httpAnswer(t, urlEvent("POST", "/release/pay", `{"total_fee":180,"code":"`+b.sim.LoginCode(testOpenID)+`"}`, nil), 3*time.Second), wxpay.SignMD5)
	note, _ := b.sim.Pay(no)
	deliver := func(ctx context.Context, body []byte) ([]byte, error) {
		r, err := b.fn.Invoke([]byte(urlEvent("POST", "/release/notify", string(body), map[string]any{"content-type": "text/xml"})), 3*time.Second, "bin-notify")
		if err != nil || r.Error != nil {
			return nil, fmt.Errorf("%v %+v", err, r)
		}
		var resp httpevent.Response
		if err := json.Unmarshal(r.Payload, &resp); err != nil || resp.Headers["Content-Type"] != "text/xml" || resp.StatusCode != 200 {
			return nil, fmt.Errorf("not a notification reply: %s", r.Payload)
		}
		return []byte(resp.Body), nil
	}
	if reply, err := deliver(context.Background(), b.sim.PaymentNotification(no, true)); err != nil || wxpaytest.IsSuccessReply(reply) {
		t.Fatalf("probe: %s %v", reply, err)
	}
	res := wxpaytest.Notify(context.Background(), deliver, note, wxpaytest.NotifyOptions{Copies: 3})
	if !res.Delivered || res.Attempts != 1 {
		t.Fatalf("%+v", res)
	}
	r, err := b.fn.Invoke([]byte(`{"action":"query","out_trade_no":"`+no+`"}`), 3*time.Second, "bin-query")
	if err != nil || r.Error != nil || !strings.Contains(string(r.Payload), `"state":"SUCCESS"`) {
		t.Fatalf("%s %+v %v", r.Payload, r.Error, err)
	}
	time.Sleep(20 * time.Millisecond)
	if n := strings.Count(b.log.String(), `"event":"order_state","out_trade_no":"`+no+`","from":"NOTPAY","to":"SUCCESS"`); n != 1 {
		t.Fatalf("%d state change lines: %s", n, b.log.String())
	}
}
