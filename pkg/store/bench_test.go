//go:build unix

package store

import (
	"fmt"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/trade"
)

// cpuTime is the CPU time the process has used, user and system.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU adds the CPU time per operation since start, which is what SCF
// bills, beside the wall time.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime(b)-start)/float64(b.N), "cpu-ns/op")
}

// A payment notification on the embedded store: the record, the change
// and its event in one transaction.
func BenchmarkApplyNotification(b *testing.B) {
	s, err := Open(ctx, "sqlite:"+filepath.Join(b.TempDir(), "wxpay.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	for i := range b.N {
		o := newOrder(fmt.Sprintf("BN%08d", i), "o1", fmt.Sprintf("cart-%d", i), 180)
		if _, _, err := s.CreateOrder(ctx, o); err != nil {
			b.Fatal(err)
		}
	}
	paid := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	start := cpuTime(b)
	for i := range b.N {
		no := fmt.Sprintf("BN%08d", i)
		n := trade.Notification{Kind: trade.PaymentNotification, OutTradeNo: no, Fields: `{"transaction_id":"4200000001"}`}
		if _, changed, err := s.ApplyNotification(ctx, n, 180, trade.Success, "4200000001", paid); !changed || err != nil {
			b.Fatal(changed, err)
		}
	}
	reportCPU(b, start)
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
	b.Run(fmt.Sprintf("orders=10000,events=%d", len(events)), func(b *testing.B) {
		b.ReportAllocs()
		start := cpuTime(b)
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
		reportCPU(b, start)
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
	start := cpuTime(b)
	i := 0
	for b.Loop() {
		batch := nos[i*maxByNo%len(nos):][:maxByNo]
		if got, err := s.OrdersByNo(ctx, batch); err != nil || len(got) != maxByNo {
			b.Fatal(len(got), err)
		}
		i++
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/1000-orders")
	reportCPU(b, start)
}

// A day of 100,000 paid orders read through PaidOrders. peak-heap-MB,
// sampled every 10,000 orders, stays far below what 100,000 orders held at
// once would take.
func BenchmarkPaidOrders(b *testing.B) {
	s, day, _ := benchDay(b)
	var peak uint64
	b.ReportAllocs()
	start := cpuTime(b)
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
	reportCPU(b, start)
}
