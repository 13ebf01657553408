package wxpay_test

import (
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/outbound"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpay"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpay/wxpaytest"
)

const (
	testAppID  = "wxd678efh567hg6787"
	testMchID  = "1230000109"
	testKey    = "TESTKEY0testkey0TESTKEY0testkey0" // a test key, 32 characters
	testOpenID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
)

func newSim(t *testing.T) (*wxpaytest.Sim, *httptest.Server) {
	t.Helper()
	sim := wxpaytest.New(wxpaytest.Config{AppID: testAppID, MchID: testMchID, Key: testKey, AppSecret: "test-secret"})
	sim.AddUser(testOpenID)
	srv := httptest.NewServer(sim)
	t.Cleanup(func() { sim.Close(); srv.Close() })
	return sim, srv
}

func newClient(srv *httptest.Server, st wxpay.SignType) *wxpay.Client {
	return &wxpay.Client{
		AppID: testAppID, MchID: testMchID, Key: testKey, SignType: st,
		HTTP: outbound.Client{BaseURL: srv.URL, Transport: srv.Client().Transport, RetryWait: time.Millisecond}, Rand: rand.Reader,
	}
}

func newOrder(t *testing.T) *wxpay.UnifiedOrderRequest {
	t.Helper()
	no, err := wxpay.NewOutTradeNo(time.Now(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &wxpay.UnifiedOrderRequest{
		OutTradeNo: no, Body: "腾讯充值中心-QQ会员充值", Attach: `a<b>&"c"`, TotalFee: 180,
		SpbillCreateIP: "123.12.12.123", NotifyURL: "https://example.com/release/notify", OpenID: testOpenID,
	}
}

func TestUnifiedOrder(t *testing.T) {
	for _, st := range []wxpay.SignType{wxpay.SignMD5, wxpay.SignHMACSHA256} {
		t.Run(string(st), func(t *testing.T) {
			sim, srv := newSim(t)
			c := newClient(srv, st)
			order := newOrder(t)
			got, err := c.UnifiedOrder(context.Background(), order)
			if err != nil {
				t.Fatal(err)
			}
			rec := sim.Order(order.OutTradeNo)
			if rec == nil || rec.PrepayID != got.PrepayID {
				t.Fatalf("simulator recorded %+v, client got %+v", rec, got)
			}
			if rec.Params["body"] != order.Body || rec.Params["attach"] != order.Attach || rec.Params["total_fee"] != "180" {
				t.Errorf("WeChat received %q", rec.Params)
			}
			reqs := sim.Requests()
			if st == wxpay.SignHMACSHA256 && reqs[0].Params["sign_type"] != "HMAC-SHA256" {
				t.Errorf("HMAC request without sign_type: %q", reqs[0].Params)
			}
			// Re-entry with the same parameters finds the same order.
			again, err := c.UnifiedOrder(context.Background(), order)
			if err != nil || again.PrepayID != got.PrepayID {
				t.Fatalf("re-entry: %+v, %v", again, err)
			}
			// The same number with another amount is refused.
			order.TotalFee = 181
			_, err = c.UnifiedOrder(context.Background(), order)
			var refusal *wxpay.Error
			if !errors.As(err, &refusal) || refusal.ErrCode != "OUT_TRADE_NO_USED" {
				t.Fatalf("changed amount: got %v", err)
			}
		})
	}
}

// time_expire goes out in China time, and WeChat Pay takes no payment
// after it; no expiry sends none.
func TestUnifiedOrderTimeExpire(t *testing.T) {
	for _, c := range []struct {
		expire time.Time
		sent   string
	}{
		{time.Date(2026, 11, 26, 9, 30, 0, 0, time.UTC), "20261126173000"},
		{time.Date(2026, 11, 26, 23, 59, 59, 999, time.FixedZone("", -5*3600)), "20261127125959"},
		{time.Time{}, ""},
	} {
		sim, srv := newSim(t)
		order := newOrder(t)
		order.TimeExpire = c.expire
		if _, err := newClient(srv, wxpay.SignMD5).UnifiedOrder(context.Background(), order); err != nil {
			t.Fatal(err)
		}
		if got, sent := sim.Requests()[0].Params["time_expire"]; got != c.sent || sent != (c.sent != "") {
			t.Errorf("%v: sent %q", c.expire, got)
		}
	}
	sim, srv := newSim(t)
	order := newOrder(t)
	order.TimeExpire = time.Now().Add(time.Hour)
	if _, err := newClient(srv, wxpay.SignMD5).UnifiedOrder(context.Background(), order); err != nil {
		t.Fatal(err)
	}
	sim.Advance(time.Hour + time.Second)
	if _, ok := sim.Pay(order.OutTradeNo); ok {
		t.Fatal("paid after time_expire")
	}
}

func TestUnifiedOrderRefusesBadAnswers(t *testing.T) {
	cases := []struct {
		name   string
		faults []wxpaytest.Fault
		check  func(error) bool
		sends  int
	}{
		{"garbage", []wxpaytest.Fault{{Kind: wxpaytest.Garbage}},
			func(err error) bool { return errors.Is(err, wxpay.ErrMalformedXML) }, 1},
		{"bad signature", []wxpaytest.Fault{{Kind: wxpaytest.BadSignature}},
			func(err error) bool { return errors.Is(err, wxpay.ErrInvalidSignature) }, 1},
		{"no signature", []wxpaytest.Fault{{Kind: wxpaytest.NoSignature}},
			func(err error) bool { return errors.Is(err, wxpay.ErrMissingSignature) }, 1},
		{"return_code FAIL", []wxpaytest.Fault{{Kind: wxpaytest.ReturnFail, Msg: "系统繁忙"}},
			func(err error) bool {
				var e *wxpay.Error
				return errors.As(err, &e) && e.ReturnCode == "FAIL" && e.ReturnMsg == "系统繁忙"
			}, 1},
		{"ORDERPAID", []wxpaytest.Fault{{Kind: wxpaytest.ResultFail, Code: "ORDERPAID", Msg: "商户订单已支付"}},
			func(err error) bool {
				var e *wxpay.Error
				return errors.As(err, &e) && e.ErrCode == "ORDERPAID" && e.ErrCodeDes == "商户订单已支付"
			}, 1},
		{"HTTP 500 three times", []wxpaytest.Fault{{Kind: wxpaytest.HTTP500}, {Kind: wxpaytest.HTTP500}, {Kind: wxpaytest.HTTP500}},
			func(err error) bool {
				var e *wxpay.HTTPError
				return errors.As(err, &e) && e.StatusCode == 500
			}, 3},
		{"SYSTEMERROR three times", []wxpaytest.Fault{
			{Kind: wxpaytest.ResultFail, Code: "SYSTEMERROR"}, {Kind: wxpaytest.ResultFail, Code: "SYSTEMERROR"}, {Kind: wxpaytest.ResultFail, Code: "SYSTEMERROR"}},
			func(err error) bool {
				var e *wxpay.Error
				return errors.As(err, &e) && e.ErrCode == "SYSTEMERROR"
			}, 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sim, srv := newSim(t)
			sim.Inject("/pay/unifiedorder", c.faults...)
			got, err := newClient(srv, wxpay.SignMD5).UnifiedOrder(context.Background(), newOrder(t))
			if got != nil || !c.check(err) {
				t.Fatalf("got %+v, %v", got, err)
			}
			if n := len(sim.Requests()); n != c.sends {
				t.Errorf("sent %d times, want %d", n, c.sends)
			}
		})
	}
}

func TestUnifiedOrderRetriesWithSameOrder(t *testing.T) {
	for _, f := range []wxpaytest.Fault{
		{Kind: wxpaytest.HTTP500},
		{Kind: wxpaytest.ResultFail, Code: "SYSTEMERROR"},
		{Kind: wxpaytest.ResultFail, Code: "BIZERR_NEED_RETRY"},
	} {
		sim, srv := newSim(t)
		sim.Inject("/pay/unifiedorder", f)
		order := newOrder(t)
		got, err := newClient(srv, wxpay.SignMD5).UnifiedOrder(context.Background(), order)
		if err != nil {
			t.Fatalf("%+v: %v", f, err)
		}
		reqs := sim.Requests()
		if len(reqs) != 2 || reqs[0].Params["out_trade_no"] != order.OutTradeNo || reqs[1].Params["out_trade_no"] != order.OutTradeNo {
			t.Fatalf("%+v: requests %v", f, reqs)
		}
		if sim.Order(order.OutTradeNo).PrepayID != got.PrepayID {
			t.Fatalf("%+v: prepay_id differs", f)
		}
	}
}

func TestUnifiedOrderGivesUpAtDeadline(t *testing.T) {
	sim, srv := newSim(t)
	sim.Inject("/pay/unifiedorder", wxpaytest.Fault{Kind: wxpaytest.Hang})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := newClient(srv, wxpay.SignMD5).UnifiedOrder(ctx, newOrder(t))
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, wxpay.ErrTransport) {
		t.Fatalf("got %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("did not give up at the deadline")
	}
}

func TestTransportErrorHidesURL(t *testing.T) {
	c := &wxpay.Client{AppID: testAppID, MchID: testMchID, Key: testKey, HTTP: outbound.Client{BaseURL: "http://127.0.0.1:1/?secret=s3cr3t", MaxAttempts: 1}, Rand: rand.Reader}
	_, err := c.UnifiedOrder(context.Background(), newOrder(t))
	if !errors.Is(err, wxpay.ErrTransport) {
		t.Fatalf("got %v", err)
	}
	if msg := err.Error(); strings.Contains(msg, "s3cr3t") {
		t.Fatalf("error carries the URL: %s", msg)
	}
}

func TestUnifiedOrderValidatesBeforeSending(t *testing.T) {
	sim, srv := newSim(t)
	c := newClient(srv, wxpay.SignMD5)
	for name, mut := range map[string]func(*wxpay.UnifiedOrderRequest){
		"zero fee":        func(o *wxpay.UnifiedOrderRequest) { o.TotalFee = 0 },
		"fee over int32":  func(o *wxpay.UnifiedOrderRequest) { o.TotalFee = 2147483648 },
		"long body":       func(o *wxpay.UnifiedOrderRequest) { o.Body = string(make([]byte, 128)) },
		"long attach":     func(o *wxpay.UnifiedOrderRequest) { o.Attach = string(make([]byte, 128)) },
		"no openid":       func(o *wxpay.UnifiedOrderRequest) { o.OpenID = "" },
		"bad ip":          func(o *wxpay.UnifiedOrderRequest) { o.SpbillCreateIP = "1.2.3" },
		"short trade no":  func(o *wxpay.UnifiedOrderRequest) { o.OutTradeNo = "12345" },
		"bad trade no":    func(o *wxpay.UnifiedOrderRequest) { o.OutTradeNo = "2026112617000/x" },
		"no notify url":   func(o *wxpay.UnifiedOrderRequest) { o.NotifyURL = "" },
		"empty body text": func(o *wxpay.UnifiedOrderRequest) { o.Body = "" },
	} {
		o := newOrder(t)
		mut(o)
		if _, err := c.UnifiedOrder(context.Background(), o); !errors.Is(err, wxpay.ErrInvalidField) {
			t.Errorf("%s: got %v", name, err)
		}
	}
	if n := len(sim.Requests()); n != 0 {
		t.Fatalf("invalid orders reached WeChat Pay %d times", n)
	}
}

func TestJSAPIPayParams(t *testing.T) {
	now := time.Unix(1490840662, 0)
	for _, st := range []wxpay.SignType{wxpay.SignMD5, wxpay.SignHMACSHA256} {
		c := &wxpay.Client{AppID: testAppID, Key: testKey, SignType: st, Rand: rand.Reader, Now: func() time.Time { return now }}
		p, err := c.JSAPIPayParams("wx2017033010242291fcfe0db70013231072")
		if err != nil {
			t.Fatal(err)
		}
		if p.TimeStamp != "1490840662" || p.Package != "prepay_id=wx2017033010242291fcfe0db70013231072" || p.SignType != string(st) || len(p.NonceStr) != 32 {
			t.Fatalf("%+v", p)
		}
		signed := wxpay.Params{"appId": testAppID, "timeStamp": p.TimeStamp, "nonceStr": p.NonceStr, "package": p.Package, "signType": p.SignType, "sign": p.PaySign}
		if err := wxpay.Verify(signed, testKey, st); err != nil {
			t.Fatalf("%s paySign does not verify: %v", st, err)
		}
		q, _ := c.JSAPIPayParams("wx2017033010242291fcfe0db70013231072")
		if q.NonceStr == p.NonceStr {
			t.Fatal("nonce reused")
		}
	}
}

func TestOutTradeNo(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		no, err := wxpay.NewOutTradeNo(time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC), rand.Reader)
		if err != nil || !wxpay.ValidOutTradeNo(no) || len(no) != 32 || no[:14] != "20261126170000" || seen[no] {
			t.Fatalf("%q %v", no, err)
		}
		seen[no] = true
	}
	for s, want := range map[string]bool{"123456": true, "a_b-c|d*e": true, "12345": false, "abc def": false, "订单123456": false, strconv.Itoa(1e9) + "1234567890123456789012": true, "123456789012345678901234567890123": false} {
		if wxpay.ValidOutTradeNo(s) != want {
			t.Errorf("%q: want %v", s, want)
		}
	}
}

var _ http.RoundTripper = wxpaytest.New(wxpaytest.Config{}).Transport()

func TestFailover(t *testing.T) {
	sim, srv := newSim(t)
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(502) }))
	defer down.Close()
	c := newClient(srv, wxpay.SignMD5)
	c.HTTP.BaseURL, c.HTTP.FailoverURL = down.URL, srv.URL
	order := newOrder(t)
	if _, err := c.UnifiedOrder(context.Background(), order); err != nil {
		t.Fatalf("failover: %v", err)
	}
	if n := len(sim.Requests()); n != 1 || sim.Order(order.OutTradeNo) == nil {
		t.Fatalf("the backup received %d requests", n)
	}
	// A refusal is not the host's failure: no failover.
	c.HTTP.BaseURL = srv.URL
	c.HTTP.FailoverURL = down.URL
	sim.Inject("/pay/unifiedorder", wxpaytest.Fault{Kind: wxpaytest.ResultFail, Code: "SYSTEMERROR"})
	if _, err := c.UnifiedOrder(context.Background(), newOrder(t)); err != nil {
		t.Fatalf("SYSTEMERROR retried on the main host: %v", err)
	}
	c.HTTP.FailoverURL = ""
	c.HTTP.BaseURL = down.URL
	var e *wxpay.HTTPError
	if _, err := c.UnifiedOrder(context.Background(), newOrder(t)); !errors.As(err, &e) {
		t.Fatalf("without failover: %v", err)
	}
}

func TestValidOutRefundNo(t *testing.T) {
	for s, want := range map[string]bool{
		"R-1":                                  true,
		"1":                                    true,
		"0f8fad5b-d9cb-469f-a165-70867728950e": true, // a UUID
		"a_b-c|d*e@f":                          true,
		strings.Repeat("9", 64):                true,
		"":                                     false,
		strings.Repeat("9", 65):                false,
		"R 1":                                  false,
		"R/1":                                  false,
		"R.1":                                  false,
		"退款1":                                  false,
	} {
		if got := wxpay.ValidOutRefundNo(s); got != want {
			t.Errorf("%q: %v, want %v", s, got, want)
		}
	}
}
