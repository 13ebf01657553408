package payment

import (
	"context"
	"errors"
	"io"
	"regexp"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/outbound"
	"github.com/wxpay-scf/wxpay-scf/pkg/trade"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpay"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpayv3"
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
	// Notification verifies a notification (signature, this merchant) and
	// reads it. header gives the request's headers by lower-case name.
	// Verification may download WeChat Pay's platform certificates (v3),
	// within ctx.
	Notification(ctx context.Context, header func(string) string, body []byte) (*Notice, error)
	// NotifyAnswer is the HTTP answer to a notification whose handling
	// ended with err: nil once it is verified and recorded, which alone
	// stops WeChat Pay's retries.
	NotifyAnswer(err error) NotifyAnswer
	// Bill streams WeChat Pay's trade bill (type ALL) of a China calendar
	// day, given at 00:00 +08:00, to read: the decompressed text as it
	// arrives, never held whole. The stream is checked as it goes (v3: its
	// SHA1 against the signed hash), so a read that met io.EOF read the
	// whole bill; a bill that cannot be read fails the read, and Bill, with
	// ErrBillInvalid. read's own error is returned as it is. WeChat Pay's
	// answers about the bill are ErrNoBill and ErrBillNotReady.
	Bill(ctx context.Context, day time.Time, read func(io.Reader) error) error
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
	// ErrRefused is any definite refusal: the request reached WeChat Pay and
	// was turned down, so nothing happened there (unlike a timeout).
	ErrRefused = errors.New("payment: WeChat Pay refused")
	// ErrNoBill: WeChat Pay has no bill for the day (v2 No Bill Exist, v3
	// a signed NO_STATEMENT_EXIST), as the merchant had no transaction. It
	// is final.
	ErrNoBill = errors.New("payment: WeChat Pay has no bill for that day")
	// ErrBillNotReady: WeChat Pay is still making the bill (v2 Bill
	// Creating, v3 STATEMENT_CREATING); ask again later.
	ErrBillNotReady = errors.New("payment: WeChat Pay's bill is not ready")
	// ErrBillInvalid: the bill cannot be read: not gzip, corrupt or cut
	// short, or (v3) not the file its signed hash names.
	ErrBillInvalid = errors.New("payment: WeChat Pay's bill cannot be read")
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
	RefundFee   int64 // fen, as the refund was asked for
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

// downloadBill runs download, a client's DownloadBill, and classifies its
// failure: WeChat's answers about the bill and a bill that cannot be read
// by their conditions, failures of the exchange by classify, and read's
// own error as it is, since the caller knows it best.
func downloadBill(ctx context.Context, day time.Time, read func(io.Reader) error,
	download func(context.Context, time.Time, func(io.Reader) error) error, classify func(error) *Error) error {
	var readFailed bool
	err := download(ctx, day, func(r io.Reader) error {
		err := read(r)
		readFailed = err != nil
		return err
	})
	bill := func(code, message string, cond error) error {
		e := classify(err)
		e.Kind, e.Code, e.Message, e.cond = Upstream, code, message, cond
		return e
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, wxpay.ErrNoBill): // also v3's, which is the same
		return bill("NO_BILL", "WeChat Pay has no bill for that day", ErrNoBill)
	case errors.Is(err, wxpay.ErrBillNotReady):
		return bill("BILL_NOT_READY", "WeChat Pay is still making the bill; ask again later", ErrBillNotReady)
	case errors.Is(err, wxpay.ErrMalformedBill), errors.Is(err, wxpayv3.ErrBillHash):
		return bill("BILL_INVALID", "WeChat Pay's bill cannot be read", ErrBillInvalid)
	case readFailed && !errors.Is(err, outbound.ErrTransport) && !errors.Is(err, outbound.ErrTooLarge):
		return err // DownloadBill returns read's error as it is
	}
	return classify(err)
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
