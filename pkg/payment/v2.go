package payment

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/outbound"
	"github.com/wxpay-scf/wxpay-scf/pkg/trade"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpay"
)

// V2 is the Gateway over the merchant API v2.
type V2 struct {
	Client *wxpay.Client
}

var _ Gateway = V2{}

// NewOutTradeNo returns a fresh order number.
func (g V2) NewOutTradeNo() (string, error) { return g.Client.NewOutTradeNo() }

// Prepay is the unified order.
func (g V2) Prepay(ctx context.Context, o PrepayOrder) (string, error) {
	ip := o.ClientIP
	if ip == "" {
		ip = "127.0.0.1" // v2 requires one; v3 leaves it out
	}
	res, err := g.Client.UnifiedOrder(ctx, &wxpay.UnifiedOrderRequest{
		OutTradeNo: o.OutTradeNo, Body: o.Description, Attach: o.Attach, TotalFee: o.TotalFee,
		SpbillCreateIP: ip, NotifyURL: o.NotifyURL, OpenID: o.OpenID, TimeExpire: o.ExpiresAt,
	})
	if err != nil {
		return "", fromWxPay(err)
	}
	return res.PrepayID, nil
}

// PayParams signs with the client's sign type.
func (g V2) PayParams(prepayID string) (PayParams, error) {
	p, err := g.Client.JSAPIPayParams(prepayID)
	return PayParams(p), err
}

// Query is orderquery.
func (g V2) Query(ctx context.Context, no string) (*Status, error) {
	st, err := g.Client.OrderQuery(ctx, no)
	if err != nil {
		return nil, fromWxPay(err)
	}
	return status2(st), nil
}

func status2(st *wxpay.OrderStatus) *Status {
	return &Status{OutTradeNo: st.OutTradeNo, TradeState: st.TradeState, TransactionID: st.TransactionID,
		TotalFee: st.TotalFee, OpenID: st.OpenID, Attach: st.Attach, PaidAt: st.TimeEnd}
}

// Close is closeorder.
func (g V2) Close(ctx context.Context, no string) error {
	if err := g.Client.CloseOrder(ctx, no); err != nil {
		return fromWxPay(err)
	}
	return nil
}

// CanRefund: v2 refunds need the client certificate.
func (g V2) CanRefund() bool { return g.Client.CertTransport != nil }

// Refund is the refund API over mutual TLS.
func (g V2) Refund(ctx context.Context, r RefundOrder) error {
	_, err := g.Client.Refund(ctx, &wxpay.RefundRequest{
		OutTradeNo: r.OutTradeNo, OutRefundNo: r.OutRefundNo, TotalFee: r.TotalFee,
		RefundFee: r.RefundFee, Reason: r.Reason, NotifyURL: r.NotifyURL,
	})
	if err != nil {
		return fromWxPay(err)
	}
	return nil
}

// Notification reads a v2 payment or refund notification.
func (g V2) Notification(_ context.Context, _ func(string) string, body []byte) (*Notice, error) {
	p, err := wxpay.DecodeXML(body)
	if err != nil {
		return nil, err
	}
	if _, ok := p["req_info"]; ok {
		res, fields, err := wxpay.RefundNotification(body, g.Client.Key)
		if err != nil {
			return nil, err
		}
		if err := g.checkMerchant(fields); err != nil {
			return nil, err
		}
		state, ok := refundStates2[res.RefundStatus]
		if !ok {
			return nil, fmt.Errorf("%w: refund_status %q", wxpay.ErrInvalidField, res.RefundStatus)
		}
		delete(fields, "req_info") // kept decrypted, under req_info.*
		doc, _ := json.Marshal(fields)
		return &Notice{Kind: trade.RefundNotification, Fields: string(doc), Refund: &RefundResult{
			OutTradeNo: res.OutTradeNo, OutRefundNo: res.OutRefundNo, RefundID: res.RefundID, RefundFee: res.RefundFee, State: state,
		}}, nil
	}
	st, fields, err := wxpay.PaymentNotification(body, g.Client.Key)
	var failed *wxpay.Error
	if err != nil && !(errors.As(err, &failed) && fields != nil) {
		return nil, err
	}
	if err := g.checkMerchant(fields); err != nil {
		return nil, err
	}
	doc, _ := json.Marshal(fields)
	n := &Notice{Kind: trade.PaymentNotification, Fields: string(doc), OutTradeNo: fields["out_trade_no"]}
	if st != nil {
		n.Payment = status2(st)
	}
	return n, nil
}

// NotifyAnswer is v2's XML reply, with HTTP 200 whatever happened: only
// its return_code tells WeChat Pay to stop (SUCCESS) or retry (FAIL).
//
// https://pay.weixin.qq.com/wiki/doc/api/wxa/wxa_api.php?chapter=9_7
func (V2) NotifyAnswer(err error) NotifyAnswer {
	return NotifyAnswer{Status: http.StatusOK, ContentType: "text/xml", Body: wxpay.NotifyReply(err == nil)}
}

// refundStates2 names v2's final refund_status values as the store does.
var refundStates2 = map[string]trade.RefundState{
	"SUCCESS": trade.RefundSuccess, "REFUNDCLOSE": trade.RefundClosed, "CHANGE": trade.RefundAbnormal,
}

func (g V2) checkMerchant(fields wxpay.Params) error {
	if fields["appid"] != g.Client.AppID || fields["mch_id"] != g.Client.MchID {
		return fmt.Errorf("appid or mch_id is not this merchant's")
	}
	return nil
}

// fromWxPay classifies a failure of the merchant API v2.
func fromWxPay(err error) *Error {
	var r *wxpay.Error
	var status *wxpay.HTTPError
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return &Error{Kind: Timeout, Code: "WXPAY_TIMEOUT", Message: "WeChat Pay did not answer in time", Err: err}
	case errors.As(err, &r) && r.ReturnCode != "SUCCESS":
		return refusal("WXPAY_FAIL", "WeChat Pay refused the request: "+r.ReturnMsg, false, err)
	case errors.As(err, &r):
		return refusal(weChatCode(r.ErrCode, "WXPAY_FAIL"), "WeChat Pay refused: "+r.ErrCodeDes, r.Retryable(), err)
	case errors.Is(err, wxpay.ErrInvalidSignature), errors.Is(err, wxpay.ErrMissingSignature):
		return &Error{Kind: Upstream, Code: "WXPAY_BAD_SIGNATURE", Message: "WeChat Pay's answer failed signature verification", Err: err}
	case errors.As(err, &status):
		return &Error{Kind: Upstream, Code: "WXPAY_HTTP_ERROR", Message: "WeChat Pay answered " + status.Error()[len("wxpay: "):], Err: err}
	case errors.Is(err, wxpay.ErrTransport):
		return &Error{Kind: Upstream, Code: "WXPAY_UNREACHABLE", Message: "WeChat Pay could not be reached", Err: err}
	case errors.Is(err, wxpay.ErrMalformedXML), errors.Is(err, wxpay.ErrTooLarge), errors.Is(err, outbound.ErrTooLarge),
		errors.Is(err, wxpay.ErrInvalidField):
		return &Error{Kind: Upstream, Code: "WXPAY_BAD_ANSWER", Message: "WeChat Pay's answer could not be read", Err: err}
	}
	return &Error{Kind: Internal, Code: "INTERNAL", Message: "internal error", Err: err}
}

// QueryRefund is refundquery by out_refund_no. REFUNDNOTEXIST, which comes
// in a verified answer, is ErrRefundNotExist.
//
// https://pay.weixin.qq.com/wiki/doc/api/wxa/wxa_api.php?chapter=9_5
func (g V2) QueryRefund(ctx context.Context, outRefundNo string) (*RefundStatus, error) {
	r, err := g.Client.RefundQuery(ctx, outRefundNo)
	var refusal *wxpay.Error
	switch {
	case errors.As(err, &refusal) && refusal.ErrCode == "REFUNDNOTEXIST":
		return nil, refundNotExist(fromWxPay(err))
	case err != nil:
		return nil, fromWxPay(err)
	}
	state, ok := refundQueryStates2[r.Status]
	if !ok {
		return nil, fromWxPay(fmt.Errorf("%w: refund_status %q", wxpay.ErrInvalidField, r.Status))
	}
	return &RefundStatus{OutRefundNo: r.OutRefundNo, OutTradeNo: r.OutTradeNo, RefundID: r.RefundID, RefundFee: r.RefundFee, State: state}, nil
}

// refundQueryStates2 names every v2 refund_status a query reports.
var refundQueryStates2 = map[string]trade.RefundState{
	"PROCESSING": trade.RefundProcessing, "SUCCESS": trade.RefundSuccess,
	"REFUNDCLOSE": trade.RefundClosed, "CHANGE": trade.RefundAbnormal,
}

// Bill is downloadbill, type ALL, gzip.
//
// https://pay.weixin.qq.com/doc/v2/merchant/4011987833
func (g V2) Bill(ctx context.Context, day time.Time, read func(io.Reader) error) error {
	return downloadBill(ctx, day, read, g.Client.DownloadBill, fromWxPay)
}
