package payment

import (
	"context"
	"errors"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/trade"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpay"
)

// Notification handles one body posted to …/notify: a payment result or a
// refund result. It returns nil only once the notification is verified,
// checked against the order, and durably recorded, so the reply may be
// success; any error means a failure reply and WeChat Pay will retry: kind
// Invalid for a notification that is not authentic or not readable, the
// store's kinds when recording failed. Duplicates, concurrent or not,
// change an order once. header gives the request's headers by lower-case
// name.
func (s *Service) Notification(ctx context.Context, header func(string) string, body []byte) (trade.NotificationKind, error) {
	n, err := s.WeChat.Notification(ctx, header, body)
	if err != nil {
		return "", &Error{Kind: Invalid, Code: "NOTIFICATION_REFUSED", Message: "the notification is not authentic or not readable", Err: err}
	}
	if n.Kind == trade.RefundNotification {
		return n.Kind, s.refundNotification(ctx, n)
	}
	return n.Kind, s.paymentNotification(ctx, n)
}

// UnconfiguredNotifyAnswer is the reply to a notification while the
// function's configuration is broken, so that it cannot tell which protocol
// it speaks: HTTP 500, which API v2 and v3 both retry, with v2's FAIL XML
// as the body. A v2 200 or a v3 2xx would acknowledge a payment that was
// never recorded.
func UnconfiguredNotifyAnswer() NotifyAnswer {
	return NotifyAnswer{Status: 500, ContentType: "text/xml", Body: wxpay.NotifyReply(false)}
}

func (s *Service) paymentNotification(ctx context.Context, n *Notice) error {
	st := n.Payment
	if st == nil {
		// An authentic report of a failed payment: recorded, state left to orderquery.
		return s.recordNotice(ctx, n, n.OutTradeNo, "")
	}
	// Recorded and applied in one transaction: both or neither.
	note := trade.Notification{Kind: n.Kind, OutTradeNo: st.OutTradeNo, Fields: n.Fields}
	apply := func() (trade.State, bool, error) {
		return s.Store.ApplyNotification(ctx, note, st.TotalFee, trade.Success, st.TransactionID, st.PaidAt)
	}
	from, changed, err := apply()
	if errors.Is(err, trade.ErrNotFound) {
		// Authentic, for an order this store never saw: recorded, not refused.
		o := trade.Order{OutTradeNo: st.OutTradeNo, OpenID: st.OpenID, TotalFee: st.TotalFee, Attach: st.Attach}
		if _, err := s.Store.AdoptOrder(ctx, o); err != nil {
			return fromStore(err)
		}
		from, changed, err = apply()
	}
	switch {
	case errors.Is(err, trade.ErrAmountMismatch):
		return amountMismatch(err)
	case err != nil:
		return fromStore(err)
	case changed:
		s.stateChanged(ctx, st.OutTradeNo, from, trade.Success)
	}
	return nil
}

func (s *Service) recordNotice(ctx context.Context, n *Notice, outTradeNo, outRefundNo string) error {
	err := s.Store.RecordNotification(ctx, trade.Notification{Kind: n.Kind, OutTradeNo: outTradeNo, OutRefundNo: outRefundNo, Fields: n.Fields})
	if err != nil {
		return fromStore(err)
	}
	return nil
}

func (s *Service) refundNotification(ctx context.Context, n *Notice) error {
	res := n.Refund
	if err := s.recordNotice(ctx, n, res.OutTradeNo, res.OutRefundNo); err != nil {
		return err
	}
	if res.State == trade.RefundProcessing {
		return nil
	}
	if err := s.finishRefund(ctx, res.OutRefundNo, res.State, res.RefundID); err != nil {
		return err
	}
	if res.State != trade.RefundSuccess {
		return nil
	}
	o, err := s.Store.Order(ctx, res.OutTradeNo)
	if errors.Is(err, trade.ErrNotFound) {
		return nil // a refund of an order this store never saw: recorded above
	}
	if err != nil {
		return fromStore(err)
	}
	_, err = s.transition(ctx, o, trade.Refunded, "", time.Time{})
	return err
}

// finishRefund records a refund's new state; a refund this store never saw
// stays in the record of notifications only.
func (s *Service) finishRefund(ctx context.Context, outRefundNo string, to trade.RefundState, refundID string) error {
	from, changed, err := s.Store.FinishRefund(ctx, outRefundNo, to, refundID)
	switch {
	case errors.Is(err, trade.ErrNotFound):
		return nil
	case err != nil:
		return fromStore(err)
	case changed && s.RefundChanged != nil:
		s.RefundChanged(ctx, outRefundNo, from, to)
	}
	return nil
}
