package payment

import (
	"context"
	"errors"

	"github.com/tidwall/gjson"
	"github.com/wxpay-scf/wxpay-scf/pkg/store"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpay"
)

// RefundInput is an operator's refund request.
type RefundInput struct {
	OutTradeNo  string
	OutRefundNo string // "" means a fresh one; a retry must send the one answered
	RefundFee   int64
	Reason      string
}

// RefundView is the answer to a refund request.
type RefundView struct {
	OutRefundNo string `json:"out_refund_no"`
	RefundFee   int64  `json:"refund_fee"`
	State       string `json:"state"`
}

// MaxReasonBytes bounds a refund's reason (WeChat's refund_desc).
const MaxReasonBytes = 80

// ParseRefund reads {"out_trade_no","refund_fee","out_refund_no","reason"}.
func ParseRefund(event gjson.Result) (RefundInput, error) {
	var in RefundInput
	no := event.Get("out_trade_no")
	if no.Type != gjson.String || !wxpay.ValidOutTradeNo(no.Str) {
		return in, invalid("INVALID_OUT_TRADE_NO", "out_trade_no must be the order's number")
	}
	in.OutTradeNo = no.Str
	fee, err := ParseTotalFee(event.Get("refund_fee"), wxpay.MaxTotalFee)
	if err != nil {
		return in, invalid("INVALID_REFUND_FEE", "refund_fee must be a whole number of fen, at least 1")
	}
	in.RefundFee = fee
	if r := event.Get("out_refund_no"); r.Exists() && r.Type != gjson.Null {
		if r.Type != gjson.String || !wxpay.ValidOutTradeNo(r.Str) {
			return in, invalid("INVALID_OUT_REFUND_NO", "out_refund_no must be 6 to 32 characters of 0-9 A-Z a-z _ - | *")
		}
		in.OutRefundNo = r.Str
	}
	if in.Reason, err = optionalText(event.Get("reason"), "INVALID_REASON", "reason", MaxReasonBytes); err != nil {
		return in, err
	}
	return in, nil
}

// Refund refunds part or all of a paid order. It refuses before calling
// WeChat Pay when the order is not paid or the amount exceeds what is left
// to refund, and reserves the amount atomically, so concurrent refunds
// cannot exceed the paid amount. A retry with the same out_refund_no
// refunds once. WeChat Pay's outright refusal releases the reservation; an
// unknown outcome (timeout) keeps it, for the retry.
func (s *Service) Refund(ctx context.Context, in RefundInput) (*RefundView, error) {
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
