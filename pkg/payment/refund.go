package payment

import (
	"context"
	"errors"

	"github.com/wxpay-scf/wxpay-scf/pkg/payinput"
	"github.com/wxpay-scf/wxpay-scf/pkg/store"
)

// RefundView is the answer to a refund request.
type RefundView struct {
	OutRefundNo string `json:"out_refund_no"`
	RefundFee   int64  `json:"refund_fee"`
	State       string `json:"state"`
}

// Refund refunds part or all of a paid order. It refuses before calling
// WeChat Pay when the order is not paid or the amount exceeds what is left
// to refund, and reserves the amount atomically, so concurrent refunds
// cannot exceed the paid amount. A retry with the same out_refund_no
// refunds once. WeChat Pay's outright refusal releases the reservation; an
// unknown outcome (timeout) keeps it, for the retry.
func (s *Service) Refund(ctx context.Context, in payinput.RefundInput) (*RefundView, error) {
	if !s.WeChat.CanRefund() {
		return nil, &Error{Kind: Config, Code: "CONFIG_ERROR", Message: "refunds need WXPAY_CLIENT_CERT and WXPAY_CLIENT_KEY"}
	}
	o, err := s.load(ctx, "", in.OutTradeNo)
	if err != nil {
		return nil, err
	}
	if o, err = s.confirm(ctx, o); err != nil {
		return nil, err
	}
	if in.OutRefundNo == "" {
		if in.OutRefundNo, err = s.WeChat.NewOutTradeNo(); err != nil {
			return nil, &Error{Kind: Internal, Code: "INTERNAL", Message: "internal error", Err: err}
		}
	}
	r, created, err := s.Store.ReserveRefund(ctx, store.Refund{
		OutRefundNo: in.OutRefundNo, OutTradeNo: o.OutTradeNo, RefundFee: in.RefundFee, Reason: in.Reason,
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, orderNotFound()
	case errors.Is(err, store.ErrNotPaid):
		return nil, &Error{Kind: Conflict, Code: "ORDER_NOT_PAID", Message: "the order is " + string(o.State) + ", not paid"}
	case errors.Is(err, store.ErrExceedsPaid):
		return nil, invalid("REFUND_EXCEEDS_PAID", "refund_fee exceeds the paid amount less the refunds already accepted")
	case errors.Is(err, store.ErrRefundMismatch):
		return nil, &Error{Kind: Conflict, Code: "REFUND_NO_CONFLICT", Message: "out_refund_no was used for another refund"}
	case err != nil:
		return nil, fromStore(err)
	}
	answer := &RefundView{OutRefundNo: r.OutRefundNo, RefundFee: r.RefundFee, State: string(r.State)}
	if !created && r.State != store.RefundProcessing {
		return answer, nil
	}
	err = s.WeChat.Refund(ctx, RefundOrder{
		OutTradeNo: o.OutTradeNo, OutRefundNo: r.OutRefundNo, TotalFee: o.TotalFee,
		RefundFee: r.RefundFee, Reason: r.Reason, NotifyURL: s.NotifyURL,
	})
	if errors.Is(err, ErrRefused) {
		// Turned down outright: nothing happened at WeChat Pay.
		if _, ferr := s.Store.FinishRefund(ctx, r.OutRefundNo, store.RefundFailed, ""); ferr != nil {
			return nil, fromStore(ferr)
		}
		return nil, err
	}
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			e.Message += "; retry with out_refund_no " + r.OutRefundNo
		}
		return nil, err
	}
	return answer, nil
}
