package payment

import (
	"context"
	"errors"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/trade"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpay"
)

// load returns the order if openid may see it ("" is the operator, who may
// see every order); another user's order is as absent as an unknown one.
func (s *Service) load(ctx context.Context, openid, no string) (trade.Order, error) {
	if !wxpay.ValidOutTradeNo(no) {
		return trade.Order{}, orderNotFound()
	}
	o, err := s.Store.Order(ctx, no)
	if errors.Is(err, trade.ErrNotFound) || err == nil && openid != "" && o.OpenID != openid {
		return trade.Order{}, orderNotFound()
	}
	if err != nil {
		return trade.Order{}, fromStore(err)
	}
	return o, nil
}

// Order returns the order; a state that is not final is confirmed with
// WeChat Pay (orderquery) and recorded first. A final state is answered from
// the store.
func (s *Service) Order(ctx context.Context, openid, no string) (*trade.OrderView, error) {
	o, err := s.load(ctx, openid, no)
	if err != nil {
		return nil, err
	}
	o, changed, err := s.confirm(ctx, o)
	if err != nil {
		return nil, err
	}
	if changed {
		s.deliverFirst(ctx, no)
	}
	return s.view(ctx, o)
}

// view is the order with its refunds as the mini-program sees it.
func (s *Service) view(ctx context.Context, o trade.Order) (*trade.OrderView, error) {
	refunds, err := s.Store.Refunds(ctx, o.OutTradeNo)
	if err != nil {
		return nil, fromStore(err)
	}
	v := trade.ViewOrder(o, refunds)
	return &v, nil
}

// confirm asks WeChat Pay for the state of an order whose stored state is
// not final and records the verified answer; it reports whether this call
// changed the order. WeChat Pay not knowing the order proves nothing: its
// unified order may still be on its way, so the order is answered as
// stored; only closeorder (or the sweep, after the order's expiry) closes
// an order.
func (s *Service) confirm(ctx context.Context, o trade.Order) (trade.Order, bool, error) {
	if o.State.Final() {
		return o, false, nil
	}
	st, err := s.WeChat.Query(ctx, o.OutTradeNo)
	changed := false
	switch {
	case errors.Is(err, ErrOrderNotExist):
	case err != nil:
		return o, false, err
	default:
		if o, changed, err = s.record(ctx, o, st); err != nil {
			return o, changed, err
		}
	}
	if !o.State.Final() {
		// The sweep asks again no sooner than this.
		if err := s.Store.SetOrderNextQuery(ctx, o.OutTradeNo, orderNextQuery(o, s.now())); err != nil {
			return o, changed, fromStore(err)
		}
	}
	return o, changed, nil
}

// nextQuery is when an unfinished order or refund created at created may
// next be asked about: no sooner than a quarter of its age, at least a
// minute and at most an hour after now.
func nextQuery(created, now time.Time) time.Time {
	return now.Add(min(max(now.Sub(created)/4, time.Minute), time.Hour))
}

// orderNextQuery is nextQuery for an unpaid order, but no later than its
// expiry while that is still ahead, so the sweep closes it on time.
func orderNextQuery(o trade.Order, now time.Time) time.Time {
	next := nextQuery(o.CreatedAt, now)
	if now.Before(o.ExpiresAt) && o.ExpiresAt.Before(next) {
		return o.ExpiresAt
	}
	return next
}

// record applies WeChat Pay's verified status of o and reports whether
// this call changed it. A REFUND trade state says the order was paid; its
// refunds are recorded from their own answers.
func (s *Service) record(ctx context.Context, o trade.Order, st *Status) (trade.Order, bool, error) {
	to, ok := trade.ParseState(st.TradeState)
	if !ok {
		return o, false, &Error{Kind: Upstream, Code: "WXPAY_BAD_ANSWER", Message: "WeChat Pay reported an unknown trade_state " + st.TradeState}
	}
	if to == trade.Refunded {
		to = trade.Success
	}
	if to.Paid() && st.TotalFee != o.TotalFee {
		return o, false, amountMismatch(nil)
	}
	return s.transition(ctx, o, to, st.TransactionID, st.PaidAt)
}

// transition records a state change and, when this call made it, tells
// StateChanged; it returns the order as stored afterwards and whether this
// call changed it.
func (s *Service) transition(ctx context.Context, o trade.Order, to trade.State, txID string, paidAt time.Time) (trade.Order, bool, error) {
	if o.State == to {
		return o, false, nil
	}
	from, changed, err := s.Store.Transition(ctx, o.OutTradeNo, to, txID, paidAt)
	if err != nil {
		return o, false, fromStore(err)
	}
	if !changed {
		// Someone else moved it, or it may not move: read what it is now.
		got, err := s.Store.Order(ctx, o.OutTradeNo)
		if err != nil {
			return o, false, fromStore(err)
		}
		return got, false, nil
	}
	s.stateChanged(ctx, o.OutTradeNo, from, to)
	o.State = to
	if txID != "" {
		o.TransactionID = txID
	}
	if !paidAt.IsZero() {
		o.PaidAt = paidAt
	}
	return o, true, nil
}

func (s *Service) stateChanged(ctx context.Context, no string, from, to trade.State) {
	if s.StateChanged != nil {
		s.StateChanged(ctx, no, from, to)
	}
}

// Close closes the caller's unpaid order at WeChat Pay and records it. A
// paid order is refused with ORDERPAID and nothing changes.
func (s *Service) Close(ctx context.Context, openid, no string) (*trade.OrderView, error) {
	o, err := s.load(ctx, openid, no)
	if err != nil {
		return nil, err
	}
	paid := &Error{Kind: Conflict, Code: "ORDERPAID", Message: "the order is paid and cannot be closed"}
	switch {
	case o.State.Paid():
		return nil, paid
	case o.State.Final():
		return s.view(ctx, o)
	}
	err = s.WeChat.Close(ctx, o.OutTradeNo)
	switch {
	// WeChat Pay not knowing an order that has no prepay_id yet is a close
	// too: if its unified order arrives later, Pay finds it closed and hands
	// out no pay parameters.
	case err == nil, errors.Is(err, ErrOrderClosed), errors.Is(err, ErrOrderNotExist) && o.PrepayID == "":
		o, _, err = s.transition(ctx, o, trade.Closed, "", time.Time{})
		if err != nil {
			return nil, err
		}
		s.deliverFirst(ctx, no)
		if o.State.Paid() {
			return nil, paid
		}
		return s.view(ctx, o)
	case errors.Is(err, ErrOrderPaid):
		// Paid before its notification arrived: record that, then refuse.
		if _, _, err := s.confirm(ctx, o); err != nil {
			return nil, err
		}
		s.deliverFirst(ctx, no)
		return nil, paid
	}
	return nil, err
}
