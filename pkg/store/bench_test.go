//go:build unix

package store

import (
	"fmt"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/wxpay-scf/wxpay-scf/internal/benchcpu"
	"github.com/wxpay-scf/wxpay-scf/pkg/trade"
)

// A payment notification on the embedded store: the record, the change
// and its event in one transaction. On a new store, and on one that
// already holds 300,000 events (months of payments), whose indexes have
// outgrown SQLite's page cache.
func BenchmarkApplyNotification(b *testing.B) {
	for _, earlier := range []int{0, 300_000} {
		b.Run(fmt.Sprintf("earlier_events=%d", earlier), func(b *testing.B) {
			st, err := Open(ctx, "sqlite:"+filepath.Join(b.TempDir(), "wxpay.db"), nil)
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			s := st.(*sqlStore)
			// Delivered events, one a second until an hour ago, with ids
			// as NewEventID makes them.
			if _, err := s.db.ExecContext(ctx, `WITH RECURSIVE n(i, at) AS (SELECT 0, ? UNION ALL SELECT i + 1, at - 1 FROM n WHERE i < ?)
				INSERT INTO events (id, type, out_trade_no, data, created_at, state, attempts, delivered_at)
				SELECT 'evt_' || printf('%012x', at * 1000) || lower(hex(randomblob(12))), 'order.paid', printf('BA%08d', i),
					printf('%0450d', i), at * 1000000, 'delivered', 1, at * 1000000 FROM n WHERE i > 0`,
				time.Now().Add(-time.Hour).Unix(), earlier); err != nil {
				b.Fatal(err)
			}
			for i := range b.N {
				o := newOrder(fmt.Sprintf("BN%08d", i), "o1", fmt.Sprintf("cart-%d", i), 180)
				if _, _, err := s.CreateOrder(ctx, o); err != nil {
					b.Fatal(err)
				}
			}
			paid := time.Now()
			b.ReportAllocs()
			b.ResetTimer()
			stop := benchcpu.Start(b)
			for i := range b.N {
				no := fmt.Sprintf("BN%08d", i)
				n := trade.Notification{Kind: trade.PaymentNotification, OutTradeNo: no, Fields: `{"transaction_id":"4200000001"}`}
				if _, changed, err := s.ApplyNotification(ctx, n, 180, trade.Success, "4200000001", paid); !changed || err != nil {
					b.Fatal(changed, err)
				}
			}
			stop()
		})
	}
}

// The sweep's queries when nothing is due, on a store of 10,000 final
// orders (paid and closed) whose events were delivered, and their final
// refunds: what every timer tick costs while all is well.
func BenchmarkSweepNothingDue(b *testing.B) {
	s, err := Open(ctx, "sqlite:"+filepath.Join(b.TempDir(), "wxpay.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	now := time.Now()
	for i := range 10000 {
		no := fmt.Sprintf("SW%08d", i)
		o := newOrder(no, "o1", "", 180)
		o.ExpiresAt = now.Add(-time.Hour)
		if _, _, err := s.CreateOrder(ctx, o); err != nil {
			b.Fatal(err)
		}
		to := trade.Success
		if i%2 == 1 {
			to = trade.Closed
		}
		if _, _, err := s.Transition(ctx, no, to, "42", now); err != nil {
			b.Fatal(err)
		}
		if i%10 == 0 {
			s.ReserveRefund(ctx, trade.Refund{OutRefundNo: no + "-r", OutTradeNo: no, RefundFee: 10})
			s.FinishRefund(ctx, no+"-r", trade.RefundSuccess, "5000")
		}
	}
	events, err := s.Events(ctx, "", 20000)
	if err != nil {
		b.Fatal(err)
	}
	for _, e := range events {
		if err := s.SetDelivery(ctx, e.ID, trade.Delivery{State: trade.DeliveryDelivered, Attempts: 1, DeliveredAt: now}); err != nil {
			b.Fatal(err)
		}
	}
	// The first claim queues the events recorded above, once, as the
	// first sweep after a deploy would; every later one finds none new.
	if _, err := s.ClaimEvents(ctx, now, time.Minute, "", 100); err != nil {
		b.Fatal(err)
	}
	b.Run(fmt.Sprintf("orders=10000,events=%d", len(events)), func(b *testing.B) {
		b.ReportAllocs()
		stop := benchcpu.Start(b)
		for b.Loop() {
			at := time.Now()
			orders, err := s.DueOrders(ctx, at, at.Add(-time.Minute), 100)
			if err != nil || len(orders) != 0 {
				b.Fatal(len(orders), err)
			}
			refunds, err := s.DueRefunds(ctx, at, at.Add(-time.Minute), 100)
			if err != nil || len(refunds) != 0 {
				b.Fatal(len(refunds), err)
			}
			claimed, err := s.ClaimEvents(ctx, at, time.Minute, "", 100)
			if err != nil || len(claimed) != 0 {
				b.Fatal(len(claimed), err)
			}
		}
		stop()
	})
}

// benchDay opens an embedded store holding a day of 100,000 paid orders,
// one every 0.864 s; nos are their numbers in another order than their
// payment times, as a bill's rows come.
func benchDay(b *testing.B) (s trade.Store, day time.Time, nos []string) {
	s, err := Open(ctx, "sqlite:"+filepath.Join(b.TempDir(), "wxpay.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	const n = 100000
	day = time.Date(2026, 11, 29, 0, 0, 0, 0, trade.ChinaTime)
	insertPaid(b, s, n, func(i int) (string, time.Time) {
		return fmt.Sprintf("BD%08d", i), day.Add(time.Duration(i) * 864 * time.Millisecond)
	})
	for i := range n {
		nos = append(nos, fmt.Sprintf("BD%08d", i*7919%n))
	}
	return s, day, nos
}

// OrdersByNo as reconciliation calls it: the numbers of 1000 bill rows a
// call, against 100,000 orders.
func BenchmarkOrdersByNo(b *testing.B) {
	s, _, nos := benchDay(b)
	b.ReportAllocs()
	defer benchcpu.Start(b)()
	i := 0
	for b.Loop() {
		batch := nos[i*maxByNo%len(nos):][:maxByNo]
		if got, err := s.OrdersByNo(ctx, batch); err != nil || len(got) != maxByNo {
			b.Fatal(len(got), err)
		}
		i++
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/1000-orders")
}

// A day of 100,000 paid orders read through PaidOrders. peak-heap-MB,
// sampled every 10,000 orders, stays far below what 100,000 orders held at
// once would take.
func BenchmarkPaidOrders(b *testing.B) {
	s, day, _ := benchDay(b)
	var peak uint64
	b.ReportAllocs()
	defer benchcpu.Start(b)()
	for b.Loop() {
		n := 0
		err := s.PaidOrders(ctx, day, day.Add(24*time.Hour), func(trade.Order) error {
			if n++; n%10000 == 0 {
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				peak = max(peak, m.HeapAlloc)
			}
			return nil
		})
		if err != nil || n != 100000 {
			b.Fatal(n, err)
		}
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
}
