package wxpayv3test

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/wxpay-scf/wxpay-scf/pkg/wxpayv3"
)

// Notice is a notification as WeChat Pay posts it: the raw JSON body and
// its signature headers.
type Notice struct {
	Body   []byte
	Signed wxpayv3.Signed
}

// notice encrypts resource and signs the envelope.
func (s *Sim) notice(eventType, resourceType, summary string, resource any, probe bool) Notice {
	plain, _ := json.Marshal(resource)
	res, _ := wxpayv3.Encrypt(s.cfg.APIv3Key, randomHex(12), resourceType, plain)
	res.OriginalType = resourceType
	body, _ := json.Marshal(map[string]any{
		"id": randomHex(36), "create_time": s.now().Format("2006-01-02T15:04:05-07:00"),
		"resource_type": "encrypt-resource", "event_type": eventType, "summary": summary, "resource": res,
	})
	signed := wxpayv3.Signed{Timestamp: strconv.FormatInt(s.now().Unix(), 10), Nonce: strings.ToUpper(randomHex(32))}
	signed.Signature, signed.Serial = s.sign(signed.Timestamp + "\n" + signed.Nonce + "\n" + string(body) + "\n")
	if probe {
		signed.Signature = "WECHATPAY/SIGNTEST/" + signed.Signature
	}
	return Notice{Body: body, Signed: signed}
}

// Pay plays the user paying an order: it becomes SUCCESS and the
// TRANSACTION.SUCCESS notification is returned. ok is false for an order
// that cannot be paid.
func (s *Sim) Pay(outTradeNo string) (n Notice, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.orders[outTradeNo]
	if o == nil || o.state != "NOTPAY" {
		return Notice{}, false
	}
	o.state, o.transactionID, o.paidAt = "SUCCESS", "42000"+randomHex(23), s.now()
	return s.notice("TRANSACTION.SUCCESS", "transaction", "支付成功", s.transaction(outTradeNo, o), false), true
}

// PaymentNotice is a paid order's notification again, freshly signed;
// with probe, its signature carries the WECHATPAY/SIGNTEST/ prefix.
func (s *Sim) PaymentNotice(outTradeNo string, probe bool) (Notice, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.orders[outTradeNo]
	if o == nil || o.transactionID == "" {
		return Notice{}, false
	}
	return s.notice("TRANSACTION.SUCCESS", "transaction", "支付成功", s.transaction(outTradeNo, o), probe), true
}

// CompleteRefund finishes a refund with status SUCCESS, CLOSED or ABNORMAL
// and returns its notification; a successful refund makes the order REFUND.
func (s *Sim) CompleteRefund(outRefundNo, status string) (Notice, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.refunds[outRefundNo]
	if r == nil || r.status != "PROCESSING" {
		return Notice{}, false
	}
	o := s.orders[r.outTradeNo]
	r.status = status
	if status == "SUCCESS" {
		o.state = "REFUND"
	} else {
		o.refunded -= r.amount
	}
	resource := map[string]any{
		"mchid": s.cfg.MchID, "out_trade_no": r.outTradeNo, "transaction_id": o.transactionID,
		"out_refund_no": outRefundNo, "refund_id": r.refundID, "refund_status": status,
		"success_time": s.now().Format("2006-01-02T15:04:05-07:00"), "user_received_account": "支付用户零钱",
		"amount": map[string]any{"total": o.total, "refund": r.amount, "payer_total": o.total, "payer_refund": r.amount},
	}
	return s.notice("REFUND."+status, "refund", "退款状态变更", resource, false), true
}
