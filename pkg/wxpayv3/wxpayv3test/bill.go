package wxpayv3test

import (
	"crypto/sha1"
	"encoding/hex"
	"net/http"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/bill"
	"github.com/wxpay-scf/wxpay-scf/pkg/trade"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpay/wxpaytest/billsim"
)

// BillPlan changes how the bill of a day is answered: as billsim.Plan
// does, and in the ways of API v3's own. Its zero value is the real thing.
type BillPlan struct {
	billsim.Plan
	// WrongHash answers a hash_value that is not the bill's.
	WrongHash bool
	// DownloadURL, when set, is the download_url answered in place of the
	// simulator's own: another host, say.
	DownloadURL string
}

// billFile is a bill waiting at its download_url.
type billFile struct {
	body    []byte
	expires time.Time
}

// billFileLife is how long a download_url works: "该地址5min内有效".
const billFileLife = 5 * time.Minute

// SetBill changes how the bill of the China day of day is answered, until
// it is set again; a zero BillPlan restores the real thing.
func (s *Sim) SetBill(day time.Time, p BillPlan) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bills[billsim.Key(day)] = p
}

// AddPaidOrder records an order of total fen, paid now, that no merchant
// system created, as if another system of the merchant had made it: it is
// in order queries and bills, and nothing is notified. ok is false when
// outTradeNo is taken.
func (s *Sim) AddPaidOrder(outTradeNo string, total int64) (ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, taken := s.orders[outTradeNo]; taken {
		return false
	}
	now := s.now()
	s.orders[outTradeNo] = &order{
		prepayID: "wx" + now.Format("20060102150405") + randomHex(20), openid: "o" + randomHex(27), total: total,
		description: "其他系统的订单", state: "SUCCESS", transactionID: "42000" + randomHex(23), paidAt: now, expires: now,
	}
	return true
}

// tradeBill plays https://pay.weixin.qq.com/doc/v3/merchant/4012556654: a
// signed answer naming the bill's SHA1 and a download_url on the
// simulator's own host, valid for five minutes on the business clock.
func (s *Sim) tradeBill(r *http.Request, _ []byte) reply {
	q := r.URL.Query()
	day, err := time.ParseInLocation("2006-01-02", q.Get("bill_date"), trade.ChinaTime)
	switch {
	case err != nil:
		return fail(400, "PARAM_ERROR", "bill_date 须为 yyyy-MM-dd 格式")
	case q.Get("bill_type") != "" && q.Get("bill_type") != "ALL":
		// SUCCESS and REFUND bills have other columns; only ALL is simulated.
		return fail(400, "PARAM_ERROR", "模拟器只提供 ALL 类型的账单")
	case q.Get("tar_type") != "" && q.Get("tar_type") != "GZIP":
		return fail(400, "PARAM_ERROR", "tar_type 须为 GZIP")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	plan := s.bills[billsim.Key(day)]
	none := fail(400, "NO_STATEMENT_EXIST", "请求的账单文件不存在")
	switch avail := billsim.Check(day, s.now()); {
	case avail == billsim.OutOfRange:
		return fail(400, "PARAM_ERROR", "仅支持三个月内的账单下载申请")
	case plan.State == billsim.None:
		return none
	case plan.State == billsim.NotReady || avail == billsim.Creating:
		return fail(400, "STATEMENT_CREATING", "账单生成中")
	}
	s.settleRefunds()
	text, body, ok := plan.Bill(s.cfg.BillLayout, s.billRows(day))
	if !ok {
		return none
	}
	if q.Get("tar_type") == "" {
		body = text
	}
	sum := sha1.Sum(text)
	if plan.WrongHash {
		sum[0] ^= 0xff
	}
	now := s.now()
	for token, f := range s.files {
		if now.After(f.expires) {
			delete(s.files, token)
		}
	}
	token := randomHex(32)
	s.files[token] = billFile{body: body, expires: now.Add(billFileLife)}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	url := scheme + "://" + r.Host + "/v3/billdownload/file?token=" + token
	if plan.DownloadURL != "" {
		url = plan.DownloadURL
	}
	return reply{200, map[string]string{"hash_type": "SHA1", "hash_value": hex.EncodeToString(sum[:]), "download_url": url}}
}

// billFile plays https://pay.weixin.qq.com/doc/v3/merchant/4012810615:
// the file as it is, unsigned. WeChat Pay documents no answer for a
// download_url past its five minutes; this 404 is the simulator's.
func (s *Sim) billFile(r *http.Request, _ []byte) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.files[r.URL.Query().Get("token")]
	if !ok || s.now().After(f.expires) {
		return fail(404, "RESOURCE_NOT_EXISTS", "账单下载地址不存在或已过期")
	}
	return reply{200, file(f.body)}
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
			Order: s.orders[r.outTradeNo].payment(r.outTradeNo), OutRefundNo: no, RefundID: r.refundID, Fee: r.amount,
			Status: r.status, Accepted: r.accepted, Finished: r.finished,
		})
	}
	return billsim.Rows(day, s.cfg.AppID, s.cfg.MchID, payments, refunds)
}

// payment is o, numbered no, as a bill shows it.
func (o *order) payment(no string) billsim.Payment {
	return billsim.Payment{
		OutTradeNo: no, TransactionID: o.transactionID, Total: o.total, PaidAt: o.paidAt,
		OpenID: o.openid, Body: o.description, Attach: o.attach,
	}
}
