package wxpaytest

import (
	"cmp"
	"strconv"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/trade"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpay"
)

// orderQuery plays https://pay.weixin.qq.com/wiki/doc/api/wxa/wxa_api.php?chapter=9_2
func (s *Sim) orderQuery(p wxpay.Params) answer {
	if p["out_trade_no"] == "" && p["transaction_id"] == "" {
		return refuse("缺少参数out_trade_no")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settleRefunds()
	o, ok := s.orders[p["out_trade_no"]]
	if !ok {
		return bizFail("ORDERNOTEXIST", "此交易订单号不存在")
	}
	fields := wxpay.Params{
		"out_trade_no": p["out_trade_no"], "trade_state": o.state, "total_fee": strconv.FormatInt(o.totalFee, 10),
		"openid": o.openid, "trade_type": wxpay.TradeTypeJSAPI, "attach": o.attach, "fee_type": "CNY",
	}
	if o.transactionID != "" {
		fields["transaction_id"] = o.transactionID
		fields["time_end"] = o.timeEnd.In(trade.ChinaTime).Format("20060102150405")
		fields["cash_fee"] = fields["total_fee"]
		fields["bank_type"] = "OTHERS"
	}
	return answer{fields: fields}
}

// closeOrder plays https://pay.weixin.qq.com/wiki/doc/api/wxa/wxa_api.php?chapter=9_3
func (s *Sim) closeOrder(p wxpay.Params) answer {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orders[p["out_trade_no"]]
	switch {
	case !ok:
		return bizFail("ORDERNOTEXIST", "订单不存在")
	case o.state == "SUCCESS" || o.state == "REFUND":
		return bizFail("ORDERPAID", "订单已支付，不能发起关单")
	case o.state == "CLOSED":
		return bizFail("ORDERCLOSED", "订单已关闭，无法重复关闭")
	case s.now().Before(o.created.Add(MinCloseAge)):
		// WeChat documents the wait but no code for breaking it; this is
		// the simulator's choice: a business-rule refusal, not retryable.
		return bizFail("RULELIMIT", "订单生成后5分钟内不能关单")
	}
	o.state = "CLOSED"
	return answer{fields: wxpay.Params{}}
}

// refund plays https://pay.weixin.qq.com/wiki/doc/api/wxa/wxa_api.php?chapter=9_4
func (s *Sim) refund(p wxpay.Params) answer {
	for _, f := range []string{"out_trade_no", "out_refund_no", "total_fee", "refund_fee"} {
		if p[f] == "" {
			return refuse("缺少参数" + f)
		}
	}
	total, err1 := strconv.ParseInt(p["total_fee"], 10, 64)
	fee, err2 := strconv.ParseInt(p["refund_fee"], 10, 64)
	if err1 != nil || err2 != nil || fee < 1 || fee > total {
		return refuse("refund_fee参数格式错误")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settleRefunds()
	o, ok := s.orders[p["out_trade_no"]]
	switch {
	case !ok:
		return bizFail("ORDERNOTEXIST", "订单不存在")
	case o.state != "SUCCESS" && o.state != "REFUND":
		return bizFail("TRADE_STATE_ERROR", "订单状态错误")
	case total != o.totalFee:
		return bizFail("PARAM_ERROR", "订单金额与原订单不一致")
	}
	ok2 := func(r *refund) answer {
		return answer{fields: wxpay.Params{
			"out_trade_no": p["out_trade_no"], "out_refund_no": p["out_refund_no"], "refund_id": r.refundID,
			"transaction_id": o.transactionID, "refund_fee": strconv.FormatInt(r.fee, 10), "total_fee": p["total_fee"],
		}}
	}
	if r, dup := s.refunds[p["out_refund_no"]]; dup {
		if r.outTradeNo != p["out_trade_no"] || r.fee != fee {
			return bizFail("PARAM_ERROR", "退款单号已用于其他退款")
		}
		return ok2(r) // a retry refunds once
	}
	if o.refunded+fee > o.totalFee {
		return bizFail("NOTENOUGH", "退款金额大于可退金额")
	}
	r := &refund{
		outTradeNo: p["out_trade_no"], refundID: "50" + strconv.FormatInt(s.now().UnixNano(), 10)[:18] + randomHex(9),
		fee: fee, status: "PROCESSING", accepted: s.now(),
	}
	s.refunds[p["out_refund_no"]] = r
	o.refunded += fee
	o.refunds = append(o.refunds, p["out_refund_no"])
	return ok2(r)
}

// refundQuery plays https://pay.weixin.qq.com/wiki/doc/api/wxa/wxa_api.php?chapter=9_5
// for the merchant's numbers: out_refund_no answers that refund,
// out_trade_no all of the order's (refund_id and transaction_id, which
// WeChat also takes, are not simulated). The $n of the fields count from 0.
func (s *Sim) refundQuery(p wxpay.Params) answer {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settleRefunds()
	var nos []string
	switch {
	case p["out_refund_no"] != "":
		if _, ok := s.refunds[p["out_refund_no"]]; ok {
			nos = []string{p["out_refund_no"]}
		}
	case p["out_trade_no"] != "":
		if o, ok := s.orders[p["out_trade_no"]]; ok {
			nos = o.refunds
		}
	default:
		return refuse("缺少参数out_refund_no")
	}
	if len(nos) == 0 {
		return bizFail("REFUNDNOTEXIST", "退款单不存在")
	}
	no := s.refunds[nos[0]].outTradeNo
	o := s.orders[no]
	total := strconv.FormatInt(o.totalFee, 10)
	fields := wxpay.Params{
		"out_trade_no": no, "transaction_id": o.transactionID, "total_fee": total, "cash_fee": total,
		"refund_count": strconv.Itoa(len(nos)),
	}
	var sum int64
	for n, rno := range nos {
		r, i := s.refunds[rno], "_"+strconv.Itoa(n)
		fee := strconv.FormatInt(r.fee, 10)
		fields["out_refund_no"+i], fields["refund_id"+i], fields["refund_status"+i] = rno, r.refundID, r.status
		fields["refund_fee"+i], fields["settlement_refund_fee"+i], fields["refund_channel"+i] = fee, fee, "ORIGINAL"
		fields["refund_account"+i], fields["refund_recv_accout"+i] = refundAccount, refundRecvAccount
		if r.status == "SUCCESS" {
			fields["refund_success_time"+i] = r.finished.In(trade.ChinaTime).Format("2006-01-02 15:04:05")
		}
		sum += r.fee
	}
	fields["refund_fee"] = strconv.FormatInt(sum, 10)
	return answer{fields: fields}
}

// Where the simulated refunds come from and go to.
const (
	refundAccount     = "REFUND_SOURCE_RECHARGE_FUNDS"
	refundRecvAccount = "支付用户零钱"
)

// settleRefunds finishes the refunds whose Config.RefundDelay has passed,
// with Config.RefundStatus, as WeChat Pay does on its own: nothing is
// posted, only queries and bills see it. Each finished when its delay
// ended, whenever it is settled, so that a bill made in between shows it
// as it was. Callers hold s.mu.
func (s *Sim) settleRefunds() {
	if s.cfg.RefundDelay <= 0 {
		return
	}
	now := s.now()
	for _, r := range s.refunds {
		if r.status == "PROCESSING" && !now.Before(r.accepted.Add(s.cfg.RefundDelay)) {
			s.finishRefund(r, cmp.Or(s.cfg.RefundStatus, "SUCCESS"), r.accepted.Add(s.cfg.RefundDelay))
		}
	}
}

// finishRefund moves a PROCESSING refund to its final status: SUCCESS makes
// the order REFUND; REFUNDCLOSE gives the amount back (the money never
// left); CHANGE keeps it taken, since the merchant finishes that payout by
// hand. It finished at at. Callers hold s.mu.
func (s *Sim) finishRefund(r *refund, status string, at time.Time) {
	o := s.orders[r.outTradeNo]
	r.status, r.finished = status, at
	switch status {
	case "SUCCESS":
		o.state = "REFUND"
	case "REFUNDCLOSE":
		o.refunded -= r.fee
	}
}

// Pay plays the user paying an order in the WeChat client: the order becomes
// SUCCESS, and the payment notification WeChat Pay would post is returned,
// signed like the order. Nothing is posted: a test that does not deliver
// the notification plays one lost, and orderquery still reports the
// payment. ok is false for an order that cannot be paid: unknown, not
// NOTPAY, or past its time_expire (it stays NOTPAY until closed).
func (s *Sim) Pay(outTradeNo string) (notification []byte, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.orders[outTradeNo]
	if o == nil || o.state != "NOTPAY" || !o.expires.IsZero() && s.now().After(o.expires) {
		return nil, false
	}
	o.state = "SUCCESS"
	o.transactionID = s.newTransactionID()
	o.timeEnd = s.now()
	return s.paymentNotification(outTradeNo, o, s.cfg.Key), true
}

// newTransactionID makes a transaction_id of WeChat Pay's form: 42000,
// then digits of the time, then random ones.
func (s *Sim) newTransactionID() string {
	return "42000" + strconv.FormatInt(s.now().UnixNano(), 10)[:15] + randomHex(8)
}

// PaymentNotification returns the notification of a paid order again,
// freshly signed (WeChat's retries carry a new nonce); with probe, signed
// with a wrong key, as WeChat Pay sends now and then to see whether a
// merchant verifies. It is nil for an order not paid.
func (s *Sim) PaymentNotification(outTradeNo string, probe bool) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.orders[outTradeNo]
	if o == nil || o.transactionID == "" {
		return nil
	}
	key := s.cfg.Key
	if probe {
		key = "probe-" + randomHex(26)
	}
	return s.paymentNotification(outTradeNo, o, key)
}

func (s *Sim) paymentNotification(outTradeNo string, o *order, key string) []byte {
	p := wxpay.Params{
		"return_code": "SUCCESS", "appid": s.cfg.AppID, "mch_id": s.cfg.MchID, "nonce_str": randomHex(32),
		"result_code": "SUCCESS", "openid": o.openid, "is_subscribe": "N", "trade_type": wxpay.TradeTypeJSAPI,
		"bank_type": "OTHERS", "total_fee": strconv.FormatInt(o.totalFee, 10), "cash_fee": strconv.FormatInt(o.totalFee, 10),
		"fee_type": "CNY", "transaction_id": o.transactionID, "out_trade_no": outTradeNo, "attach": o.attach,
		"time_end": o.timeEnd.In(trade.ChinaTime).Format("20060102150405"),
	}
	if o.signType != wxpay.SignMD5 {
		p["sign_type"] = string(o.signType)
	}
	body, _ := wxpay.EncodeSigned(p, key, o.signType)
	return body
}

// CompleteRefund finishes a refund still PROCESSING with status SUCCESS,
// CHANGE or REFUNDCLOSE (see finishRefund) and returns the refund
// notification WeChat Pay would post; a test that does not deliver it
// leaves the result to refundquery.
func (s *Sim) CompleteRefund(outRefundNo, status string) (notification []byte, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settleRefunds()
	r := s.refunds[outRefundNo]
	if r == nil || r.status != "PROCESSING" {
		return nil, false
	}
	s.finishRefund(r, status, s.now())
	o := s.orders[r.outTradeNo]
	inner := wxpay.Params{
		"out_refund_no": outRefundNo, "out_trade_no": r.outTradeNo, "refund_id": r.refundID,
		"transaction_id": o.transactionID, "refund_fee": strconv.FormatInt(r.fee, 10),
		"total_fee": strconv.FormatInt(o.totalFee, 10), "settlement_refund_fee": strconv.FormatInt(r.fee, 10),
		"settlement_total_fee": strconv.FormatInt(o.totalFee, 10), "refund_status": status,
		"success_time": r.finished.In(trade.ChinaTime).Format("2006-01-02 15:04:05"), "refund_recv_accout": refundRecvAccount,
		"refund_account": refundAccount, "refund_request_source": "API",
	}
	reqInfo, _ := wxpay.EncryptReqInfo(inner, s.cfg.Key)
	body, _ := wxpay.EncodeXML(wxpay.Params{
		"return_code": "SUCCESS", "appid": s.cfg.AppID, "mch_id": s.cfg.MchID, "nonce_str": randomHex(32), "req_info": reqInfo,
	})
	return body, true
}
