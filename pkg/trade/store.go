package trade

import (
	"context"
	"errors"
	"time"
)

// Errors of the store's operations.
var (
	ErrNotFound       = errors.New("trade: not found")
	ErrNotPaid        = errors.New("trade: order is not paid")
	ErrExceedsPaid    = errors.New("trade: refund exceeds the refundable amount")
	ErrRefundMismatch = errors.New("trade: out_refund_no already used for another refund")
	ErrAmountMismatch = errors.New("trade: the notification's amount differs from the order's")
	// ErrOrderFinal: the order left NOTPAY/USERPAYING before the update.
	ErrOrderFinal = errors.New("trade: the order is no longer open")
)

// Store keeps orders, refunds and the record of notifications (pkg/store
// implements it on SQLite and MySQL). Every call ends by its context's deadline,
// commits included, whatever the network does.
type Store interface {
	// CreateOrder inserts o in state NOTPAY. If o.RequestID is set and the
	// same openid already has an order with it, nothing is inserted and
	// that order is returned with created false.
	CreateOrder(ctx context.Context, o Order) (got Order, created bool, err error)
	// Order returns the order, or ErrNotFound.
	Order(ctx context.Context, outTradeNo string) (Order, error)
	// SetPrepayID records WeChat Pay's prepay_id for an order that is still
	// NOTPAY or USERPAYING: ErrOrderFinal when it is not, ErrNotFound when
	// there is no such order.
	SetPrepayID(ctx context.Context, outTradeNo, prepayID string) error
	// Transition moves the order to state to if its current state allows
	// (see State.CanBecome), atomically. It returns the state the
	// order was in and whether this call changed it; of concurrent identical
	// calls exactly one reports a change. transactionID and paidAt are
	// recorded when not empty.
	Transition(ctx context.Context, outTradeNo string, to State, transactionID string, paidAt time.Time) (from State, changed bool, err error)
	// ApplyNotification records n and moves its order (n.OutTradeNo) to
	// state to, in one transaction: both happen or neither does. The order
	// must exist (ErrNotFound) and its amount be totalFee
	// (ErrAmountMismatch). It returns what Transition returns.
	ApplyNotification(ctx context.Context, n Notification, totalFee int64, to State, transactionID string, paidAt time.Time) (from State, changed bool, err error)
	// AdoptOrder inserts o (an order known only from an authentic
	// notification) unless the order exists; it reports whether it did.
	AdoptOrder(ctx context.Context, o Order) (bool, error)
	// RecordNotification appends n to the record of verified notifications.
	RecordNotification(ctx context.Context, n Notification) error
	// ReserveRefund records a refund in PROCESSING and reserves its amount
	// against the order, atomically. A refund whose out_refund_no exists is
	// returned as it is, with created false, before any amount check (or
	// ErrRefundMismatch when its order or amount differ), also when
	// concurrent calls bring the same number. Otherwise ErrNotFound,
	// ErrNotPaid or ErrExceedsPaid when it cannot reserve.
	ReserveRefund(ctx context.Context, r Refund) (got Refund, created bool, err error)
	// AcceptRefund records that WeChat Pay accepted the refund request.
	AcceptRefund(ctx context.Context, outRefundNo string) error
	// FinishRefund moves a refund to state if its current state allows
	// (RefundState.CanBecome); CLOSED and FAILED release its
	// reservation, in the same transaction. It returns the state the refund
	// was in and whether this call changed it.
	FinishRefund(ctx context.Context, outRefundNo string, state RefundState, refundID string) (from RefundState, changed bool, err error)
	// Refund returns the refund, or ErrNotFound.
	Refund(ctx context.Context, outRefundNo string) (Refund, error)
	// Close releases the database.
	Close() error
}
