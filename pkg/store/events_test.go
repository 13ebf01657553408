package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/store/storetest"
	"github.com/wxpay-scf/wxpay-scf/pkg/trade"
)

// paidAt is a payment time as WeChat Pay reports it, in whole seconds.
var paidAt = time.Date(2026, 11, 26, 17, 0, 42, 0, trade.ChinaTime)

// eventsOf returns the events of one order, in the order recorded.
func eventsOf(t *testing.T, s trade.Store, outTradeNo string) []trade.Event {
	t.Helper()
	all, err := s.Events(ctx, "", 10000)
	if err != nil {
		t.Fatal(err)
	}
	return slices.DeleteFunc(all, func(e trade.Event) bool { return e.OutTradeNo != outTradeNo })
}

func mustPay(t *testing.T, s trade.Store, no string) {
	t.Helper()
	if _, changed, err := s.Transition(ctx, no, trade.Success, "4200"+no, paidAt); !changed || err != nil {
		t.Fatalf("paying %s: %v %v", no, changed, err)
	}
}

func mustReserve(t *testing.T, s trade.Store, no, refundNo string, fee int64) {
	t.Helper()
	if _, _, err := s.ReserveRefund(ctx, trade.Refund{OutRefundNo: refundNo, OutTradeNo: no, RefundFee: fee, Reason: "退货"}); err != nil {
		t.Fatal(err)
	}
}

// Every change records its event once, however many identical calls make
// it at once; a change the merchant need not act on records none.
func TestOneEventPerChange(t *testing.T) {
	note := func(no string) trade.Notification {
		return trade.Notification{Kind: trade.PaymentNotification, OutTradeNo: no, Fields: `{"transaction_id":"4200` + no + `"}`}
	}
	tests := []struct {
		name   string
		setup  func(t *testing.T, s trade.Store, no string)
		change func(s trade.Store, no string) (bool, error)
		want   trade.EventType
	}{
		{"paid", nil, func(s trade.Store, no string) (bool, error) {
			_, changed, err := s.Transition(ctx, no, trade.Success, "4200"+no, paidAt)
			return changed, err
		}, trade.EventOrderPaid},
		{"paid by a notification", nil, func(s trade.Store, no string) (bool, error) {
			_, changed, err := s.ApplyNotification(ctx, note(no), 180, trade.Success, "4200"+no, paidAt)
			return changed, err
		}, trade.EventOrderPaid},
		{"closed", nil, func(s trade.Store, no string) (bool, error) {
			_, changed, err := s.Transition(ctx, no, trade.Closed, "", time.Time{})
			return changed, err
		}, trade.EventOrderClosed},
		{"payment failed", nil, func(s trade.Store, no string) (bool, error) {
			_, changed, err := s.Transition(ctx, no, trade.PayError, "", time.Time{})
			return changed, err
		}, trade.EventOrderClosed},
		{"user paying: nothing to act on", nil, func(s trade.Store, no string) (bool, error) {
			_, changed, err := s.Transition(ctx, no, trade.UserPaying, "", time.Time{})
			return changed, err
		}, ""},
		{"paid after close", func(t *testing.T, s trade.Store, no string) {
			s.Transition(ctx, no, trade.Closed, "", time.Time{})
		}, func(s trade.Store, no string) (bool, error) {
			_, changed, err := s.Transition(ctx, no, trade.Success, "4200"+no, paidAt)
			return changed, err
		}, trade.EventOrderPaid},
		{"paid after close, by a notification", func(t *testing.T, s trade.Store, no string) {
			s.Transition(ctx, no, trade.Closed, "", time.Time{})
		}, func(s trade.Store, no string) (bool, error) {
			_, changed, err := s.ApplyNotification(ctx, note(no), 180, trade.Success, "4200"+no, paidAt)
			return changed, err
		}, trade.EventOrderPaid},
		{"REFUND: the refund's own event tells", func(t *testing.T, s trade.Store, no string) {
			mustPay(t, s, no)
		}, func(s trade.Store, no string) (bool, error) {
			_, changed, err := s.Transition(ctx, no, trade.Refunded, "", time.Time{})
			return changed, err
		}, ""},
		{"refund succeeded", refundSetup, finishRefund(trade.RefundSuccess), trade.EventRefundSucceeded},
		{"refund closed", refundSetup, finishRefund(trade.RefundClosed), trade.EventRefundClosed},
		{"refund failed", refundSetup, finishRefund(trade.RefundFailed), trade.EventRefundClosed},
		{"refund abnormal", refundSetup, finishRefund(trade.RefundAbnormal), trade.EventRefundAbnormal},
	}
	eachBackend(t, func(t *testing.T, s trade.Store) {
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				no := fmt.Sprintf("EV%06d", i)
				mustCreate(t, s, newOrder(no, "o-"+no, "cart-"+no, 180))
				if tt.setup != nil {
					tt.setup(t, s, no)
				}
				before := len(eventsOf(t, s, no))
				if changes := concurrently(t, func(int) (bool, error) { return tt.change(s, no) }); changes != 1 {
					t.Fatalf("%d changes", changes)
				}
				events := eventsOf(t, s, no)[before:]
				if tt.want == "" {
					if len(events) != 0 {
						t.Fatalf("events %+v", events)
					}
					return
				}
				if len(events) != 1 {
					t.Fatalf("%d events", len(events))
				}
				e := events[0]
				if e.Type != tt.want || !strings.HasPrefix(e.ID, "evt_") || e.CreatedAt.IsZero() ||
					e.Delivery != (trade.Delivery{State: trade.DeliveryPending, NextAttemptAt: e.CreatedAt}) {
					t.Fatalf("%+v", e)
				}
				if strings.HasPrefix(string(tt.want), "refund.") {
					checkRefundData(t, s, e, no+"-r")
				} else {
					checkOrderData(t, s, e, no)
				}
			})
		}
	})
}

func refundSetup(t *testing.T, s trade.Store, no string) {
	mustPay(t, s, no)
	mustReserve(t, s, no, no+"-r", 30)
}

func finishRefund(to trade.RefundState) func(trade.Store, string) (bool, error) {
	return func(s trade.Store, no string) (bool, error) {
		_, changed, err := s.FinishRefund(ctx, no+"-r", to, "5000"+no)
		return changed, err
	}
}

// checkOrderData checks that e's data is the order as stored, with its
// refunds, as the mini-program sees it plus openid, attach and request_id.
func checkOrderData(t *testing.T, s trade.Store, e trade.Event, no string) {
	t.Helper()
	o, err := s.Order(ctx, no)
	if err != nil {
		t.Fatal(err)
	}
	refunds, err := s.Refunds(ctx, no)
	if err != nil {
		t.Fatal(err)
	}
	var data struct {
		OutTradeNo    string      `json:"out_trade_no"`
		State         trade.State `json:"state"`
		TotalFee      int64       `json:"total_fee"`
		Description   string      `json:"description"`
		TransactionID string      `json:"transaction_id"`
		CreatedAt     *time.Time  `json:"created_at"`
		PaidAt        *time.Time  `json:"paid_at"`
		Refunds       []struct {
			OutRefundNo string            `json:"out_refund_no"`
			RefundFee   int64             `json:"refund_fee"`
			State       trade.RefundState `json:"state"`
		} `json:"refunds"`
		OpenID    string `json:"openid"`
		Attach    string `json:"attach"`
		RequestID string `json:"request_id"`
	}
	if err := json.Unmarshal(e.Data, &data); err != nil {
		t.Fatal(err)
	}
	paid := data.PaidAt != nil && data.PaidAt.Equal(o.PaidAt) || data.PaidAt == nil && o.PaidAt.IsZero()
	if data.OutTradeNo != no || e.OutTradeNo != no || data.State != o.State || data.TotalFee != o.TotalFee ||
		data.Description != o.Description || data.TransactionID != o.TransactionID || !paid ||
		data.CreatedAt == nil || !data.CreatedAt.Equal(o.CreatedAt.Truncate(time.Second)) ||
		data.OpenID != o.OpenID || data.Attach != o.Attach || data.RequestID != o.RequestID || len(data.Refunds) != len(refunds) {
		t.Fatalf("data %s\norder %+v", e.Data, o)
	}
	for i, r := range refunds {
		if got := data.Refunds[i]; got.OutRefundNo != r.OutRefundNo || got.RefundFee != r.RefundFee || got.State != r.State {
			t.Fatalf("refund %d: %+v, stored %+v", i, got, r)
		}
	}
}

// checkRefundData checks that e's data is the refund as stored.
func checkRefundData(t *testing.T, s trade.Store, e trade.Event, refundNo string) {
	t.Helper()
	r, err := s.Refund(ctx, refundNo)
	if err != nil {
		t.Fatal(err)
	}
	var data struct {
		OutRefundNo string            `json:"out_refund_no"`
		OutTradeNo  string            `json:"out_trade_no"`
		RefundFee   int64             `json:"refund_fee"`
		State       trade.RefundState `json:"state"`
		RefundID    string            `json:"refund_id"`
	}
	if err := json.Unmarshal(e.Data, &data); err != nil {
		t.Fatal(err)
	}
	if data.OutRefundNo != r.OutRefundNo || data.OutTradeNo != r.OutTradeNo || e.OutTradeNo != r.OutTradeNo ||
		data.RefundFee != r.RefundFee || data.State != r.State || data.RefundID != r.RefundID || r.RefundID == "" {
		t.Fatalf("data %s\nrefund %+v", e.Data, r)
	}
}

// A change that fails records no event, and a change whose event cannot
// be recorded does not happen.
func TestNoChangeNoEvent(t *testing.T) {
	eachBackend(t, func(t *testing.T, s trade.Store) {
		db := s.(*sqlStore).db
		mustCreate(t, s, newOrder("NE000001", "o1", "", 180))
		note := trade.Notification{Kind: trade.PaymentNotification, OutTradeNo: "NE000001", Fields: "{}"}
		if _, _, err := s.ApplyNotification(ctx, note, 1, trade.Success, "42", paidAt); !errors.Is(err, trade.ErrAmountMismatch) {
			t.Fatalf("another amount: %v", err)
		}
		if events := eventsOf(t, s, "NE000001"); len(events) != 0 {
			t.Fatalf("events %+v", events)
		}

		execAll(t, db, `ALTER TABLE events RENAME TO events_away`)
		calls := map[string]func() error{
			"transition": func() error { _, _, err := s.Transition(ctx, "NE000001", trade.Success, "42", paidAt); return err },
			"notification": func() error {
				_, _, err := s.ApplyNotification(ctx, note, 180, trade.Success, "42", paidAt)
				return err
			},
		}
		for name, call := range calls {
			if err := call(); err == nil {
				t.Errorf("%s: no error without the events table", name)
			}
		}
		execAll(t, db, `ALTER TABLE events_away RENAME TO events`)
		var notes int
		db.QueryRow(`SELECT COUNT(*) FROM notifications WHERE out_trade_no = 'NE000001'`).Scan(&notes)
		if o, _ := s.Order(ctx, "NE000001"); o.State != trade.NotPay || notes != 0 {
			t.Fatalf("the change happened without its event: %+v, %d notifications", o, notes)
		}
		if _, changed, err := s.ApplyNotification(ctx, note, 180, trade.Success, "42", paidAt); !changed || err != nil {
			t.Fatalf("%v %v", changed, err)
		}
	})
}

func TestEventsInTheOrderRecorded(t *testing.T) {
	eachBackend(t, func(t *testing.T, s trade.Store) {
		if events, err := s.Events(ctx, "", 10); err != nil || len(events) != 0 {
			t.Fatalf("%+v %v", events, err)
		}
		var want []string
		for i := range 3 {
			no := fmt.Sprintf("EO%06d", i)
			mustCreate(t, s, newOrder(no, "o1", "", 180))
			mustPay(t, s, no)
			bill := trade.Event{Type: trade.EventBillReconciled, Data: json.RawMessage(`{"date":"2026-11-29"}`)}
			if _, err := addEvent(s, bill); err != nil {
				t.Fatal(err)
			}
			want = append(want, no, "")
		}
		var got []string
		var seq int64
		after := ""
		for {
			page, err := s.Events(ctx, after, 4)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			for _, e := range page {
				if e.Seq <= seq {
					t.Fatalf("seq %d after %d", e.Seq, seq)
				}
				seq = e.Seq
				got = append(got, e.OutTradeNo)
			}
			after = page[len(page)-1].ID
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%q, want %q", got, want)
		}
		if _, err := s.Events(ctx, "evt_404", 10); !errors.Is(err, trade.ErrNotFound) {
			t.Fatalf("unknown afterID: %v", err)
		}
	})
}

func TestAddEventAndDelivery(t *testing.T) {
	eachBackend(t, func(t *testing.T, s trade.Store) {
		created := time.Date(2026, 11, 30, 10, 0, 0, 123456789, time.UTC)
		in := trade.Event{ID: "evt_0123456789abcdef01234567", Type: trade.EventBillReconciled,
			Data: json.RawMessage(`{"date":"2026-11-29","status":"MATCHED"}`), CreatedAt: created}
		id, err := addEvent(s, in)
		if err != nil || !strings.HasPrefix(id, in.ID) {
			t.Fatalf("recorded as %q: %v", id, err)
		}
		// An id is never recorded twice: SQLite makes it unique with the
		// event's seq, MySQL refuses it.
		if again, err := addEvent(s, in); err == nil && again == id {
			t.Fatalf("%q recorded twice", id)
		}
		in.ID = id
		// Another id with the same seq is not this event's.
		other := []byte(id)
		other[4] ^= 1
		if _, err := s.Event(ctx, string(other)); !errors.Is(err, trade.ErrNotFound) {
			t.Fatalf("%s: %v", other, err)
		}
		e, err := s.Event(ctx, in.ID)
		want := trade.Delivery{State: trade.DeliveryPending, NextAttemptAt: created.Truncate(time.Microsecond)}
		if err != nil || e.Type != in.Type || string(e.Data) != string(in.Data) || e.OutTradeNo != "" ||
			!e.CreatedAt.Equal(created.Truncate(time.Microsecond)) || !e.Delivery.NextAttemptAt.Equal(want.NextAttemptAt) ||
			e.Delivery.State != want.State || e.Seq == 0 {
			t.Fatalf("%+v %v", e, err)
		}
		if _, err := s.Event(ctx, "evt_404"); !errors.Is(err, trade.ErrNotFound) {
			t.Fatal(err)
		}

		long := strings.Repeat("é", maxLastError) // cut inside a character
		deliveries := []trade.Delivery{
			{State: trade.DeliveryPending, Attempts: 1, LastError: "HTTP 502", NextAttemptAt: created.Add(time.Minute)},
			{State: trade.DeliveryFailed, Attempts: 9, LastError: long, NextAttemptAt: created.Add(72 * time.Hour)},
			{State: trade.DeliveryDelivered, Attempts: 10, DeliveredAt: created.Add(80 * time.Hour)},
		}
		for _, d := range deliveries {
			if err := s.SetDelivery(ctx, in.ID, d); err != nil {
				t.Fatal(err)
			}
			got, _ := s.Event(ctx, in.ID)
			if d.LastError == long {
				d.LastError = strings.Repeat("é", maxLastError/2)
			}
			g := got.Delivery
			if g.State != d.State || g.Attempts != d.Attempts || g.LastError != d.LastError ||
				!g.NextAttemptAt.Equal(d.NextAttemptAt.Truncate(time.Microsecond)) || !g.DeliveredAt.Equal(d.DeliveredAt.Truncate(time.Microsecond)) {
				t.Fatalf("%+v, want %+v", g, d)
			}
		}
		if err := s.SetDelivery(ctx, "evt_404", deliveries[0]); !errors.Is(err, trade.ErrNotFound) {
			t.Fatal(err)
		}
		if err := s.SetDelivery(ctx, in.ID, trade.Delivery{State: "lost"}); err == nil {
			t.Fatal("an unknown delivery state stored")
		}
	})
}

// An id that carries its seq has one spelling: the seq in capitals names
// no event.
func TestEventIDsHaveOneSpelling(t *testing.T) {
	s := mustOpen(t, "sqlite:"+filepath.Join(t.TempDir(), "wxpay.db"))
	var id string
	for range 11 { // the 11th has seq b
		var err error
		if id, err = addEvent(s, trade.Event{Type: trade.EventBillReconciled, Data: json.RawMessage(`{}`)}); err != nil {
			t.Fatal(err)
		}
	}
	if !strings.HasSuffix(id, "000000000000000b") {
		t.Fatalf("id %s", id)
	}
	if _, err := s.Event(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Event(ctx, strings.TrimSuffix(id, "b")+"B"); !errors.Is(err, trade.ErrNotFound) {
		t.Fatal(err)
	}
}

func ids(events []trade.Event) []string {
	return keys(events, func(e trade.Event) string { return e.ID })
}

// An order's events are claimed one at a time, in the order they
// happened; events of no order are independent of each other; a claim
// holds an event until its lease runs out or its outcome is recorded.
func TestClaimEvents(t *testing.T) {
	eachBackend(t, func(t *testing.T, s trade.Store) {
		// Order A: paid, then two refunds finish; order B: paid; two bills.
		mustCreate(t, s, newOrder("CLAIM-A", "o1", "", 180))
		mustCreate(t, s, newOrder("CLAIM-B", "o1", "", 180))
		mustPay(t, s, "CLAIM-A")
		mustReserve(t, s, "CLAIM-A", "CLAIM-A-1", 10)
		mustReserve(t, s, "CLAIM-A", "CLAIM-A-2", 10)
		s.FinishRefund(ctx, "CLAIM-A-1", trade.RefundSuccess, "5001")
		mustPay(t, s, "CLAIM-B")
		s.FinishRefund(ctx, "CLAIM-A-2", trade.RefundClosed, "5002")
		for range 2 {
			addEvent(s, trade.Event{Type: trade.EventBillReconciled, Data: json.RawMessage(`{}`)})
		}
		all, _ := s.Events(ctx, "", 100)
		if len(all) != 6 {
			t.Fatalf("%d events", len(all))
		}
		a1, a2, b1, bill1, bill2 := all[0], all[1], all[2], all[4], all[5]
		a3 := all[3]
		now := time.Now()
		lease := 30 * time.Second
		claim := func(at time.Time, order string, limit int) []string {
			t.Helper()
			got, err := s.ClaimEvents(ctx, at, lease, order, limit)
			if err != nil {
				t.Fatal(err)
			}
			return ids(got)
		}
		if got, want := claim(now, "", 3), ids([]trade.Event{a1, b1, bill1}); !slices.Equal(got, want) {
			t.Fatalf("oldest first, one per order: %q, want %q", got, want)
		}
		if got, want := claim(now, "", 10), ids([]trade.Event{bill2}); !slices.Equal(got, want) {
			t.Fatalf("the rest: %q, want %q", got, want)
		}
		if got := claim(now.Add(lease-time.Second), "", 10); len(got) != 0 {
			t.Fatalf("claimed again under lease: %q", got)
		}
		if got := claim(now.Add(lease-time.Second), "CLAIM-B", 10); len(got) != 0 {
			t.Fatalf("B's claimed again under lease: %q", got)
		}
		// A's first is delivered: its second is next, and only then its third.
		if err := s.SetDelivery(ctx, a1.ID, trade.Delivery{State: trade.DeliveryDelivered, Attempts: 1, DeliveredAt: now}); err != nil {
			t.Fatal(err)
		}
		if got, want := claim(now, "CLAIM-A", 10), ids([]trade.Event{a2}); !slices.Equal(got, want) {
			t.Fatalf("A after its first: %q, want %q", got, want)
		}
		// A failed attempt keeps the order's place until it is due again.
		retry := now.Add(time.Minute)
		if err := s.SetDelivery(ctx, a2.ID, trade.Delivery{State: trade.DeliveryPending, Attempts: 1, LastError: "HTTP 500", NextAttemptAt: retry}); err != nil {
			t.Fatal(err)
		}
		if got := claim(now, "CLAIM-A", 10); len(got) != 0 {
			t.Fatalf("A before its retry: %q", got)
		}
		// Leases run out: what was claimed and never settled is due again.
		if got, want := claim(retry, "", 10), ids([]trade.Event{a2, b1, bill1, bill2}); !slices.Equal(got, want) {
			t.Fatalf("after the leases: %q, want %q", got, want)
		}
		// A failed event no longer holds its order back.
		s.SetDelivery(ctx, a2.ID, trade.Delivery{State: trade.DeliveryFailed, Attempts: 9, LastError: "gave up"})
		if got, want := claim(retry, "CLAIM-A", 10), ids([]trade.Event{a3}); !slices.Equal(got, want) {
			t.Fatalf("after a failed event: %q, want %q", got, want)
		}
	})
}

// An operator's redelivery leases one event whatever its state, unless
// another holds it.
func TestClaimEvent(t *testing.T) {
	eachBackend(t, func(t *testing.T, s trade.Store) {
		mustCreate(t, s, newOrder("CE000001", "o1", "", 180))
		mustPay(t, s, "CE000001")
		e := eventsOf(t, s, "CE000001")[0]
		now := time.Now()
		s.SetDelivery(ctx, e.ID, trade.Delivery{State: trade.DeliveryDelivered, Attempts: 1, DeliveredAt: now})
		got, ok, err := s.ClaimEvent(ctx, e.ID, now, time.Minute)
		if err != nil || !ok || got.ID != e.ID || got.Delivery.State != trade.DeliveryDelivered {
			t.Fatalf("%+v %v %v", got, ok, err)
		}
		if _, ok, err := s.ClaimEvent(ctx, e.ID, now.Add(time.Second), time.Minute); ok || err != nil {
			t.Fatalf("claimed under another's lease: %v %v", ok, err)
		}
		// Recording the outcome ends the lease.
		s.SetDelivery(ctx, e.ID, trade.Delivery{State: trade.DeliveryDelivered, Attempts: 2, DeliveredAt: now})
		if _, ok, err := s.ClaimEvent(ctx, e.ID, now.Add(time.Second), time.Minute); !ok || err != nil {
			t.Fatalf("after the outcome: %v %v", ok, err)
		}
		if _, _, err := s.ClaimEvent(ctx, "evt_404", now, time.Minute); !errors.Is(err, trade.ErrNotFound) {
			t.Fatal(err)
		}
	})
}

// Of claimers at once, each event goes to one, and an order's later event
// to none while its earlier one is held.
func TestConcurrentClaims(t *testing.T) {
	eachBackend(t, func(t *testing.T, s trade.Store) {
		var want []string
		for i := range 10 {
			no := fmt.Sprintf("CC%06d", i)
			mustCreate(t, s, newOrder(no, "o1", "", 180))
			mustPay(t, s, no)
			addEvent(s, trade.Event{Type: trade.EventBillReconciled, Data: json.RawMessage(`{}`)})
		}
		s.FinishRefund(ctx, "CC-none", trade.RefundSuccess, "") // nothing: a refund that does not exist
		mustReserve(t, s, "CC000000", "CC000000-r", 10)
		s.FinishRefund(ctx, "CC000000-r", trade.RefundSuccess, "5000")
		all, _ := s.Events(ctx, "", 100)
		for _, e := range all[:len(all)-1] {
			want = append(want, e.ID)
		}
		now := time.Now()
		var mu sync.Mutex
		var claimed []string
		concurrently(t, func(int) (bool, error) {
			for {
				got, err := s.ClaimEvents(ctx, now, time.Hour, "", 3)
				if err != nil || len(got) == 0 {
					return false, err
				}
				mu.Lock()
				claimed = append(claimed, ids(got)...)
				mu.Unlock()
			}
		})
		slices.Sort(claimed)
		slices.Sort(want)
		if !slices.Equal(claimed, want) {
			t.Fatalf("claimed %d: %q\nwant %d: %q", len(claimed), claimed, len(want), want)
		}
	})
}

// InnoDB numbers rows as they are inserted, not as they commit: a change
// that records an event waits until the one recording before it commits,
// so a reader of Events that has passed an event never misses an earlier
// one committing late.
func TestMySQLEventsCommitInTheOrderOfSeq(t *testing.T) {
	s := mustOpen(t, storetest.FreshMySQLDSN(t))
	mustCreate(t, s, newOrder("MQ000001", "o1", "", 180))
	tx, err := s.(*sqlStore).db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	var id int
	if err := tx.QueryRow(mysqlDialect.eventsLock).Scan(&id); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(insertEvent, "evt_first", false, trade.EventBillReconciled, "", "{}", 1, 1, 0); err != nil {
		t.Fatal(err)
	}
	pay := func(ctx context.Context) error {
		_, _, err := s.Transition(ctx, "MQ000001", trade.Success, "42", paidAt)
		return err
	}
	if err, took := timed(t, 300*time.Millisecond, pay); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("recorded beside an uncommitted event, after %v: %v", took, err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err, _ := timed(t, 5*time.Second, pay); err != nil {
		t.Fatal(err)
	}
	events, _ := s.Events(ctx, "", 10)
	if got := keys(events, func(e trade.Event) string { return e.OutTradeNo }); !slices.Equal(got, []string{"", "MQ000001"}) {
		t.Fatalf("%q", got)
	}
}

var eventDays atomic.Int32

// addEvent records e as the store records an event of no order: with a
// day's reconciliation (a new day each time, so that it is a change).
func addEvent(s trade.Store, e trade.Event) (string, error) {
	day := time.Date(2026, 1, 1, 0, 0, 0, 0, trade.ChinaTime).AddDate(0, 0, int(eventDays.Add(1))).Format(time.DateOnly)
	rep := trade.Report{Date: day, Status: trade.ReconcileMatched, Discrepancies: []trade.Discrepancy{}}
	_, err := s.SaveReconciliation(ctx, trade.Reconciliation{Report: rep}, &e)
	return e.ID, err
}

// An order's events are first delivered in the order they happened however
// its changes interleave: refunds of one order finishing at once each
// record their event after the one before (on SQLite, in the order's
// chain), and claims of the order yield them one at a time, oldest first.
func TestOrderEventsInOrderUnderConcurrentRefunds(t *testing.T) {
	eachBackend(t, func(t *testing.T, s trade.Store) {
		const no = "OQ000001"
		mustCreate(t, s, newOrder(no, "o1", "", 180))
		mustPay(t, s, no)
		for i := range 10 {
			mustReserve(t, s, no, fmt.Sprintf("%s-%d", no, i), 10)
		}
		states := []trade.RefundState{trade.RefundSuccess, trade.RefundClosed, trade.RefundAbnormal}
		if n := concurrently(t, func(i int) (bool, error) {
			_, changed, err := s.FinishRefund(ctx, fmt.Sprintf("%s-%d", no, i), states[i%3], "5000")
			return changed, err
		}); n != 10 {
			t.Fatalf("%d refunds finished", n)
		}
		want := ids(eventsOf(t, s, no))
		if len(want) != 11 {
			t.Fatalf("%d events", len(want))
		}
		now := time.Now()
		var got []string
		for range 12 {
			claimed, err := s.ClaimEvents(ctx, now, time.Minute, no, 10)
			if err != nil || len(claimed) > 1 {
				t.Fatalf("%q %v", ids(claimed), err)
			}
			if len(claimed) == 0 {
				break
			}
			got = append(got, claimed[0].ID)
			if err := s.SetDelivery(ctx, claimed[0].ID, trade.Delivery{State: trade.DeliveryDelivered, Attempts: 1, DeliveredAt: now}); err != nil {
				t.Fatal(err)
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("claimed %q\nwant %q", got, want)
		}
	})
}

// On SQLite recording an event writes no index entry: the sweep queues
// the pending events recorded since its last run, by a range of the
// table's key, before it reads the due ones; there are as many as one
// transaction can queue and more. An event recorded after the sweep is
// claimed by its order's first attempt without being queued, and its
// failed delivery is queued by the next sweep.
func TestSweepQueuesEventsRecordedSinceItsLastRun(t *testing.T) {
	s := mustOpen(t, "sqlite:"+filepath.Join(t.TempDir(), "wxpay.db")).(*sqlStore)
	const bulk = 2*queueBatch + 500
	if _, err := s.db.ExecContext(ctx, `WITH RECURSIVE n (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
		INSERT INTO events (id, type, out_trade_no, data, created_at, state, last_error, next_attempt_at)
		SELECT 'evt_bulk' || i, 'bill.reconciled', '', '{}', i, CASE WHEN i % 3 = 0 THEN 'delivered' ELSE 'pending' END, '', i FROM n`,
		bulk); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, newOrder("SQ000001", "o1", "", 180))
	mustPay(t, s, "SQ000001")
	queue := func() (through, queued, unqueued int64) {
		t.Helper()
		err := s.db.QueryRowContext(ctx, `SELECT (SELECT through_seq FROM event_queue),
			(SELECT COUNT(*) FROM events INDEXED BY events_queued WHERE state = 'pending' AND queued = 1),
			(SELECT COUNT(*) FROM events WHERE state = 'pending' AND queued = 0)`).Scan(&through, &queued, &unqueued)
		if err != nil {
			t.Fatal(err)
		}
		return through, queued, unqueued
	}
	pending := int64(bulk - bulk/3 + 1)
	if through, queued, unqueued := queue(); through != 0 || queued != 0 || unqueued != pending {
		t.Fatalf("before the sweep: through %d, %d queued, %d not", through, queued, unqueued)
	}
	now := time.Now()
	claimed, err := s.ClaimEvents(ctx, now, time.Minute, "", 3)
	if got := ids(claimed); err != nil || !slices.Equal(got, []string{"evt_bulk1", "evt_bulk2", "evt_bulk4"}) {
		t.Fatalf("%q %v", got, err)
	}
	if through, queued, unqueued := queue(); through != bulk+1 || queued != pending || unqueued != 0 {
		t.Fatalf("after the sweep: through %d, %d queued, %d not", through, queued, unqueued)
	}
	// Recorded after the sweep: its order's claim needs no queue.
	mustCreate(t, s, newOrder("SQ000002", "o1", "", 180))
	mustPay(t, s, "SQ000002")
	recent, err := s.Events(ctx, fmt.Sprintf("evt_bulk%d", bulk), 10)
	if err != nil || len(recent) != 2 || recent[1].OutTradeNo != "SQ000002" {
		t.Fatalf("%+v %v", recent, err)
	}
	e, now := recent[1], time.Now()
	if claimed, err := s.ClaimEvents(ctx, now, time.Minute, "SQ000002", 10); err != nil || !slices.Equal(ids(claimed), []string{e.ID}) {
		t.Fatalf("%q %v", ids(claimed), err)
	}
	retry := now.Add(time.Minute)
	if err := s.SetDelivery(ctx, e.ID, trade.Delivery{State: trade.DeliveryPending, Attempts: 1, LastError: "HTTP 500", NextAttemptAt: retry}); err != nil {
		t.Fatal(err)
	}
	for {
		claimed, err := s.ClaimEvents(ctx, retry, time.Minute, "", 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(claimed) == 0 {
			t.Fatalf("%s never claimed", e.ID)
		}
		if slices.Contains(ids(claimed), e.ID) {
			break
		}
	}
	if through, _, unqueued := queue(); through != int64(e.Seq) || unqueued != 0 {
		t.Fatalf("after the next sweep: through %d, %d not queued", through, unqueued)
	}
}

// An event made pending again by an operator's redelivery, behind the
// sweep's mark, still holds its order's later events back.
func TestEventPendingAgainHoldsBackItsOrder(t *testing.T) {
	eachBackend(t, func(t *testing.T, s trade.Store) {
		const no = "RV000001"
		mustCreate(t, s, newOrder(no, "o1", "", 180))
		mustPay(t, s, no)
		now := time.Now()
		first, err := s.ClaimEvents(ctx, now, time.Minute, no, 10)
		if err != nil || len(first) != 1 {
			t.Fatalf("%q %v", ids(first), err)
		}
		paid := first[0]
		if err := s.SetDelivery(ctx, paid.ID, trade.Delivery{State: trade.DeliveryDelivered, Attempts: 1, DeliveredAt: now}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.ClaimEvents(ctx, now, time.Minute, "", 10); err != nil { // a sweep passes it, delivered
			t.Fatal(err)
		}
		if _, ok, err := s.ClaimEvent(ctx, paid.ID, now, time.Minute); err != nil || !ok {
			t.Fatal(ok, err)
		}
		if err := s.SetDelivery(ctx, paid.ID, trade.Delivery{State: trade.DeliveryPending, Attempts: 2, LastError: "HTTP 500", NextAttemptAt: now}); err != nil {
			t.Fatal(err)
		}
		mustReserve(t, s, no, no+"-r", 10)
		if _, _, err := s.FinishRefund(ctx, no+"-r", trade.RefundSuccess, "5000"); err != nil {
			t.Fatal(err)
		}
		got, err := s.ClaimEvents(ctx, now.Add(time.Second), time.Minute, "", 10)
		if err != nil || !slices.Equal(ids(got), []string{paid.ID}) {
			t.Fatalf("the sweep claimed %q (%v), want only the order's earliest pending %q", ids(got), err, paid.ID)
		}
	})
}

// Sweeps at once beside changes keep the queue's mark true: a pending
// event is queued if and only if its seq is at most the mark, and every
// event is claimed in the end, each order's in the order recorded.
func TestConcurrentSweepsKeepTheQueueMark(t *testing.T) {
	s := mustOpen(t, "sqlite:"+filepath.Join(t.TempDir(), "wxpay.db")).(*sqlStore)
	var mu sync.Mutex
	claimed := map[string][]int64{}
	sweep := func() error {
		got, err := s.ClaimEvents(ctx, time.Now(), time.Hour, "", 7)
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		for _, e := range got {
			claimed[e.OutTradeNo] = append(claimed[e.OutTradeNo], e.Seq)
			if err := s.SetDelivery(ctx, e.ID, trade.Delivery{State: trade.DeliveryDelivered, Attempts: 1, DeliveredAt: time.Now()}); err != nil {
				return err
			}
		}
		return nil
	}
	concurrently(t, func(i int) (bool, error) {
		for j := range 20 {
			if i%2 == 0 {
				if err := sweep(); err != nil {
					return false, err
				}
				continue
			}
			no := fmt.Sprintf("CS%02d%04d", i, j)
			mustCreate(t, s, newOrder(no, "o1", "", 100))
			mustPay(t, s, no)
			mustReserve(t, s, no, no+"-a", 10)
			mustReserve(t, s, no, no+"-b", 10)
			if _, _, err := s.FinishRefund(ctx, no+"-a", trade.RefundSuccess, "1"); err != nil {
				return false, err
			}
			if _, _, err := s.FinishRefund(ctx, no+"-b", trade.RefundClosed, "2"); err != nil {
				return false, err
			}
		}
		return true, nil
	})
	var broken int64
	if err := s.db.QueryRow(`SELECT COUNT(*) FROM events, event_queue
		WHERE state = 'pending' AND queued <> (seq <= through_seq)`).Scan(&broken); err != nil || broken != 0 {
		t.Fatalf("%d pending events queued against the mark: %v", broken, err)
	}
	for range 100 {
		if err := sweep(); err != nil {
			t.Fatal(err)
		}
	}
	var pending int64
	if err := s.db.QueryRow(`SELECT COUNT(*) FROM events WHERE state = 'pending'`).Scan(&pending); err != nil || pending != 0 {
		t.Fatalf("%d events never claimed: %v", pending, err)
	}
	if len(claimed) != 5*20 {
		t.Fatalf("events of %d orders claimed", len(claimed))
	}
	for no, seqs := range claimed {
		if len(seqs) != 3 || !slices.IsSorted(seqs) {
			t.Errorf("%s: %v", no, seqs)
		}
	}
}

// A sweep short of time leaves the queue to the next one, without failing.
func TestSweepShortOfTimeLeavesTheQueue(t *testing.T) {
	s := mustOpen(t, "sqlite:"+filepath.Join(t.TempDir(), "wxpay.db")).(*sqlStore)
	mustCreate(t, s, newOrder("ST000001", "o1", "", 180))
	mustPay(t, s, "ST000001")
	short, cancel := context.WithTimeout(ctx, queueReserve/2)
	defer cancel()
	if claimed, err := s.ClaimEvents(short, time.Now(), time.Minute, "", 10); err != nil || len(claimed) != 0 {
		t.Fatalf("%q %v", ids(claimed), err)
	}
	if claimed, err := s.ClaimEvents(ctx, time.Now(), time.Minute, "", 10); err != nil || len(claimed) != 1 {
		t.Fatalf("the next sweep: %q %v", ids(claimed), err)
	}
}

// On MySQL a refund's outcome and a retry of its reservation lock the
// order's row and the refund's in the same order, and so never deadlock.
func TestMySQLFinishRefundBesideARetriedReservation(t *testing.T) {
	s := mustOpen(t, storetest.FreshMySQLDSN(t))
	for i := range 40 {
		no := fmt.Sprintf("DL%06d", i)
		mustCreate(t, s, newOrder(no, "o1", "", 100))
		mustPay(t, s, no)
		mustReserve(t, s, no, no+"-r", 10)
		to := []trade.RefundState{trade.RefundSuccess, trade.RefundClosed}[i%2]
		var wg sync.WaitGroup
		var finishErr, reserveErr error
		wg.Go(func() { _, _, finishErr = s.FinishRefund(ctx, no+"-r", to, "5000") })
		wg.Go(func() {
			_, _, reserveErr = s.ReserveRefund(ctx, trade.Refund{OutRefundNo: no + "-r", OutTradeNo: no, RefundFee: 10})
		})
		wg.Wait()
		if finishErr != nil || reserveErr != nil {
			t.Fatalf("%s to %s: finishing: %v; reserving again: %v", no, to, finishErr, reserveErr)
		}
	}
}
