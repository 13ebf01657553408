package wxpaytest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

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

// post signs p (unless it already has a sign) and returns the decoded answer.
func post(t *testing.T, s *Sim, p wxpay.Params) wxpay.Params {
	t.Helper()
	if _, ok := p["sign"]; !ok {
		st, _ := wxpay.ParseSignType(p["sign_type"])
		p["sign"], _ = wxpay.Sign(p, key, st)
	}
	body, err := wxpay.EncodeXML(p)
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/pay/unifiedorder", strings.NewReader(string(body))))
	a, err := wxpay.DecodeXML(w.Body.Bytes())
	if err != nil {
		t.Fatalf("simulator answered %q: %v", w.Body.String(), err)
	}
	return a
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
