package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/wxpay-scf/wxpay-scf/pkg/store/storetest"
	"github.com/wxpay-scf/wxpay-scf/pkg/trade"
)

// timed runs f under a context with deadline d and reports its error and
// how long it took; it fails the test if f is still running after 10 s.
func timed(t *testing.T, d time.Duration, f func(context.Context) error) (error, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- f(ctx) }()
	select {
	case err := <-done:
		return err, time.Since(start)
	case <-time.After(10 * time.Second):
		t.Fatal("the call outlived its deadline by far")
		return nil, 0
	}
}

// A COMMIT whose answer is lost ends with the call's deadline, and the
// connection it was on is never used again.
func TestCommitEndsByTheDeadline(t *testing.T) {
	dsn := storetest.FreshMySQLDSN(t)
	u, _ := url.Parse(dsn)
	relay := storetest.NewRelay(t, u.Host)
	s := mustOpen(t, relay.DSN(dsn))
	note := func(no string) trade.Notification {
		return trade.Notification{Kind: trade.PaymentNotification, OutTradeNo: no, Fields: "{}"}
	}
	paid := time.Date(2026, 11, 26, 17, 0, 0, 0, time.UTC)
	mustCreate(t, s, newOrder("CD000001", "o1", "", 180))

	relay.DropCommitReplies(true)
	err, took := timed(t, time.Second, func(ctx context.Context) error {
		_, _, err := s.ApplyNotification(ctx, note("CD000001"), 180, trade.Success, "42", paid)
		return err
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("after %v: %v", took, err)
	}
	t.Logf("a lost COMMIT answer ended after %v: %v", took, err)

	relay.DropCommitReplies(false)
	for i := range 5 {
		no := fmt.Sprintf("CD%06d", i+2)
		mustCreate(t, s, newOrder(no, "o1", "", 180))
		err, _ := timed(t, 5*time.Second, func(ctx context.Context) error {
			_, _, err := s.ApplyNotification(ctx, note(no), 180, trade.Success, "42", paid)
			return err
		})
		if err != nil {
			t.Fatalf("after the lost answer: %v", err)
		}
	}
}

// A call waits for a lock another process holds on the SQLite file no
// longer than its context allows, not busy_timeout's 10 s.
func TestSQLiteLockEndsByTheDeadline(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wxpay.db")
	dsn := "sqlite:" + path
	s := mustOpen(t, dsn)
	mustCreate(t, s, newOrder("LK000001", "o1", "", 180))
	s.Transition(ctx, "LK000001", trade.Success, "42", time.Now())
	// Let go of the file, as the store does when it discards a connection.
	conn, _ := s.(*sqlStore).db.Conn(ctx)
	discard(conn)
	conn.Close()

	other, err := sql.Open("sqlite", "file:"+path+"?_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	tx, err := other.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`UPDATE orders SET updated_at = 1`); err != nil {
		t.Fatal(err)
	}

	calls := []struct {
		name string
		call func(context.Context) error
	}{
		{"read", func(ctx context.Context) error { _, err := s.Order(ctx, "LK000001"); return err }},
		{"write", func(ctx context.Context) error { return s.SetPrepayID(ctx, "LK000001", "wx") }},
		{"transaction", func(ctx context.Context) error {
			_, _, err := s.ReserveRefund(ctx, trade.Refund{OutRefundNo: "LK-1", OutTradeNo: "LK000001", RefundFee: 1})
			return err
		}},
		{"open", func(ctx context.Context) error {
			s, err := Open(ctx, dsn, nil)
			if err == nil {
				s.Close()
			}
			return err
		}},
	}
	for _, c := range calls {
		err, took := timed(t, 300*time.Millisecond, c.call)
		var e *sqlite.Error
		busy := errors.As(err, &e) && e.Code()&0xff == sqlite3.SQLITE_BUSY
		if !errors.Is(err, context.DeadlineExceeded) && !busy || took > 5*time.Second {
			t.Errorf("%s: after %v: %v", c.name, took, err)
		}
		t.Logf("%s: after %v: %v", c.name, took, err)
	}
}

// On SQLite a statement inside a transaction runs without the driver's
// watch of its context, which is checked before each one instead: a
// transaction whose deadline passes between two statements stops at the
// next one and changes nothing.
func TestSQLiteTransactionStopsAtItsDeadline(t *testing.T) {
	s := mustOpen(t, "sqlite:"+filepath.Join(t.TempDir(), "wxpay.db")).(*sqlStore)
	mustCreate(t, s, newOrder("DL000001", "o1", "", 180))
	ctx, cancel := context.WithCancel(context.Background())
	err := s.inTx(ctx, "test", func(tx *sql.Tx) error {
		now := micros(time.Now())
		if _, err := s.txExec(ctx, tx, updateState, trade.Success, "42", "42", now, now, now, 0, "DL000001", trade.NotPay); err != nil {
			return err
		}
		cancel()
		// The statement itself refuses, not only the commit after it.
		_, err := s.txExec(ctx, tx, insertNotification, trade.PaymentNotification, "DL000001", "", "{}", now)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("a statement after the deadline: %v", err)
		}
		return err
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("after the deadline: %v", err)
	}
	if o, err := s.Order(context.Background(), "DL000001"); err != nil || o.State != trade.NotPay {
		t.Fatalf("%+v %v", o, err)
	}
}
