package payment

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/outbound"
	"github.com/wxpay-scf/wxpay-scf/pkg/trade"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpay"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpayv3"
)

// V3 is the Gateway over the merchant API v3. Its client's APIv3Key
// decrypts notifications and its Verifier verifies them.
type V3 struct {
	Client *wxpayv3.Client
}

var _ Gateway = V3{}

func (g V3) now() time.Time {
	if g.Client.Signer.Now != nil {
		return g.Client.Signer.Now()
	}
	return time.Now()
}

// NewOutTradeNo returns a fresh order number.
func (g V3) NewOutTradeNo() (string, error) {
	return wxpay.NewOutTradeNo(g.now(), g.Client.Signer.Rand)
}

// Prepay is POST /v3/pay/transactions/jsapi; the client IP is sent only
// when known.
func (g V3) Prepay(ctx context.Context, o PrepayOrder) (string, error) {
	id, err := g.Client.Prepay(ctx, &wxpayv3.PrepayRequest{
		OutTradeNo: o.OutTradeNo, Description: o.Description, Attach: o.Attach, NotifyURL: o.NotifyURL,
		Total: o.TotalFee, OpenID: o.OpenID, ClientIP: o.ClientIP, TimeExpire: o.ExpiresAt,
	})
	if err != nil {
		return "", fromWxPayV3(err)
	}
	return id, nil
}

// PayParams signs with the merchant's RSA key (signType RSA).
func (g V3) PayParams(prepayID string) (PayParams, error) {
	p, err := g.Client.Signer.PayParams(g.Client.AppID, prepayID)
	return PayParams(p), err
}

// Query asks by out_trade_no.
func (g V3) Query(ctx context.Context, no string) (*Status, error) {
	t, err := g.Client.QueryOrder(ctx, no)
	if err != nil {
		return nil, fromWxPayV3(err)
	}
	return status3(t), nil
}

func status3(t *wxpayv3.Transaction) *Status {
	return &Status{OutTradeNo: t.OutTradeNo, TradeState: t.TradeState, TransactionID: t.TransactionID,
		TotalFee: t.Amount.Total, OpenID: t.Payer.OpenID, Attach: t.Attach, PaidAt: t.PaidAt()}
}

// Close closes an unpaid order.
func (g V3) Close(ctx context.Context, no string) error {
	if err := g.Client.CloseOrder(ctx, no); err != nil {
		return fromWxPayV3(err)
	}
	return nil
}

// CanRefund: v3 refunds need no client certificate.
func (g V3) CanRefund() bool { return true }

// Refund is POST /v3/refund/domestic/refunds.
func (g V3) Refund(ctx context.Context, r RefundOrder) error {
	_, err := g.Client.CreateRefund(ctx, &wxpayv3.RefundRequest{
		OutTradeNo: r.OutTradeNo, OutRefundNo: r.OutRefundNo, Reason: r.Reason, NotifyURL: r.NotifyURL,
		Refund: r.RefundFee, Total: r.TotalFee,
	})
	if err != nil {
		return fromWxPayV3(err)
	}
	return nil
}

// Notification verifies the signature over the raw body first (which may
// download the platform certificates), then decrypts and checks the
// resource.
func (g V3) Notification(ctx context.Context, header func(string) string, body []byte) (*Notice, error) {
	signed := wxpayv3.Signed{
		Timestamp: header("wechatpay-timestamp"), Nonce: header("wechatpay-nonce"),
		Signature: header("wechatpay-signature"), Serial: header("wechatpay-serial"),
	}
	n, err := wxpayv3.ParseNotification(ctx, g.Client.Verifier, g.Client.APIv3Key, signed, body)
	if err != nil {
		return nil, err
	}
	fields, _ := json.Marshal(map[string]any{"id": n.ID, "event_type": n.EventType, "resource": json.RawMessage(n.Plaintext)})
	switch {
	case n.EventType == "TRANSACTION.SUCCESS":
		t, err := n.Transaction()
		if err != nil {
			return nil, err
		}
		if t.AppID != g.Client.AppID || t.MchID != g.Client.Signer.MchID {
			return nil, errors.New("appid or mchid is not this merchant's")
		}
		return &Notice{Kind: trade.PaymentNotification, Fields: string(fields), OutTradeNo: t.OutTradeNo, Payment: status3(t)}, nil
	case strings.HasPrefix(n.EventType, "REFUND."):
		r, err := n.Refund()
		if err != nil {
			return nil, err
		}
		if r.MchID != g.Client.Signer.MchID {
			return nil, errors.New("mchid is not this merchant's")
		}
		state, ok := refundStates3[r.RefundStatus]
		if !ok {
			return nil, fmt.Errorf("%w: refund_status %q", wxpayv3.ErrMalformed, r.RefundStatus)
		}
		return &Notice{Kind: trade.RefundNotification, Fields: string(fields), Refund: &RefundResult{
			OutTradeNo: r.OutTradeNo, OutRefundNo: r.OutRefundNo, RefundID: r.RefundID, RefundFee: r.Amount.Refund, State: state,
		}}, nil
	}
	return nil, fmt.Errorf("%w: event_type %q", wxpayv3.ErrMalformed, n.EventType)
}

// NotifyAnswer is 204 with no body once the notification is recorded.
// A failure is WeChat's FAIL body with 500 when the fault is this
// function's (the store unavailable, a timeout, a bug), and 400 when the
// notification itself was refused; WeChat Pay sends it again either way.
func (V3) NotifyAnswer(err error) NotifyAnswer {
	if err == nil {
		return NotifyAnswer{Status: http.StatusNoContent}
	}
	var e *Error
	if errors.As(err, &e) && (e.Kind == Unavailable || e.Kind == Timeout || e.Kind == Internal) {
		return NotifyAnswer{Status: http.StatusInternalServerError, ContentType: "application/json",
			Body: wxpayv3.NotifyFailure("the notification could not be recorded now; send it again")}
	}
	return NotifyAnswer{Status: http.StatusBadRequest, ContentType: "application/json",
		Body: wxpayv3.NotifyFailure("the notification was refused")}
}

// refundStates3 names v3's final refund_status values as the store does.
var refundStates3 = map[string]trade.RefundState{
	"SUCCESS": trade.RefundSuccess, "CLOSED": trade.RefundClosed, "ABNORMAL": trade.RefundAbnormal,
}

// fromWxPayV3 classifies a failure of the merchant API v3, keeping the
// Request-ID of the answer it came from.
func fromWxPayV3(err error) *Error {
	e := classifyV3(err)
	e.WeChatRequestID = wxpayv3.RequestID(err)
	return e
}

func classifyV3(err error) *Error {
	var r *wxpayv3.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return &Error{Kind: Timeout, Code: "WXPAY_TIMEOUT", Message: "WeChat Pay did not answer in time", Err: err}
	case errors.As(err, &r) && (r.StatusCode >= 500 || r.Code == ""):
		// A bare status may come from anything on the way: not a refusal.
		return &Error{Kind: Upstream, Code: "WXPAY_HTTP_ERROR", Message: fmt.Sprintf("WeChat Pay answered HTTP %d", r.StatusCode), Err: err}
	case errors.As(err, &r):
		e := refusal(weChatCode(r.Code, "WXPAY_FAIL"), "WeChat Pay refused: "+r.Message, r.Retryable(), err)
		if (errors.Is(e.cond, ErrOrderNotExist) || errors.Is(e.cond, ErrOrderClosed)) && !r.Signed {
			// "No such order" and "closed" close orders here: they must
			// rest on WeChat's verified word, so an unsigned one is a
			// plain refusal.
			e.cond = ErrRefused
		}
		return e
	case errors.Is(err, wxpayv3.ErrInvalidSignature), errors.Is(err, wxpayv3.ErrMissingSignature),
		errors.Is(err, wxpayv3.ErrStaleTimestamp), errors.Is(err, wxpayv3.ErrUnknownSerial):
		return &Error{Kind: Upstream, Code: "WXPAY_BAD_SIGNATURE", Message: "WeChat Pay's answer failed signature verification", Err: err}
	case errors.Is(err, wxpayv3.ErrTransport):
		return &Error{Kind: Upstream, Code: "WXPAY_UNREACHABLE", Message: "WeChat Pay could not be reached", Err: err}
	case errors.Is(err, wxpayv3.ErrMalformed), errors.Is(err, outbound.ErrTooLarge):
		return &Error{Kind: Upstream, Code: "WXPAY_BAD_ANSWER", Message: "WeChat Pay's answer could not be read", Err: err}
	}
	return &Error{Kind: Internal, Code: "INTERNAL", Message: "internal error", Err: err}
}

// QueryRefund is GET /v3/refund/domestic/refunds/{out_refund_no}. A signed
// RESOURCE_NOT_EXISTS is ErrRefundNotExist; an unsigned one stays a plain
// refusal, since the sweep releases the amount of a refund WeChat does not
// know, and that must rest on WeChat's word.
//
// https://pay.weixin.qq.com/doc/v3/merchant/4012791863
func (g V3) QueryRefund(ctx context.Context, outRefundNo string) (*RefundStatus, error) {
	r, err := g.Client.QueryRefund(ctx, outRefundNo)
	var refusal *wxpayv3.Error
	switch {
	case errors.As(err, &refusal) && refusal.Code == "RESOURCE_NOT_EXISTS" && refusal.Signed:
		return nil, refundNotExist(fromWxPayV3(err))
	case err != nil:
		return nil, fromWxPayV3(err)
	}
	state, ok := refundQueryStates3[r.Status]
	if !ok {
		return nil, fromWxPayV3(fmt.Errorf("%w: status %q", wxpayv3.ErrMalformed, r.Status))
	}
	return &RefundStatus{OutRefundNo: r.OutRefundNo, OutTradeNo: r.OutTradeNo, RefundID: r.RefundID, RefundFee: r.Amount.Refund, State: state}, nil
}

// refundQueryStates3 names every v3 refund status a query reports.
var refundQueryStates3 = map[string]trade.RefundState{
	"PROCESSING": trade.RefundProcessing, "SUCCESS": trade.RefundSuccess,
	"CLOSED": trade.RefundClosed, "ABNORMAL": trade.RefundAbnormal,
}

// Bill is GET /v3/bill/tradebill, type ALL, gzip, then the file it names,
// checked against its signed SHA1.
//
// https://pay.weixin.qq.com/doc/v3/merchant/4012556654
func (g V3) Bill(ctx context.Context, day time.Time, read func(io.Reader) error) error {
	return downloadBill(ctx, day, read, g.Client.DownloadBill, fromWxPayV3)
}
