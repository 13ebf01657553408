// Package billsim makes the trade bills that the simulators wxpaytest
// (API v2 downloadbill) and wxpayv3test (API v3 tradebill) serve, and holds
// the knobs that make a day's bill late, absent or wrong. Both APIs deliver
// the same file, a merchant's trade bill of type ALL, which package bill's
// Writer writes.
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
	"runtime"
	"slices"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/bill"
	"github.com/wxpay-scf/wxpay-scf/pkg/trade"
)

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
	Rows func([]bill.Row) []bill.Row
	// Summary, when set, changes the summary: a bill whose summary lies.
	Summary func(*bill.Summary)
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
func Rows(day time.Time, appID, mchID string, payments []Payment, refunds []Refund) []bill.Row {
	var rows []bill.Row
	for _, p := range payments {
		if sameDay(p.PaidAt, day) {
			rows = append(rows, bill.Row{
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
		rows = append(rows, bill.Row{
			TradeTime: r.Accepted, AppID: appID, MchID: mchID, TransactionID: r.Order.TransactionID, OutTradeNo: r.Order.OutTradeNo,
			TradeState: "REFUND", RefundID: r.RefundID, OutRefundNo: r.OutRefundNo, RefundFee: r.Fee, RefundState: state,
			OpenID: r.Order.OpenID, Body: r.Order.Body, Attach: r.Order.Attach,
		})
	}
	slices.SortFunc(rows, func(a, b bill.Row) int {
		return cmp.Or(a.TradeTime.Compare(b.TradeTime), cmp.Compare(a.OutTradeNo, b.OutTradeNo), cmp.Compare(a.OutRefundNo, b.OutRefundNo))
	})
	return rows
}

// sameDay reports whether t falls on the China day of day.
func sameDay(t, day time.Time) bool { return midnight(t).Equal(midnight(day)) }

// Key names the China day of day, as plans are kept.
func Key(day time.Time) string { return day.In(trade.ChinaTime).Format("2006-01-02") }

// Bill writes the bill of rows in layout l as p says: the decompressed
// text, which v3's hash_value covers, and the body as served. ok is false
// when p leaves no row: the day has no bill. It panics when p.Rows returns
// a row no bill can hold (a negative amount, a line feed in a field): that
// is a mistake in a test, not a fault of WeChat Pay's to simulate.
func (p Plan) Bill(l bill.Layout, rows []bill.Row) (text, body []byte, ok bool) {
	if p.Rows != nil {
		rows = p.Rows(rows)
	}
	if len(rows) == 0 {
		return nil, nil, false
	}
	var b bytes.Buffer
	w := bill.NewWriter(&b, l)
	for _, row := range rows {
		if err := w.Write(row); err != nil {
			panic("billsim: the plan's rows: " + err.Error())
		}
	}
	s := w.Summary()
	if p.Summary != nil {
		p.Summary(&s)
	}
	w.Finish(s) // a bytes.Buffer does not fail
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
// same n and day give the same bill. Rows are written as they are made, so
// a large n costs time, not memory.
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
	h := sha1.New()
	zw, _ := gzip.NewWriterLevel(w, gzip.BestSpeed)
	bw := bill.NewWriter(io.MultiWriter(h, zw), bill.Current)
	for i := range n {
		fee := 1 + rnd.Int64N(100000)
		err := bw.Write(bill.Row{
			TradeTime: start.Add(time.Duration(i) * 24 * time.Hour / time.Duration(n)), AppID: "wxd678efh567hg6787", MchID: "1230000109",
			TransactionID: "4200" + digits("0123456789", 24), OutTradeNo: digits("0123456789abcdef", 20), TradeState: "SUCCESS",
			TotalFee: fee, SettlementFee: fee, OpenID: "o" + digits("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_", 27),
			Body: "会员充值",
		})
		if err != nil {
			return nil, err
		}
	}
	if err := bw.Finish(bw.Summary()); err != nil {
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

// Drain runs download, reading the bill it hands over to the end, and
// returns how many bytes it read, their SHA1, and the bytes allocated
// meanwhile: what a test of a streamed download checks against LargeFile.
func Drain(download func(read func(io.Reader) error) error) (n int64, sum []byte, allocated uint64, err error) {
	h := sha1.New()
	buf := make([]byte, 32<<10)
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	err = download(func(r io.Reader) (err error) {
		n, err = io.CopyBuffer(h, r, buf)
		return err
	})
	runtime.ReadMemStats(&after)
	return n, h.Sum(nil), after.TotalAlloc - before.TotalAlloc, err
}
