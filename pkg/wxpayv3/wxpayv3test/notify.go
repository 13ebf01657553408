package wxpayv3test

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/trade"
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
	signed := wxpayv3.Signed{Timestamp: strconv.FormatInt(s.wireNow().Unix(), 10), Nonce: strings.ToUpper(randomHex(32))}
	signed.Signature, signed.Serial = s.sign(signed.Timestamp + "\n" + signed.Nonce + "\n" + string(body) + "\n")
	if probe {
		signed.Signature = "WECHATPAY/SIGNTEST/" + signed.Signature
	}
	return Notice{Body: body, Signed: signed}
}

// Pay plays the user paying an order: it becomes SUCCESS and the
// TRANSACTION.SUCCESS notification is returned. Nothing is posted: a test
// that does not deliver the notice plays one lost, and the order query
// still reports the payment. ok is false for an order that cannot be paid:
// unknown, not NOTPAY, or past its time_expire (it stays NOTPAY until
// closed).
func (s *Sim) Pay(outTradeNo string) (n Notice, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.orders[outTradeNo]
	if o == nil || o.state != "NOTPAY" || s.now().After(o.expires) {
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

// CompleteRefund finishes a refund still PROCESSING with status SUCCESS,
// CLOSED or ABNORMAL (see finishRefund) and returns its notification; a
// test that does not deliver it leaves the result to the refund query.
func (s *Sim) CompleteRefund(outRefundNo, status string) (Notice, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settleRefunds()
	r := s.refunds[outRefundNo]
	if r == nil || r.status != "PROCESSING" {
		return Notice{}, false
	}
	s.finishRefund(r, status, s.now())
	o := s.orders[r.outTradeNo]
	resource := map[string]any{
		"mchid": s.cfg.MchID, "out_trade_no": r.outTradeNo, "transaction_id": o.transactionID,
		"out_refund_no": outRefundNo, "refund_id": r.refundID, "refund_status": status,
		"success_time": r.finished.In(trade.ChinaTime).Format(time.RFC3339), "user_received_account": userReceivedAccount,
		"amount": map[string]any{"total": o.total, "refund": r.amount, "payer_total": o.total, "payer_refund": r.amount},
	}
	return s.notice("REFUND."+status, "refund", "退款状态变更", resource, false), true
}
