package payment

import (
	"context"
	"errors"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/store"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpay"
)

// chinaTime is the zone order times are shown in.
var chinaTime = time.FixedZone("CST", 8*3600)

// OrderView is an order as the mini-program sees it.
type OrderView struct {
	OutTradeNo    string  `json:"out_trade_no"`
	State         string  `json:"state"`
	TotalFee      int64   `json:"total_fee"`
	Description   string  `json:"description"`
	TransactionID string  `json:"transaction_id"`
	CreatedAt     *string `json:"created_at"`
	PaidAt        *string `json:"paid_at"`
}

func rfc3339(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := t.In(chinaTime).Format(time.RFC3339)
	return &s
}

func view(o store.Order) *OrderView {
	return &OrderView{
		OutTradeNo: o.OutTradeNo, State: string(o.State), TotalFee: o.TotalFee, Description: o.Description,
		TransactionID: o.TransactionID, CreatedAt: rfc3339(o.CreatedAt), PaidAt: rfc3339(o.PaidAt),
	}
}

// load returns the order if openid may see it ("" is the operator, who may
// see every order); another user's order is as absent as an unknown one.
func (s *Service) load(ctx context.Context, openid, no string) (store.Order, error) {
	if !wxpay.ValidOutTradeNo(no) {
		return store.Order{}, orderNotFound()
	}
	o, err := s.Store.Order(ctx, no)
	if errors.Is(err, store.ErrNotFound) || err == nil && openid != "" && o.OpenID != openid {
		return store.Order{}, orderNotFound()
	}
	if err != nil {
		return store.Order{}, fromStore(err)
	}
	return o, nil
}

// Order returns the order; a state that is not final is confirmed with
// WeChat Pay (orderquery) and recorded first. A final state is answered from
// the store.
func (s *Service) Order(ctx context.Context, openid, no string) (*OrderView, error) {
	o, err := s.load(ctx, openid, no)
	if err != nil {
		return nil, err
	}
	if o, err = s.confirm(ctx, o); err != nil {
		return nil, err
	}
	return view(o), nil
}

// confirm asks WeChat Pay for the state of an order whose stored state is
// not final, checks the verified answer against the order, and records it.
func (s *Service) confirm(ctx context.Context, o store.Order) (store.Order, error) {
	if o.State.Final() {
		return o, nil
	}
	st, err := s.WeChat.Query(ctx, o.OutTradeNo)
	if errors.Is(err, ErrOrderNotExist) && o.PrepayID == "" {
		// WeChat Pay never accepted this order, so it can never be paid.
		return s.transition(ctx, o, store.Closed, "", time.Time{})
	}
	if err != nil {
		return o, err
	}
	to, ok := store.ParseState(st.TradeState)
	if !ok {
		return o, &Error{Kind: Upstream, Code: "WXPAY_BAD_ANSWER", Message: "WeChat Pay reported an unknown trade_state " + st.TradeState}
	}
	if st.TransactionID != "" && st.TotalFee != o.TotalFee {
		return o, &Error{Kind: Upstream, Code: "WXPAY_AMOUNT_MISMATCH", Message: "WeChat Pay reports another amount for this order"}
	}
	return s.transition(ctx, o, to, st.TransactionID, st.PaidAt)
}

// transition records a state change and, when this call made it, tells
// StateChanged; it returns the order as stored afterwards.
func (s *Service) transition(ctx context.Context, o store.Order, to store.State, txID string, paidAt time.Time) (store.Order, error) {
	if o.State == to {
		return o, nil
	}
	from, changed, err := s.Store.Transition(ctx, o.OutTradeNo, to, txID, paidAt)
	if err != nil {
		return o, fromStore(err)
	}
	if !changed {
		// Someone else moved it, or it may not move: read what it is now.
		got, err := s.Store.Order(ctx, o.OutTradeNo)
		if err != nil {
			return o, fromStore(err)
		}
		return got, nil
	}
	if s.StateChanged != nil {
		s.StateChanged(ctx, o.OutTradeNo, from, to)
	}
	o.State = to
	if txID != "" {
		o.TransactionID = txID
	}
	if !paidAt.IsZero() {
		o.PaidAt = paidAt
	}
	return o, nil
}

// Close closes the caller's unpaid order at WeChat Pay and records it. A
// paid order is refused with ORDERPAID and nothing changes.
func (s *Service) Close(ctx context.Context, openid, no string) (*OrderView, error) {
	o, err := s.load(ctx, openid, no)
	if err != nil {
		return nil, err
	}
	paid := &Error{Kind: Conflict, Code: "ORDERPAID", Message: "the order is paid and cannot be closed"}
	switch {
	case o.State == store.Success || o.State == store.Refunded:
		return nil, paid
	case o.State.Final():
		return view(o), nil
	}
	err = s.WeChat.Close(ctx, o.OutTradeNo)
	switch {
	case err == nil, errors.Is(err, ErrOrderClosed), errors.Is(err, ErrOrderNotExist) && o.PrepayID == "":
		o, err = s.transition(ctx, o, store.Closed, "", time.Time{})
		if err != nil {
			return nil, err
		}
		return view(o), nil
	case errors.Is(err, ErrOrderPaid):
		// Paid before its notification arrived: record that, then refuse.
		if _, err := s.confirm(ctx, o); err != nil {
			return nil, err
		}
		return nil, paid
	}
	return nil, err
}
