//go:build unix

package store

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/wxpay-scf/wxpay-scf/internal/benchcpu"
	"github.com/wxpay-scf/wxpay-scf/pkg/trade"
)

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
	stop := benchcpu.Start(b)
	for i := range b.N {
		no := fmt.Sprintf("BN%08d", i)
		n := trade.Notification{Kind: trade.PaymentNotification, OutTradeNo: no, Fields: `{"transaction_id":"4200000001"}`}
		if _, changed, err := s.ApplyNotification(ctx, n, 180, trade.Success, "4200000001", paid); !changed || err != nil {
			b.Fatal(changed, err)
		}
	}
	stop()
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
