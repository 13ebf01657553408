package wxpaytest

import (
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/bill"
	"github.com/wxpay-scf/wxpay-scf/pkg/trade"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpay"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpay/wxpaytest/billsim"
)

// SetBill changes how the bill of the China day of day is answered, until
// it is set again; a zero Plan restores the real thing.
func (s *Sim) SetBill(day time.Time, p billsim.Plan) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bills[billsim.Key(day)] = p
}

// AddPaidOrder records an order of totalFee fen, paid now, that no merchant
// system created, as if another system of the merchant had made it: it is
// in order queries and bills, and nothing is notified. ok is false when
// outTradeNo is taken.
func (s *Sim) AddPaidOrder(outTradeNo string, totalFee int64) (ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, taken := s.orders[outTradeNo]; taken {
		return false
	}
	now := s.now()
	s.orders[outTradeNo] = &order{
		prepayID: "wx" + now.Format("20060102150405") + randomHex(20), signType: wxpay.SignMD5,
		openid: "o" + randomHex(27), totalFee: totalFee, body: "其他系统的订单", state: "SUCCESS",
		transactionID: s.newTransactionID(), timeEnd: now, created: now,
	}
	return true
}

// The return_msg of downloadbill's two answers about the bill itself, as
// WeChat Pay sends them (its page writes "NO Bill Exist").
const (
	noBill       = "No Bill Exist"
	billCreating = "Bill Creating"
)

// downloadBill plays https://pay.weixin.qq.com/doc/v2/merchant/4011987833:
// a refusal is unsigned XML with return_code FAIL, and the bill itself is
// the bare file, gzip when tar_type is GZIP, plain text otherwise. WeChat
// Pay documents no message for a date out of range or a tar_type it does
// not know; "invalid bill_date" and "invalid tar_type" are the
// simulator's, after its "invalid bill_type".
func (s *Sim) downloadBill(p wxpay.Params) answer {
	day, err := time.ParseInLocation("20060102", p["bill_date"], trade.ChinaTime)
	switch {
	case p["bill_date"] == "":
		return refuse("missing parameter")
	case err != nil || len(p["bill_date"]) != len("20060102"):
		return refuse("invalid bill_date")
	case p["bill_type"] != "" && p["bill_type"] != "ALL":
		// SUCCESS and REFUND bills have other columns; only ALL is simulated.
		return refuse("invalid bill_type")
	case p["tar_type"] != "" && p["tar_type"] != "GZIP":
		return refuse("invalid tar_type")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	plan := s.bills[billsim.Key(day)]
	none := answer{fail: noBill, errorCode: "20002"} // as WeChat Pay sends it
	switch avail := billsim.Check(day, s.now()); {
	case avail == billsim.OutOfRange:
		return refuse("invalid bill_date")
	case plan.State == billsim.None:
		return none
	case plan.State == billsim.NotReady || avail == billsim.Creating:
		return refuse(billCreating)
	}
	s.settleRefunds()
	text, body, ok := plan.Bill(s.cfg.BillLayout, s.billRows(day))
	switch {
	case !ok:
		return none
	case p["tar_type"] == "":
		return answer{file: text}
	}
	return answer{file: body}
}

// billRows are the rows of the bill of the China day of day. Callers hold
// s.mu.
func (s *Sim) billRows(day time.Time) []bill.Row {
	var payments []billsim.Payment
	for no, o := range s.orders {
		if o.transactionID != "" {
			payments = append(payments, o.payment(no))
		}
	}
	var refunds []billsim.Refund
	for no, r := range s.refunds {
		refunds = append(refunds, billsim.Refund{
			Order: s.orders[r.outTradeNo].payment(r.outTradeNo), OutRefundNo: no, RefundID: r.refundID, Fee: r.fee,
			Status: r.status, Accepted: r.accepted, Finished: r.finished,
		})
	}
	return billsim.Rows(day, s.cfg.AppID, s.cfg.MchID, payments, refunds)
}

// payment is o, numbered no, as a bill shows it.
func (o *order) payment(no string) billsim.Payment {
	return billsim.Payment{
		OutTradeNo: no, TransactionID: o.transactionID, Total: o.totalFee, PaidAt: o.timeEnd,
		OpenID: o.openid, Body: o.body, Attach: o.attach,
	}
}
