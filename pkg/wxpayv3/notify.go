package wxpayv3

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
)

// Notification is a verified, decrypted v3 notification.
type Notification struct {
	ID        string
	EventType string // TRANSACTION.SUCCESS, REFUND.SUCCESS, REFUND.ABNORMAL, REFUND.CLOSED
	Plaintext []byte // the decrypted resource (a Transaction or a RefundNotice as JSON)
}

// Transaction reads the resource of a TRANSACTION.SUCCESS notification,
// checked as a query answer is: a payment, with its amount.
func (n *Notification) Transaction() (*Transaction, error) {
	var t Transaction
	if err := jsonUnmarshal(n.Plaintext, &t); err != nil {
		return nil, err
	}
	if n.EventType != "TRANSACTION.SUCCESS" || t.TradeState != "SUCCESS" {
		return nil, fmt.Errorf("%w: a payment notification without a payment", ErrMalformed)
	}
	if err := t.check(); err != nil {
		return nil, err
	}
	return &t, nil
}

// RefundNotice is the decrypted resource of a refund notification.
type RefundNotice struct {
	MchID        string       `json:"mchid"`
	OutTradeNo   string       `json:"out_trade_no"`
	OutRefundNo  string       `json:"out_refund_no"`
	RefundID     string       `json:"refund_id"`
	RefundStatus string       `json:"refund_status"` // SUCCESS, CLOSED, ABNORMAL
	Amount       RefundAmount `json:"amount"`
}

// Refund reads the resource of a REFUND.* notification: a refund that has
// reached a final status (SUCCESS, CLOSED or ABNORMAL, anything else is
// malformed), with amounts of 1 to MaxAmount fen, the refund within the
// order's total.
func (n *Notification) Refund() (*RefundNotice, error) {
	var r RefundNotice
	if err := jsonUnmarshal(n.Plaintext, &r); err != nil {
		return nil, err
	}
	switch {
	case !strings.HasPrefix(n.EventType, "REFUND."):
		return nil, fmt.Errorf("%w: event_type %q is not a refund's", ErrMalformed, n.EventType)
	case r.RefundStatus != "SUCCESS" && r.RefundStatus != "CLOSED" && r.RefundStatus != "ABNORMAL":
		return nil, fmt.Errorf("%w: refund_status %q", ErrMalformed, r.RefundStatus)
	case r.OutTradeNo == "" || r.OutRefundNo == "":
		return nil, fmt.Errorf("%w: out_trade_no or out_refund_no missing", ErrMalformed)
	}
	if err := r.Amount.check(); err != nil {
		return nil, err
	}
	return &r, nil
}

func jsonUnmarshal(raw []byte, v any) error {
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return nil
}

// ParseNotification verifies a notification over its raw body first, then
// decrypts its resource with the APIv3 key. Nothing in it is read before
// the signature verifies. Verification may download the platform
// certificates (see Verifier), hence the context.
//
// https://pay.weixin.qq.com/doc/v3/merchant/4012791861
func ParseNotification(ctx context.Context, v *Verifier, apiV3Key []byte, signed Signed, body []byte) (*Notification, error) {
	if len(body) > MaxBodySize {
		return nil, fmt.Errorf("%w: notification over %d bytes", ErrMalformed, MaxBodySize)
	}
	if err := v.Verify(ctx, signed, body); err != nil {
		return nil, err
	}
	var n struct {
		ID           string   `json:"id"`
		EventType    string   `json:"event_type"`
		ResourceType string   `json:"resource_type"`
		Resource     Resource `json:"resource"`
	}
	if err := jsonUnmarshal(body, &n); err != nil {
		return nil, err
	}
	pt, err := Decrypt(apiV3Key, n.Resource)
	if err != nil {
		return nil, err
	}
	return &Notification{ID: n.ID, EventType: n.EventType, Plaintext: pt}, nil
}

// NotifyFailure is the body of a failure answer to a notification (sent
// with a 4xx or 5xx status and Content-Type application/json), which makes
// WeChat Pay send the notification again. A success is 200 or 204 with no
// body.
func NotifyFailure(message string) []byte {
	b, _ := json.Marshal(struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}{"FAIL", message})
	return b
}
