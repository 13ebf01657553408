package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/store/storetest"
)

// eachBackend runs the test against SQLite and MySQL (see storetest).
func eachBackend(t *testing.T, test func(t *testing.T, s Store)) {
	t.Run("sqlite", func(t *testing.T) {
		s, err := Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "wxpay.db"), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		test(t, s)
	})
	t.Run("mysql", func(t *testing.T) {
		s, err := Open(context.Background(), storetest.MySQLDSN(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		for _, table := range []string{"orders", "refunds", "notifications"} {
			if _, err := s.(*sqlStore).db.Exec("DELETE FROM " + table); err != nil {
				t.Fatal(err)
			}
		}
		test(t, s)
	})
}

var ctx = context.Background()

func newOrder(no, openid, requestID string, fee int64) Order {
	return Order{OutTradeNo: no, OpenID: openid, RequestID: requestID, TotalFee: fee, Description: "会员充值", Attach: "a=1"}
}

func mustCreate(t *testing.T, s Store, o Order) Order {
	t.Helper()
	got, created, err := s.CreateOrder(ctx, o)
	if err != nil || !created {
		t.Fatalf("create %s: %v %v", o.OutTradeNo, created, err)
	}
	return got
}

func TestOrders(t *testing.T) {
	eachBackend(t, func(t *testing.T, s Store) {
		created := mustCreate(t, s, newOrder("NO000001", "o1", "", 180))
		got, err := s.Order(ctx, "NO000001")
		if err != nil {
			t.Fatal(err)
		}
		if got != created || got.State != NotPay || got.TotalFee != 180 || got.Description != "会员充值" || got.CreatedAt.IsZero() || !got.PaidAt.IsZero() {
			t.Fatalf("got %+v\nwant %+v", got, created)
		}
		if _, err := s.Order(ctx, "NO404"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("unknown order: %v", err)
		}
		if err := s.SetPrepayID(ctx, "NO000001", "wx123"); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Order(ctx, "NO000001"); got.PrepayID != "wx123" {
			t.Fatalf("prepay_id %q", got.PrepayID)
		}
		if err := s.SetPrepayID(ctx, "NO404", "wx"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("prepay_id of an unknown order: %v", err)
		}
		// Orders without a request_id never collide.
		mustCreate(t, s, newOrder("NO000002", "o1", "", 180))
		if _, created, err := s.CreateOrder(ctx, newOrder("NO000001", "o2", "", 1)); created || err == nil {
			t.Fatalf("duplicate out_trade_no accepted: %v", err)
		}
	})
}

func TestRequestIDIsIdempotentPerUser(t *testing.T) {
	eachBackend(t, func(t *testing.T, s Store) {
		first := mustCreate(t, s, newOrder("REQ00001", "o1", "r-1", 180))
		again, created, err := s.CreateOrder(ctx, newOrder("REQ00002", "o1", "r-1", 999))
		if err != nil || created || again.OutTradeNo != first.OutTradeNo || again.TotalFee != 180 {
			t.Fatalf("same user, same request_id: %+v %v %v", again, created, err)
		}
		mustCreate(t, s, newOrder("REQ00003", "o2", "r-1", 180)) // another user's request_id never collides
		if _, err := s.Order(ctx, "REQ00002"); !errors.Is(err, ErrNotFound) {
			t.Fatal("the second order was inserted")
		}
		// Ten at once: one order.
		var nos sync.Map
		createdCount := concurrently(t, func(i int) (bool, error) {
			got, created, err := s.CreateOrder(ctx, newOrder(fmt.Sprintf("RACE%04d", i), "o3", "r-race", 5))
			nos.Store(got.OutTradeNo, true)
			return created, err
		})
		if n := mapLen(&nos); createdCount != 1 || n != 1 {
			t.Fatalf("%d created, %d order numbers", createdCount, n)
		}
	})
}

func TestTransitions(t *testing.T) {
	eachBackend(t, func(t *testing.T, s Store) {
		mustCreate(t, s, newOrder("TR000001", "o1", "", 180))
		paid := time.Date(2026, 11, 26, 17, 0, 0, 123456000, time.UTC)
		from, changed, err := s.Transition(ctx, "TR000001", Success, "4200000001", paid)
		if err != nil || !changed || from != NotPay {
			t.Fatalf("%s %v %v", from, changed, err)
		}
		o, _ := s.Order(ctx, "TR000001")
		if o.State != Success || o.TransactionID != "4200000001" || !o.PaidAt.Equal(paid) {
			t.Fatalf("%+v", o)
		}
		for _, to := range []State{Success, Closed, NotPay, PayError} {
			if from, changed, err := s.Transition(ctx, "TR000001", to, "", time.Time{}); err != nil || changed || from != Success {
				t.Errorf("SUCCESS → %s: %s %v %v", to, from, changed, err)
			}
		}
		if _, changed, _ := s.Transition(ctx, "TR000001", Refunded, "", time.Time{}); !changed {
			t.Error("SUCCESS → REFUND refused")
		}
		if o, _ := s.Order(ctx, "TR000001"); o.TransactionID != "4200000001" || !o.PaidAt.Equal(paid) {
			t.Errorf("a later transition lost the payment: %+v", o)
		}
		if _, _, err := s.Transition(ctx, "TR404", Success, "", time.Time{}); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown order: %v", err)
		}
		// Ten identical changes at once: exactly one happens.
		mustCreate(t, s, newOrder("TR000002", "o1", "", 180))
		changes := concurrently(t, func(int) (bool, error) {
			_, changed, err := s.Transition(ctx, "TR000002", Success, "4200000002", paid)
			return changed, err
		})
		if changes != 1 {
			t.Fatalf("%d changes", changes)
		}
	})
}

func TestRefundReservations(t *testing.T) {
	eachBackend(t, func(t *testing.T, s Store) {
		mustCreate(t, s, newOrder("RF000001", "o1", "", 100))
		refund := func(no string, fee int64) (Refund, bool, error) {
			return s.ReserveRefund(ctx, Refund{OutRefundNo: no, OutTradeNo: "RF000001", RefundFee: fee, Reason: "退货"})
		}
		if _, _, err := refund("R-unpaid", 10); !errors.Is(err, ErrNotPaid) {
			t.Fatalf("unpaid: %v", err)
		}
		if _, _, err := s.ReserveRefund(ctx, Refund{OutRefundNo: "R-x", OutTradeNo: "RF404", RefundFee: 1}); !errors.Is(err, ErrNotFound) {
			t.Fatalf("unknown order: %v", err)
		}
		s.Transition(ctx, "RF000001", Success, "42", time.Now())
		if _, _, err := refund("R-big", 101); !errors.Is(err, ErrExceedsPaid) {
			t.Fatalf("over the amount: %v", err)
		}
		r, created, err := refund("R-1", 30)
		if err != nil || !created || r.State != RefundProcessing {
			t.Fatalf("%+v %v %v", r, created, err)
		}
		// A retry with the same out_refund_no refunds once.
		if again, created, err := refund("R-1", 30); err != nil || created || again.OutRefundNo != "R-1" {
			t.Fatalf("retry: %+v %v %v", again, created, err)
		}
		if _, _, err := refund("R-1", 31); !errors.Is(err, ErrRefundMismatch) {
			t.Fatalf("reused out_refund_no: %v", err)
		}
		if o, _ := s.Order(ctx, "RF000001"); o.RefundedFee != 30 {
			t.Fatalf("reserved %d", o.RefundedFee)
		}
		// Ten refunds of 20 against the 70 left: three fit.
		ok := concurrently(t, func(i int) (bool, error) {
			_, _, err := refund(fmt.Sprintf("R-race-%d", i), 20)
			if errors.Is(err, ErrExceedsPaid) {
				return false, nil
			}
			return err == nil, err
		})
		if ok != 3 {
			t.Fatalf("%d of ten accepted, want 3", ok)
		}
		if o, _ := s.Order(ctx, "RF000001"); o.RefundedFee != 90 {
			t.Fatalf("reserved %d", o.RefundedFee)
		}
		// A closed refund gives its amount back; a successful one keeps it; each finishes once.
		var accepted string
		for i := 0; i < 10 && accepted == ""; i++ {
			if r, err := s.Refund(ctx, fmt.Sprintf("R-race-%d", i)); err == nil {
				accepted = r.OutRefundNo
			}
		}
		if changed, err := s.FinishRefund(ctx, accepted, RefundClosed, ""); !changed || err != nil {
			t.Fatalf("closing %q: %v %v", accepted, changed, err)
		}
		if o, _ := s.Order(ctx, "RF000001"); o.RefundedFee != 70 {
			t.Fatalf("closing left %d reserved, want 70", o.RefundedFee)
		}
		if changed, _ := s.FinishRefund(ctx, accepted, RefundSuccess, "x"); changed {
			t.Fatal("a finished refund changed again")
		}
		if changed, err := s.FinishRefund(ctx, "R-1", RefundSuccess, "50000001"); !changed || err != nil {
			t.Fatalf("%v %v", changed, err)
		}
		if r, _ := s.Refund(ctx, "R-1"); r.State != RefundSuccess || r.RefundID != "50000001" {
			t.Fatalf("%+v", r)
		}
		if _, err := s.Refund(ctx, "R-404"); !errors.Is(err, ErrNotFound) {
			t.Fatal(err)
		}
	})
}

func TestAdoptAndRecord(t *testing.T) {
	eachBackend(t, func(t *testing.T, s Store) {
		o := Order{OutTradeNo: "AD000001", OpenID: "o9", TotalFee: 5, Description: "", Attach: ""}
		if adopted, err := s.AdoptOrder(ctx, o); !adopted || err != nil {
			t.Fatal(adopted, err)
		}
		if adopted, err := s.AdoptOrder(ctx, o); adopted || err != nil {
			t.Fatal("adopted twice", err)
		}
		if got, _ := s.Order(ctx, "AD000001"); got.State != NotPay || got.OpenID != "o9" {
			t.Fatalf("%+v", got)
		}
		if err := s.RecordNotification(ctx, Notification{Kind: "payment", OutTradeNo: "AD000001", Fields: `{"a":"1"}`}); err != nil {
			t.Fatal(err)
		}
	})
}

func TestOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.db")
	for i := 0; i < 2; i++ { // the second open finds the schema in place
		s, err := Open(ctx, "sqlite:"+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
	s, _ := Open(ctx, "sqlite:"+path, nil)
	s.(*sqlStore).db.Exec(`INSERT INTO schema_version (version) VALUES (99)`)
	s.Close()
	if _, err := Open(ctx, "sqlite:"+path, nil); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("newer schema: %v", err)
	}
	for _, dsn := range []string{"", "postgres://x", "sqlite:", "mysql://", "mysql://u:p@host"} {
		if _, err := Open(ctx, dsn, nil); err == nil {
			t.Errorf("%q accepted", dsn)
		}
	}
	_, err := Open(ctx, "mysql://user:s3cret-pass@127.0.0.1:1/db", nil)
	if err == nil || strings.Contains(err.Error(), "s3cret-pass") {
		t.Fatalf("unreachable MySQL: %v", err)
	}
	cfg, err := mysqlConfig("mysql://u:p%40ss@db.internal/wxpay?tls=skip-verify")
	if err != nil || cfg.Passwd != "p@ss" || cfg.Addr != "db.internal:3306" || cfg.DBName != "wxpay" || cfg.Params["tls"] != "skip-verify" {
		t.Fatalf("%+v %v", cfg, err)
	}
}

func TestApplyNotification(t *testing.T) {
	eachBackend(t, func(t *testing.T, s Store) {
		mustCreate(t, s, newOrder("AN000001", "o1", "", 180))
		note := Notification{Kind: "payment", OutTradeNo: "AN000001", Fields: `{"transaction_id":"42"}`}
		paid := time.Date(2026, 11, 26, 17, 0, 0, 0, time.UTC)
		changes := concurrently(t, func(int) (bool, error) {
			from, changed, err := s.ApplyNotification(ctx, note, 180, Success, "42", paid)
			if err == nil && (changed && from != NotPay || !changed && from != Success) {
				err = fmt.Errorf("changed %v from %s", changed, from)
			}
			return changed, err
		})
		var recorded int
		s.(*sqlStore).db.QueryRow(`SELECT COUNT(*) FROM notifications WHERE out_trade_no = 'AN000001'`).Scan(&recorded)
		if changes != 1 || recorded != 10 {
			t.Fatalf("%d changes, %d recorded", changes, recorded)
		}
		if o, _ := s.Order(ctx, "AN000001"); o.State != Success || o.TransactionID != "42" || !o.PaidAt.Equal(paid) {
			t.Fatalf("%+v", o)
		}
		// Another amount, or an unknown order: nothing is recorded.
		if _, _, err := s.ApplyNotification(ctx, note, 1, Success, "42", paid); !errors.Is(err, ErrAmountMismatch) {
			t.Fatalf("another amount: %v", err)
		}
		if _, _, err := s.ApplyNotification(ctx, Notification{Kind: "payment", OutTradeNo: "AN404", Fields: "{}"}, 1, Success, "", time.Time{}); !errors.Is(err, ErrNotFound) {
			t.Fatalf("unknown order: %v", err)
		}
		s.(*sqlStore).db.QueryRow(`SELECT COUNT(*) FROM notifications WHERE out_trade_no = 'AN404'`).Scan(&recorded)
		if recorded != 0 {
			t.Fatal("a notification for an unknown order was recorded without its order")
		}
	})
}

// concurrently runs f ten times at once and counts the runs that report true.
func concurrently(t *testing.T, f func(i int) (bool, error)) int {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	n := 0
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := f(i)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Error(err)
			}
			if ok {
				n++
			}
		}()
	}
	wg.Wait()
	return n
}

func mapLen(m *sync.Map) int {
	n := 0
	m.Range(func(any, any) bool { n++; return true })
	return n
}
