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

// Store keeps orders, refunds, the record of notifications and the events
// of their changes (pkg/store implements it on SQLite and MySQL). Every
// call ends by its context's deadline, commits included, whatever the
// network does.
//
// Every call that changes an order's or a refund's state records the
// change's event (OrderEventType, RefundEventType; built with
// NewOrderEvent from the order as stored after the change, with its
// refunds, or NewRefundEvent) in the same transaction, so the change and
// its event exist together or not at all, once per change.
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
	// Refunds returns an order's refunds, oldest first.
	Refunds(ctx context.Context, outTradeNo string) ([]Refund, error)

	// DueOrders returns up to limit NOTPAY or USERPAYING orders created at
	// or before createdBefore that were never asked about or whose
	// NextQueryAt has come (at or before now), the longest due first (one
	// never asked about falls due FirstQueryAfter after it was made). It
	// uses an index, never a scan of final orders.
	DueOrders(ctx context.Context, now, createdBefore time.Time, limit int) ([]Order, error)
	// SetOrderNextQuery records when the order may next be queried.
	SetOrderNextQuery(ctx context.Context, outTradeNo string, next time.Time) error
	// DueRefunds returns up to limit PROCESSING or ABNORMAL refunds created
	// at or before createdBefore whose NextQueryAt has come, the longest due
	// first.
	DueRefunds(ctx context.Context, now, createdBefore time.Time, limit int) ([]Refund, error)
	// SetRefundNextQuery records when the refund may next be queried.
	SetRefundNextQuery(ctx context.Context, outRefundNo string, next time.Time) error

	// Events returns up to limit events recorded after the one with id
	// afterID ("" for the first), in the order they were recorded; ErrNotFound
	// when afterID names no event.
	Events(ctx context.Context, afterID string, limit int) ([]Event, error)
	// Event returns one event, or ErrNotFound.
	Event(ctx context.Context, id string) (Event, error)
	// ClaimEvents leases, until now+lease, up to limit pending events whose
	// next attempt is due and whose lease has run out, taking of each order
	// only its earliest pending event (so an order's events are first
	// delivered in the order they happened); with outTradeNo set, only that
	// order's. Of overlapping claims, each event goes to one.
	ClaimEvents(ctx context.Context, now time.Time, lease time.Duration, outTradeNo string, limit int) ([]Event, error)
	// ClaimEvent leases one event until now+lease whatever its delivery
	// state (an operator's redelivery): false when another holds its lease;
	// ErrNotFound when there is no such event.
	ClaimEvent(ctx context.Context, id string, now time.Time, lease time.Duration) (Event, bool, error)
	// OrdersByNo returns the orders among nos that exist, by number (at
	// most 1000 numbers a call).
	OrdersByNo(ctx context.Context, nos []string) (map[string]Order, error)
	// RefundsByNo returns the refunds among nos that exist, likewise.
	RefundsByNo(ctx context.Context, nos []string) (map[string]Refund, error)
	// PaidOrders calls fn, in order of paid_at, for each order paid (by
	// PaidAt) in [from, to), reading in batches so a day of 100,000 orders
	// fits in little memory; fn's error stops it.
	PaidOrders(ctx context.Context, from, to time.Time, fn func(Order) error) error
	// MarkFixed records that the reconciliation of day (2006-01-02)
	// recorded this order's payment (outRefundNo "") or this refund, so
	// that a rerun reports it again as fixed.
	MarkFixed(ctx context.Context, day, outTradeNo, outRefundNo string) error
	// Reconciliation returns a day's stored reconciliation, or ErrNotFound.
	Reconciliation(ctx context.Context, day string) (Reconciliation, error)
	// SaveReconciliation stores a day's reconciliation, replacing any
	// earlier one; changed reports whether the report differs from the one
	// stored before (so bill.reconciled is sent again only then). With an
	// event (EventBillReconciled) and changed, the event is recorded in the
	// same transaction, and *event gets the id it was recorded with.
	SaveReconciliation(ctx context.Context, r Reconciliation, event *Event) (changed bool, err error)

	// SetDelivery records the outcome of an attempt on a claimed event and
	// ends its lease: d.State delivered, pending (with d.NextAttemptAt) or
	// failed, with d.Attempts and d.LastError.
	SetDelivery(ctx context.Context, id string, d Delivery) error
	// Close releases the database.
	Close() error
}
