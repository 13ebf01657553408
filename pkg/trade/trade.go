// Package trade holds the domain of the function: orders and refunds, their
// states, and which changes of state are allowed. The store keeps these
// types and the use cases in pkg/payment act on them; neither defines its
// own. Money is int64 fen throughout.
package trade

import "time"

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
// final except that a refund turns it into REFUND; a closed order is final
// except that WeChat Pay's verified word that it was paid turns it into
// SUCCESS.
func (s State) Final() bool { return s != NotPay && s != UserPaying }

// Paid reports whether the money was taken: SUCCESS or REFUND.
func (s State) Paid() bool { return s == Success || s == Refunded }

// CanBecome reports whether an order in state s may move to state to.
// WeChat Pay's verified word on a payment is final, so an unpaid order of
// any state, closed ones included, may become SUCCESS; nothing becomes
// NOTPAY again, and only a paid order becomes REFUND.
func (s State) CanBecome(to State) bool {
	switch {
	case s == to, to == NotPay:
		return false
	case s == NotPay || s == UserPaying:
		return to != Refunded
	case s == Success:
		return to == Refunded
	case s.Final() && !s.Paid():
		return to == Success
	}
	return false
}

// PaidAfterClose reports a change from a closed state to SUCCESS: a close
// that raced the payment, which operators must see.
func PaidAfterClose(from, to State) bool {
	return to == Success && from.Final() && !from.Paid()
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
	RefundedFee   int64     // fen reserved by refunds that are not closed or failed
	CreatedAt     time.Time // set by the store when zero
	PaidAt        time.Time // WeChat Pay's payment time; zero until paid
	// ExpiresAt is when WeChat Pay stops taking its payment (time_expire);
	// zero for an order adopted from a notification.
	ExpiresAt time.Time
	// NextQueryAt is when the sweep may next ask WeChat Pay for its state;
	// zero until it is first asked, which is due FirstQueryAfter after the
	// order was made.
	NextQueryAt time.Time
	// FixedOn is the day whose reconciliation recorded its payment, "" if none.
	FixedOn string
	// Item and Quantity are what was bought, from the merchant's price
	// list; "" and 0 for an order of a client-chosen amount.
	Item     string
	Quantity int
}

// FirstQueryAfter is how long after it was made an order never asked about
// falls due for the sweep: the sweep's usual min_age, the time a payment
// has to be notified before the sweep asks. A store derives when an order
// falls due from it, so that the orders younger than that lie outside
// what the sweep reads.
const FirstQueryAfter = time.Minute

// Expired reports whether the order can no longer be paid at now.
func (o Order) Expired(now time.Time) bool { return !o.ExpiresAt.IsZero() && !now.Before(o.ExpiresAt) }

// RefundState is a refund's status as the store keeps it.
type RefundState string

// The refund states. CLOSED (v2 REFUNDCLOSE, v3 CLOSED) and FAILED (WeChat
// Pay refused the request, or never received it) give the amount back to
// the refundable; ABNORMAL (v2 CHANGE, v3 ABNORMAL: the payout failed and
// the merchant finishes it by hand) keeps it reserved, because the money
// still leaves.
const (
	RefundProcessing RefundState = "PROCESSING"
	RefundSuccess    RefundState = "SUCCESS"
	RefundClosed     RefundState = "CLOSED"
	RefundAbnormal   RefundState = "ABNORMAL"
	RefundFailed     RefundState = "FAILED"
)

// CanBecome reports whether a refund in state s may move to state to: a
// PROCESSING refund to any other state, an ABNORMAL one to SUCCESS or
// CLOSED once the merchant has finished it, and a FAILED one to SUCCESS
// or ABNORMAL, WeChat Pay's verified word that the money left after all
// (RefundedAfterFailure).
func (s RefundState) CanBecome(to RefundState) bool {
	switch s {
	case RefundProcessing:
		return to != RefundProcessing
	case RefundAbnormal:
		return to == RefundSuccess || to == RefundClosed
	case RefundFailed:
		return to == RefundSuccess || to == RefundAbnormal
	}
	return false
}

// RefundedAfterFailure reports a change from FAILED to a state in which
// the money left: a refund recorded failed (WeChat Pay did not know it
// ten minutes after it was reserved, or refused it) that WeChat Pay then
// took, as when a retry sent it while the sweep gave it up. Its amount is
// reserved again, and operators must see it.
func RefundedAfterFailure(from, to RefundState) bool {
	return from == RefundFailed && from.CanBecome(to)
}

// Releases reports whether a refund in state s no longer holds its amount.
func (s RefundState) Releases() bool { return s == RefundClosed || s == RefundFailed }

// Refund is one refund of an order.
type Refund struct {
	OutRefundNo string
	OutTradeNo  string
	RefundFee   int64 // fen
	Reason      string
	State       RefundState
	RefundID    string
	// Accepted is set once WeChat Pay has accepted the request; until then
	// a retry sends it again with the same out_refund_no.
	Accepted  bool
	CreatedAt time.Time
	// NextQueryAt is when the sweep may next ask WeChat Pay for its state;
	// zero until it is first asked, which is due at once.
	NextQueryAt time.Time
	// FixedOn is the day whose reconciliation recorded its success, "" if none.
	FixedOn string
}

// NotificationKind tells a payment notification from a refund one.
type NotificationKind string

// The kinds of notification.
const (
	PaymentNotification NotificationKind = "payment"
	RefundNotification  NotificationKind = "refund"
)

// Notification is a verified notification, kept as received.
type Notification struct {
	Kind        NotificationKind
	OutTradeNo  string
	OutRefundNo string
	Fields      string // the verified fields as JSON
	ReceivedAt  time.Time
}
