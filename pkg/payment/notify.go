package payment

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/store"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpay"
)

// ErrNotification wraps every reason a notification is answered FAIL.
var ErrNotification = errors.New("payment: notification refused")

// Notification handles one body posted to …/notify: a payment result or a
// refund result. It returns nil only once the notification is verified,
// checked against the order, and durably recorded, so the reply may be
// SUCCESS; any error means the reply is FAIL and WeChat Pay will retry.
// Duplicates, concurrent or not, change an order once.
func (s *Service) Notification(ctx context.Context, body []byte) (kind string, err error) {
	p, err := wxpay.DecodeXML(body)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrNotification, err)
	}
	if _, ok := p["req_info"]; ok {
		return "refund", s.refundNotification(ctx, body)
	}
	return "payment", s.paymentNotification(ctx, body)
}

func (s *Service) checkMerchant(fields wxpay.Params) error {
	if fields["appid"] != s.WxPay.AppID || fields["mch_id"] != s.WxPay.MchID {
		return fmt.Errorf("%w: appid or mch_id is not this merchant's", ErrNotification)
	}
	return nil
}

func (s *Service) record(ctx context.Context, kind, outTradeNo, outRefundNo string, fields wxpay.Params) error {
	doc, _ := json.Marshal(fields)
	err := s.Store.RecordNotification(ctx, store.Notification{Kind: kind, OutTradeNo: outTradeNo, OutRefundNo: outRefundNo, Fields: string(doc)})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNotification, err)
	}
	return nil
}

func (s *Service) paymentNotification(ctx context.Context, body []byte) error {
	status, fields, err := wxpay.PaymentNotification(body, s.WxPay.Key)
	var refusal *wxpay.Error
	if errors.As(err, &refusal) && fields != nil {
		// An authentic report of a failed payment: recorded, state left to orderquery.
		if err := s.checkMerchant(fields); err != nil {
			return err
		}
		return s.record(ctx, "payment", fields["out_trade_no"], "", fields)
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNotification, err)
	}
	if err := s.checkMerchant(fields); err != nil {
		return err
	}
	// Recorded and applied in one transaction: both or neither.
	doc, _ := json.Marshal(fields)
	note := store.Notification{Kind: "payment", OutTradeNo: status.OutTradeNo, Fields: string(doc)}
	apply := func() (store.State, bool, error) {
		return s.Store.ApplyNotification(ctx, note, status.TotalFee, store.Success, status.TransactionID, status.TimeEnd)
	}
	from, changed, err := apply()
	if errors.Is(err, store.ErrNotFound) {
		// Authentic, for an order this store never saw: recorded, not refused.
		o := store.Order{OutTradeNo: status.OutTradeNo, OpenID: status.OpenID, TotalFee: status.TotalFee, Attach: status.Attach}
		if _, err := s.Store.AdoptOrder(ctx, o); err != nil {
			return fmt.Errorf("%w: %w", ErrNotification, err)
		}
		from, changed, err = apply()
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNotification, err)
	}
	if changed && s.StateChanged != nil {
		s.StateChanged(ctx, status.OutTradeNo, from, store.Success)
	}
	return nil
}

var refundStates = map[string]store.RefundState{
	"SUCCESS": store.RefundSuccess, "CHANGE": store.RefundChange, "REFUNDCLOSE": store.RefundClosed,
}

func (s *Service) refundNotification(ctx context.Context, body []byte) error {
	res, fields, err := wxpay.RefundNotification(body, s.WxPay.Key)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNotification, err)
	}
	if err := s.checkMerchant(fields); err != nil {
		return err
	}
	delete(fields, "req_info") // kept decrypted, under req_info.*
	if err := s.record(ctx, "refund", res.OutTradeNo, res.OutRefundNo, fields); err != nil {
		return err
	}
	if _, err := s.Store.FinishRefund(ctx, res.OutRefundNo, refundStates[res.RefundStatus], res.RefundID); err != nil {
		return fmt.Errorf("%w: %w", ErrNotification, err)
	}
	if res.RefundStatus != "SUCCESS" {
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
