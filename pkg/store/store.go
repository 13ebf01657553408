// Package store keeps orders, refunds and the record of verified
// notifications, in SQLite (embedded, the default) or MySQL (TencentDB /
// TDSQL-C, shared by every instance). Both backends run the same SQL and pass
// the same test suite. Every state change is a conditional update, so
// concurrent duplicates change an order exactly once.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/trade"
)

// Errors of the store's operations.
var (
	ErrNotFound       = errors.New("store: not found")
	ErrNotPaid        = errors.New("store: order is not paid")
	ErrExceedsPaid    = errors.New("store: refund exceeds the refundable amount")
	ErrRefundMismatch = errors.New("store: out_refund_no already used for another refund")
	ErrAmountMismatch = errors.New("store: the notification's amount differs from the order's")
	// ErrOrderFinal: the order left NOTPAY/USERPAYING before the update.
	ErrOrderFinal = errors.New("store: the order is no longer open")
)

// Store is the order store. Every call ends by its context's deadline,
// commits included, whatever the network does.
type Store interface {
	// CreateOrder inserts o in state NOTPAY. If o.RequestID is set and the
	// same openid already has an order with it, nothing is inserted and
	// that order is returned with created false.
	CreateOrder(ctx context.Context, o trade.Order) (got trade.Order, created bool, err error)
	// Order returns the order, or ErrNotFound.
	Order(ctx context.Context, outTradeNo string) (trade.Order, error)
	// SetPrepayID records WeChat Pay's prepay_id for an order that is still
	// NOTPAY or USERPAYING: ErrOrderFinal when it is not, ErrNotFound when
	// there is no such order.
	SetPrepayID(ctx context.Context, outTradeNo, prepayID string) error
	// Transition moves the order to state to if its current state allows
	// (see trade.State.CanBecome), atomically. It returns the state the
	// order was in and whether this call changed it; of concurrent identical
	// calls exactly one reports a change. transactionID and paidAt are
	// recorded when not empty.
	Transition(ctx context.Context, outTradeNo string, to trade.State, transactionID string, paidAt time.Time) (from trade.State, changed bool, err error)
	// ApplyNotification records n and moves its order (n.OutTradeNo) to
	// state to, in one transaction: both happen or neither does. The order
	// must exist (ErrNotFound) and its amount be totalFee
	// (ErrAmountMismatch). It returns what Transition returns.
	ApplyNotification(ctx context.Context, n trade.Notification, totalFee int64, to trade.State, transactionID string, paidAt time.Time) (from trade.State, changed bool, err error)
	// AdoptOrder inserts o (an order known only from an authentic
	// notification) unless the order exists; it reports whether it did.
	AdoptOrder(ctx context.Context, o trade.Order) (bool, error)
	// RecordNotification appends n to the record of verified notifications.
	RecordNotification(ctx context.Context, n trade.Notification) error
	// ReserveRefund records a refund in PROCESSING and reserves its amount
	// against the order, atomically. A refund whose out_refund_no exists is
	// returned as it is, with created false, before any amount check (or
	// ErrRefundMismatch when its order or amount differ), also when
	// concurrent calls bring the same number. Otherwise ErrNotFound,
	// ErrNotPaid or ErrExceedsPaid when it cannot reserve.
	ReserveRefund(ctx context.Context, r trade.Refund) (got trade.Refund, created bool, err error)
	// AcceptRefund records that WeChat Pay accepted the refund request.
	AcceptRefund(ctx context.Context, outRefundNo string) error
	// FinishRefund moves a refund to state if its current state allows
	// (trade.RefundState.CanBecome); CLOSED and FAILED release its
	// reservation, in the same transaction. It returns the state the refund
	// was in and whether this call changed it.
	FinishRefund(ctx context.Context, outRefundNo string, state trade.RefundState, refundID string) (from trade.RefundState, changed bool, err error)
	// Refund returns the refund, or ErrNotFound.
	Refund(ctx context.Context, outRefundNo string) (trade.Refund, error)
	// Close releases the database.
	Close() error
}
