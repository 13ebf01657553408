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
	"github.com/wxpay-scf/wxpay-scf/pkg/trade"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// eachBackend runs the test against SQLite and MySQL, each in a new
// database of the test's own (see storetest), so no test empties a table
// and -count=N runs again.
func eachBackend(t *testing.T, test func(t *testing.T, s trade.Store)) {
	t.Run("sqlite", func(t *testing.T) {
		test(t, mustOpen(t, "sqlite:"+filepath.Join(t.TempDir(), "wxpay.db")))
	})
	t.Run("mysql", func(t *testing.T) {
		test(t, mustOpen(t, storetest.FreshMySQLDSN(t)))
	})
}

// mustOpen opens the store dsn names, closed when the test ends.
func mustOpen(t *testing.T, dsn string) trade.Store {
	t.Helper()
	s, err := Open(ctx, dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var ctx = context.Background()

func newOrder(no, openid, requestID string, fee int64) trade.Order {
	return trade.Order{OutTradeNo: no, OpenID: openid, RequestID: requestID, TotalFee: fee, Description: "会员充值", Attach: "a=1"}
}

func mustCreate(t *testing.T, s trade.Store, o trade.Order) trade.Order {
	t.Helper()
	got, created, err := s.CreateOrder(ctx, o)
	if err != nil || !created {
		t.Fatalf("create %s: %v %v", o.OutTradeNo, created, err)
	}
	return got
}

func TestOrders(t *testing.T) {
	eachBackend(t, func(t *testing.T, s trade.Store) {
		created := mustCreate(t, s, newOrder("NO000001", "o1", "", 180))
		got, err := s.Order(ctx, "NO000001")
		if err != nil {
			t.Fatal(err)
		}
		if got != created || got.State != trade.NotPay || got.TotalFee != 180 || got.Description != "会员充值" || got.CreatedAt.IsZero() || !got.PaidAt.IsZero() {
			t.Fatalf("got %+v\nwant %+v", got, created)
		}
		if _, err := s.Order(ctx, "NO404"); !errors.Is(err, trade.ErrNotFound) {
			t.Fatalf("unknown order: %v", err)
		}
		if err := s.SetPrepayID(ctx, "NO000001", "wx123"); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Order(ctx, "NO000001"); got.PrepayID != "wx123" {
			t.Fatalf("prepay_id %q", got.PrepayID)
		}
		if err := s.SetPrepayID(ctx, "NO404", "wx"); !errors.Is(err, trade.ErrNotFound) {
			t.Fatalf("prepay_id of an unknown order: %v", err)
		}
		s.Transition(ctx, "NO000001", trade.Closed, "", time.Time{})
		if err := s.SetPrepayID(ctx, "NO000001", "wx-late"); !errors.Is(err, trade.ErrOrderFinal) {
			t.Fatalf("prepay_id of a closed order: %v", err)
		}
		if got, _ := s.Order(ctx, "NO000001"); got.PrepayID != "wx123" {
			t.Fatalf("prepay_id %q", got.PrepayID)
		}
		// Orders without a request_id never collide.
		mustCreate(t, s, newOrder("NO000002", "o1", "", 180))
		if _, created, err := s.CreateOrder(ctx, newOrder("NO000001", "o2", "", 1)); created || err == nil {
			t.Fatalf("duplicate out_trade_no accepted: %v", err)
		}
	})
}

func TestRequestIDIsIdempotentPerUser(t *testing.T) {
	eachBackend(t, func(t *testing.T, s trade.Store) {
		first := mustCreate(t, s, newOrder("REQ00001", "o1", "r-1", 180))
		again, created, err := s.CreateOrder(ctx, newOrder("REQ00002", "o1", "r-1", 999))
		if err != nil || created || again.OutTradeNo != first.OutTradeNo || again.TotalFee != 180 {
			t.Fatalf("same user, same request_id: %+v %v %v", again, created, err)
		}
		mustCreate(t, s, newOrder("REQ00003", "o2", "r-1", 180)) // another user's request_id never collides
		if _, err := s.Order(ctx, "REQ00002"); !errors.Is(err, trade.ErrNotFound) {
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
	eachBackend(t, func(t *testing.T, s trade.Store) {
		mustCreate(t, s, newOrder("TR000001", "o1", "", 180))
		paid := time.Date(2026, 11, 26, 17, 0, 0, 123456000, time.UTC)
		from, changed, err := s.Transition(ctx, "TR000001", trade.Success, "4200000001", paid)
		if err != nil || !changed || from != trade.NotPay {
			t.Fatalf("%s %v %v", from, changed, err)
		}
		o, _ := s.Order(ctx, "TR000001")
		if o.State != trade.Success || o.TransactionID != "4200000001" || !o.PaidAt.Equal(paid) {
			t.Fatalf("%+v", o)
		}
		for _, to := range []trade.State{trade.Success, trade.Closed, trade.NotPay, trade.PayError} {
			if from, changed, err := s.Transition(ctx, "TR000001", to, "", time.Time{}); err != nil || changed || from != trade.Success {
				t.Errorf("SUCCESS → %s: %s %v %v", to, from, changed, err)
			}
		}
		if _, changed, _ := s.Transition(ctx, "TR000001", trade.Refunded, "", time.Time{}); !changed {
			t.Error("SUCCESS → REFUND refused")
		}
		if o, _ := s.Order(ctx, "TR000001"); o.TransactionID != "4200000001" || !o.PaidAt.Equal(paid) {
			t.Errorf("a later transition lost the payment: %+v", o)
		}
		if _, _, err := s.Transition(ctx, "TR404", trade.Success, "", time.Time{}); !errors.Is(err, trade.ErrNotFound) {
			t.Errorf("unknown order: %v", err)
		}
		// Ten identical changes at once, of a closed order that was paid
		// after all: exactly one happens.
		mustCreate(t, s, newOrder("TR000002", "o1", "", 180))
		if _, changed, err := s.Transition(ctx, "TR000002", trade.Closed, "", time.Time{}); !changed || err != nil {
			t.Fatalf("NOTPAY → CLOSED: %v %v", changed, err)
		}
		changes := concurrently(t, func(int) (bool, error) {
			from, changed, err := s.Transition(ctx, "TR000002", trade.Success, "4200000002", paid)
			if err == nil && changed && from != trade.Closed {
				err = fmt.Errorf("changed from %s", from)
			}
			return changed, err
		})
		if changes != 1 {
			t.Fatalf("%d changes", changes)
		}
		if o, _ := s.Order(ctx, "TR000002"); o.State != trade.Success || o.TransactionID != "4200000002" {
			t.Fatalf("%+v", o)
		}
	})
}

func TestRefundReservations(t *testing.T) {
	eachBackend(t, func(t *testing.T, s trade.Store) {
		mustCreate(t, s, newOrder("RF000001", "o1", "", 100))
		refund := func(no string, fee int64) (trade.Refund, bool, error) {
			return s.ReserveRefund(ctx, trade.Refund{OutRefundNo: no, OutTradeNo: "RF000001", RefundFee: fee, Reason: "退货"})
		}
		if _, _, err := refund("R-unpaid", 10); !errors.Is(err, trade.ErrNotPaid) {
			t.Fatalf("unpaid: %v", err)
		}
		if _, _, err := s.ReserveRefund(ctx, trade.Refund{OutRefundNo: "R-x", OutTradeNo: "RF404", RefundFee: 1}); !errors.Is(err, trade.ErrNotFound) {
			t.Fatalf("unknown order: %v", err)
		}
		s.Transition(ctx, "RF000001", trade.Success, "42", time.Now())
		if _, _, err := refund("R-big", 101); !errors.Is(err, trade.ErrExceedsPaid) {
			t.Fatalf("over the amount: %v", err)
		}
		r, created, err := refund("R-1", 30)
		if err != nil || !created || r.State != trade.RefundProcessing {
			t.Fatalf("%+v %v %v", r, created, err)
		}
		// A retry with the same out_refund_no refunds once.
		if again, created, err := refund("R-1", 30); err != nil || created || again.OutRefundNo != "R-1" {
			t.Fatalf("retry: %+v %v %v", again, created, err)
		}
		if _, _, err := refund("R-1", 31); !errors.Is(err, trade.ErrRefundMismatch) {
			t.Fatalf("reused out_refund_no: %v", err)
		}
		if o, _ := s.Order(ctx, "RF000001"); o.RefundedFee != 30 {
			t.Fatalf("reserved %d", o.RefundedFee)
		}
		// Ten refunds of 20 against the 70 left: three fit.
		ok := concurrently(t, func(i int) (bool, error) {
			_, _, err := refund(fmt.Sprintf("R-race-%d", i), 20)
			if errors.Is(err, trade.ErrExceedsPaid) {
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
		if _, err := s.Refund(ctx, "R-404"); !errors.Is(err, trade.ErrNotFound) {
			t.Fatal(err)
		}
	})
}

// Retries of a refund, however many at once, are answered with the
// refund, never with an amount check that counts the refund's own
// reservation; retries of one that does not fit all hear so.
func TestConcurrentRetriesOfOneRefund(t *testing.T) {
	tests := []struct {
		fee      int64 // of the order's 100
		created  int
		reserved int64
		err      error
	}{
		{100, 1, 100, nil},
		{101, 0, 0, trade.ErrExceedsPaid},
	}
	eachBackend(t, func(t *testing.T, s trade.Store) {
		for i, tt := range tests {
			no := fmt.Sprintf("RR%06d", i)
			mustCreate(t, s, newOrder(no, "o1", "", 100))
			s.Transition(ctx, no, trade.Success, "42", time.Now())
			created := concurrently(t, func(int) (bool, error) {
				r, created, err := s.ReserveRefund(ctx, trade.Refund{OutRefundNo: no + "-r", OutTradeNo: no, RefundFee: tt.fee, Reason: "退货"})
				switch {
				case !errors.Is(err, tt.err):
					return false, fmt.Errorf("%d: %w", tt.fee, err)
				case err == nil && (r.OutRefundNo != no+"-r" || r.RefundFee != tt.fee || r.State != trade.RefundProcessing):
					return false, fmt.Errorf("%d: %+v", tt.fee, r)
				}
				return created, nil
			})
			if o, _ := s.Order(ctx, no); created != tt.created || o.RefundedFee != tt.reserved {
				t.Fatalf("%d: %d created, %d reserved", tt.fee, created, o.RefundedFee)
			}
		}
	})
}

func TestFinishRefund(t *testing.T) {
	tests := []struct {
		name     string
		steps    []trade.RefundState // applied in turn; the last must change the refund
		reserved int64               // of the order's 100, after the steps
	}{
		{"success keeps the amount", []trade.RefundState{trade.RefundSuccess}, 30},
		{"closed gives it back", []trade.RefundState{trade.RefundClosed}, 0},
		{"failed gives it back", []trade.RefundState{trade.RefundFailed}, 0},
		{"abnormal keeps it: the money still leaves", []trade.RefundState{trade.RefundAbnormal}, 30},
		{"abnormal, then finished by hand", []trade.RefundState{trade.RefundAbnormal, trade.RefundSuccess}, 30},
		{"abnormal, then closed", []trade.RefundState{trade.RefundAbnormal, trade.RefundClosed}, 0},
		{"failed, then WeChat Pay's word that it succeeded: reserved again", []trade.RefundState{trade.RefundFailed, trade.RefundSuccess}, 30},
		{"failed, then abnormal: the money still leaves", []trade.RefundState{trade.RefundFailed, trade.RefundAbnormal}, 30},
	}
	eachBackend(t, func(t *testing.T, s trade.Store) {
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				no := fmt.Sprintf("FR%06d", i)
				mustCreate(t, s, newOrder(no, "o1", "", 100))
				s.Transition(ctx, no, trade.Success, "42", time.Now())
				if _, _, err := s.ReserveRefund(ctx, trade.Refund{OutRefundNo: no + "-r", OutTradeNo: no, RefundFee: 30}); err != nil {
					t.Fatal(err)
				}
				from := trade.RefundProcessing
				for _, to := range tt.steps {
					// Ten at once: one changes it, and releases the amount once.
					changes := concurrently(t, func(int) (bool, error) {
						got, changed, err := s.FinishRefund(ctx, no+"-r", to, "50000001")
						if err == nil && changed && got != from {
							err = fmt.Errorf("changed from %s, want %s", got, from)
						}
						return changed, err
					})
					if changes != 1 {
						t.Fatalf("%s → %s: %d changes", from, to, changes)
					}
					from = to
				}
				r, _ := s.Refund(ctx, no+"-r")
				if r.State != from || r.RefundID != "50000001" || r.Accepted != (from != trade.RefundFailed) {
					t.Fatalf("%+v", r)
				}
				if o, _ := s.Order(ctx, no); o.RefundedFee != tt.reserved {
					t.Fatalf("%d reserved, want %d", o.RefundedFee, tt.reserved)
				}
				// Nor does any change its state does not allow.
				for _, to := range []trade.RefundState{trade.RefundProcessing, trade.RefundSuccess, trade.RefundClosed, trade.RefundAbnormal, trade.RefundFailed} {
					if from.CanBecome(to) {
						continue
					}
					if got, changed, err := s.FinishRefund(ctx, no+"-r", to, ""); changed || got != from || err != nil {
						t.Fatalf("%s → %s: %s %v %v", from, to, got, changed, err)
					}
				}
			})
		}
		if _, _, err := s.FinishRefund(ctx, "FR-404", trade.RefundSuccess, ""); !errors.Is(err, trade.ErrNotFound) {
			t.Fatalf("unknown refund: %v", err)
		}
	})
}

func TestAcceptRefund(t *testing.T) {
	eachBackend(t, func(t *testing.T, s trade.Store) {
		mustCreate(t, s, newOrder("AR000001", "o1", "", 100))
		s.Transition(ctx, "AR000001", trade.Success, "42", time.Now())
		s.ReserveRefund(ctx, trade.Refund{OutRefundNo: "AR-1", OutTradeNo: "AR000001", RefundFee: 10})
		if r, _ := s.Refund(ctx, "AR-1"); r.Accepted {
			t.Fatal("accepted before WeChat Pay answered")
		}
		for range 2 { // the second time changes nothing and is no error
			if err := s.AcceptRefund(ctx, "AR-1"); err != nil {
				t.Fatal(err)
			}
		}
		if r, _ := s.Refund(ctx, "AR-1"); !r.Accepted || r.State != trade.RefundProcessing {
			t.Fatalf("%+v", r)
		}
		if err := s.AcceptRefund(ctx, "AR-404"); !errors.Is(err, trade.ErrNotFound) {
			t.Fatalf("unknown refund: %v", err)
		}
	})
}

func TestAdoptAndRecord(t *testing.T) {
	eachBackend(t, func(t *testing.T, s trade.Store) {
		o := trade.Order{OutTradeNo: "AD000001", OpenID: "o9", TotalFee: 5, Description: "", Attach: ""}
		if adopted, err := s.AdoptOrder(ctx, o); !adopted || err != nil {
			t.Fatal(adopted, err)
		}
		if adopted, err := s.AdoptOrder(ctx, o); adopted || err != nil {
			t.Fatal("adopted twice", err)
		}
		if got, _ := s.Order(ctx, "AD000001"); got.State != trade.NotPay || got.OpenID != "o9" {
			t.Fatalf("%+v", got)
		}
		if err := s.RecordNotification(ctx, trade.Notification{Kind: trade.PaymentNotification, OutTradeNo: "AD000001", Fields: `{"a":"1"}`}); err != nil {
			t.Fatal(err)
		}
	})
}

func TestOpenRefuses(t *testing.T) {
	for _, dsn := range []string{"", "postgres://x", "sqlite:", "mysql://", "mysql://u:p@host", "mysql://u:p@:3306/db"} {
		if _, err := Open(ctx, dsn, nil); err == nil {
			t.Errorf("%q accepted", dsn)
		}
	}
	_, err := Open(ctx, "mysql://user:s3cret-pass@127.0.0.1:1/db", nil)
	if err == nil || strings.Contains(err.Error(), "s3cret-pass") {
		t.Fatalf("unreachable MySQL: %v", err)
	}
}

func TestApplyNotification(t *testing.T) {
	eachBackend(t, func(t *testing.T, s trade.Store) {
		mustCreate(t, s, newOrder("AN000001", "o1", "", 180))
		note := trade.Notification{Kind: trade.PaymentNotification, OutTradeNo: "AN000001", Fields: `{"transaction_id":"42"}`}
		paid := time.Date(2026, 11, 26, 17, 0, 0, 0, time.UTC)
		changes := concurrently(t, func(int) (bool, error) {
			from, changed, err := s.ApplyNotification(ctx, note, 180, trade.Success, "42", paid)
			if err == nil && (changed && from != trade.NotPay || !changed && from != trade.Success) {
				err = fmt.Errorf("changed %v from %s", changed, from)
			}
			return changed, err
		})
		var recorded int
		s.(*sqlStore).db.QueryRow(`SELECT COUNT(*) FROM notifications WHERE out_trade_no = 'AN000001'`).Scan(&recorded)
		if changes != 1 || recorded != 10 {
			t.Fatalf("%d changes, %d recorded", changes, recorded)
		}
		if o, _ := s.Order(ctx, "AN000001"); o.State != trade.Success || o.TransactionID != "42" || !o.PaidAt.Equal(paid) {
			t.Fatalf("%+v", o)
		}
		// Another amount, or an unknown order: nothing is recorded.
		if _, _, err := s.ApplyNotification(ctx, note, 1, trade.Success, "42", paid); !errors.Is(err, trade.ErrAmountMismatch) {
			t.Fatalf("another amount: %v", err)
		}
		if _, _, err := s.ApplyNotification(ctx, trade.Notification{Kind: trade.PaymentNotification, OutTradeNo: "AN404", Fields: "{}"}, 1, trade.Success, "", time.Time{}); !errors.Is(err, trade.ErrNotFound) {
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

// An order priced from the merchant's list keeps what was bought, for
// reads, request_id lookups and its events.
func TestOrderItem(t *testing.T) {
	eachBackend(t, func(t *testing.T, s trade.Store) {
		o := newOrder("NO000101", "o1", "cart-1", 3600)
		o.Item, o.Quantity = "vip-month", 2
		mustCreate(t, s, o)
		got, err := s.Order(ctx, "NO000101")
		if err != nil || got.Item != "vip-month" || got.Quantity != 2 {
			t.Fatalf("%+v %v", got, err)
		}
		again, created, err := s.CreateOrder(ctx, newOrder("NO000102", "o1", "cart-1", 1))
		if err != nil || created || again.Item != "vip-month" || again.Quantity != 2 {
			t.Fatalf("by request_id: %+v %v %v", again, created, err)
		}
		if _, _, err := s.Transition(ctx, "NO000101", trade.Success, "4200", time.Now()); err != nil {
			t.Fatal(err)
		}
		events, err := s.Events(ctx, "", 10)
		if err != nil || len(events) != 1 || !strings.Contains(string(events[0].Data), `"item":"vip-month","quantity":2`) {
			t.Fatalf("%v %v", events, err)
		}
	})
}
