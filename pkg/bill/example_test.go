package bill_test

import (
	"bytes"
	"fmt"
	"io"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/bill"
	"github.com/wxpay-scf/wxpay-scf/pkg/trade"
)

// A simulator writes the bill of what it saw; reconciliation reads it back,
// and trusts the rows only once Next says io.EOF.
func Example() {
	paid := time.Date(2026, 11, 29, 10, 0, 3, 0, trade.ChinaTime)
	var file bytes.Buffer // in production: the decompressed download
	err := bill.Encode(&file, bill.Current, []bill.Row{
		{TradeTime: paid, AppID: "wx2421b1c4370ec43b", MchID: "10000100", TransactionID: "4200002166202611290324636876",
			OutTradeNo: "20261129100000a", TradeState: "SUCCESS", TotalFee: 180, SettlementFee: 180},
		{TradeTime: paid.Add(time.Hour), AppID: "wx2421b1c4370ec43b", MchID: "10000100", TransactionID: "4200002166202611290324636876",
			OutTradeNo: "20261129100000a", TradeState: "REFUND", RefundID: "50302709992026112991956632208",
			OutRefundNo: "R20261129-1", RefundFee: 100, RefundState: "SUCCESS"},
	})
	if err != nil {
		panic(err)
	}

	r, err := bill.NewReader(&file)
	if err != nil {
		panic(err)
	}
	for {
		row, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Println("BILL_INVALID:", err)
			return
		}
		if row.IsRefund() {
			fmt.Println("refund", row.OutRefundNo, row.RefundFee, row.RefundState)
		} else {
			fmt.Println("payment", row.OutTradeNo, row.TotalFee, row.TradeTime.Format(time.DateTime))
		}
	}
	s, _ := r.Summary()
	fmt.Printf("%d rows, %d fen paid, %d fen refunded\n", s.Count, s.TotalFee, s.RefundFee)
	// Output:
	// payment 20261129100000a 180 2026-11-29 10:00:03
	// refund R20261129-1 100 SUCCESS
	// 2 rows, 180 fen paid, 100 fen refunded
}
