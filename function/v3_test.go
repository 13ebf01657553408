package main

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/httpevent"
	"github.com/wxpay-scf/wxpay-scf/pkg/payment"
	"github.com/wxpay-scf/wxpay-scf/pkg/trade"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpayv3/wxpayv3test"
)

const (
	testAPIv3Key  = "TEST-apiv3-key-0123456789abcdefg" // 32 bytes, a test key
	testMchSerial = "TEST5B6A45ACD588826D15E583A95F5DD00000000"
)

var (
	merchantKeyOnce sync.Once
	merchantKey     *rsa.PrivateKey
)

// testMerchantKey is an RSA key generated for this test run.
func testMerchantKey(t *testing.T) *rsa.PrivateKey {
	merchantKeyOnce.Do(func() { merchantKey, _ = rsa.GenerateKey(rand.Reader, 2048) })
	return merchantKey
}

func pkcs8PEM(t *testing.T, key any) string {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// newFixtureV3 is the function on API v3 against the v3 simulator (the
// login API still comes from the v2 simulator), in public-key mode or, with
// certificates, in certificate mode.
func newFixtureV3(t *testing.T, certificates bool, edit func(map[string]string)) (*fixture, *wxpayv3test.Sim) {
	t.Helper()
	sim3 := newSimV3(t, certificates)
	f := newFixture(t, func(env map[string]string) {
		v3Env(t, sim3, certificates)(env)
		if edit != nil {
			edit(env)
		}
	})
	f.sim3 = sim3
	mux := http.NewServeMux()
	mux.Handle("/sns/", f.sim)
	mux.Handle("/", sim3)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	f.app.transport = srv.Client().Transport
	env := f.app.getenv
	f.app.getenv = func(k string) string {
		if k == "WXPAY_API_BASE" || k == "WXPAY_LOGIN_API_BASE" {
			return srv.URL
		}
		return env(k)
	}
	return f, sim3
}

// v3Env switches an environment to API v3 for sim3's merchant.
func v3Env(t *testing.T, sim3 *wxpayv3test.Sim, certificates bool) func(map[string]string) {
	return func(env map[string]string) {
		delete(env, "WXPAY_KEY")
		delete(env, "WXPAY_CLIENT_CERT")
		delete(env, "WXPAY_CLIENT_KEY")
		env["WXPAY_API_VERSION"] = "v3"
		env["WXPAY_APIV3_KEY"] = testAPIv3Key
		env["WXPAY_MCH_SERIAL"] = testMchSerial
		env["WXPAY_MCH_PRIVATE_KEY"] = pkcs8PEM(t, testMerchantKey(t))
		if !certificates {
			env["WXPAY_PUBLIC_KEY"] = string(sim3.PublicKeyPEM())
			env["WXPAY_PUBLIC_KEY_ID"] = wxpayv3test.PublicKeyID
		}
	}
}

// newSimV3 is the v3 simulator for the test merchant.
func newSimV3(t *testing.T, certificates bool) *wxpayv3test.Sim {
	t.Helper()
	sim3, err := wxpayv3test.New(wxpayv3test.Config{
		AppID: testAppID, MchID: testMchID, APIv3Key: []byte(testAPIv3Key),
		MerchantKey: &testMerchantKey(t).PublicKey, MerchantSerial: testMchSerial, Certificates: certificates,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim3.Close)
	return sim3
}

// checkPaidV3 verifies a v3 success answer: RSA paySign over
// appId\ntimeStamp\nnonceStr\npackage\n with the merchant's key.
func (f *fixture) checkPaidV3(a answer) string {
	f.t.Helper()
	if a.status != 200 {
		f.t.Fatalf("got %d %s", a.status, a.raw)
	}
	no, _ := a.body["out_trade_no"].(string)
	d, _ := a.body["data"].(map[string]any)
	if len(d) != 5 || d["signType"] != "RSA" || !strings.HasPrefix(d["package"].(string), "prepay_id=wx") {
		f.t.Fatalf("%s", a.raw)
	}
	sig, _ := base64.StdEncoding.DecodeString(d["paySign"].(string))
	sum := sha256.Sum256([]byte(testAppID + "\n" + d["timeStamp"].(string) + "\n" + d["nonceStr"].(string) + "\n" + d["package"].(string) + "\n"))
	if err := rsa.VerifyPKCS1v15(&testMerchantKey(f.t).PublicKey, crypto.SHA256, sum[:], sig); err != nil {
		f.t.Fatalf("paySign: %v", err)
	}
	return no
}

// v3NotifyEvent is a v3 notification posted to …/notify.
func v3NotifyEvent(n wxpayv3test.Notice) string {
	return urlEvent("POST", "/release/notify", string(n.Body), map[string]any{
		"content-type": "application/json", "wechatpay-timestamp": n.Signed.Timestamp, "wechatpay-nonce": n.Signed.Nonce,
		"wechatpay-signature": n.Signed.Signature, "wechatpay-serial": n.Signed.Serial,
	})
}

// notifyV3 posts a v3 notification and returns the HTTP status of the reply.
func (f *fixture) notifyV3(n wxpayv3test.Notice) int {
	f.t.Helper()
	out, err := f.invoke(v3NotifyEvent(n), 3*time.Second)
	if err != nil {
		f.t.Fatal(err)
	}
	resp := out.(*httpevent.Response)
	if resp.StatusCode != 204 && (resp.StatusCode < 400 || !strings.HasPrefix(resp.Body, `{"code":"FAIL","message":"`)) {
		f.t.Fatalf("not a v3 notification reply: %d %s", resp.StatusCode, resp.Body)
	}
	return resp.StatusCode
}

func TestV3OrderLife(t *testing.T) {
	for _, certificates := range []bool{false, true} {
		f, sim3 := newFixtureV3(t, certificates, nil)
		alice := unique("o-")
		sim3.AddUser(alice)
		tok := f.token(alice)
		no := f.checkPaidV3(f.http(urlEvent("POST", "/release/pay", `{"total_fee":180,"description":"会员充值","request_id":"r1"}`, bearer(tok))))
		if again := f.checkPaidV3(f.http(urlEvent("POST", "/release/pay", `{"total_fee":180,"description":"会员充值","request_id":"r1"}`, bearer(tok)))); again != no {
			t.Fatal("the same request_id made another order")
		}
		if a := f.order(no, tok); a.body["state"] != "NOTPAY" {
			t.Fatalf("%s", a.raw)
		}
		note, _ := sim3.Pay(no)
		probe, _ := sim3.PaymentNotice(no, true)
		if s := f.notifyV3(probe); s < 400 || f.store.notes.Load() != 0 {
			t.Fatalf("probe: %d", s)
		}
		tampered := note
		tampered.Body = []byte(strings.Replace(string(note.Body), `"id":"`, `"id":"x`, 1))
		if s := f.notifyV3(tampered); s < 400 {
			t.Fatalf("tampered: %d", s)
		}
		// Ten copies at once: one change, ten successes.
		var wg sync.WaitGroup
		statuses := make([]int, 10)
		for i := range statuses {
			wg.Add(1)
			go func() { defer wg.Done(); statuses[i] = f.notifyV3(note) }()
		}
		wg.Wait()
		for _, s := range statuses {
			if s != 204 {
				t.Fatalf("statuses %v", statuses)
			}
		}
		if f.stateChanges(no) != 1 || f.order(no, tok).body["state"] != "SUCCESS" {
			t.Fatalf("%d changes", f.stateChanges(no))
		}
		out, err := f.invoke(`{"action":"refund","out_trade_no":"`+no+`","refund_fee":100}`, 3*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		rv := out.(*payment.RefundView)
		if _, err := f.invoke(`{"action":"refund","out_trade_no":"`+no+`","refund_fee":81}`, 3*time.Second); err == nil || !strings.HasPrefix(err.Error(), "REFUND_EXCEEDS_PAID: ") {
			t.Fatalf("over: %v", err)
		}
		rn, _ := sim3.CompleteRefund(rv.OutRefundNo, "SUCCESS")
		if s := f.notifyV3(rn); s != 204 || f.order(no, tok).body["state"] != "REFUND" {
			t.Fatalf("refund notification: %d", s)
		}
		// Close an unpaid order; a paid one is 409.
		no2 := f.checkPaidV3(f.http(urlEvent("POST", "/release/pay", `{"total_fee":5}`, bearer(tok))))
		if a := f.http(urlEvent("POST", "/release/orders/"+no2+"/close", ``, bearer(tok))); a.body["state"] != "CLOSED" {
			t.Fatalf("%s", a.raw)
		}
		f.expectError(f.http(urlEvent("POST", "/release/orders/"+no+"/close", ``, bearer(tok))), 409, "ORDERPAID")
	}
}

func TestV3Refusals(t *testing.T) {
	f, sim3 := newFixtureV3(t, false, nil)
	sim3.AddUser(testOpenID)
	pay := func() answer {
		return f.http(urlEvent("POST", "/release/pay", `{"total_fee":1,"code":"`+f.sim.LoginCode(testOpenID)+`"}`, nil))
	}
	for _, c := range []struct {
		fault  wxpayv3test.Fault
		status int
		code   string
	}{
		{wxpayv3test.Fault{Kind: wxpayv3test.BadSignature}, 502, "WXPAY_BAD_SIGNATURE"},
		{wxpayv3test.Fault{Kind: wxpayv3test.NoSignature}, 502, "WXPAY_BAD_SIGNATURE"},
		{wxpayv3test.Fault{Kind: wxpayv3test.StaleTimestamp}, 502, "WXPAY_BAD_SIGNATURE"},
		{wxpayv3test.Fault{Kind: wxpayv3test.UnknownSerial}, 502, "WXPAY_BAD_SIGNATURE"},
		{wxpayv3test.Fault{Kind: wxpayv3test.Probe}, 502, "WXPAY_BAD_SIGNATURE"},
		{wxpayv3test.Fault{Kind: wxpayv3test.Refuse, Status: 403, Code: "ORDERPAID"}, 409, "ORDERPAID"},
		{wxpayv3test.Fault{Kind: wxpayv3test.Refuse, Status: 400, Code: "ORDER_CLOSED"}, 409, "ORDER_CLOSED"},
		{wxpayv3test.Fault{Kind: wxpayv3test.Refuse, Status: 403, Code: "NO_AUTH"}, 502, "NO_AUTH"},
	} {
		sim3.Inject(c.fault)
		f.expectError(pay(), c.status, c.code)
	}
	f.checkPaidV3(pay())
	// An emoji description is refused on v3 too, before WeChat is called.
	f.expectError(f.http(urlEvent("POST", "/release/pay", `{"total_fee":1,"code":"x","description":"🧧"}`, nil)), 400, "INVALID_DESCRIPTION")
}

func TestV3Configuration(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for variable, edit := range map[string]func(map[string]string){
		"WXPAY_MCH_PRIVATE_KEY": func(e map[string]string) { e["WXPAY_MCH_PRIVATE_KEY"] = pkcs8PEM(t, ec) },
		"WXPAY_APIV3_KEY":       func(e map[string]string) { e["WXPAY_APIV3_KEY"] = "short" },
		"WXPAY_MCH_SERIAL":      func(e map[string]string) { delete(e, "WXPAY_MCH_SERIAL") },
		"WXPAY_PUBLIC_KEY_ID":   func(e map[string]string) { delete(e, "WXPAY_PUBLIC_KEY_ID") },
		"WXPAY_PUBLIC_KEY": func(e map[string]string) {
			e["WXPAY_PUBLIC_KEY"] = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"
		},
	} {
		f, _ := newFixtureV3(t, false, edit)
		f.expectError(f.http(urlEvent("POST", "/release/pay", `{"total_fee":1,"code":"x"}`, nil)), 500, "CONFIG_ERROR")
		if !strings.Contains(f.log.String(), `"variable":"`+variable+`"`) || strings.Contains(f.log.String(), "PRIVATE KEY") {
			t.Errorf("%s: %s", variable, f.log.String())
		}
	}
}

// unsignedClose answers every closeorder with an unsigned 400
// ORDER_CLOSED, as anything on the way could.
type unsignedClose struct{ next http.RoundTripper }

func (u unsignedClose) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasSuffix(r.URL.Path, "/close") {
		b := []byte(`{"code":"ORDER_CLOSED","message":"forged"}`)
		return &http.Response{StatusCode: 400, Header: http.Header{"Content-Type": {"application/json"}},
			Body: io.NopCloser(bytes.NewReader(b)), ContentLength: int64(len(b)), Request: r}, nil
	}
	return u.next.RoundTrip(r)
}

// "Closed" closes an order here only on WeChat Pay's verified word: the
// sweep leaves an expired order unpaid, not closed, on an unsigned one.
func TestV3SweepIgnoresAnUnsignedOrderClosed(t *testing.T) {
	f, _ := newFixtureV3(t, false, func(env map[string]string) { env["WXPAY_ORDER_TTL"] = "1m" })
	f.app.transport = unsignedClose{f.app.transport}
	no := f.newOrder()
	f.clock.Advance(2 * time.Minute)
	f.sweep()
	if s := f.stored(no).State; s != trade.NotPay || len(f.eventsOf(no, "order.closed")) != 0 {
		t.Fatalf("an unsigned ORDER_CLOSED answer recorded the order %s (order.closed events: %d)", s, len(f.eventsOf(no, "order.closed")))
	}
}
