package payment

import (
	"context"
	"errors"

	"github.com/wxpay-scf/wxpay-scf/pkg/trade"
)

// RefundView is the answer to a refund request.
type RefundView struct {
	OutRefundNo string `json:"out_refund_no"`
	RefundFee   int64  `json:"refund_fee"`
	State       string `json:"state"`
}

// Refund refunds part or all of a paid order. A refund whose out_refund_no
// exists is answered as recorded, before any amount check, and sent to
// WeChat Pay again (same number: WeChat refunds it once) only while WeChat
// has not accepted it. A new one is refused before WeChat Pay is called
// when the order is not paid or the amount exceeds what is left to refund,
// and its amount is reserved atomically, so concurrent refunds cannot
// exceed the paid amount. WeChat Pay's outright refusal releases the
// reservation (FAILED); an unknown outcome keeps it for the retry, and the
// error names the out_refund_no to retry with.
func (s *Service) Refund(ctx context.Context, in RefundRequest) (*RefundView, error) {
	if !s.WeChat.CanRefund() {
		return nil, &Error{Kind: Config, Code: "CONFIG_ERROR", Message: "refunds need WXPAY_CLIENT_CERT and WXPAY_CLIENT_KEY"}
	}
	o, err := s.load(ctx, "", in.OutTradeNo)
	if err != nil {
		return nil, err
	}
	var paid bool
	if o, paid, err = s.confirm(ctx, o); err != nil {
		return nil, err
	}
	if paid {
		s.deliverFirst(ctx, o.OutTradeNo) // paid before its notification arrived
	}
	if in.OutRefundNo == "" {
		if in.OutRefundNo, err = s.WeChat.NewOutTradeNo(); err != nil {
			return nil, &Error{Kind: Internal, Code: "INTERNAL", Message: "internal error", Err: err}
		}
	}
	r, created, err := s.Store.ReserveRefund(ctx, trade.Refund{
		OutRefundNo: in.OutRefundNo, OutTradeNo: o.OutTradeNo, RefundFee: in.RefundFee, Reason: in.Reason,
	})
	switch {
	case errors.Is(err, trade.ErrNotFound):
		return nil, orderNotFound()
	case errors.Is(err, trade.ErrNotPaid):
		return nil, &Error{Kind: Conflict, Code: "ORDER_NOT_PAID", Message: "the order is " + string(o.State) + ", not paid"}
	case errors.Is(err, trade.ErrExceedsPaid):
		return nil, invalid("REFUND_EXCEEDS_PAID", "refund_fee exceeds the paid amount less the refunds already accepted")
	case errors.Is(err, trade.ErrRefundMismatch):
		return nil, &Error{Kind: Conflict, Code: "REFUND_NO_CONFLICT", Message: "out_refund_no was used for another refund"}
	case err != nil:
		// The reservation may have been made (a commit whose answer was lost).
		return nil, retryWith(fromStore(err), in.OutRefundNo)
	}
	answer := &RefundView{OutRefundNo: r.OutRefundNo, RefundFee: r.RefundFee, State: string(r.State)}
	if !created && (r.Accepted || r.State != trade.RefundProcessing) {
		return answer, nil
	}
	err = s.WeChat.Refund(ctx, RefundOrder{
		OutTradeNo: o.OutTradeNo, OutRefundNo: r.OutRefundNo, TotalFee: o.TotalFee,
		RefundFee: r.RefundFee, Reason: r.Reason, NotifyURL: s.NotifyURL,
	})
	if errors.Is(err, ErrRefused) {
		// Turned down outright: nothing happened at WeChat Pay.
		if _, ferr := s.changeRefund(ctx, r.OutRefundNo, trade.RefundFailed, ""); ferr != nil {
			return nil, retryWith(ferr.(*Error), r.OutRefundNo)
		}
		s.deliverFirst(ctx, o.OutTradeNo)
		return nil, err
	}
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return nil, retryWith(e, r.OutRefundNo)
		}
		return nil, err
	}
	// Without this mark a retry sends the refund again, which is harmless.
	_ = s.Store.AcceptRefund(ctx, r.OutRefundNo)
	return answer, nil
}

// retryWith names the out_refund_no the operator's retry must reuse, so
// that it never reserves the amount a second time.
func retryWith(e *Error, outRefundNo string) *Error {
	e.Message += "; retry with out_refund_no " + outRefundNo
	return e
}
