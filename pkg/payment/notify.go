package payment

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/store"
)

// ErrNotification wraps every reason a notification is answered FAIL.
var ErrNotification = errors.New("payment: notification refused")

// Notification handles one body posted to …/notify: a payment result or a
// refund result. It returns nil only once the notification is verified,
// checked against the order, and durably recorded, so the reply may be
// success; any error means a failure reply and WeChat Pay will retry.
// Duplicates, concurrent or not, change an order once. header gives the
// request's headers by lower-case name.
func (s *Service) Notification(ctx context.Context, header func(string) string, body []byte) (kind string, err error) {
	n, err := s.WeChat.Notification(header, body)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrNotification, err)
	}
	if n.Kind == "refund" {
		return n.Kind, s.refundNotification(ctx, n)
	}
	return n.Kind, s.paymentNotification(ctx, n)
}

func (s *Service) record(ctx context.Context, n *Notice, outTradeNo, outRefundNo string) error {
	err := s.Store.RecordNotification(ctx, store.Notification{Kind: n.Kind, OutTradeNo: outTradeNo, OutRefundNo: outRefundNo, Fields: n.Fields})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNotification, err)
	}
	return nil
}

func (s *Service) paymentNotification(ctx context.Context, n *Notice) error {
	st := n.Payment
	if st == nil {
		// An authentic report of a failed payment: recorded, state left to orderquery.
		return s.record(ctx, n, n.OutTradeNo, "")
	}
	// Recorded and applied in one transaction: both or neither.
	note := store.Notification{Kind: "payment", OutTradeNo: st.OutTradeNo, Fields: n.Fields}
	apply := func() (store.State, bool, error) {
		return s.Store.ApplyNotification(ctx, note, st.TotalFee, store.Success, st.TransactionID, st.PaidAt)
	}
	from, changed, err := apply()
	if errors.Is(err, store.ErrNotFound) {
		// Authentic, for an order this store never saw: recorded, not refused.
		o := store.Order{OutTradeNo: st.OutTradeNo, OpenID: st.OpenID, TotalFee: st.TotalFee, Attach: st.Attach}
		if _, err := s.Store.AdoptOrder(ctx, o); err != nil {
			return fmt.Errorf("%w: %w", ErrNotification, err)
		}
		from, changed, err = apply()
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNotification, err)
	}
	if changed && s.StateChanged != nil {
		s.StateChanged(ctx, st.OutTradeNo, from, store.Success)
	}
	return nil
}

func (s *Service) refundNotification(ctx context.Context, n *Notice) error {
	res := n.Refund
	if err := s.record(ctx, n, res.OutTradeNo, res.OutRefundNo); err != nil {
		return err
	}
	state := store.RefundClosed
	if res.Succeeded {
		state = store.RefundSuccess
	}
	if _, err := s.Store.FinishRefund(ctx, res.OutRefundNo, state, res.RefundID); err != nil {
		return fmt.Errorf("%w: %w", ErrNotification, err)
	}
	if !res.Succeeded {
		return nil
	}
	o, err := s.Store.Order(ctx, res.OutTradeNo)
	if errors.Is(err, store.ErrNotFound) {
		return nil // a refund of an order this store never saw: recorded above
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNotification, err)
	}
	if _, err := s.transition(ctx, o, store.Refunded, "", time.Time{}); err != nil {
		return fmt.Errorf("%w: %w", ErrNotification, err)
	}
	return nil
}
