// Package billsim writes the trade bills that the simulators wxpaytest
// (API v2 downloadbill) and wxpayv3test (API v3 tradebill) serve, and holds
// the knobs that make a day's bill late, absent or wrong. Both APIs deliver
// the same file: a merchant's trade bill of type ALL.
//
// What a bill holds follows the format page: every payment by its payment
// time, every refund by the time WeChat Pay accepted it, with the refund's
// status as it stood when the bill was made (出账后退款状态不会更新); a
// day's bill is made at 10:00 China time the next day, the hour after which
// WeChat Pay advises fetching it.
//
// Format: https://pay.weixin.qq.com/docs/merchant/products/bill-download/format-trade.html
package billsim

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"crypto/sha1"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/trade"
)

// Layout is the set of columns a bill has.
type Layout int

// The layouts WeChat Pay serves.
const (
	// Current is every merchant's since no-recharge coupons came (2018):
	// 应结订单金额, and near the end 订单金额, 申请退款金额 and 费率备注.
	Current Layout = iota
	// Older is what some older merchants still get: 总金额 and 企业红包金额
	// where Current has 应结订单金额 and 代金券金额, and no 订单金额.
	Older
)

// Row is one line of a bill: a payment (TradeState SUCCESS) or a refund
// (TradeState REFUND). Amounts are in fen. Its fields up to RefundState are
// those of package bill's Row, which will replace it.
type Row struct {
	TradeTime     time.Time // 交易时间: paid, or refund accepted
	AppID         string    // 公众账号ID
	MchID         string    // 商户号
	TransactionID string    // 微信订单号
	OutTradeNo    string    // 商户订单号
	TradeState    string    // 交易状态: SUCCESS or REFUND
	// TotalFee is the order's amount (订单金额; 总金额 in Older); WeChat Pay
	// writes 0.00 on a refund row.
	TotalFee int64
	// SettlementFee is 应结订单金额, the amount less no-recharge coupons;
	// 0.00 on a refund row. Older has no such column: there 总金额 is both
	// amounts, and Plan.Bill makes it TotalFee.
	SettlementFee int64
	RefundID      string // 微信退款单号; "" on a payment row, written 0
	OutRefundNo   string // 商户退款单号; likewise
	RefundFee     int64  // 退款金额 and 申请退款金额; 0 on a payment row
	RefundState   string // 退款状态 when the bill was made; "" on a payment row

	OpenID string // 用户标识
	Body   string // 商品名称
	Attach string // 商户数据包
}

// Summary is what a bill's last line says about its rows.
type Summary struct {
	Count         int64 // 总交易单数
	SettlementFee int64 // 应结订单总金额 (Older: 总交易额, the sum of 总金额)
	RefundFee     int64 // 退款总金额 and 申请退款总金额 (Older: 总退款金额)
	TotalFee      int64 // 订单总金额; not in Older
	ServiceFee    int64 // 手续费总金额
}

// rate is the fee rate of the simulated merchant in ten-thousandths:
// 0.60%, WeChat Pay's usual rate for mini-programs, as 费率 says.
const rate = 60

// serviceFee is 手续费 of a row in fen: the rate of the payment, rounded
// half up, and given back (negative) on a refund.
func serviceFee(r *Row) int64 {
	if r.TradeState == "REFUND" {
		return -((r.RefundFee*rate + 5000) / 10000)
	}
	return (r.SettlementFee*rate + 5000) / 10000
}

// Sum is the summary that agrees with rows.
func Sum(rows []Row) Summary {
	var s Summary
	for i := range rows {
		r := &rows[i]
		s.Count++
		s.SettlementFee += r.SettlementFee
		s.RefundFee += r.RefundFee
		s.TotalFee += r.TotalFee
		s.ServiceFee += serviceFee(r)
	}
	return s
}

// The columns of each layout, as the format page lists them for an ALL bill.
var (
	currentColumns = []string{
		"交易时间", "公众账号ID", "商户号", "特约商户号", "设备号", "微信订单号", "商户订单号", "用户标识", "交易类型",
		"交易状态", "付款银行", "货币种类", "应结订单金额", "代金券金额", "微信退款单号", "商户退款单号", "退款金额",
		"充值券退款金额", "退款类型", "退款状态", "商品名称", "商户数据包", "手续费", "费率", "订单金额", "申请退款金额", "费率备注",
	}
	olderColumns = []string{
		"交易时间", "公众账号ID", "商户号", "子商户号", "设备号", "微信订单号", "商户订单号", "用户标识", "交易类型",
		"交易状态", "付款银行", "货币种类", "总金额", "企业红包金额", "微信退款单号", "商户退款单号", "退款金额",
		"企业红包退款金额", "退款类型", "退款状态", "商品名称", "商户数据包", "手续费", "费率",
	}
	currentSummary = []string{"总交易单数", "应结订单总金额", "退款总金额", "充值券退款总金额", "手续费总金额", "订单总金额", "申请退款总金额"}
	olderSummary   = []string{"总交易单数", "总交易额", "总退款金额", "总企业红包退款金额", "手续费总金额"}
)

// Encode writes a bill of layout l as WeChat Pay serves it decompressed:
// a byte order mark, CRLF line endings, the header, rows with a backtick
// before every field, the summary header, and a summary line saying s
// (Sum(rows) for a true bill). Values are written as they are, unescaped,
// as WeChat Pay does: the backtick is what tells a comma inside 商品名称
// from a separator.
func Encode(w io.Writer, l Layout, rows []Row, s Summary) error {
	columns, summary := currentColumns, currentSummary
	if l == Older {
		columns, summary = olderColumns, olderSummary
	}
	line := []byte("\uFEFF")
	line = appendNames(line, columns)
	for i := range rows {
		for j, name := range columns {
			if j > 0 {
				line = append(line, ',')
			}
			line = appendValue(append(line, '`'), name, &rows[i])
		}
		line = append(line, "\r\n"...)
	}
	line = appendNames(line, summary)
	for j, name := range summary {
		if j > 0 {
			line = append(line, ',')
		}
		line = append(line, '`')
		switch name {
		case "总交易单数":
			line = strconv.AppendInt(line, s.Count, 10)
		case "应结订单总金额", "总交易额":
			line = appendYuan(line, s.SettlementFee)
		case "退款总金额", "总退款金额", "申请退款总金额":
			line = appendYuan(line, s.RefundFee)
		case "订单总金额":
			line = appendYuan(line, s.TotalFee)
		case "手续费总金额":
			line = append(appendYuan(line, s.ServiceFee), "000"...)
		default: // 充值券退款总金额, 总企业红包退款金额: no coupons here
			line = append(line, "0.00"...)
		}
	}
	_, err := w.Write(append(line, "\r\n"...))
	return err
}

func appendNames(line []byte, names []string) []byte {
	for i, name := range names {
		if i > 0 {
			line = append(line, ',')
		}
		line = append(line, name...)
	}
	return append(line, "\r\n"...)
}

// appendValue appends row's field of the column name.
func appendValue(dst []byte, name string, r *Row) []byte {
	refund := r.TradeState == "REFUND"
	switch name {
	case "交易时间":
		return r.TradeTime.In(trade.ChinaTime).AppendFormat(dst, "2006-01-02 15:04:05")
	case "公众账号ID":
		return append(dst, r.AppID...)
	case "商户号":
		return append(dst, r.MchID...)
	case "特约商户号", "子商户号": // a direct merchant has none
		return append(dst, '0')
	case "微信订单号":
		return append(dst, r.TransactionID...)
	case "商户订单号":
		return append(dst, r.OutTradeNo...)
	case "用户标识":
		return append(dst, r.OpenID...)
	case "交易类型":
		return append(dst, "JSAPI"...)
	case "交易状态":
		return append(dst, r.TradeState...)
	case "付款银行":
		return append(dst, "OTHERS"...)
	case "货币种类":
		return append(dst, "CNY"...)
	case "应结订单金额":
		return appendYuan(dst, r.SettlementFee)
	case "总金额", "订单金额":
		return appendYuan(dst, r.TotalFee)
	case "代金券金额":
		return appendYuan(dst, max(0, r.TotalFee-r.SettlementFee))
	case "微信退款单号", "商户退款单号":
		id := r.RefundID
		if name == "商户退款单号" {
			id = r.OutRefundNo
		}
		if !refund && id == "" {
			id = "0"
		}
		return append(dst, id...)
	case "退款金额", "申请退款金额":
		return appendYuan(dst, r.RefundFee)
	case "退款类型":
		if refund {
			return append(dst, "ORIGINAL"...)
		}
	case "退款状态":
		return append(dst, r.RefundState...)
	case "商品名称":
		return append(dst, r.Body...)
	case "商户数据包":
		return append(dst, r.Attach...)
	case "手续费":
		return append(appendYuan(dst, serviceFee(r)), "000"...)
	case "费率":
		return append(dst, "0.60%"...)
	case "充值券退款金额", "企业红包金额", "企业红包退款金额":
		return append(dst, "0.00"...)
	}
	return dst // 设备号, 费率备注: empty
}

// appendYuan writes fen as yuan with two decimals, with a sign when
// negative (a refund's fee, or a summary made to lie).
func appendYuan(dst []byte, fen int64) []byte {
	u := uint64(fen)
	if fen < 0 {
		dst = append(dst, '-')
		u = -u
	}
	dst = strconv.AppendUint(dst, u/100, 10)
	c := u % 100
	return append(dst, '.', byte('0'+c/10), byte('0'+c%10))
}

// State is how a simulator answers for a day's bill.
type State int

// The states.
const (
	// AsSeen serves the bill made of what the simulator saw, once it is
	// made (see Check), or "no bill" when the day has no row.
	AsSeen State = iota
	// NotReady answers that the bill is still being made (v2 Bill
	// Creating, v3 STATEMENT_CREATING), whatever the clock says.
	NotReady
	// None answers that the day has no bill (v2 No Bill Exist, v3
	// NO_STATEMENT_EXIST), whatever the simulator saw.
	None
)

// BodyKind is what a served bill's body is.
type BodyKind int

// The bodies.
const (
	Gzip      BodyKind = iota // the bill, gzip-compressed, as asked
	Truncated                 // the gzip stream cut in half
	NotGzip                   // the bill as plain text, not what was asked
)

// Plan changes how a simulator answers for one day's bill. Its zero value
// is the real thing.
type Plan struct {
	State State
	// Rows, when set, changes the rows made of what the simulator saw:
	// a wrong amount, a row of another appid, a payment no one created.
	// The summary is then computed from what it returns.
	Rows func([]Row) []Row
	// Summary, when set, changes the summary: a bill whose summary lies.
	Summary func(*Summary)
	Body    BodyKind
}

// Availability is whether a bill date can be served at a given time.
type Availability int

// The availabilities.
const (
	Available  Availability = iota
	Creating                // not made yet: the day has not ended, or it is before 10:00 the next day
	OutOfRange              // a future day, or one more than three months back
)

// MadeAt is when the simulators make the bill of the China day of day:
// 10:00 China time the next day. WeChat Pay starts at 9:00 and advises
// fetching after 10:00.
func MadeAt(day time.Time) time.Time { return midnight(day).AddDate(0, 0, 1).Add(10 * time.Hour) }

// midnight is the start of the China day of t.
func midnight(t time.Time) time.Time {
	d := t.In(trade.ChinaTime)
	return time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, trade.ChinaTime)
}

// Check tells whether the bill of the China day of day can be served at
// now. WeChat Pay serves the last three months only; it documents no
// answer for a future day, so the simulators refuse it as a bad bill_date.
func Check(day, now time.Time) Availability {
	start, today := midnight(day), midnight(now)
	switch {
	case start.After(today) || start.Before(today.AddDate(0, -3, 0)):
		return OutOfRange
	case now.Before(MadeAt(start)):
		return Creating
	}
	return Available
}

// Payment is a paid order as a simulator keeps it.
type Payment struct {
	OutTradeNo, TransactionID string
	Total                     int64 // fen
	PaidAt                    time.Time
	OpenID, Body, Attach      string
}

// Refund is an accepted refund as a simulator keeps it, with its order.
type Refund struct {
	Order              Payment
	OutRefundNo        string
	RefundID           string
	Fee                int64 // fen
	Status             string
	Accepted, Finished time.Time // Finished is zero while it is PROCESSING
}

// Rows are the rows of the bill of the China day of day for the merchant
// appID and mchID: the payments made that day, and the refunds accepted
// that day with their status when the bill was made (PROCESSING if they
// finished later), in the order of their time.
func Rows(day time.Time, appID, mchID string, payments []Payment, refunds []Refund) []Row {
	var rows []Row
	for _, p := range payments {
		if sameDay(p.PaidAt, day) {
			rows = append(rows, Row{
				TradeTime: p.PaidAt, AppID: appID, MchID: mchID, TransactionID: p.TransactionID, OutTradeNo: p.OutTradeNo,
				TradeState: "SUCCESS", TotalFee: p.Total, SettlementFee: p.Total, OpenID: p.OpenID, Body: p.Body, Attach: p.Attach,
			})
		}
	}
	for _, r := range refunds {
		if !sameDay(r.Accepted, day) {
			continue
		}
		state := r.Status
		if r.Finished.IsZero() || r.Finished.After(MadeAt(day)) {
			state = "PROCESSING"
		}
		rows = append(rows, Row{
			TradeTime: r.Accepted, AppID: appID, MchID: mchID, TransactionID: r.Order.TransactionID, OutTradeNo: r.Order.OutTradeNo,
			TradeState: "REFUND", RefundID: r.RefundID, OutRefundNo: r.OutRefundNo, RefundFee: r.Fee, RefundState: state,
			OpenID: r.Order.OpenID, Body: r.Order.Body, Attach: r.Order.Attach,
		})
	}
	slices.SortFunc(rows, func(a, b Row) int {
		return cmp.Or(a.TradeTime.Compare(b.TradeTime), cmp.Compare(a.OutTradeNo, b.OutTradeNo), cmp.Compare(a.OutRefundNo, b.OutRefundNo))
	})
	return rows
}

// sameDay reports whether t falls on the China day of day.
func sameDay(t, day time.Time) bool { return midnight(t).Equal(midnight(day)) }

// Key names the China day of day, as plans are kept.
func Key(day time.Time) string { return day.In(trade.ChinaTime).Format("2006-01-02") }

// Bill writes the bill of rows as p says: the decompressed text, which v3's
// hash_value covers, and the body as served. ok is false when p leaves no
// row: the day has no bill.
func (p Plan) Bill(l Layout, rows []Row) (text, body []byte, ok bool) {
	if p.Rows != nil {
		rows = p.Rows(rows)
	}
	if len(rows) == 0 {
		return nil, nil, false
	}
	if l == Older {
		for i := range rows {
			rows[i].SettlementFee = rows[i].TotalFee
		}
	}
	s := Sum(rows)
	if p.Summary != nil {
		p.Summary(&s)
	}
	var b bytes.Buffer
	Encode(&b, l, rows, s) // a bytes.Buffer does not fail
	text = b.Bytes()
	if p.Body == NotGzip {
		return text, text, true
	}
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(text)
	zw.Close()
	body = z.Bytes()
	if p.Body == Truncated {
		body = body[:len(body)/2]
	}
	return text, body, true
}

// Large writes to w a true bill of n payments on the China day of day,
// gzip-compressed, and returns the SHA1 of the bill decompressed: for tests
// of bills of many megabytes. Its identifiers are random, so that it
// compresses about as little as a real bill (to less than a third); the
// same n and day give the same bill.
func Large(w io.Writer, day time.Time, n int) (sum []byte, err error) {
	rnd := rand.New(rand.NewPCG(uint64(n), uint64(day.Unix())))
	digits := func(alphabet string, k int) string {
		b := make([]byte, k)
		for i := range b {
			b[i] = alphabet[rnd.IntN(len(alphabet))]
		}
		return string(b)
	}
	start := midnight(day)
	rows := make([]Row, n)
	for i := range rows {
		fee := 1 + rnd.Int64N(100000)
		rows[i] = Row{
			TradeTime: start.Add(time.Duration(i) * 24 * time.Hour / time.Duration(n)), AppID: "wxd678efh567hg6787", MchID: "1230000109",
			TransactionID: "4200" + digits("0123456789", 24), OutTradeNo: digits("0123456789abcdef", 20), TradeState: "SUCCESS",
			TotalFee: fee, SettlementFee: fee, OpenID: "o" + digits("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_", 27),
			Body: "会员充值",
		}
	}
	h := sha1.New()
	zw, _ := gzip.NewWriterLevel(w, gzip.BestSpeed)
	if err := Encode(io.MultiWriter(h, zw), Current, rows, Sum(rows)); err != nil {
		return nil, err
	}
	return h.Sum(nil), zw.Close()
}

// LargeFile writes the bill Large writes to a file in dir, and returns
// the file's name and the SHA1 of the bill decompressed.
func LargeFile(dir string, day time.Time, n int) (name string, sum []byte, err error) {
	f, err := os.CreateTemp(dir, "bill-*.gz")
	if err != nil {
		return "", nil, err
	}
	sum, err = Large(f, day, n)
	return f.Name(), sum, errors.Join(err, f.Close())
}
