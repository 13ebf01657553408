package billsim

import (
	"bytes"
	"compress/gzip"
	"crypto/sha1"
	"io"
	"testing"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/bill"
	"github.com/wxpay-scf/wxpay-scf/pkg/trade"
)

var day = time.Date(2026, 11, 26, 0, 0, 0, 0, trade.ChinaTime)

// rows are a payment of 180 fen and a refund of 100 fen of it.
func rows() []bill.Row {
	return []bill.Row{
		{TradeTime: day.Add(17 * time.Hour), AppID: "wxd678efh567hg6787", MchID: "1230000109", TransactionID: "4200000001202611260000000001",
			OutTradeNo: "20261126170000000001", TradeState: "SUCCESS", TotalFee: 180, SettlementFee: 180, OpenID: "o1", Body: "会员,充值", Attach: "a"},
		{TradeTime: day.Add(18 * time.Hour), AppID: "wxd678efh567hg6787", MchID: "1230000109", TransactionID: "4200000001202611260000000001",
			OutTradeNo: "20261126170000000001", TradeState: "REFUND", RefundID: "50300001", OutRefundNo: "R-1", RefundFee: 100,
			RefundState: "SUCCESS", OpenID: "o1", Body: "会员,充值", Attach: "a"},
	}
}

func TestCheck(t *testing.T) {
	at := func(d, h int) time.Time { return time.Date(2026, 11, d, h, 0, 0, 0, trade.ChinaTime) }
	for _, c := range []struct {
		day, now time.Time
		want     Availability
	}{
		{at(26, 0), at(26, 23), Creating},                      // today
		{at(26, 0), at(27, 9), Creating},                       // before 10:00 the next day
		{at(26, 0), at(27, 10), Available},                     // made
		{at(26, 13), at(27, 10), Available},                    // any time of the day names it
		{at(26, 0).UTC(), at(27, 10), Available},               // 2026-11-25T16:00Z is the 26th in China
		{at(27, 0), at(26, 23), OutOfRange},                    // the future
		{at(26, 0).AddDate(0, -3, 0), at(26, 12), Available},   // three months back
		{at(26, 0).AddDate(0, -3, -1), at(26, 12), OutOfRange}, // further back
	} {
		if got := Check(c.day, c.now); got != c.want {
			t.Errorf("Check(%v, %v) = %d, want %d", c.day, c.now, got, c.want)
		}
	}
}

func TestPlanBill(t *testing.T) {
	for _, c := range []struct {
		name  string
		plan  Plan
		check func(text, body []byte) bool
	}{
		{"gzip", Plan{}, func(text, body []byte) bool { return bytes.Equal(gunzip(t, body), text) }},
		{"not gzip", Plan{Body: NotGzip}, func(text, body []byte) bool { return bytes.Equal(body, text) }},
		{"truncated", Plan{Body: Truncated}, func(text, body []byte) bool {
			_, err := io.ReadAll(mustGzip(t, body))
			return err == io.ErrUnexpectedEOF
		}},
		{"rows", Plan{Rows: func(rs []bill.Row) []bill.Row { rs[0].TotalFee = 1; return rs[:1] }}, func(text, _ []byte) bool {
			return bytes.Contains(text, []byte("`1,`1.80,`0.00,`0.00,`0.01000,`0.01,`0.00\r\n")) // the summary follows the rows
		}},
		{"summary lies", Plan{Summary: func(s *bill.Summary) { s.Count++ }}, func(text, _ []byte) bool {
			return bytes.HasSuffix(text, []byte("`3,`1.80,`1.00,`0.00,`0.00000,`1.80,`1.00\r\n"))
		}},
	} {
		text, body, ok := c.plan.Bill(bill.Current, rows())
		if !ok || !c.check(text, body) {
			t.Errorf("%s: %v\n%s", c.name, ok, text)
		}
	}
	// In Older, 总金额 is the row's amount and its summary's too.
	text, _, _ := Plan{Rows: func(rs []bill.Row) []bill.Row { rs[0].TotalFee = 1; return rs }}.Bill(bill.Older, rows())
	if !bytes.Contains(text, []byte(",`CNY,`0.01,`0.00,`0,`")) || !bytes.HasSuffix(text, []byte("\r\n`2,`0.01,`1.00,`0.00,`-0.01000\r\n")) {
		t.Errorf("older, wrong amount:\n%s", text)
	}
	if _, _, ok := (Plan{}).Bill(bill.Current, nil); ok {
		t.Error("a bill of no row")
	}
	if _, _, ok := (Plan{Rows: func([]bill.Row) []bill.Row { return nil }}).Bill(bill.Current, rows()); ok {
		t.Error("a bill of no row left")
	}
}

func TestLarge(t *testing.T) {
	var b bytes.Buffer
	sum, err := Large(&b, day, 1000)
	if err != nil {
		t.Fatal(err)
	}
	text := gunzip(t, b.Bytes())
	if got := sha1.Sum(text); !bytes.Equal(got[:], sum) || bytes.Count(text, []byte("\r\n")) != 1003 || b.Len() < len(text)/4 {
		t.Errorf("%d bytes, %d compressed, lines %d", len(text), b.Len(), bytes.Count(text, []byte("\r\n")))
	}
	var again bytes.Buffer
	if sum2, _ := Large(&again, day, 1000); !bytes.Equal(sum, sum2) {
		t.Error("not the same bill again")
	}
}

func mustGzip(t *testing.T, b []byte) io.Reader {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return zr
}

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	text, err := io.ReadAll(mustGzip(t, b))
	if err != nil {
		t.Fatal(err)
	}
	return text
}
