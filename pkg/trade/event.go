package trade

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"time"
)

// ChinaTime is the zone WeChat Pay's times and the function's answers are
// in; fixed, so no tzdata is needed.
var ChinaTime = time.FixedZone("CST", 8*3600)

// EventType names a change the merchant's business must act on.
type EventType string

// The event types.
const (
	EventOrderPaid       EventType = "order.paid"
	EventOrderClosed     EventType = "order.closed"
	EventRefundSucceeded EventType = "refund.succeeded"
	EventRefundClosed    EventType = "refund.closed"
	EventRefundAbnormal  EventType = "refund.abnormal"
	EventBillReconciled  EventType = "bill.reconciled"
)

// OrderEventType is the event of an order becoming state to, or "" when
// that change has none (a refund's own event tells of REFUND).
func OrderEventType(to State) EventType {
	switch to {
	case Success:
		return EventOrderPaid
	case Closed, Revoked, PayError:
		return EventOrderClosed
	}
	return ""
}

// RefundEventType is the event of a refund becoming state to, or "".
func RefundEventType(to RefundState) EventType {
	switch to {
	case RefundSuccess:
		return EventRefundSucceeded
	case RefundClosed, RefundFailed:
		return EventRefundClosed
	case RefundAbnormal:
		return EventRefundAbnormal
	}
	return ""
}

// DeliveryState is where an event's delivery stands.
type DeliveryState string

// The delivery states.
const (
	DeliveryPending   DeliveryState = "pending"
	DeliveryDelivered DeliveryState = "delivered"
	DeliveryFailed    DeliveryState = "failed" // given up after its last attempt; an operator may deliver it again
)

// Event is one change the merchant's business must hear of, recorded in
// the same transaction as the change (a transactional outbox).
type Event struct {
	Seq        int64  // position in the store's log of events, from 1
	ID         string // NewEventID's; a store may add to it as it records the event (SQLite adds its seq). Never changes once recorded: receivers deduplicate on it
	Type       EventType
	OutTradeNo string // the order it is about, which orders its delivery; "" for none
	Data       json.RawMessage
	CreatedAt  time.Time
	Delivery   Delivery
}

// Delivery is the state of an event's delivery.
type Delivery struct {
	State         DeliveryState
	Attempts      int
	LastError     string    // of the last failed attempt; "" after a delivery
	NextAttemptAt time.Time // when a pending event is next due
	DeliveredAt   time.Time
}

// Payload is the event as delivered:
// {"id":…,"type":…,"created_at":…,"data":{…}}.
func (e Event) Payload() []byte {
	b, _ := json.Marshal(struct {
		ID        string          `json:"id"`
		Type      EventType       `json:"type"`
		CreatedAt string          `json:"created_at"`
		Data      json.RawMessage `json:"data"`
	}{e.ID, e.Type, e.CreatedAt.In(ChinaTime).Format(time.RFC3339), e.Data})
	return b
}

// NewEventID returns a fresh id for an event made at now: "evt_", now in
// Unix milliseconds as 12 hex digits, then 24 hex digits from a
// cryptographic source, which alone make it unique. Ids made later sort
// later, so a store with a unique index of ids (MySQL's) adds each one at
// its end, a page it has at hand, instead of at a random place whose page
// it must first read once the index outgrows its cache.
func NewEventID(now time.Time) (string, error) {
	var b [18]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixMilli())<<16) // 48 bits of it in b[:6]
	if _, err := rand.Read(b[6:]); err != nil {
		return "", err
	}
	return "evt_" + hex.EncodeToString(b[:]), nil
}

// OrderView is an order as the mini-program sees it (GET …/orders/{no}).
type OrderView struct {
	OutTradeNo    string       `json:"out_trade_no"`
	State         State        `json:"state"`
	TotalFee      int64        `json:"total_fee"`
	Description   string       `json:"description"`
	TransactionID string       `json:"transaction_id"`
	CreatedAt     *string      `json:"created_at"`
	PaidAt        *string      `json:"paid_at"`
	Refunds       []RefundView `json:"refunds"`
	// Item and Quantity appear for an order priced from the merchant's list.
	Item     string `json:"item,omitempty"`
	Quantity int    `json:"quantity,omitempty"`
}

// RefundView is a refund as an order shows it.
type RefundView struct {
	OutRefundNo string      `json:"out_refund_no"`
	RefundFee   int64       `json:"refund_fee"`
	State       RefundState `json:"state"`
}

// ViewOrder is o with its refunds as the mini-program sees them.
func ViewOrder(o Order, refunds []Refund) OrderView {
	v := OrderView{
		OutTradeNo: o.OutTradeNo, State: o.State, TotalFee: o.TotalFee, Description: o.Description,
		TransactionID: o.TransactionID, CreatedAt: rfc3339(o.CreatedAt), PaidAt: rfc3339(o.PaidAt),
		Refunds: make([]RefundView, 0, len(refunds)), Item: o.Item, Quantity: o.Quantity,
	}
	for _, r := range refunds {
		v.Refunds = append(v.Refunds, RefundView{OutRefundNo: r.OutRefundNo, RefundFee: r.RefundFee, State: r.State})
	}
	return v
}

func rfc3339(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := t.In(ChinaTime).Format(time.RFC3339)
	return &s
}

// NewOrderEvent is the event of o (as stored after the change, with its
// refunds) becoming o.State: its data is the order as the mini-program
// sees it plus openid, attach and request_id.
func NewOrderEvent(typ EventType, o Order, refunds []Refund, now time.Time) (Event, error) {
	data, err := json.Marshal(struct {
		OrderView
		OpenID    string `json:"openid"`
		Attach    string `json:"attach"`
		RequestID string `json:"request_id"`
	}{ViewOrder(o, refunds), o.OpenID, o.Attach, o.RequestID})
	if err != nil {
		return Event{}, err
	}
	return newEvent(typ, o.OutTradeNo, data, now)
}

// NewRefundEvent is the event of r (as stored after the change) becoming
// r.State.
func NewRefundEvent(typ EventType, r Refund, now time.Time) (Event, error) {
	data, err := json.Marshal(struct {
		OutRefundNo string      `json:"out_refund_no"`
		OutTradeNo  string      `json:"out_trade_no"`
		RefundFee   int64       `json:"refund_fee"`
		State       RefundState `json:"state"`
		RefundID    string      `json:"refund_id"`
	}{r.OutRefundNo, r.OutTradeNo, r.RefundFee, r.State, r.RefundID})
	if err != nil {
		return Event{}, err
	}
	return newEvent(typ, r.OutTradeNo, data, now)
}

func newEvent(typ EventType, outTradeNo string, data []byte, now time.Time) (Event, error) {
	id, err := NewEventID(now)
	if err != nil {
		return Event{}, err
	}
	return Event{ID: id, Type: typ, OutTradeNo: outTradeNo, Data: data, CreatedAt: now,
		Delivery: Delivery{State: DeliveryPending, NextAttemptAt: now}}, nil
}

// NewReconciledEvent is the bill.reconciled event of a day's report; its
// data is the report.
func NewReconciledEvent(r Report, now time.Time) (Event, error) {
	data, err := json.Marshal(r)
	if err != nil {
		return Event{}, err
	}
	return newEvent(EventBillReconciled, "", data, now)
}
