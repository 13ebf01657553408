package payment

import (
	"context"
	"errors"
	"io"
	"regexp"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/trade"
)

// Gateway is WeChat Pay as the use cases need it, on API v2 (V2) or v3
// (V3). Its methods return *Error values already classified; the order
// conditions the use cases act on are matched with errors.Is against
// ErrOrderPaid, ErrOrderClosed, ErrOrderNotExist and ErrRefused.
type Gateway interface {
	// NewOutTradeNo returns a fresh merchant order or refund number.
	NewOutTradeNo() (string, error)
	// Prepay creates (or, for the same number and parameters, finds
	// again) a JSAPI order and returns its verified prepay_id.
	Prepay(ctx context.Context, o PrepayOrder) (string, error)
	// PayParams signs the five wx.requestPayment parameters for prepayID.
	PayParams(prepayID string) (PayParams, error)
	// Query returns the verified state of an order.
	Query(ctx context.Context, outTradeNo string) (*Status, error)
	// Close closes an unpaid order.
	Close(ctx context.Context, outTradeNo string) error
	// CanRefund reports whether refunds are configured.
	CanRefund() bool
	// Refund submits a refund; its result comes by notification.
	Refund(ctx context.Context, r RefundOrder) error
	// QueryRefund returns the verified state of a refund; ErrRefundNotExist
	// when WeChat Pay does not know it.
	QueryRefund(ctx context.Context, outRefundNo string) (*RefundStatus, error)
	// Bill streams the decompressed trade bill of day to read.
	Bill(ctx context.Context, day time.Time, read func(io.Reader) error) error
	// Notification verifies a notification (signature, this merchant) and
	// reads it. header gives the request's headers by lower-case name.
	// Verification may download WeChat Pay's platform certificates (v3),
	// within ctx.
	Notification(ctx context.Context, header func(string) string, body []byte) (*Notice, error)
	// NotifyAnswer is the HTTP answer to a notification whose handling
	// ended with err: nil once it is verified and recorded, which alone
	// stops WeChat Pay's retries.
	NotifyAnswer(err error) NotifyAnswer
}

// NotifyAnswer is the HTTP answer to a notification, in its protocol's form.
type NotifyAnswer struct {
	Status      int
	ContentType string // "" with no body
	Body        []byte
}

// Conditions of WeChat Pay's refusals, for errors.Is.
var (
	ErrOrderPaid     = errors.New("payment: WeChat Pay says the order is paid")
	ErrOrderClosed   = errors.New("payment: WeChat Pay says the order is closed")
	ErrOrderNotExist = errors.New("payment: WeChat Pay does not know the order")
	// ErrRefundNotExist: WeChat Pay does not know the refund (v2
	// REFUNDNOTEXIST, v3 RESOURCE_NOT_EXISTS).
	ErrRefundNotExist = errors.New("payment: WeChat Pay does not know the refund")
	ErrNoBill         = errors.New("payment: no bill for that day")
	ErrBillNotReady   = errors.New("payment: the bill is not ready")
	// ErrRefused is any definite refusal: the request reached WeChat Pay and
	// was turned down, so nothing happened there (unlike a timeout).
	ErrRefused = errors.New("payment: WeChat Pay refused")
)

// PrepayOrder is what a new order says.
type PrepayOrder struct {
	OutTradeNo  string
	Description string
	Attach      string
	TotalFee    int64
	OpenID      string
	ClientIP    string
	NotifyURL   string
	// ExpiresAt is sent as time_expire, so that WeChat Pay refuses a
	// payment after it; zero sends none.
	ExpiresAt time.Time
}

// RefundStatus is a refund's verified state at WeChat Pay.
type RefundStatus struct {
	OutRefundNo string
	OutTradeNo  string
	RefundID    string
	RefundFee   int64
	State       trade.RefundState // PROCESSING, SUCCESS, CLOSED or ABNORMAL
}

// PayParams are the five parameters of wx.requestPayment, the same on v2
// and v3 but for signType (MD5/HMAC-SHA256 or RSA).
type PayParams struct {
	TimeStamp string `json:"timeStamp"`
	NonceStr  string `json:"nonceStr"`
	Package   string `json:"package"`
	SignType  string `json:"signType"`
	PaySign   string `json:"paySign"`
}

// Status is an order's verified state at WeChat Pay.
type Status struct {
	OutTradeNo    string
	TradeState    string
	TransactionID string
	TotalFee      int64
	OpenID        string
	Attach        string
	PaidAt        time.Time
}

// RefundOrder is a refund to submit.
type RefundOrder struct {
	OutTradeNo  string
	OutRefundNo string
	TotalFee    int64
	RefundFee   int64
	Reason      string
	NotifyURL   string
}

// Notice is a verified notification.
type Notice struct {
	Kind   trade.NotificationKind
	Fields string // what was received and verified, as JSON, for the record
	// A payment: Payment is nil when the notification reports a failed
	// payment (v2 result_code FAIL); OutTradeNo is set either way.
	OutTradeNo string
	Payment    *Status
	// A refund.
	Refund *RefundResult
}

// RefundResult is a refund's final state from its notification.
type RefundResult struct {
	OutTradeNo  string
	OutRefundNo string
	RefundID    string
	// State is SUCCESS, CLOSED (the money never left: the amount is
	// refundable again) or ABNORMAL (the payout failed and the merchant
	// finishes it by hand: the amount stays reserved).
	State trade.RefundState
}

// refundNotExist adds ErrRefundNotExist to what e, WeChat's verified word
// that it does not know a refund, matches.
func refundNotExist(e *Error) *Error {
	e.cond = errors.Join(e.cond, ErrRefundNotExist)
	return e
}

// stableCode is the form of every error code clients see.
var stableCode = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)

// weChatCode is WeChat's refusal code when it has the form of our own codes,
// and fallback otherwise: whatever WeChat sends, a client only ever sees a
// stable upper-case identifier as a code.
func weChatCode(code, fallback string) string {
	if stableCode.MatchString(code) {
		return code
	}
	return fallback
}
