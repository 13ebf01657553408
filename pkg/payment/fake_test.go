package payment

import (
	"context"
	"io"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/trade"
)

// fakeGateway is a Gateway made of function fields; a call whose field is
// nil panics, so a test states every call it expects.
type fakeGateway struct {
	NewOutTradeNoFn func() (string, error)
	PrepayFn        func(ctx context.Context, o PrepayOrder) (string, error)
	PayParamsFn     func(prepayID string) (PayParams, error)
	QueryFn         func(ctx context.Context, outTradeNo string) (*Status, error)
	CloseFn         func(ctx context.Context, outTradeNo string) error
	CanRefundFn     func() bool
	RefundFn        func(ctx context.Context, r RefundOrder) error
	QueryRefundFn   func(ctx context.Context, outRefundNo string) (*RefundStatus, error)
	NotificationFn  func(ctx context.Context, header func(string) string, body []byte) (*Notice, error)
	NotifyAnswerFn  func(err error) NotifyAnswer
	BillFn          func(ctx context.Context, day time.Time, read func(io.Reader) error) error
}

var _ Gateway = (*fakeGateway)(nil)

func (g *fakeGateway) NewOutTradeNo() (string, error) { return g.NewOutTradeNoFn() }
func (g *fakeGateway) Prepay(ctx context.Context, o PrepayOrder) (string, error) {
	return g.PrepayFn(ctx, o)
}
func (g *fakeGateway) PayParams(prepayID string) (PayParams, error) { return g.PayParamsFn(prepayID) }
func (g *fakeGateway) Query(ctx context.Context, no string) (*Status, error) {
	return g.QueryFn(ctx, no)
}
func (g *fakeGateway) Close(ctx context.Context, no string) error { return g.CloseFn(ctx, no) }
func (g *fakeGateway) CanRefund() bool                            { return g.CanRefundFn() }
func (g *fakeGateway) Refund(ctx context.Context, r RefundOrder) error {
	return g.RefundFn(ctx, r)
}
func (g *fakeGateway) QueryRefund(ctx context.Context, no string) (*RefundStatus, error) {
	return g.QueryRefundFn(ctx, no)
}
func (g *fakeGateway) Notification(ctx context.Context, header func(string) string, body []byte) (*Notice, error) {
	return g.NotificationFn(ctx, header, body)
}
func (g *fakeGateway) NotifyAnswer(err error) NotifyAnswer { return g.NotifyAnswerFn(err) }
func (g *fakeGateway) Bill(ctx context.Context, day time.Time, read func(io.Reader) error) error {
	return g.BillFn(ctx, day, read)
}

// fakeStore is a trade.Store made of function fields, likewise.
type fakeStore struct {
	CreateOrderFn        func(ctx context.Context, o trade.Order) (trade.Order, bool, error)
	OrderFn              func(ctx context.Context, no string) (trade.Order, error)
	SetPrepayIDFn        func(ctx context.Context, no, prepayID string) error
	TransitionFn         func(ctx context.Context, no string, to trade.State, txID string, paidAt time.Time) (trade.State, bool, error)
	ApplyNotificationFn  func(ctx context.Context, n trade.Notification, fee int64, to trade.State, txID string, paidAt time.Time) (trade.State, bool, error)
	AdoptOrderFn         func(ctx context.Context, o trade.Order) (bool, error)
	RecordNotificationFn func(ctx context.Context, n trade.Notification) error
	ReserveRefundFn      func(ctx context.Context, r trade.Refund) (trade.Refund, bool, error)
	AcceptRefundFn       func(ctx context.Context, no string) error
	FinishRefundFn       func(ctx context.Context, no string, st trade.RefundState, refundID string) (trade.RefundState, bool, error)
	RefundFn             func(ctx context.Context, no string) (trade.Refund, error)
	RefundsFn            func(ctx context.Context, outTradeNo string) ([]trade.Refund, error)
	DueOrdersFn          func(ctx context.Context, now, createdBefore time.Time, limit int) ([]trade.Order, error)
	SetOrderNextQueryFn  func(ctx context.Context, no string, next time.Time) error
	DueRefundsFn         func(ctx context.Context, now, createdBefore time.Time, limit int) ([]trade.Refund, error)
	SetRefundNextQueryFn func(ctx context.Context, no string, next time.Time) error
	EventsFn             func(ctx context.Context, afterID string, limit int) ([]trade.Event, error)
	EventFn              func(ctx context.Context, id string) (trade.Event, error)
	ClaimEventsFn        func(ctx context.Context, now time.Time, lease time.Duration, outTradeNo string, limit int) ([]trade.Event, error)
	ClaimEventFn         func(ctx context.Context, id string, now time.Time, lease time.Duration) (trade.Event, bool, error)
	SetDeliveryFn        func(ctx context.Context, id string, d trade.Delivery) error
	OrdersByNoFn         func(ctx context.Context, nos []string) (map[string]trade.Order, error)
	RefundsByNoFn        func(ctx context.Context, nos []string) (map[string]trade.Refund, error)
	PaidOrdersFn         func(ctx context.Context, from, to time.Time, fn func(trade.Order) error) error
	MarkFixedFn          func(ctx context.Context, day, outTradeNo, outRefundNo string) error
	ReconciliationFn     func(ctx context.Context, day string) (trade.Reconciliation, error)
	SaveReconciliationFn func(ctx context.Context, r trade.Reconciliation, e *trade.Event) (bool, error)
}

var _ trade.Store = (*fakeStore)(nil)

func (s *fakeStore) CreateOrder(ctx context.Context, o trade.Order) (trade.Order, bool, error) {
	return s.CreateOrderFn(ctx, o)
}
func (s *fakeStore) Order(ctx context.Context, no string) (trade.Order, error) {
	return s.OrderFn(ctx, no)
}
func (s *fakeStore) SetPrepayID(ctx context.Context, no, prepayID string) error {
	return s.SetPrepayIDFn(ctx, no, prepayID)
}
func (s *fakeStore) Transition(ctx context.Context, no string, to trade.State, txID string, paidAt time.Time) (trade.State, bool, error) {
	return s.TransitionFn(ctx, no, to, txID, paidAt)
}
func (s *fakeStore) ApplyNotification(ctx context.Context, n trade.Notification, fee int64, to trade.State, txID string, paidAt time.Time) (trade.State, bool, error) {
	return s.ApplyNotificationFn(ctx, n, fee, to, txID, paidAt)
}
func (s *fakeStore) AdoptOrder(ctx context.Context, o trade.Order) (bool, error) {
	return s.AdoptOrderFn(ctx, o)
}
func (s *fakeStore) RecordNotification(ctx context.Context, n trade.Notification) error {
	return s.RecordNotificationFn(ctx, n)
}
func (s *fakeStore) ReserveRefund(ctx context.Context, r trade.Refund) (trade.Refund, bool, error) {
	return s.ReserveRefundFn(ctx, r)
}
func (s *fakeStore) AcceptRefund(ctx context.Context, no string) error {
	return s.AcceptRefundFn(ctx, no)
}
func (s *fakeStore) FinishRefund(ctx context.Context, no string, st trade.RefundState, refundID string) (trade.RefundState, bool, error) {
	return s.FinishRefundFn(ctx, no, st, refundID)
}
func (s *fakeStore) Refund(ctx context.Context, no string) (trade.Refund, error) {
	return s.RefundFn(ctx, no)
}
func (s *fakeStore) Refunds(ctx context.Context, outTradeNo string) ([]trade.Refund, error) {
	if s.RefundsFn == nil {
		return nil, nil // most tests look at orders without refunds
	}
	return s.RefundsFn(ctx, outTradeNo)
}
func (s *fakeStore) DueOrders(ctx context.Context, now, before time.Time, limit int) ([]trade.Order, error) {
	return s.DueOrdersFn(ctx, now, before, limit)
}
func (s *fakeStore) SetOrderNextQuery(ctx context.Context, no string, next time.Time) error {
	return s.SetOrderNextQueryFn(ctx, no, next)
}
func (s *fakeStore) DueRefunds(ctx context.Context, now, before time.Time, limit int) ([]trade.Refund, error) {
	return s.DueRefundsFn(ctx, now, before, limit)
}
func (s *fakeStore) SetRefundNextQuery(ctx context.Context, no string, next time.Time) error {
	return s.SetRefundNextQueryFn(ctx, no, next)
}
func (s *fakeStore) Events(ctx context.Context, afterID string, limit int) ([]trade.Event, error) {
	return s.EventsFn(ctx, afterID, limit)
}
func (s *fakeStore) Event(ctx context.Context, id string) (trade.Event, error) {
	return s.EventFn(ctx, id)
}
func (s *fakeStore) ClaimEvents(ctx context.Context, now time.Time, lease time.Duration, no string, limit int) ([]trade.Event, error) {
	return s.ClaimEventsFn(ctx, now, lease, no, limit)
}
func (s *fakeStore) ClaimEvent(ctx context.Context, id string, now time.Time, lease time.Duration) (trade.Event, bool, error) {
	return s.ClaimEventFn(ctx, id, now, lease)
}
func (s *fakeStore) SetDelivery(ctx context.Context, id string, d trade.Delivery) error {
	return s.SetDeliveryFn(ctx, id, d)
}
func (s *fakeStore) OrdersByNo(ctx context.Context, nos []string) (map[string]trade.Order, error) {
	return s.OrdersByNoFn(ctx, nos)
}
func (s *fakeStore) RefundsByNo(ctx context.Context, nos []string) (map[string]trade.Refund, error) {
	return s.RefundsByNoFn(ctx, nos)
}
func (s *fakeStore) PaidOrders(ctx context.Context, from, to time.Time, fn func(trade.Order) error) error {
	return s.PaidOrdersFn(ctx, from, to, fn)
}
func (s *fakeStore) MarkFixed(ctx context.Context, day, outTradeNo, outRefundNo string) error {
	return s.MarkFixedFn(ctx, day, outTradeNo, outRefundNo)
}
func (s *fakeStore) Reconciliation(ctx context.Context, day string) (trade.Reconciliation, error) {
	return s.ReconciliationFn(ctx, day)
}
func (s *fakeStore) SaveReconciliation(ctx context.Context, r trade.Reconciliation, e *trade.Event) (bool, error) {
	return s.SaveReconciliationFn(ctx, r, e)
}
func (s *fakeStore) Close() error { return nil }
