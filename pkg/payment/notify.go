package payment

import (
	"context"
	"errors"

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
	no := n.OutTradeNo
	if n.Kind == trade.RefundNotification {
		no, err = n.Refund.OutTradeNo, s.refundNotification(ctx, n)
	} else {
		err = s.paymentNotification(ctx, n)
	}
	if err != nil {
		return n.Kind, err
	}
	// Recorded: the answer may be success, and the change's events get
	// their first attempt (a no-op when nothing changed or nothing is due).
	s.deliverFirst(ctx, no)
	return n.Kind, nil
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
	// The refund told of must be the one reserved, as the sweep checks.
	r, err := s.Store.Refund(ctx, res.OutRefundNo)
	switch {
	case errors.Is(err, trade.ErrNotFound):
		return nil // one this store never saw: in the record of notifications only
	case err != nil:
		return fromStore(err)
	case r.RefundFee != res.RefundFee || r.OutTradeNo != res.OutTradeNo:
		return refundMismatch()
	}
	_, err = s.changeRefund(ctx, res.OutRefundNo, res.State, res.RefundID)
	return err
}
