package wxpaytest

import (
	"crypto/tls"
	"crypto/x509"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/trade"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpay"
)

const (
	appID = "wxd678efh567hg6787"
	mchID = "1230000109"
	key   = "TESTKEY0testkey0TESTKEY0testkey0" // test key
)

func validOrder() wxpay.Params {
	return wxpay.Params{
		"appid": appID, "mch_id": mchID, "nonce_str": "5K8264ILTKCH16CQ2502SI8ZNMTM67VS", "body": "test",
		"out_trade_no": "20261126170000abc", "total_fee": "1", "spbill_create_ip": "1.2.3.4",
		"notify_url": "https://example.com/notify", "trade_type": "JSAPI", "openid": "o1",
	}
}

// post sends p as a unified order; see postTo.
func post(t *testing.T, s *Sim, p wxpay.Params) wxpay.Params {
	t.Helper()
	return postTo(t, s, "/pay/unifiedorder", p)
}

// postTo signs p (unless it already has a sign), sends it to path and
// returns the decoded answer, checking its signature when it has one.
func postTo(t *testing.T, s *Sim, path string, p wxpay.Params) wxpay.Params {
	t.Helper()
	return postAs(t, s, nil, path, p)
}

// postAs is postTo over mutual TLS with client certificate cert, or
// without TLS when cert is nil.
func postAs(t *testing.T, s *Sim, cert *x509.Certificate, path string, p wxpay.Params) wxpay.Params {
	t.Helper()
	if _, ok := p["sign"]; !ok {
		st, _ := wxpay.ParseSignType(p["sign_type"])
		p["sign"], _ = wxpay.Sign(p, key, st)
	}
	body, err := wxpay.EncodeXML(p)
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(string(body)))
	if cert != nil {
		r.TLS = &tls.ConnectionState{HandshakeComplete: true, PeerCertificates: []*x509.Certificate{cert}}
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	a, err := wxpay.DecodeXML(w.Body.Bytes())
	if err != nil {
		t.Fatalf("simulator answered %q: %v", w.Body.String(), err)
	}
	st, _ := wxpay.ParseSignType(p["sign_type"])
	if _, signed := a["sign"]; signed && wxpay.Verify(a, key, st) != nil {
		t.Fatalf("the answer does not verify: %q", a)
	}
	return a
}

// call sends the fields of a query or close to path with a fresh nonce.
func call(t *testing.T, s *Sim, path string, fields wxpay.Params) wxpay.Params {
	t.Helper()
	return callWithCert(t, s, nil, path, fields)
}

// callWithCert is call over mutual TLS with cert.
func callWithCert(t *testing.T, s *Sim, cert *x509.Certificate, path string, fields wxpay.Params) wxpay.Params {
	t.Helper()
	p := wxpay.Params{"appid": appID, "mch_id": mchID, "nonce_str": randomHex(32)}
	maps.Copy(p, fields)
	return postAs(t, s, cert, path, p)
}

// clockAt is a Config.Now fixed at a known instant.
func clockAt() func() time.Time {
	at := time.Date(2026, 11, 26, 17, 0, 0, 0, trade.ChinaTime)
	return func() time.Time { return at }
}

func TestSimulatorTimeExpire(t *testing.T) {
	s := New(Config{AppID: appID, MchID: mchID, Key: key, Now: clockAt()})
	s.AddUser("o1")
	for _, bad := range []string{"2026112617300", "202611261730000", "2026-11-26 17:30", "20261131173000", "+0261126173000", "20261126173000Z", "2026112617300a"} {
		p := validOrder()
		p["time_expire"] = bad
		if a := post(t, s, p); a["err_code"] != "PARAM_ERROR" {
			t.Errorf("time_expire %q: %q", bad, a)
		}
	}
	if len(s.orders) != 0 {
		t.Fatalf("refused orders were kept: %d", len(s.orders))
	}
	// Two orders that expire at 17:30 China time: one paid in time, one not.
	for _, c := range []struct {
		no      string
		wait    time.Duration
		paid    bool
		outcome string
	}{
		{"20261126170000early", 30 * time.Minute, true, "SUCCESS"},
		{"20261126170000late0", time.Second, false, "NOTPAY"},
	} {
		p := validOrder()
		p["out_trade_no"], p["time_expire"] = c.no, "20261126173000"
		if a := post(t, s, p); a["result_code"] != "SUCCESS" {
			t.Fatalf("%s: %q", c.no, a)
		}
		s.Advance(c.wait)
		if _, ok := s.Pay(c.no); ok != c.paid {
			t.Errorf("%s: paid %v after %v", c.no, ok, c.wait)
		}
		if a := call(t, s, "/pay/orderquery", wxpay.Params{"out_trade_no": c.no}); a["trade_state"] != c.outcome {
			t.Errorf("%s: %q", c.no, a)
		}
	}
	// time_expire cannot be changed on re-entry.
	p := validOrder()
	p["out_trade_no"], p["time_expire"] = "20261126170000late0", "20261126180000"
	if a := post(t, s, p); a["err_code"] != "OUT_TRADE_NO_USED" {
		t.Fatalf("changed time_expire: %q", a)
	}
}

func TestSimulatorClosesOnlyAfterFiveMinutes(t *testing.T) {
	s := New(Config{AppID: appID, MchID: mchID, Key: key, Now: clockAt()})
	s.AddUser("o1")
	if a := post(t, s, validOrder()); a["result_code"] != "SUCCESS" {
		t.Fatal(a)
	}
	no := wxpay.Params{"out_trade_no": validOrder()["out_trade_no"]}
	for _, c := range []struct {
		wait time.Duration
		code string
	}{
		{0, "RULELIMIT"},
		{MinCloseAge - time.Second, "RULELIMIT"},
		{time.Second, ""},
		{0, "ORDERCLOSED"},
	} {
		s.Advance(c.wait)
		if a := call(t, s, "/pay/closeorder", no); a["err_code"] != c.code || (c.code == "") != (a["result_code"] == "SUCCESS") {
			t.Fatalf("after %v more: %q", c.wait, a)
		}
	}
}

// A payment whose notification is lost is still reported by orderquery.
func TestSimulatorLostNotification(t *testing.T) {
	s := New(Config{AppID: appID, MchID: mchID, Key: key})
	s.AddUser("o1")
	post(t, s, validOrder())
	no := validOrder()["out_trade_no"]
	if _, ok := s.Pay(no); !ok { // the notification is never delivered
		t.Fatal("not paid")
	}
	a := call(t, s, "/pay/orderquery", wxpay.Params{"out_trade_no": no})
	if a["trade_state"] != "SUCCESS" || a["transaction_id"] == "" || a["time_end"] == "" || a["total_fee"] != "1" {
		t.Fatalf("%q", a)
	}
}

func TestSimulatorEnforcesTheRules(t *testing.T) {
	s := New(Config{AppID: appID, MchID: mchID, Key: key})
	s.AddUser("o1")
	cases := map[string]func(wxpay.Params){
		"bad signature":         func(p wxpay.Params) { p["sign"] = "00000000000000000000000000000000" },
		"missing nonce":         func(p wxpay.Params) { delete(p, "nonce_str") },
		"long nonce":            func(p wxpay.Params) { p["nonce_str"] = strings.Repeat("a", 33) },
		"other appid":           func(p wxpay.Params) { p["appid"] = "wx0000000000000000" },
		"other mch_id":          func(p wxpay.Params) { p["mch_id"] = "1" },
		"unknown sign_type":     func(p wxpay.Params) { p["sign_type"] = "SHA1" },
		"missing body":          func(p wxpay.Params) { delete(p, "body") },
		"long body":             func(p wxpay.Params) { p["body"] = strings.Repeat("b", 128) },
		"long attach":           func(p wxpay.Params) { p["attach"] = strings.Repeat("b", 128) },
		"zero fee":              func(p wxpay.Params) { p["total_fee"] = "0" },
		"decimal fee":           func(p wxpay.Params) { p["total_fee"] = "1.00" },
		"padded fee":            func(p wxpay.Params) { p["total_fee"] = "01" },
		"fee over int32":        func(p wxpay.Params) { p["total_fee"] = "2147483648" },
		"bad out_trade_no":      func(p wxpay.Params) { p["out_trade_no"] = "abc" },
		"bad ip":                func(p wxpay.Params) { p["spbill_create_ip"] = "localhost" },
		"notify_url with query": func(p wxpay.Params) { p["notify_url"] = "https://example.com/notify?a=1" },
		"relative notify_url":   func(p wxpay.Params) { p["notify_url"] = "/notify" },
	}
	for name, mut := range cases {
		p := validOrder()
		mut(p)
		a := post(t, s, p)
		if a["return_code"] != "FAIL" || a["return_msg"] == "" {
			t.Errorf("%s: accepted: %q", name, a)
		}
	}
	for name, mut := range map[string]func(wxpay.Params){
		"no openid":      func(p wxpay.Params) { delete(p, "openid") },
		"foreign openid": func(p wxpay.Params) { p["openid"] = "o-not-a-user" },
		"NATIVE":         func(p wxpay.Params) { p["trade_type"] = "NATIVE" },
	} {
		p := validOrder()
		mut(p)
		if a := post(t, s, p); a["result_code"] != "FAIL" || a["err_code"] != "PARAM_ERROR" || wxpay.Verify(a, key, wxpay.SignMD5) != nil {
			t.Errorf("%s: %q", name, a)
		}
	}
	if len(s.orders) != 0 {
		t.Fatalf("refused requests created orders: %d", len(s.orders))
	}
}

func TestSimulatorOrders(t *testing.T) {
	s := New(Config{AppID: appID, MchID: mchID, Key: key})
	s.AddUser("o1")
	for _, st := range []string{"", "HMAC-SHA256"} {
		p := validOrder()
		p["out_trade_no"] += strings.ReplaceAll(st, "-", "")
		if st != "" {
			p["sign_type"] = st
		}
		a := post(t, s, p)
		sst, _ := wxpay.ParseSignType(st)
		if a["result_code"] != "SUCCESS" || a["prepay_id"] == "" || wxpay.Verify(a, key, sst) != nil {
			t.Fatalf("%s: %q", st, a)
		}
		// The same order again, with a fresh nonce, gets the same prepay_id.
		q := validOrder()
		q["out_trade_no"], q["nonce_str"] = p["out_trade_no"], "other-nonce"
		if st != "" {
			q["sign_type"] = st
		}
		if b := post(t, s, q); b["prepay_id"] != a["prepay_id"] {
			t.Fatalf("re-entry: %q", b)
		}
		q = validOrder()
		q["out_trade_no"], q["total_fee"] = p["out_trade_no"], "2"
		if st != "" {
			q["sign_type"] = st
		}
		if b := post(t, s, q); b["err_code"] != "OUT_TRADE_NO_USED" {
			t.Fatalf("changed order: %q", b)
		}
	}
}

// refundSim is a simulator holding a paid order of 180 fen, with refunds
// that finish by themselves after delay (0: only by CompleteRefund).
func refundSim(t *testing.T, delay time.Duration, status string) (s *Sim, refund func(no string, fee string) wxpay.Params) {
	t.Helper()
	_, _, cert, err := NewMerchantCert(mchID)
	if err != nil {
		t.Fatal(err)
	}
	s = New(Config{AppID: appID, MchID: mchID, Key: key, Now: clockAt(), MerchantCert: cert, RefundDelay: delay, RefundStatus: status})
	s.AddUser("o1")
	o := validOrder()
	o["total_fee"] = "180"
	if a := post(t, s, o); a["result_code"] != "SUCCESS" {
		t.Fatal(a)
	}
	if _, ok := s.Pay(o["out_trade_no"]); !ok {
		t.Fatal("not paid")
	}
	return s, func(no, fee string) wxpay.Params {
		t.Helper()
		return callWithCert(t, s, cert, "/secapi/pay/refund", wxpay.Params{
			"out_trade_no": o["out_trade_no"], "out_refund_no": no, "total_fee": "180", "refund_fee": fee,
		})
	}
}

// Refunds that finish days later: PROCESSING until the delay has passed on
// the simulator's clock, then final, with nothing posted.
func TestSimulatorRefundsFinishLater(t *testing.T) {
	const delay = 72 * time.Hour
	for _, c := range []struct {
		status, want, tradeState string
		refunded                 int64
	}{
		{"", "SUCCESS", "REFUND", 100},
		{"CHANGE", "CHANGE", "SUCCESS", 100}, // the merchant pays it out by hand
		{"REFUNDCLOSE", "REFUNDCLOSE", "SUCCESS", 0},
	} {
		s, refund := refundSim(t, delay, c.status)
		if a := refund("R-1", "100"); a["result_code"] != "SUCCESS" || a["refund_fee"] != "100" {
			t.Fatalf("%s: %q", c.want, a)
		}
		query := func() wxpay.Params { return call(t, s, "/pay/refundquery", wxpay.Params{"out_refund_no": "R-1"}) }
		for _, wait := range []time.Duration{0, delay - time.Second} {
			s.Advance(wait)
			if a := query(); a["refund_status_0"] != "PROCESSING" || a["refund_count"] != "1" || a["refund_fee_0"] != "100" ||
				a["out_refund_no_0"] != "R-1" || a["refund_id_0"] == "" || a["refund_success_time_0"] != "" {
				t.Fatalf("%s: after %v: %q", c.want, wait, a)
			}
		}
		s.Advance(time.Second)
		a := query()
		if a["refund_status_0"] != c.want || (c.want == "SUCCESS") != (a["refund_success_time_0"] == "2026-11-29 17:00:00") {
			t.Errorf("%s: %q", c.want, a)
		}
		if o := s.Order(validOrder()["out_trade_no"]); o.TradeState != c.tradeState || o.Refunded != c.refunded {
			t.Errorf("%s: order %+v", c.want, o)
		}
		if _, ok := s.CompleteRefund("R-1", "SUCCESS"); ok {
			t.Errorf("%s: a finished refund completed again", c.want)
		}
	}
}

func TestSimulatorRefundQuery(t *testing.T) {
	s, refund := refundSim(t, 0, "")
	no := validOrder()["out_trade_no"]
	if a := call(t, s, "/pay/refundquery", wxpay.Params{"out_trade_no": no}); a["err_code"] != "REFUNDNOTEXIST" {
		t.Fatalf("no refund yet: %q", a)
	}
	refund("R-1", "100")
	refund("R-2", "80")
	s.Advance(1000 * time.Hour) // without RefundDelay, only CompleteRefund finishes a refund
	if _, ok := s.CompleteRefund("R-2", "CHANGE"); !ok {
		t.Fatal("R-2 not completed")
	}
	for _, c := range []struct {
		by   wxpay.Params
		want map[string]string
	}{
		{wxpay.Params{"out_refund_no": "R-2"}, map[string]string{
			"refund_count": "1", "out_refund_no_0": "R-2", "refund_status_0": "CHANGE", "refund_fee_0": "80", "refund_fee": "80", "out_trade_no": no,
		}},
		{wxpay.Params{"out_trade_no": no}, map[string]string{
			"refund_count": "2", "out_refund_no_0": "R-1", "refund_status_0": "PROCESSING", "refund_fee_0": "100",
			"out_refund_no_1": "R-2", "refund_status_1": "CHANGE", "refund_fee_1": "80", "refund_fee": "180", "total_fee": "180",
		}},
		{wxpay.Params{"out_refund_no": "R-3"}, map[string]string{"result_code": "FAIL", "err_code": "REFUNDNOTEXIST"}},
		{wxpay.Params{"out_trade_no": "20261126170000nosuch"}, map[string]string{"result_code": "FAIL", "err_code": "REFUNDNOTEXIST"}},
		{wxpay.Params{}, map[string]string{"return_code": "FAIL"}},
	} {
		a := call(t, s, "/pay/refundquery", c.by)
		for k, v := range c.want {
			if a[k] != v {
				t.Errorf("by %q: %s is %q, want %q", c.by, k, a[k], v)
			}
		}
	}
}
