package wxpay_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/wxpay"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpay/wxpaytest"
)

// paidOrder creates an order through the client and has the simulated user pay it.
func paidOrder(t *testing.T, sim *wxpaytest.Sim, c *wxpay.Client) (*wxpay.UnifiedOrderRequest, []byte) {
	t.Helper()
	o := newOrder(t)
	if _, err := c.UnifiedOrder(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	note, ok := sim.Pay(o.OutTradeNo)
	if !ok {
		t.Fatal("the order could not be paid")
	}
	return o, note
}

func TestQueryAndClose(t *testing.T) {
	sim, srv := newSim(t)
	c := newClient(srv, wxpay.SignMD5)
	ctx := context.Background()
	o := newOrder(t)
	if _, err := c.UnifiedOrder(ctx, o); err != nil {
		t.Fatal(err)
	}
	st, err := c.OrderQuery(ctx, o.OutTradeNo)
	if err != nil || st.TradeState != "NOTPAY" || st.TotalFee != 180 || st.TransactionID != "" {
		t.Fatalf("%+v %v", st, err)
	}
	var e *wxpay.Error
	if err := c.CloseOrder(ctx, o.OutTradeNo); !errors.As(err, &e) || e.ErrCode != "RULELIMIT" {
		t.Fatalf("closing a new order: %v", err)
	}
	sim.Advance(wxpaytest.MinCloseAge)
	if err := c.CloseOrder(ctx, o.OutTradeNo); err != nil {
		t.Fatal(err)
	}
	if st, _ := c.OrderQuery(ctx, o.OutTradeNo); st.TradeState != "CLOSED" {
		t.Fatalf("%+v", st)
	}
	if err := c.CloseOrder(ctx, o.OutTradeNo); !errors.As(err, &e) || e.ErrCode != "ORDERCLOSED" {
		t.Fatalf("closing twice: %v", err)
	}
	paid, _ := paidOrder(t, sim, c)
	st, err = c.OrderQuery(ctx, paid.OutTradeNo)
	if err != nil || st.TradeState != "SUCCESS" || st.TransactionID == "" || st.TimeEnd.IsZero() || st.OpenID != testOpenID {
		t.Fatalf("%+v %v", st, err)
	}
	if err := c.CloseOrder(ctx, paid.OutTradeNo); !errors.As(err, &e) || e.ErrCode != "ORDERPAID" {
		t.Fatalf("closing a paid order: %v", err)
	}
	if _, err := c.OrderQuery(ctx, "NOSUCHORDER1"); !errors.As(err, &e) || e.ErrCode != "ORDERNOTEXIST" {
		t.Fatalf("unknown order: %v", err)
	}
}

func TestPaymentNotification(t *testing.T) {
	for _, st := range []wxpay.SignType{wxpay.SignMD5, wxpay.SignHMACSHA256} {
		sim, srv := newSim(t)
		c := newClient(srv, st)
		o, note := paidOrder(t, sim, c)
		status, fields, err := wxpay.PaymentNotification(note, testKey)
		if err != nil {
			t.Fatalf("%s: %v", st, err)
		}
		if status.OutTradeNo != o.OutTradeNo || status.TradeState != "SUCCESS" || status.TotalFee != 180 || status.TransactionID == "" ||
			status.OpenID != testOpenID || status.TimeEnd.IsZero() || fields["appid"] != testAppID || fields["mch_id"] != testMchID {
			t.Fatalf("%s: %+v %q", st, status, fields)
		}
		if _, _, err := wxpay.PaymentNotification(sim.PaymentNotification(o.OutTradeNo, true), testKey); !errors.Is(err, wxpay.ErrInvalidSignature) {
			t.Fatalf("%s: probe: %v", st, err)
		}
		tampered := strings.Replace(string(note), "<total_fee>180</total_fee>", "<total_fee>1</total_fee>", 1)
		if _, _, err := wxpay.PaymentNotification([]byte(tampered), testKey); !errors.Is(err, wxpay.ErrInvalidSignature) {
			t.Fatalf("%s: tampered amount: %v", st, err)
		}
		// A field this code does not know still takes part in the signature.
		extra := strings.Replace(string(note), "</xml>", "<coupon_fee>1</coupon_fee></xml>", 1)
		if _, _, err := wxpay.PaymentNotification([]byte(extra), testKey); !errors.Is(err, wxpay.ErrInvalidSignature) {
			t.Fatalf("%s: added field: %v", st, err)
		}
	}
	for _, bad := range []string{"", "<xml>", `<!DOCTYPE x><xml></xml>`, `<xml><return_code>FAIL</return_code></xml>`} {
		if _, _, err := wxpay.PaymentNotification([]byte(bad), testKey); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestRefundVector(t *testing.T) {
	raw, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var all struct {
		Refund []struct {
			Key       string `json:"key"`
			ReqInfo   string `json:"req_info"`
			Plaintext string `json:"plaintext"`
		} `json:"v2_refund_req_info_aes256ecb"`
	}
	if err := json.Unmarshal(raw, &all); err != nil || len(all.Refund) == 0 {
		t.Fatal("no refund vector", err)
	}
	v := all.Refund[0]
	p, err := wxpay.DecryptReqInfo(v.ReqInfo, v.Key)
	if err != nil {
		t.Fatal(err)
	}
	if p["out_refund_no"] != "50fd012ed1b311e7af7800163e32c503" || p["refund_fee"] != "6" || p["refund_status"] != "SUCCESS" ||
		p["refund_recv_accout"] != "支付用户零钱" || len(p) != 13 {
		t.Fatalf("%q", p)
	}
	if _, err := wxpay.DecryptReqInfo(v.ReqInfo, v.Key[:31]+"x"); !errors.Is(err, wxpay.ErrUndecryptable) {
		t.Fatalf("wrong key: %v", err)
	}
	for _, bad := range []string{"", "!!!", "AAAA", v.ReqInfo[:len(v.ReqInfo)-4]} {
		if _, err := wxpay.DecryptReqInfo(bad, v.Key); !errors.Is(err, wxpay.ErrUndecryptable) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	enc, err := wxpay.EncryptReqInfo(p, v.Key)
	if err != nil {
		t.Fatal(err)
	}
	if back, err := wxpay.DecryptReqInfo(enc, v.Key); err != nil || back["refund_id"] != p["refund_id"] || len(back) != len(p) {
		t.Fatalf("round trip: %q %v", back, err)
	}
}

func certClient(t *testing.T, sim *wxpaytest.Sim, srv *httptest.Server, certPEM, keyPEM []byte) *wxpay.Client {
	t.Helper()
	c := newClient(srv, wxpay.SignMD5)
	if certPEM != nil {
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		c.CertTransport = sim.CertTransport(cert)
	}
	return c
}

// refundSetup is a simulator that checks the merchant's certificate, with
// refunds finishing after refundDelay (0: by CompleteRefund only), and a
// client presenting the certificate.
func refundSetup(t *testing.T, refundDelay time.Duration) (*wxpaytest.Sim, *httptest.Server, *wxpay.Client) {
	t.Helper()
	certPEM, keyPEM, cert, err := wxpaytest.NewMerchantCert(testMchID)
	if err != nil {
		t.Fatal(err)
	}
	sim := wxpaytest.New(wxpaytest.Config{AppID: testAppID, MchID: testMchID, Key: testKey, MerchantCert: cert, RefundDelay: refundDelay})
	sim.AddUser(testOpenID)
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	return sim, srv, certClient(t, sim, srv, certPEM, keyPEM)
}

func TestRefund(t *testing.T) {
	sim, srv, c := refundSetup(t, 0)
	ctx := context.Background()
	o, _ := paidOrder(t, sim, c)
	req := &wxpay.RefundRequest{OutTradeNo: o.OutTradeNo, OutRefundNo: "RF" + o.OutTradeNo, TotalFee: 180, RefundFee: 100, Reason: "退货", NotifyURL: o.NotifyURL}
	got, err := c.Refund(ctx, req)
	if err != nil || got.RefundID == "" || got.RefundFee != 100 {
		t.Fatalf("%+v %v", got, err)
	}
	again, err := c.Refund(ctx, req)
	if err != nil || again.RefundID != got.RefundID || sim.Order(o.OutTradeNo).Refunded != 100 {
		t.Fatalf("a retry must refund once: %+v %v", again, err)
	}
	more := *req
	more.OutRefundNo, more.RefundFee = "RF2"+o.OutTradeNo[3:], 81
	var e *wxpay.Error
	if _, err := c.Refund(ctx, &more); !errors.As(err, &e) || e.ErrCode != "NOTENOUGH" {
		t.Fatalf("over the amount: %v", err)
	}
	note, ok := sim.CompleteRefund(req.OutRefundNo, "SUCCESS")
	if !ok {
		t.Fatal("refund not completed")
	}
	res, outer, err := wxpay.RefundNotification(note, testKey)
	if err != nil || res.OutRefundNo != req.OutRefundNo || res.RefundStatus != "SUCCESS" || res.RefundFee != 100 || outer["mch_id"] != testMchID {
		t.Fatalf("%+v %v", res, err)
	}
	if _, _, err := wxpay.RefundNotification(note, strings.Repeat("k", 32)); !errors.Is(err, wxpay.ErrUndecryptable) {
		t.Fatalf("wrong key: %v", err)
	}
	// Without the certificate: refused before sending, or by WeChat Pay.
	if _, err := certClient(t, sim, srv, nil, nil).Refund(ctx, req); !errors.Is(err, wxpay.ErrNoClientCertificate) {
		t.Fatalf("no certificate: %v", err)
	}
	otherPEM, otherKey, _, _ := wxpaytest.NewMerchantCert(testMchID)
	if _, err := certClient(t, sim, srv, otherPEM, otherKey).Refund(ctx, req); !errors.As(err, &e) || e.ReturnCode != "FAIL" {
		t.Fatalf("another certificate: %v", err)
	}
}

// TestRefundOverRealMutualTLS runs the refund through a TLS server that asks
// for the client certificate, as the real API does.
func TestRefundOverRealMutualTLS(t *testing.T) {
	certPEM, keyPEM, cert, err := wxpaytest.NewMerchantCert(testMchID)
	if err != nil {
		t.Fatal(err)
	}
	sim := wxpaytest.New(wxpaytest.Config{AppID: testAppID, MchID: testMchID, Key: testKey, MerchantCert: cert})
	sim.AddUser(testOpenID)
	srv := httptest.NewUnstartedServer(sim)
	srv.TLS = sim.TLSConfig()
	srv.StartTLS()
	defer srv.Close()
	c := newClient(srv, wxpay.SignMD5)
	pair, _ := tls.X509KeyPair(certPEM, keyPEM)
	tr := srv.Client().Transport.(*http.Transport).Clone()
	tr.TLSClientConfig.Certificates = []tls.Certificate{pair}
	c.CertTransport = tr
	o, _ := paidOrder(t, sim, c)
	req := &wxpay.RefundRequest{OutTradeNo: o.OutTradeNo, OutRefundNo: "R1" + o.OutTradeNo, TotalFee: 180, RefundFee: 180, NotifyURL: o.NotifyURL}
	if _, err := c.Refund(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	c.CertTransport = srv.Client().Transport // TLS, but no client certificate
	req.OutRefundNo = "R2" + o.OutTradeNo
	var e *wxpay.Error
	if _, err := c.Refund(context.Background(), req); !errors.As(err, &e) || e.ReturnCode != "FAIL" {
		t.Fatalf("without the certificate: %v", err)
	}
}

func TestNotifyRetriesUntilSuccess(t *testing.T) {
	replies := [][]byte{wxpay.NotifyReply(false), []byte("garbage"), wxpay.NotifyReply(true)}
	n := 0
	res := wxpaytest.Notify(context.Background(), func(ctx context.Context, body []byte) ([]byte, error) {
		n++
		return replies[min(n-1, 2)], nil
	}, []byte("<xml/>"), wxpaytest.NotifyOptions{TimeScale: 1e-6})
	if !res.Delivered || res.Attempts != 3 || n != 3 {
		t.Fatalf("%+v after %d posts", res, n)
	}
	start := time.Now()
	res = wxpaytest.Notify(context.Background(), func(context.Context, []byte) ([]byte, error) {
		return wxpay.NotifyReply(false), nil
	}, nil, wxpaytest.NotifyOptions{TimeScale: 1e-6, Copies: 2})
	if res.Delivered || res.Attempts != len(wxpaytest.RetrySchedule) || res.Posts != 2*len(wxpaytest.RetrySchedule) {
		t.Fatalf("%+v", res)
	}
	if d := time.Since(start); d < 80*time.Millisecond { // 24h4m at 1e-6 is 86.6 ms
		t.Fatalf("the schedule was not followed: %v", d)
	}
}

// answering is a client of a server that answers every request with p,
// signed with the test key.
func answering(t *testing.T, p wxpay.Params) *wxpay.Client {
	t.Helper()
	answer, err := wxpay.EncodeSigned(p, testKey, wxpay.SignMD5)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write(answer) }))
	t.Cleanup(srv.Close)
	return newClient(srv, wxpay.SignMD5)
}

// An authentic notification or query answer is still refused when its
// amount is not one WeChat Pay could have taken.
func TestAmountsFromWeChatAreChecked(t *testing.T) {
	cases := []struct {
		state, fee string // fee "-" leaves total_fee out
		want       int64  // 0: refused, unless ok
		ok         bool
	}{
		{"SUCCESS", "180", 180, true},
		{"SUCCESS", "2147483647", 2147483647, true},
		{"SUCCESS", "0", 0, false},
		{"SUCCESS", "-5", 0, false},
		{"SUCCESS", "2147483648", 0, false},
		{"SUCCESS", "9999999999", 0, false},
		{"SUCCESS", "0180", 0, false},
		{"SUCCESS", "+180", 0, false},
		{"SUCCESS", "1.00", 0, false},
		{"SUCCESS", " 180", 0, false},
		{"SUCCESS", "-", 0, false},
		{"REFUND", "-", 0, false},
		{"NOTPAY", "-", 0, true}, // an unpaid order's answer may leave it out
		{"NOTPAY", "180", 180, true},
		{"NOTPAY", "0", 0, false},
	}
	for _, c := range cases {
		p := wxpay.Params{
			"return_code": "SUCCESS", "result_code": "SUCCESS", "appid": testAppID, "mch_id": testMchID, "nonce_str": "n1",
			"out_trade_no": "20261126170000000001", "trade_state": c.state, "total_fee": c.fee, "openid": testOpenID,
		}
		if c.fee == "-" {
			delete(p, "total_fee")
		}
		if c.state != "NOTPAY" {
			p["transaction_id"], p["time_end"] = "4200000001", "20261126170000"
		}
		st, err := answering(t, p).OrderQuery(context.Background(), "20261126170000000001")
		if c.ok != (err == nil) || c.ok && st.TotalFee != c.want || !c.ok && !errors.Is(err, wxpay.ErrInvalidField) {
			t.Errorf("query, %s %q: %+v %v", c.state, c.fee, st, err)
		}
		if c.state != "SUCCESS" {
			continue
		}
		delete(p, "trade_state") // a payment notification reports a payment
		note, _ := wxpay.EncodeSigned(p, testKey, wxpay.SignMD5)
		if st, _, err := wxpay.PaymentNotification(note, testKey); c.ok != (err == nil) || c.ok && st.TotalFee != c.want {
			t.Errorf("notification, %q: %+v %v", c.fee, st, err)
		}
	}
}

func TestRefundNotificationFields(t *testing.T) {
	cases := []struct {
		status, fee, total string
		ok                 bool
	}{
		{"SUCCESS", "100", "180", true},
		{"REFUNDCLOSE", "100", "180", true},
		{"CHANGE", "180", "180", true},
		{"PROCESSING", "100", "180", false},
		{"", "100", "180", false},
		{"SUCCESS", "0", "180", false},
		{"SUCCESS", "-1", "180", false},
		{"SUCCESS", "0100", "180", false},
		{"SUCCESS", "100", "2147483648", false},
		{"SUCCESS", "9999999999", "9999999999", false},
	}
	for _, c := range cases {
		reqInfo, err := wxpay.EncryptReqInfo(wxpay.Params{
			"out_refund_no": "R-1", "out_trade_no": "20261126170000000001", "refund_id": "50000408942018111907145868882",
			"refund_status": c.status, "refund_fee": c.fee, "total_fee": c.total,
		}, testKey)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := wxpay.EncodeXML(wxpay.Params{"return_code": "SUCCESS", "appid": testAppID, "mch_id": testMchID, "nonce_str": "n", "req_info": reqInfo})
		r, _, err := wxpay.RefundNotification(body, testKey)
		if c.ok != (err == nil) || !c.ok && !errors.Is(err, wxpay.ErrInvalidField) {
			t.Errorf("%s %q of %q: %+v %v", c.status, c.fee, c.total, r, err)
		}
	}
}

// A refund finishes days later, with no notification: refundquery tells.
func TestRefundQuery(t *testing.T) {
	sim, _, c := refundSetup(t, 72*time.Hour)
	ctx := context.Background()
	o, _ := paidOrder(t, sim, c)
	var e *wxpay.Error
	if _, err := c.RefundQuery(ctx, "R-"+o.OutTradeNo); !errors.As(err, &e) || e.ErrCode != "REFUNDNOTEXIST" {
		t.Fatalf("unknown refund: %v", err)
	}
	req := &wxpay.RefundRequest{OutTradeNo: o.OutTradeNo, OutRefundNo: "R-" + o.OutTradeNo, TotalFee: 180, RefundFee: 60, NotifyURL: o.NotifyURL}
	accepted, err := c.Refund(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	want := wxpay.RefundStatus{OutTradeNo: o.OutTradeNo, OutRefundNo: req.OutRefundNo, RefundID: accepted.RefundID, RefundFee: 60, Status: "PROCESSING"}
	for _, wait := range []time.Duration{0, 72 * time.Hour} {
		sim.Advance(wait)
		got, err := c.RefundQuery(ctx, req.OutRefundNo)
		if err != nil || got.TransactionID == "" {
			t.Fatalf("after %v: %+v %v", wait, got, err)
		}
		got.TransactionID = ""
		if *got != want {
			t.Fatalf("after %v: %+v", wait, got)
		}
		want.Status = "SUCCESS"
	}
	if _, err := c.RefundQuery(ctx, "bad number"); !errors.Is(err, wxpay.ErrInvalidField) {
		t.Fatalf("bad number: %v", err)
	}
}

// refundquery answers are read as strictly as anything from anyone: the
// refund asked for, a real amount, a known status.
func TestRefundQueryAnswers(t *testing.T) {
	refund := func(n, no, fee, status string) wxpay.Params {
		return wxpay.Params{"out_refund_no_" + n: no, "refund_id_" + n: "50" + n, "refund_fee_" + n: fee, "refund_status_" + n: status}
	}
	cases := []struct {
		name   string
		count  string
		fields []wxpay.Params
		fee    int64 // 0: refused
		status string
	}{
		{"one", "1", []wxpay.Params{refund("0", "R-1", "60", "PROCESSING")}, 60, "PROCESSING"},
		{"the order's others too", "3", []wxpay.Params{
			refund("0", "R-0", "10", "SUCCESS"), refund("1", "R-1", "2147483647", "CHANGE"), refund("2", "R-2", "30", "REFUNDCLOSE"),
		}, 2147483647, "CHANGE"},
		{"closed", "1", []wxpay.Params{refund("0", "R-1", "60", "REFUNDCLOSE")}, 60, "REFUNDCLOSE"},
		{"only others", "1", []wxpay.Params{refund("0", "R-0", "60", "SUCCESS")}, 0, ""},
		{"beyond refund_count", "1", []wxpay.Params{refund("0", "R-0", "60", "SUCCESS"), refund("1", "R-1", "60", "SUCCESS")}, 0, ""},
		{"zero fee", "1", []wxpay.Params{refund("0", "R-1", "0", "SUCCESS")}, 0, ""},
		{"negative fee", "1", []wxpay.Params{refund("0", "R-1", "-60", "SUCCESS")}, 0, ""},
		{"padded fee", "1", []wxpay.Params{refund("0", "R-1", "060", "SUCCESS")}, 0, ""},
		{"fee over int32", "1", []wxpay.Params{refund("0", "R-1", "2147483648", "SUCCESS")}, 0, ""},
		{"no fee", "1", []wxpay.Params{refund("0", "R-1", "", "SUCCESS")}, 0, ""},
		{"v3 status", "1", []wxpay.Params{refund("0", "R-1", "60", "CLOSED")}, 0, ""},
		{"no status", "1", []wxpay.Params{refund("0", "R-1", "60", "")}, 0, ""},
		{"no refund_id", "1", []wxpay.Params{refund("0", "R-1", "60", "SUCCESS"), {"refund_id_0": ""}}, 0, ""},
		{"no refund_count", "", []wxpay.Params{refund("0", "R-1", "60", "SUCCESS")}, 0, ""},
		{"zero refund_count", "0", []wxpay.Params{refund("0", "R-1", "60", "SUCCESS")}, 0, ""},
		{"padded refund_count", "01", []wxpay.Params{refund("0", "R-1", "60", "SUCCESS")}, 0, ""},
		{"huge refund_count", "999999999", []wxpay.Params{refund("0", "R-1", "60", "SUCCESS")}, 0, ""},
	}
	for _, c := range cases {
		p := wxpay.Params{
			"return_code": "SUCCESS", "result_code": "SUCCESS", "appid": testAppID, "mch_id": testMchID, "nonce_str": "n1",
			"out_trade_no": "20261126170000000001", "transaction_id": "4200000001", "total_fee": "180", "refund_count": c.count,
		}
		for _, f := range c.fields {
			maps.Copy(p, f)
		}
		r, err := answering(t, p).RefundQuery(context.Background(), "R-1")
		ok := c.fee != 0
		if ok != (err == nil) || ok && (r.RefundFee != c.fee || r.Status != c.status || r.OutRefundNo != "R-1" || r.RefundID == "") ||
			!ok && !errors.Is(err, wxpay.ErrInvalidField) {
			t.Errorf("%s: %+v %v", c.name, r, err)
		}
	}
}
