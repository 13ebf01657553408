package store

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/trade"
)

// insertPaid inserts n paid orders, the ith numbered and paid as order(i)
// says, in one transaction: far faster than paying each through the
// store, and the events of those payments play no part here.
func insertPaid(tb testing.TB, s trade.Store, n int, order func(i int) (no string, paid time.Time)) {
	tb.Helper()
	db := s.(*sqlStore).db
	tx, err := db.Begin()
	if err != nil {
		tb.Fatal(err)
	}
	defer tx.Rollback()
	st, err := tx.Prepare(`INSERT INTO orders (out_trade_no, openid, total_fee, description, attach, state, transaction_id,
		created_at, paid_at, updated_at) VALUES (?, 'o1', 180, '会员充值', '', 'SUCCESS', ?, ?, ?, ?)`)
	if err != nil {
		tb.Fatal(err)
	}
	for i := range n {
		no, paid := order(i)
		if _, err := st.Exec(no, "4200"+no, micros(paid)-1e6, micros(paid), micros(paid)); err != nil {
			tb.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		tb.Fatal(err)
	}
}

// Orders paid in [from, to), across batch boundaries that fall among
// orders paid in the same second, in order of payment time and then of
// number, each once; fn may use the store, and its error stops the read.
func TestPaidOrders(t *testing.T) {
	from := time.Date(2026, 11, 29, 0, 0, 0, 0, trade.ChinaTime)
	to := from.Add(300 * time.Second)
	const n = 2500
	// Seven orders a second, from 20 s before from to 37 s after to: 140
	// before, 2100 in (seven paid at from exactly), 260 from to on (seven
	// at to exactly). The numbers run in another order than the times.
	order := func(i int) (string, time.Time) {
		return fmt.Sprintf("PO%06d", i*7919%n), from.Add(time.Duration(i/7-20) * time.Second)
	}
	type key struct {
		paid time.Time
		no   string
	}
	var want []key
	atFrom, atTo := 0, 0
	for i := range n {
		no, paid := order(i)
		if !paid.Before(from) && paid.Before(to) {
			want = append(want, key{paid, no})
		}
		atFrom += boolInt(paid.Equal(from))
		atTo += boolInt(paid.Equal(to))
	}
	if len(want) != 2100 || atFrom != 7 || atTo != 7 {
		t.Fatalf("%d orders in the window, %d paid at from, %d at to", len(want), atFrom, atTo)
	}
	slices.SortFunc(want, func(a, b key) int { return cmpKeys(a.paid, b.paid, a.no, b.no) })
	// Batches of 1000 end among orders paid in one second.
	for _, at := range []int{paidBatch, 2 * paidBatch} {
		if !want[at-1].paid.Equal(want[at].paid) {
			t.Fatalf("the boundary at %d falls between seconds", at)
		}
	}
	eachBackend(t, func(t *testing.T, s trade.Store) {
		insertPaid(t, s, n, order)
		mustCreate(t, s, newOrder("PO-unpaid", "o1", "", 180)) // paid_at 0
		var got []key
		err := s.PaidOrders(ctx, from, to, func(o trade.Order) error {
			if o.State != trade.Success || o.TransactionID != "4200"+o.OutTradeNo {
				return fmt.Errorf("%+v", o)
			}
			if len(got)%500 == 0 {
				// With the rows of a batch still open, this would wait for
				// SQLite's one connection for ever.
				ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				defer cancel()
				if _, err := s.Order(ctx, o.OutTradeNo); err != nil {
					return err
				}
			}
			got = append(got, key{o.PaidAt, o.OutTradeNo})
			return nil
		})
		if err != nil || len(got) != len(want) {
			t.Fatalf("%d orders, want %d: %v", len(got), len(want), err)
		}
		for i := range got {
			if !got[i].paid.Equal(want[i].paid) || got[i].no != want[i].no {
				t.Fatalf("order %d: %v, want %v", i, got[i], want[i])
			}
		}

		stop := errors.New("enough")
		calls := 0
		err = s.PaidOrders(ctx, from, to, func(trade.Order) error {
			if calls++; calls == 1500 {
				return stop
			}
			return nil
		})
		if !errors.Is(err, stop) || calls != 1500 {
			t.Fatalf("%d calls: %v", calls, err)
		}

		// From the beginning of time: paid orders only.
		calls = 0
		err = s.PaidOrders(ctx, time.Time{}, to, func(o trade.Order) error {
			calls++
			if o.PaidAt.IsZero() {
				return fmt.Errorf("unpaid %s", o.OutTradeNo)
			}
			return nil
		})
		if err != nil || calls != 140+2100 {
			t.Fatalf("%d orders: %v", calls, err)
		}
		// An empty window.
		if err := s.PaidOrders(ctx, to.Add(time.Hour), to.Add(2*time.Hour), func(o trade.Order) error {
			return fmt.Errorf("%s", o.OutTradeNo)
		}); err != nil {
			t.Fatal(err)
		}
	})
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func cmpKeys(paidA, paidB time.Time, noA, noB string) int {
	if c := paidA.Compare(paidB); c != 0 {
		return c
	}
	return strings.Compare(noA, noB)
}

func TestOrdersAndRefundsByNo(t *testing.T) {
	eachBackend(t, func(t *testing.T, s trade.Store) {
		for _, no := range []string{"BN000001", "BN000002", "BN000003"} {
			mustCreate(t, s, newOrder(no, "o1", "", 100))
		}
		mustPay(t, s, "BN000001")
		mustReserve(t, s, "BN000001", "BN-r1", 10)
		mustReserve(t, s, "BN000001", "BN-r2", 20)

		got, err := s.OrdersByNo(ctx, nil)
		if err != nil || len(got) != 0 {
			t.Fatalf("none: %v %v", got, err)
		}
		// Unknown numbers, a number twice, and the lengths that pad.
		for _, nos := range [][]string{
			{"BN000001"},
			{"BN000003", "BN404", "BN000001"},
			{"BN000001", "BN000001", "BN000002", "BN405", "BN000003"},
			append(slices.Repeat([]string{"BN406"}, maxByNo-3), "BN000003", "BN000002", "BN000001"),
		} {
			got, err := s.OrdersByNo(ctx, nos)
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]trade.Order{}
			for _, no := range nos {
				if o, err := s.Order(ctx, no); err == nil {
					want[no] = o
				}
			}
			if len(want) == 0 || !reflect.DeepEqual(got, want) {
				t.Fatalf("%d numbers: %+v\nwant %+v", len(nos), got, want)
			}
		}
		if _, err := s.OrdersByNo(ctx, make([]string, maxByNo+1)); err == nil {
			t.Fatal("1001 numbers read")
		}

		refunds, err := s.RefundsByNo(ctx, []string{"BN-r2", "BN-r404", "BN-r1"})
		r1, _ := s.Refund(ctx, "BN-r1")
		r2, _ := s.Refund(ctx, "BN-r2")
		if err != nil || !reflect.DeepEqual(refunds, map[string]trade.Refund{"BN-r1": r1, "BN-r2": r2}) {
			t.Fatalf("%+v %v", refunds, err)
		}
		if _, err := s.RefundsByNo(ctx, make([]string, maxByNo+1)); err == nil {
			t.Fatal("1001 numbers read")
		}
	})
}

// A fix is visible wherever the order or refund is read, and belongs to the
// first day that made it.
func TestMarkFixed(t *testing.T) {
	eachBackend(t, func(t *testing.T, s trade.Store) {
		mustCreate(t, s, newOrder("MF000001", "o1", "", 100))
		mustPay(t, s, "MF000001")
		mustReserve(t, s, "MF000001", "MF-r1", 10)
		mustReserve(t, s, "MF000001", "MF-r2", 10)
		mustCreate(t, s, newOrder("MF000002", "o1", "", 100))

		orderFixedOn := func() []string {
			o, _ := s.Order(ctx, "MF000001")
			byNo, _ := s.OrdersByNo(ctx, []string{"MF000001"})
			var paid string
			s.PaidOrders(ctx, paidAt, paidAt.Add(time.Second), func(o trade.Order) error { paid = o.FixedOn; return nil })
			return []string{o.FixedOn, byNo["MF000001"].FixedOn, paid}
		}
		refundFixedOn := func(no string) []string {
			r, _ := s.Refund(ctx, no)
			byNo, _ := s.RefundsByNo(ctx, []string{no})
			all, _ := s.Refunds(ctx, "MF000001")
			i := slices.IndexFunc(all, func(r trade.Refund) bool { return r.OutRefundNo == no })
			return []string{r.FixedOn, byNo[no].FixedOn, all[i].FixedOn}
		}
		none := []string{"", "", ""}
		if got := orderFixedOn(); !slices.Equal(got, none) {
			t.Fatalf("before: %q", got)
		}

		if err := s.MarkFixed(ctx, "2026-11-26", "MF000001", ""); err != nil {
			t.Fatal(err)
		}
		fixed := []string{"2026-11-26", "2026-11-26", "2026-11-26"}
		if got := orderFixedOn(); !slices.Equal(got, fixed) {
			t.Fatalf("order: %q", got)
		}
		if got := refundFixedOn("MF-r1"); !slices.Equal(got, none) {
			t.Fatalf("the order's fix marked its refund: %q", got)
		}
		if err := s.MarkFixed(ctx, "2026-11-26", "MF000001", "MF-r1"); err != nil {
			t.Fatal(err)
		}
		if got := refundFixedOn("MF-r1"); !slices.Equal(got, fixed) {
			t.Fatalf("refund: %q", got)
		}
		if got := refundFixedOn("MF-r2"); !slices.Equal(got, none) {
			t.Fatalf("another refund: %q", got)
		}
		if o, _ := s.Order(ctx, "MF000002"); o.FixedOn != "" {
			t.Fatalf("another order: %+v", o)
		}

		// Again, or by another day: the first day keeps it.
		for _, day := range []string{"2026-11-26", "2026-11-27"} {
			if err := s.MarkFixed(ctx, day, "MF000001", ""); err != nil {
				t.Fatal(err)
			}
			if err := s.MarkFixed(ctx, day, "MF000001", "MF-r1"); err != nil {
				t.Fatal(err)
			}
		}
		if got := append(orderFixedOn(), refundFixedOn("MF-r1")...); !slices.Equal(got, append(fixed, fixed...)) {
			t.Fatalf("after another day: %q", got)
		}

		for _, tt := range []struct{ no, refundNo string }{{"MF404", ""}, {"MF000001", "MF-r404"}, {"MF000002", "MF-r2"}} {
			if err := s.MarkFixed(ctx, "2026-11-26", tt.no, tt.refundNo); !errors.Is(err, trade.ErrNotFound) {
				t.Errorf("%s %s: %v", tt.no, tt.refundNo, err)
			}
		}
		if err := s.MarkFixed(ctx, "2026-11-2", "MF000002", ""); err == nil || errors.Is(err, trade.ErrNotFound) {
			t.Fatalf("a malformed day: %v", err)
		}
		if o, _ := s.Order(ctx, "MF000002"); o.FixedOn != "" {
			t.Fatalf("a malformed day stored: %+v", o)
		}
	})
}

func report(date string, status trade.ReconcileStatus, ds ...trade.Discrepancy) trade.Report {
	r := trade.Report{Date: date, Status: status, Discrepancies: ds}
	r.Payments.Count, r.Payments.TotalFee = 12, 6000
	r.Refunds.Count, r.Refunds.RefundFee = 1, 100
	return r
}

func reconciledEvent(t *testing.T, r trade.Report) *trade.Event {
	t.Helper()
	e, err := trade.NewReconciledEvent(r, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return &e
}

// A report is stored as saved, replaces the one before, and is a change
// (with its event) only when it differs from it.
func TestReconciliations(t *testing.T) {
	const day = "2026-11-29"
	retry := time.Date(2026, 11, 30, 10, 30, 0, 123456789, trade.ChinaTime)
	missed := trade.Discrepancy{Kind: trade.MissedPayment, OutTradeNo: "RC000001", Bill: "SUCCESS 1.80", Store: "NOTPAY", Fixed: true}
	unknown := trade.Discrepancy{Kind: trade.UnknownRefund, OutTradeNo: "RC000002", OutRefundNo: "RC-r1", Bill: "REFUND 1.00 \"<&>\" 退款"}
	saves := []struct {
		name    string
		r       trade.Reconciliation
		event   bool
		changed bool
	}{
		{"pending, first", trade.Reconciliation{Report: report(day, trade.ReconcilePending), RetryAt: retry}, true, true},
		{"pending again, later retry", trade.Reconciliation{Report: report(day, trade.ReconcilePending), RetryAt: retry.Add(30 * time.Minute)}, true, false},
		{"discrepancies", trade.Reconciliation{Report: report(day, trade.ReconcileDiscrepancies, missed, unknown)}, true, true},
		{"the same again", trade.Reconciliation{Report: report(day, trade.ReconcileDiscrepancies, missed, unknown)}, true, false},
		{"in another order", trade.Reconciliation{Report: report(day, trade.ReconcileDiscrepancies, unknown, missed)}, true, true},
		{"changed, no event", trade.Reconciliation{Report: report(day, trade.ReconcileMatched)}, false, true},
		{"matched again, with an empty list", trade.Reconciliation{Report: report(day, trade.ReconcileMatched, []trade.Discrepancy{}...)}, true, false},
	}
	eachBackend(t, func(t *testing.T, s trade.Store) {
		if _, err := s.Reconciliation(ctx, day); !errors.Is(err, trade.ErrNotFound) {
			t.Fatalf("unknown day: %v", err)
		}
		for _, save := range saves {
			var event *trade.Event
			if save.event {
				event = reconciledEvent(t, save.r.Report)
			}
			changed, err := s.SaveReconciliation(ctx, save.r, event)
			if err != nil || changed != save.changed {
				t.Fatalf("%s: changed %v, %v", save.name, changed, err)
			}
			got, err := s.Reconciliation(ctx, day)
			want := save.r
			if want.Report.Discrepancies == nil {
				want.Report.Discrepancies = []trade.Discrepancy{}
			}
			want.RetryAt = want.RetryAt.Truncate(time.Microsecond)
			if err != nil || !reflect.DeepEqual(got.Report, want.Report) || !got.RetryAt.Equal(want.RetryAt) {
				t.Fatalf("%s:\n%+v %v\nwant %+v", save.name, got, err, want)
			}
			var status string
			s.(*sqlStore).db.QueryRow(`SELECT status FROM reconciliations WHERE day = ?`, day).Scan(&status)
			if status != string(save.r.Report.Status) {
				t.Fatalf("%s: status %q", save.name, status)
			}
			if event == nil {
				continue
			}
			e, err := s.Event(ctx, event.ID)
			switch {
			case save.changed && (err != nil || e.Type != trade.EventBillReconciled || string(e.Data) != string(event.Data)):
				t.Fatalf("%s: event %+v %v", save.name, e, err)
			case !save.changed && !errors.Is(err, trade.ErrNotFound):
				t.Fatalf("%s: an event without a change: %v", save.name, err)
			}
		}
		events, err := s.Events(ctx, "", 100)
		if err != nil || len(events) != 3 {
			t.Fatalf("%d events, want 3: %v", len(events), err)
		}

		// Another day is another row.
		other := trade.Reconciliation{Report: report("2026-11-28", trade.ReconcileNoBill)}
		if changed, err := s.SaveReconciliation(ctx, other, nil); !changed || err != nil {
			t.Fatal(changed, err)
		}
		if got, _ := s.Reconciliation(ctx, day); got.Report.Status != trade.ReconcileMatched {
			t.Fatalf("%+v", got)
		}
		if _, err := s.SaveReconciliation(ctx, trade.Reconciliation{Report: report("29/11/2026", trade.ReconcileMatched)}, nil); err == nil {
			t.Fatal("a malformed date saved")
		}
	})
}

// Of concurrent first saves of one report, one is the change and records
// its event; the others find it saved.
func TestConcurrentReconciliationSaves(t *testing.T) {
	eachBackend(t, func(t *testing.T, s trade.Store) {
		r := trade.Reconciliation{Report: report("2026-11-29", trade.ReconcileMatched)}
		changes := concurrently(t, func(int) (bool, error) {
			e, err := trade.NewReconciledEvent(r.Report, time.Now())
			if err != nil {
				return false, err
			}
			return s.SaveReconciliation(ctx, r, &e)
		})
		events, err := s.Events(ctx, "", 100)
		if changes != 1 || err != nil || len(events) != 1 || events[0].Type != trade.EventBillReconciled {
			t.Fatalf("%d changes, %d events: %v", changes, len(events), err)
		}
	})
}
