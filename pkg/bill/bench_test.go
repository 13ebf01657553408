package bill

import (
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/trade"
)

// BenchmarkReader reads a day of 100,000 rows, one in ten a refund, as the
// Writer makes it; rows/s is the figure to watch, and allocs/op over 100,000
// the allocations per row.
func BenchmarkReader(b *testing.B) {
	const n = 100_000
	rows := make([]Row, n)
	day := time.Date(2026, 11, 29, 0, 0, 0, 0, trade.ChinaTime)
	for i := range rows {
		rows[i] = Row{TradeTime: day.Add(time.Duration(i) * 800 * time.Millisecond), AppID: "wx2421b1c4370ec43b", MchID: "10000100",
			TransactionID: "4200002166202611290324636876", OutTradeNo: "20261129100000a", TradeState: "SUCCESS",
			TotalFee: int64(i%50000 + 1), SettlementFee: int64(i%50000 + 1)}
		if i%10 == 9 {
			rows[i].TradeState, rows[i].TotalFee, rows[i].SettlementFee = "REFUND", 0, 0
			rows[i].RefundID, rows[i].OutRefundNo, rows[i].RefundFee, rows[i].RefundState = "50302709992026112991956632208", "R20261129-1", 100, "SUCCESS"
		}
	}
	var buf bytes.Buffer
	if err := Encode(&buf, Current, rows); err != nil {
		b.Fatal(err)
	}
	bill := buf.Bytes()
	b.SetBytes(int64(len(bill)))
	b.ReportAllocs()
	for b.Loop() {
		r, err := NewReader(bytes.NewReader(bill))
		if err != nil {
			b.Fatal(err)
		}
		got := 0
		for {
			if _, err := r.Next(); err == io.EOF {
				break
			} else if err != nil {
				b.Fatal(err)
			}
			got++
		}
		if got != n {
			b.Fatal(got)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
