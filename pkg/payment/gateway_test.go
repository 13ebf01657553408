package payment

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/outbound"
	"github.com/wxpay-scf/wxpay-scf/pkg/trade"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpay"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpayv3"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpayv3/wxpayv3test"
)

const (
	gwAppID    = "wxd678efh567hg6787"
	gwMchID    = "1900000109"
	gwAPIv3Key = "TEST-apiv3-key-0123456789abcdefg" // 32 bytes, a test key
	gwOpenID   = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
)

// newV3Gateway is a v3 gateway in public-key mode talking to a simulator.
func newV3Gateway(t *testing.T) (*wxpayv3test.Sim, V3) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	sim, err := wxpayv3test.New(wxpayv3test.Config{
		AppID: gwAppID, MchID: gwMchID, APIv3Key: []byte(gwAPIv3Key), MerchantKey: &key.PublicKey, MerchantSerial: "SERIAL",
	})
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

func gwPrepayOrder(no string) PrepayOrder {
	return PrepayOrder{OutTradeNo: no, Description: "会员充值", TotalFee: 180, OpenID: gwOpenID, NotifyURL: "https://pay.example.com/notify"}
}

func TestV3ErrorsKeepRequestID(t *testing.T) {
	sim, g := newV3Gateway(t)
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
	const key = "TESTKEY0testkey0TESTKEY0testkey0" // a test key
	v2 := V2{Client: &wxpay.Client{AppID: gwAppID, MchID: gwMchID, Key: key}}
	sim, v3 := newV3Gateway(t)
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
