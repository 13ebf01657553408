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
)

// State is an order's trade_state, named as WeChat Pay names it.
type State string

// The order states.
const (
	NotPay     State = "NOTPAY"
	UserPaying State = "USERPAYING"
	Success    State = "SUCCESS"
	Refunded   State = "REFUND"
	Closed     State = "CLOSED"
	Revoked    State = "REVOKED"
	PayError   State = "PAYERROR"
)

// ParseState returns the state WeChat Pay names s, or false.
func ParseState(s string) (State, bool) {
	switch st := State(s); st {
	case NotPay, UserPaying, Success, Refunded, Closed, Revoked, PayError:
		return st, true
	}
	return "", false
}

// Final reports whether s needs no confirmation from WeChat Pay. SUCCESS is
// final except that a refund turns it into REFUND.
func (s State) Final() bool { return s != NotPay && s != UserPaying }

// CanBecome reports whether an order in state s may move to state to.
func (s State) CanBecome(to State) bool {
	switch s {
	case NotPay, UserPaying:
		return to != s && to != NotPay && to != Refunded
	case Success:
		return to == Refunded
	}
	return false
}

// Order is one payment as the store keeps it.
type Order struct {
	OutTradeNo    string
	OpenID        string
	RequestID     string // "" when the client sent none
	TotalFee      int64  // fen
	Description   string
	Attach        string
	PrepayID      string
	State         State
	TransactionID string
	RefundedFee   int64     // fen reserved by refunds not refused
	CreatedAt     time.Time // set by the store when zero
	PaidAt        time.Time // zero until paid
}

// RefundState is a refund's status, named as WeChat Pay names it.
type RefundState string

// The refund states: a refund that did not reach the payer (v2 CHANGE or
// REFUNDCLOSE, v3 CLOSED or ABNORMAL) is Closed; Failed is one WeChat Pay
// refused outright.
const (
	RefundProcessing RefundState = "PROCESSING"
	RefundSuccess    RefundState = "SUCCESS"
	RefundClosed     RefundState = "REFUNDCLOSE"
	RefundFailed     RefundState = "FAILED"
)

// Refund is one refund of an order.
type Refund struct {
	OutRefundNo string
	OutTradeNo  string
	RefundFee   int64
	Reason      string
	State       RefundState
	RefundID    string
	CreatedAt   time.Time
}

// Notification is a verified notification, kept as received.
type Notification struct {
	Kind        string // "payment" or "refund"
	OutTradeNo  string
	OutRefundNo string
	Fields      string // the verified fields as JSON
	ReceivedAt  time.Time
}

// Errors of the store's operations.
var (
	ErrNotFound       = errors.New("store: not found")
	ErrNotPaid        = errors.New("store: order is not paid")
	ErrExceedsPaid    = errors.New("store: refund exceeds the refundable amount")
	ErrRefundMismatch = errors.New("store: out_refund_no already used for another refund")
	ErrAmountMismatch = errors.New("store: the notification's amount differs from the order's")
)

// Store is the order store.
type Store interface {
	// CreateOrder inserts o in state NOTPAY. If o.RequestID is set and the
	// same openid already has an order with it, nothing is inserted and
	// that order is returned with created false.
	CreateOrder(ctx context.Context, o Order) (got Order, created bool, err error)
	// Order returns the order, or ErrNotFound.
	Order(ctx context.Context, outTradeNo string) (Order, error)
	// SetPrepayID records WeChat Pay's prepay_id for the order.
	SetPrepayID(ctx context.Context, outTradeNo, prepayID string) error
	// Transition moves the order to state to if its current state allows
	// (see State.CanBecome), atomically. It returns the state the order was
	// in and whether this call changed it; of concurrent identical calls
	// exactly one reports a change. transactionID and paidAt are recorded
	// when not empty.
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
	// against the order, atomically: ErrNotFound, ErrNotPaid or
	// ErrExceedsPaid when it cannot. A refund whose out_refund_no exists is
	// returned as it is, with created false (or ErrRefundMismatch when its
	// order or amount differ).
	ReserveRefund(ctx context.Context, r Refund) (got Refund, created bool, err error)
	// FinishRefund moves a PROCESSING refund to a final state; REFUNDCLOSE
	// and FAILED release its reservation. It reports whether it changed
	// anything.
	FinishRefund(ctx context.Context, outRefundNo string, state RefundState, refundID string) (bool, error)
	// Refund returns the refund, or ErrNotFound.
	Refund(ctx context.Context, outRefundNo string) (Refund, error)
	// Close releases the database.
	Close() error
}
