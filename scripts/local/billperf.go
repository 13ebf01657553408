package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/bill"
	"github.com/wxpay-scf/wxpay-scf/pkg/payment"
	"github.com/wxpay-scf/wxpay-scf/pkg/store"
	"github.com/wxpay-scf/wxpay-scf/pkg/trade"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpay/wxpaytest/billsim"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpayv3/wxpayv3test"
	_ "modernc.org/sqlite" // the store's own driver, to fill its file
)

// billPerf measures a day's reconciliation through the built binary: a
// store holding n paid orders, the simulator serving a true bill of them,
// and {"action":"reconcile"} invoked over the SCF protocol. It reports the
// wall time, rows per second and the binary's peak resident memory, which
// the 64 MB tier must hold: over -max-rss is a failure.
func billPerf(args []string) error {
	fs := flag.NewFlagSet("billperf", flag.ExitOnError)
	binary := fs.String("binary", "build/main", "the built function")
	v3 := fs.Bool("v3", false, "a merchant on API v3")
	n := fs.Int("rows", 100000, "payments in the day's bill")
	timeout := fs.Duration("timeout", 5*time.Minute, "the invocation's timeout (SCF allows up to 900 s)")
	// What memorySize 64 leaves the binary once the runtime's own share
	// and a margin are set aside.
	maxRSS := fs.Int("max-rss", 48, "the peak resident memory the binary must stay under, in MB (MiB, as Linux counts)")
	fs.Parse(args)

	sim, m, env, err := startTestMerchant(*v3, false, "https://pay.example.com/notify")
	if err != nil {
		return err
	}
	defer sim.Close()
	defer os.RemoveAll(m.dir)
	// Two days back has a bill at any hour (it is made at 10:00 China time
	// the next day), and the function reconciles only days before today.
	day := payment.ChinaDay(time.Now()).AddDate(0, 0, -2)
	rows := perfRows(m, day, *n)
	start := time.Now()
	if err := fillStore(filepath.Join(m.dir, "wxpay.db"), rows); err != nil {
		return err
	}
	fmt.Printf("store: %d paid orders inserted into SQLite in %v\n", len(rows), time.Since(start).Round(time.Millisecond))
	plan := billsim.Plan{Rows: func([]bill.Row) []bill.Row { return rows }}
	start = time.Now()
	text, body, _ := plan.Bill(bill.Current, nil)
	fmt.Printf("bill: %d rows, %.1f MB (%.1f MB gzip); the simulator takes %v to make it for each download\n",
		len(rows), float64(len(text))/1e6, float64(len(body))/1e6, time.Since(start).Round(time.Millisecond))
	if *v3 {
		sim.v3.SetBill(day, wxpayv3test.BillPlan{Plan: plan})
	} else {
		sim.SetBill(day, plan)
	}

	logs := &lockedBuffer{}
	fn, err := startFunction(*binary, env, logs)
	if err != nil {
		return err
	}
	defer fn.Close()
	idle, err := vmHWM(fn.PID())
	if err != nil {
		return err
	}
	date := day.Format(time.DateOnly)
	start = time.Now()
	r, err := fn.Invoke([]byte(`{"action":"reconcile","date":"`+date+`"}`), *timeout, "billperf")
	wall := time.Since(start)
	if err != nil {
		return err
	}
	if r.Error != nil {
		return fmt.Errorf("reconcile failed after %v: %s\n%s", wall.Round(time.Millisecond), r.Error.Message, logs)
	}
	peak, err := vmHWM(fn.PID())
	if err != nil {
		return err
	}
	var rep trade.Report
	if err := json.Unmarshal(r.Payload, &rep); err != nil {
		return err
	}
	var total int64
	for _, row := range rows {
		total += row.TotalFee
	}
	if rep.Status != trade.ReconcileMatched || rep.Payments.Count != len(rows) || rep.Payments.TotalFee != total {
		return fmt.Errorf("the report is not a match of %d payments of %d fen: %.300s", len(rows), total, r.Payload)
	}
	api := "API v2"
	if *v3 {
		api = "API v3"
	}
	fmt.Printf("reconcile %s (%s): MATCHED, %d payments, in %v wall: %.0f rows/s\n",
		date, api, len(rows), wall.Round(time.Millisecond), float64(len(rows))/wall.Seconds())
	fmt.Printf("peak resident memory of the binary (VmHWM): %.1f MB after start, %.1f MB after the reconciliation (target: under %d MB)\n",
		float64(idle)/1024, float64(peak)/1024, *maxRSS)
	if peak >= *maxRSS<<10 {
		return fmt.Errorf("the reconciliation's peak memory is over the target")
	}
	return nil
}

// perfRows are n payments of m's app spread over day, with numbers shaped
// like the function's and WeChat Pay's and random enough to compress as
// little as real ones; the same n and day give the same rows.
func perfRows(m testMerchant, day time.Time, n int) []bill.Row {
	rnd := rand.New(rand.NewPCG(uint64(n), uint64(day.Unix())))
	hex := func(k int) string {
		b := make([]byte, k)
		for i := range b {
			b[i] = "0123456789abcdef"[rnd.IntN(16)]
		}
		return string(b)
	}
	rows := make([]bill.Row, n)
	for i := range rows {
		at := day.Add(time.Duration(i) * 24 * time.Hour / time.Duration(n))
		fee := 1 + rnd.Int64N(100000)
		rows[i] = bill.Row{
			TradeTime: at, AppID: m.appID, MchID: m.mchID, TransactionID: fmt.Sprintf("4200%024d", rnd.Int64()),
			OutTradeNo: at.In(trade.ChinaTime).Format("20060102150405") + hex(18), TradeState: "SUCCESS",
			TotalFee: fee, SettlementFee: fee, OpenID: "o" + hex(27), Body: "会员充值",
		}
	}
	return rows
}

// fillStore creates the store's schema in the SQLite file path, then
// inserts rows as paid orders in one transaction.
func fillStore(path string, rows []bill.Row) error {
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite:"+path, nil)
	if err != nil {
		return err
	}
	st.Close()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		return err
	}
	defer db.Close()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	insert, err := tx.PrepareContext(ctx, `INSERT INTO orders (out_trade_no, openid, total_fee, description, attach, prepay_id,
		state, transaction_id, created_at, paid_at, updated_at, expires_at) VALUES (?, ?, ?, ?, '', ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	for _, r := range rows {
		created := r.TradeTime.Add(-30 * time.Second).UnixMicro()
		paid := r.TradeTime.UnixMicro()
		_, err := insert.ExecContext(ctx, r.OutTradeNo, r.OpenID, r.TotalFee, r.Body, "wx"+strings.Repeat("0", 34),
			string(trade.Success), r.TransactionID, created, paid, paid, created+int64(2*time.Hour/time.Microsecond))
		if err != nil {
			return err
		}
	}
	return tx.Commit()
}
