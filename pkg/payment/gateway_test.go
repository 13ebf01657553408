package payment

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/outbound"
	"github.com/wxpay-scf/wxpay-scf/pkg/trade"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpay"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpay/wxpaytest"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpay/wxpaytest/billsim"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpayv3"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpayv3/wxpayv3test"
)

const (
	gwAppID    = "wxd678efh567hg6787"
	gwMchID    = "1900000109"
	gwAPIv3Key = "TEST-apiv3-key-0123456789abcdefg" // 32 bytes, a test key
	gwOpenID   = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
	gwKey      = "TESTKEY0testkey0TESTKEY0testkey0" // a v2 test key
)

// newV3Gateway is a v3 gateway in public-key mode talking to a simulator
// configured by cfg and the test merchant.
func newV3Gateway(t *testing.T, cfg wxpayv3test.Config) (*wxpayv3test.Sim, V3) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	cfg.AppID, cfg.MchID, cfg.APIv3Key, cfg.MerchantKey, cfg.MerchantSerial = gwAppID, gwMchID, []byte(gwAPIv3Key), &key.PublicKey, "SERIAL"
	sim, err := wxpayv3test.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sim.AddUser(gwOpenID)
	srv := httptest.NewServer(sim)
	t.Cleanup(func() { sim.Close(); srv.Close() })
	pub, err := wxpayv3.ParsePublicKey(sim.PublicKeyPEM())
	if err != nil {
		t.Fatal(err)
	}
	c := &wxpayv3.Client{
		AppID:    gwAppID,
		Signer:   &wxpayv3.Signer{MchID: gwMchID, Serial: "SERIAL", Key: key, Rand: rand.Reader},
		APIv3Key: []byte(gwAPIv3Key),
		HTTP:     outbound.Client{BaseURL: srv.URL, RetryWait: time.Millisecond},
	}
	c.Verifier = &wxpayv3.Verifier{PublicKeyID: wxpayv3test.PublicKeyID, PublicKey: pub, Download: c.DownloadCertificates}
	return sim, V3{Client: c}
}

// newV2Gateway is a v2 gateway, refunds included, talking in process to a
// simulator configured by cfg and the test merchant.
func newV2Gateway(t *testing.T, cfg wxpaytest.Config) (*wxpaytest.Sim, V2) {
	t.Helper()
	certPEM, keyPEM, cert, err := wxpaytest.NewMerchantCert(gwMchID)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	cfg.AppID, cfg.MchID, cfg.Key, cfg.MerchantCert = gwAppID, gwMchID, gwKey, cert
	sim := wxpaytest.New(cfg)
	sim.AddUser(gwOpenID)
	return sim, V2{Client: &wxpay.Client{
		AppID: gwAppID, MchID: gwMchID, Key: gwKey, Rand: rand.Reader,
		HTTP:          outbound.Client{BaseURL: "http://wxpay.sim", Transport: sim.Transport(), RetryWait: time.Millisecond},
		CertTransport: sim.CertTransport(pair),
	}}
}

func gwPrepayOrder(no string) PrepayOrder {
	return PrepayOrder{OutTradeNo: no, Description: "会员充值", TotalFee: 180, OpenID: gwOpenID, NotifyURL: "https://pay.example.com/notify"}
}

func TestV3ErrorsKeepRequestID(t *testing.T) {
	sim, g := newV3Gateway(t, wxpayv3test.Config{})
	for _, f := range []wxpayv3test.Fault{
		{Kind: wxpayv3test.Refuse, Status: 400, Code: "PARAM_ERROR"},
		{Kind: wxpayv3test.BadSignature},
	} {
		sim.Inject(f)
		_, err := g.Prepay(context.Background(), gwPrepayOrder("20261126170000000001"))
		var e *Error
		if !errors.As(err, &e) || e.WeChatRequestID == "" || e.WeChatRequestID != sim.LastRequestID() {
			t.Errorf("%+v: %v", f, err)
		}
	}
}

// Codes reach clients, so only stable upper-case identifiers may be codes,
// whatever WeChat sends.
func TestCodesAreStableIdentifiers(t *testing.T) {
	refusedV2 := func(code string) error {
		return &wxpay.Error{ReturnCode: "SUCCESS", ResultCode: "FAIL", ErrCode: code, ErrCodeDes: "…"}
	}
	for _, c := range []struct {
		name string
		got  *Error
		code string
		kind Kind
	}{
		{"v2 conflict", fromWxPay(refusedV2("ORDERPAID")), "ORDERPAID", Conflict},
		{"v2 other refusal", fromWxPay(refusedV2("NOTENOUGH")), "NOTENOUGH", Upstream},
		{"v2 lower case", fromWxPay(refusedV2("invalid_request")), "WXPAY_FAIL", Upstream},
		{"v2 spaces", fromWxPay(refusedV2("HTTP_Bad Request")), "WXPAY_FAIL", Upstream},
		{"v2 no err_code", fromWxPay(refusedV2("")), "WXPAY_FAIL", Upstream},
		{"v2 return_code FAIL", fromWxPay(&wxpay.Error{ReturnCode: "FAIL", ReturnMsg: "签名错误"}), "WXPAY_FAIL", Upstream},
		{"v3 conflict", fromWxPayV3(&wxpayv3.Error{StatusCode: 403, Code: "ORDERPAID"}), "ORDERPAID", Conflict},
		{"v3 bare 4xx", fromWxPayV3(&wxpayv3.Error{StatusCode: 400, Message: "no error body"}), "WXPAY_HTTP_ERROR", Upstream},
		{"v3 bare 5xx", fromWxPayV3(&wxpayv3.Error{StatusCode: 502}), "WXPAY_HTTP_ERROR", Upstream},
		{"v3 digits first", fromWxPayV3(&wxpayv3.Error{StatusCode: 400, Code: "400_BAD"}), "WXPAY_FAIL", Upstream},
		{"v3 punctuation", fromWxPayV3(&wxpayv3.Error{StatusCode: 400, Code: "PARAM-ERROR"}), "WXPAY_FAIL", Upstream},
		{"v3 unicode", fromWxPayV3(&wxpayv3.Error{StatusCode: 400, Code: "参数错误"}), "WXPAY_FAIL", Upstream},
	} {
		if c.got.Code != c.code || c.got.Kind != c.kind {
			t.Errorf("%s: %s (kind %d), want %s (kind %d)", c.name, c.got.Code, c.got.Kind, c.code, c.kind)
		}
	}
}

// gwNoticeHeader serves a simulated notification's headers by lower-case name.
func gwNoticeHeader(n wxpayv3test.Notice) func(string) string {
	return func(name string) string {
		return map[string]string{
			"wechatpay-timestamp": n.Signed.Timestamp, "wechatpay-nonce": n.Signed.Nonce,
			"wechatpay-signature": n.Signed.Signature, "wechatpay-serial": n.Signed.Serial,
		}[name]
	}
}

func TestRefundNoticeStates(t *testing.T) {
	ctx := context.Background()
	const key = gwKey
	v2 := V2{Client: &wxpay.Client{AppID: gwAppID, MchID: gwMchID, Key: key}}
	sim, v3 := newV3Gateway(t, wxpayv3test.Config{})
	if _, err := v3.Prepay(ctx, gwPrepayOrder("20261126170000000001")); err != nil {
		t.Fatal(err)
	}
	sim.Pay("20261126170000000001")
	for _, c := range []struct {
		v2, v3 string
		want   trade.RefundState
	}{
		{"SUCCESS", "SUCCESS", trade.RefundSuccess},
		{"REFUNDCLOSE", "CLOSED", trade.RefundClosed},
		{"CHANGE", "ABNORMAL", trade.RefundAbnormal},
	} {
		reqInfo, _ := wxpay.EncryptReqInfo(wxpay.Params{
			"out_refund_no": "R-" + c.v2, "out_trade_no": "20261126170000000001", "refund_id": "5000",
			"refund_status": c.v2, "refund_fee": "60", "total_fee": "180",
		}, key)
		body, _ := wxpay.EncodeXML(wxpay.Params{"return_code": "SUCCESS", "appid": gwAppID, "mch_id": gwMchID, "nonce_str": "n", "req_info": reqInfo})
		n, err := v2.Notification(ctx, nil, body)
		if err != nil || n.Kind != trade.RefundNotification || n.Refund.State != c.want || n.Refund.OutRefundNo != "R-"+c.v2 {
			t.Errorf("v2 %s: %+v %v", c.v2, n, err)
		}

		no := "R-" + c.v3
		err = v3.Refund(ctx, RefundOrder{OutTradeNo: "20261126170000000001", OutRefundNo: no, TotalFee: 180, RefundFee: 60})
		note, ok := sim.CompleteRefund(no, c.v3)
		if err != nil || !ok {
			t.Fatalf("v3 %s: %v", c.v3, err)
		}
		n, err = v3.Notification(ctx, gwNoticeHeader(note), note.Body)
		if err != nil || n.Kind != trade.RefundNotification || n.Refund.State != c.want || n.Refund.OutRefundNo != no {
			t.Errorf("v3 %s: %+v %v", c.v3, n, err)
		}
	}
}

func TestNotifyAnswer(t *testing.T) {
	refused := errors.New("signature does not verify")
	ours := func(k Kind) error { return fmt.Errorf("payment: notification refused: %w", &Error{Kind: k, Code: "X"}) }
	v3fail := func(msg string) string { return `{"code":"FAIL","message":"` + msg + `"}` }
	for _, c := range []struct {
		name string
		gw   Gateway
		err  error
		want NotifyAnswer
	}{
		{"v2 recorded", V2{}, nil, NotifyAnswer{200, "text/xml", wxpay.NotifyReply(true)}},
		{"v2 refused", V2{}, refused, NotifyAnswer{200, "text/xml", wxpay.NotifyReply(false)}},
		{"v2 store down", V2{}, ours(Unavailable), NotifyAnswer{200, "text/xml", wxpay.NotifyReply(false)}},
		{"v3 recorded", V3{}, nil, NotifyAnswer{Status: 204}},
		{"v3 refused", V3{}, refused, NotifyAnswer{400, "application/json", []byte(v3fail("the notification was refused"))}},
		{"v3 invalid", V3{}, ours(Invalid), NotifyAnswer{400, "application/json", []byte(v3fail("the notification was refused"))}},
		{"v3 store down", V3{}, ours(Unavailable), NotifyAnswer{500, "application/json", []byte(v3fail("the notification could not be recorded now; send it again"))}},
		{"v3 timeout", V3{}, ours(Timeout), NotifyAnswer{500, "application/json", []byte(v3fail("the notification could not be recorded now; send it again"))}},
		{"v3 internal", V3{}, ours(Internal), NotifyAnswer{500, "application/json", []byte(v3fail("the notification could not be recorded now; send it again"))}},
	} {
		if got := c.gw.NotifyAnswer(c.err); got.Status != c.want.Status || got.ContentType != c.want.ContentType || string(got.Body) != string(c.want.Body) {
			t.Errorf("%s: %d %q %s", c.name, got.Status, got.ContentType, got.Body)
		}
	}
}

// refundWorld is one protocol's gateway and the simulator behind it, with
// a paid order of 180 fen, refunds that finish after refundDelay, and that
// protocol's names for a closed and an abnormal refund.
type refundWorld struct {
	gw               Gateway
	complete         func(outRefundNo, status string) bool // finishes a refund, its notice never delivered
	advance          func(time.Duration)
	closed, abnormal string
	notExist         string // the refusal code of an unknown refund
}

const refundDelay = 72 * time.Hour

func refundWorlds(t *testing.T) map[string]refundWorld {
	t.Helper()
	ctx := context.Background()
	sim2, v2 := newV2Gateway(t, wxpaytest.Config{RefundDelay: refundDelay})
	sim3, v3 := newV3Gateway(t, wxpayv3test.Config{RefundDelay: refundDelay})
	for _, gw := range []Gateway{v2, v3} {
		if _, err := gw.Prepay(ctx, gwPrepayOrder("20261126170000000001")); err != nil {
			t.Fatal(err)
		}
	}
	sim2.Pay("20261126170000000001")
	sim3.Pay("20261126170000000001")
	return map[string]refundWorld{
		"v2": {v2, func(no, st string) bool { _, ok := sim2.CompleteRefund(no, st); return ok }, sim2.Advance, "REFUNDCLOSE", "CHANGE", "REFUNDNOTEXIST"},
		"v3": {v3, func(no, st string) bool { _, ok := sim3.CompleteRefund(no, st); return ok }, sim3.Advance, "CLOSED", "ABNORMAL", "RESOURCE_NOT_EXISTS"},
	}
}

func TestQueryRefund(t *testing.T) {
	ctx := context.Background()
	for name, w := range refundWorlds(t) {
		var e *Error
		if _, err := w.gw.QueryRefund(ctx, "R-UNKNOWN"); !errors.Is(err, ErrRefundNotExist) || !errors.As(err, &e) || e.Code != w.notExist {
			t.Errorf("%s: unknown refund: %v", name, err)
		}
		for _, r := range []struct {
			no     string
			fee    int64
			finish string // "" leaves it to the delay
		}{{"R-LATER", 60, ""}, {"R-CLOSED", 30, w.closed}, {"R-ABNORMAL", 40, w.abnormal}} {
			if err := w.gw.Refund(ctx, RefundOrder{OutTradeNo: "20261126170000000001", OutRefundNo: r.no, TotalFee: 180, RefundFee: r.fee}); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if r.finish != "" && !w.complete(r.no, r.finish) {
				t.Fatalf("%s: %s not finished", name, r.no)
			}
		}
		check := func(no string, fee int64, want trade.RefundState) {
			t.Helper()
			st, err := w.gw.QueryRefund(ctx, no)
			if err != nil || st.State != want || st.RefundFee != fee || st.OutRefundNo != no || st.OutTradeNo != "20261126170000000001" || st.RefundID == "" {
				t.Errorf("%s %s: %+v %v", name, no, st, err)
			}
		}
		check("R-LATER", 60, trade.RefundProcessing)
		check("R-CLOSED", 30, trade.RefundClosed)
		check("R-ABNORMAL", 40, trade.RefundAbnormal)
		w.advance(refundDelay) // days later, and no notification
		check("R-LATER", 60, trade.RefundSuccess)
	}
}

// A refund's amount and WeChat's "no such refund" are believed only from a
// verified answer that makes sense.
func TestQueryRefundDistrustsAnswers(t *testing.T) {
	badFee, _ := wxpay.EncodeSigned(wxpay.Params{
		"return_code": "SUCCESS", "result_code": "SUCCESS", "appid": gwAppID, "mch_id": gwMchID, "nonce_str": "n",
		"out_trade_no": "20261126170000000001", "refund_count": "1", "out_refund_no_0": "R-1", "refund_id_0": "50",
		"refund_fee_0": "0", "refund_status_0": "SUCCESS",
	}, gwKey, wxpay.SignMD5)
	forgedNotExist, _ := wxpay.EncodeSigned(wxpay.Params{
		"return_code": "SUCCESS", "result_code": "FAIL", "appid": gwAppID, "mch_id": gwMchID, "nonce_str": "n", "err_code": "REFUNDNOTEXIST",
	}, "ANOTHERKEYanotherkeyANOTHERKEYan", wxpay.SignMD5)
	_, v3 := newV3Gateway(t, wxpayv3test.Config{})
	for _, c := range []struct {
		name   string
		gw     func(url string) Gateway
		answer []byte
		status int
		code   string
	}{
		{"v2 zero fee", v2At, badFee, 200, "WXPAY_BAD_ANSWER"},
		{"v2 forged REFUNDNOTEXIST", v2At, forgedNotExist, 200, "WXPAY_BAD_SIGNATURE"},
		{"v3 unsigned RESOURCE_NOT_EXISTS", func(url string) Gateway {
			c := *v3.Client
			c.HTTP.BaseURL = url
			return V3{Client: &c}
		}, []byte(`{"code":"RESOURCE_NOT_EXISTS","message":"退款单不存在"}`), 404, "RESOURCE_NOT_EXISTS"},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(c.status)
			w.Write(c.answer)
		}))
		_, err := c.gw(srv.URL).QueryRefund(context.Background(), "R-1")
		srv.Close()
		var e *Error
		if !errors.As(err, &e) || e.Code != c.code || errors.Is(err, ErrRefundNotExist) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

// v2At is a v2 gateway of the test merchant at url.
func v2At(url string) Gateway {
	return V2{Client: &wxpay.Client{AppID: gwAppID, MchID: gwMchID, Key: gwKey, Rand: rand.Reader, HTTP: outbound.Client{BaseURL: url, MaxAttempts: 1}}}
}

// An order's expiry reaches WeChat Pay, which then refuses a late payment.
func TestPrepaySendsExpiry(t *testing.T) {
	ctx := context.Background()
	sim2, v2 := newV2Gateway(t, wxpaytest.Config{})
	sim3, v3 := newV3Gateway(t, wxpayv3test.Config{})
	for name, w := range map[string]struct {
		gw      Gateway
		pay     func(no string) bool
		advance func(time.Duration)
	}{
		"v2": {v2, func(no string) bool { _, ok := sim2.Pay(no); return ok }, sim2.Advance},
		"v3": {v3, func(no string) bool { _, ok := sim3.Pay(no); return ok }, sim3.Advance},
	} {
		expires := time.Now().Add(time.Hour)
		for _, no := range []string{"20261126170000000001", "20261126170000000002"} {
			o := gwPrepayOrder(no)
			o.ExpiresAt = expires
			if _, err := w.gw.Prepay(ctx, o); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
		w.advance(time.Hour - time.Minute)
		if !w.pay("20261126170000000001") {
			t.Errorf("%s: refused before the expiry", name)
		}
		w.advance(2 * time.Minute)
		if w.pay("20261126170000000002") {
			t.Errorf("%s: paid after the expiry", name)
		}
		if st, err := w.gw.Query(ctx, "20261126170000000002"); err != nil || st.TradeState != "NOTPAY" {
			t.Errorf("%s: %+v %v", name, st, err)
		}
	}
	if sent := sim2.Requests()[0].Params["time_expire"]; len(sent) != len("20060102150405") {
		t.Errorf("v2 sent time_expire %q", sent)
	}
}

// Both gateways stream a day's bill from what the simulators saw, and name
// WeChat's answers about it by their conditions, whatever the API.
func TestBill(t *testing.T) {
	ctx := context.Background()
	const no = "20261126170000000001"
	day := time.Now()
	sim2, v2 := newV2Gateway(t, wxpaytest.Config{})
	sim3, v3 := newV3Gateway(t, wxpayv3test.Config{})
	sim2.AddPaidOrder(no, 180)
	sim3.AddPaidOrder(no, 180)
	sim2.Advance(billsim.MadeAt(day).Sub(day))
	sim3.Advance(billsim.MadeAt(day).Sub(day))
	errStop := errors.New("the caller's own failure")
	isBill := func(code string, cond error) func(error) bool {
		return func(err error) bool {
			var e *Error
			return errors.As(err, &e) && e.Code == code && e.Kind == Upstream && errors.Is(err, cond)
		}
	}
	readAll := func(r io.Reader) error { _, err := io.ReadAll(r); return err }
	for _, c := range []struct {
		name string
		days int
		plan billsim.Plan
		v3   *wxpayv3test.BillPlan // in place of plan, for v3 only
		read func(io.Reader) error
		ok   func(error) bool
	}{
		{name: "the bill", read: func(r io.Reader) error {
			text, err := io.ReadAll(r)
			if err == nil && !bytes.Contains(text, []byte(",`"+no+",`")) {
				err = fmt.Errorf("not the bill: %s", text)
			}
			return err
		}, ok: func(err error) bool { return err == nil }},
		{name: "not ready", plan: billsim.Plan{State: billsim.NotReady}, ok: isBill("BILL_NOT_READY", ErrBillNotReady)},
		{name: "today", days: 1, ok: isBill("BILL_NOT_READY", ErrBillNotReady)},
		{name: "no bill", days: -1, ok: isBill("NO_BILL", ErrNoBill)},
		{name: "truncated", plan: billsim.Plan{Body: billsim.Truncated}, ok: isBill("BILL_INVALID", ErrBillInvalid)},
		{name: "not gzip", plan: billsim.Plan{Body: billsim.NotGzip}, ok: isBill("BILL_INVALID", ErrBillInvalid)},
		{name: "wrong hash", v3: &wxpayv3test.BillPlan{WrongHash: true}, ok: isBill("BILL_INVALID", ErrBillInvalid)},
		{name: "the future", days: 2, ok: func(err error) bool {
			var e *Error
			return errors.As(err, &e) && e.Kind == Upstream && !errors.Is(err, ErrNoBill) && !errors.Is(err, ErrBillNotReady)
		}},
		{name: "the caller's own error", read: func(io.Reader) error { return errStop }, ok: func(err error) bool { return err == errStop }},
		{name: "the caller's error wrapping a bad bill's", plan: billsim.Plan{Body: billsim.Truncated}, read: func(r io.Reader) error {
			_, err := io.ReadAll(r)
			return fmt.Errorf("line 2: %w", err)
		}, ok: isBill("BILL_INVALID", ErrBillInvalid)},
	} {
		read := c.read
		if read == nil {
			read = readAll
		}
		at := day.AddDate(0, 0, c.days)
		if c.v3 == nil {
			sim2.SetBill(at, c.plan)
			if err := v2.Bill(ctx, at, read); !c.ok(err) {
				t.Errorf("v2, %s: %v", c.name, err)
			}
			sim3.SetBill(at, wxpayv3test.BillPlan{Plan: c.plan})
		} else {
			sim3.SetBill(at, *c.v3)
		}
		if err := v3.Bill(ctx, at, read); !c.ok(err) {
			t.Errorf("v3, %s: %v", c.name, err)
		}
	}
}
