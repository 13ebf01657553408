package payment

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/bill"
	"github.com/wxpay-scf/wxpay-scf/pkg/trade"
)

var billDay = time.Date(2026, 11, 29, 0, 0, 0, 0, trade.ChinaTime)

// reconcileFixture is a store of orders and refunds and a gateway serving
// one bill, recording what the reconciliation changed.
type reconcileFixture struct {
	s       *Service
	g       *fakeGateway
	orders  map[string]trade.Order
	refunds map[string]trade.Refund
	saved   []trade.Reconciliation
	events  int
	fixed   []string
	changes *[]change
}

func newReconcile(billText func() ([]byte, error)) *reconcileFixture {
	f := &reconcileFixture{orders: map[string]trade.Order{}, refunds: map[string]trade.Refund{}}
	f.g = &fakeGateway{BillFn: func(_ context.Context, day time.Time, read func(io.Reader) error) error {
		if !day.Equal(billDay) {
			return errors.New("asked for another day")
		}
		b, err := billText()
		if err != nil {
			return err
		}
		return read(bytes.NewReader(b))
	}}
	st := &fakeStore{
		OrdersByNoFn: func(_ context.Context, nos []string) (map[string]trade.Order, error) {
			out := map[string]trade.Order{}
			for _, no := range nos {
				if o, ok := f.orders[no]; ok {
					out[no] = o
				}
			}
			return out, nil
		},
		RefundsByNoFn: func(_ context.Context, nos []string) (map[string]trade.Refund, error) {
			out := map[string]trade.Refund{}
			for _, no := range nos {
				if r, ok := f.refunds[no]; ok {
					out[no] = r
				}
			}
			return out, nil
		},
		PaidOrdersFn: func(_ context.Context, from, to time.Time, fn func(trade.Order) error) error {
			for _, o := range f.orders {
				if o.State.Paid() && !o.PaidAt.Before(from) && o.PaidAt.Before(to) {
					if err := fn(o); err != nil {
						return err
					}
				}
			}
			return nil
		},
		TransitionFn: func(_ context.Context, no string, to trade.State, tx string, at time.Time) (trade.State, bool, error) {
			o := f.orders[no]
			from := o.State
			o.State, o.TransactionID, o.PaidAt = to, tx, at
			f.orders[no] = o
			return from, true, nil
		},
		FinishRefundFn: func(_ context.Context, no string, to trade.RefundState, _ string) (trade.RefundState, bool, error) {
			r := f.refunds[no]
			from := r.State
			r.State = to
			f.refunds[no] = r
			return from, true, nil
		},
		RefundFn: func(_ context.Context, no string) (trade.Refund, error) { return f.refunds[no], nil },
		OrderFn:  func(_ context.Context, no string) (trade.Order, error) { return f.orders[no], nil },
		MarkFixedFn: func(_ context.Context, day, no, refundNo string) error {
			f.fixed = append(f.fixed, no+"/"+refundNo)
			if refundNo != "" {
				r := f.refunds[refundNo]
				r.FixedOn = day
				f.refunds[refundNo] = r
			} else {
				o := f.orders[no]
				o.FixedOn = day
				f.orders[no] = o
			}
			return nil
		},
		SaveReconciliationFn: func(_ context.Context, r trade.Reconciliation, e *trade.Event) (bool, error) {
			f.saved = append(f.saved, r)
			if e != nil {
				f.events++
			}
			return true, nil
		},
	}
	f.s, f.changes = newService(f.g, st)
	f.s.AppID, f.s.MchID = "wxapp", "1230000109"
	f.s.Now = func() time.Time { return billDay.Add(34 * time.Hour) }
	return f
}

func payRow(no string, fee int64, at time.Time) bill.Row {
	return bill.Row{TradeTime: at, AppID: "wxapp", MchID: "1230000109", TransactionID: "4200" + no, OutTradeNo: no,
		TradeState: "SUCCESS", TotalFee: fee, SettlementFee: fee}
}

func refundRow(no, refundNo string, fee int64, at time.Time) bill.Row {
	return bill.Row{TradeTime: at, AppID: "wxapp", MchID: "1230000109", TransactionID: "4200" + no, OutTradeNo: no,
		TradeState: "REFUND", RefundID: "5030" + refundNo, OutRefundNo: refundNo, RefundFee: fee, RefundState: "SUCCESS"}
}

func encoded(rows ...bill.Row) func() ([]byte, error) {
	return func() ([]byte, error) {
		var b bytes.Buffer
		err := bill.Encode(&b, bill.Current, rows)
		return b.Bytes(), err
	}
}

func paidOrder(no string, fee int64, at time.Time) trade.Order {
	return trade.Order{OutTradeNo: no, TotalFee: fee, State: trade.Success, PaidAt: at, CreatedAt: at.Add(-time.Minute)}
}

func kinds(rep *trade.Report) string {
	var out []string
	for _, d := range rep.Discrepancies {
		s := string(d.Kind) + ":" + d.OutTradeNo + d.OutRefundNo
		if d.Fixed {
			s += ":fixed"
		}
		out = append(out, s)
	}
	return strings.Join(out, ",")
}

func TestReconcileFindsEachKind(t *testing.T) {
	at := billDay.Add(10 * time.Hour)
	other := payRow("other-app", 500, at)
	other.AppID = "wxother"
	f := newReconcile(encoded(
		payRow("matched", 180, at),
		payRow("missed", 200, at),
		payRow("unconfirmed", 300, at),
		payRow("unknown", 400, at),
		payRow("wrong-amount", 999, at),
		other,
		refundRow("matched", "R-ok", 100, at),
		refundRow("matched", "R-missed", 50, at),
		refundRow("matched", "R-unknown", 10, at),
		refundRow("matched", "R-wrong", 20, at),
		refundRow("matched", "R-failed", 30, at),
	))
	f.orders["matched"] = paidOrder("matched", 180, at)
	f.orders["missed"] = trade.Order{OutTradeNo: "missed", TotalFee: 200, State: trade.NotPay}
	f.orders["unconfirmed"] = trade.Order{OutTradeNo: "unconfirmed", TotalFee: 300, State: trade.Closed}
	f.orders["wrong-amount"] = paidOrder("wrong-amount", 100, at)
	f.orders["not-in-bill"] = paidOrder("not-in-bill", 70, at)
	f.orders["yesterday"] = paidOrder("yesterday", 70, at.Add(-24*time.Hour))
	f.refunds["R-ok"] = trade.Refund{OutRefundNo: "R-ok", OutTradeNo: "matched", RefundFee: 100, State: trade.RefundSuccess}
	f.refunds["R-missed"] = trade.Refund{OutRefundNo: "R-missed", OutTradeNo: "matched", RefundFee: 50, State: trade.RefundProcessing}
	f.refunds["R-wrong"] = trade.Refund{OutRefundNo: "R-wrong", OutTradeNo: "matched", RefundFee: 25, State: trade.RefundSuccess}
	// Recorded failed, and taken by WeChat Pay after all.
	f.refunds["R-failed"] = trade.Refund{OutRefundNo: "R-failed", OutTradeNo: "matched", RefundFee: 30, State: trade.RefundFailed}
	f.g.QueryFn = func(_ context.Context, no string) (*Status, error) {
		if no == "missed" {
			return &Status{OutTradeNo: no, TradeState: "SUCCESS", TransactionID: "4200missed", TotalFee: 200, PaidAt: at}, nil
		}
		return &Status{OutTradeNo: no, TradeState: "CLOSED"}, nil // WeChat does not confirm the bill
	}
	f.g.QueryRefundFn = func(_ context.Context, no string) (*RefundStatus, error) {
		return &RefundStatus{OutRefundNo: no, OutTradeNo: "matched", RefundFee: f.refunds[no].RefundFee, State: trade.RefundSuccess}, nil
	}
	rep, err := f.s.Reconcile(context.Background(), billDay.Add(5*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	want := "AMOUNT_MISMATCH:wrong-amount,MISSED_PAYMENT:missed:fixed,MISSED_PAYMENT:unconfirmed,MISSED_REFUND:matchedR-failed:fixed,MISSED_REFUND:matchedR-missed:fixed," +
		"MISSING_IN_BILL:not-in-bill,REFUND_AMOUNT_MISMATCH:matchedR-wrong,UNKNOWN_ORDER:unknown,UNKNOWN_REFUND:matchedR-unknown"
	if got := kinds(rep); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	if rep.Status != trade.ReconcileDiscrepancies || rep.Date != "2026-11-29" || rep.Payments.Count != 5 || rep.Payments.TotalFee != 2079 ||
		rep.Refunds.Count != 5 || rep.Refunds.RefundFee != 210 {
		t.Fatalf("%+v", rep)
	}
	// Fixed only where a verified query confirmed the bill; the rest untouched.
	if f.orders["missed"].State != trade.Success || f.orders["unconfirmed"].State != trade.Closed || f.refunds["R-missed"].State != trade.RefundSuccess ||
		f.refunds["R-failed"].State != trade.RefundSuccess {
		t.Fatalf("%+v", f.orders)
	}
	if len(f.saved) != 1 || f.events != 1 || !f.saved[0].RetryAt.IsZero() {
		t.Fatalf("saved %+v, %d events", f.saved, f.events)
	}

	// The same day again: nothing changes twice, and the report is the same.
	again, err := f.s.Reconcile(context.Background(), billDay)
	if err != nil || kinds(again) != want || len(*f.changes) != 4 {
		t.Fatalf("%s %v; %d changes", kinds(again), err, len(*f.changes))
	}
}

func TestReconcileBadOrAbsentBills(t *testing.T) {
	at := billDay.Add(10 * time.Hour)
	lying := func() ([]byte, error) {
		var b bytes.Buffer
		w := bill.NewWriter(&b, bill.Current)
		w.Write(payRow("missed", 200, at))
		sum := w.Summary()
		sum.SettlementFee++
		err := w.Finish(sum)
		return b.Bytes(), err
	}
	for _, tc := range []struct {
		name   string
		bill   func() ([]byte, error)
		paid   bool // the store has a payment that day
		status trade.ReconcileStatus
		kinds  string
		retry  time.Duration // after now; 0 for done
		event  bool
	}{
		{"summary lies", lying, false, trade.ReconcileBillInvalid, "BILL_INVALID:", 24 * time.Hour, true},
		{"truncated", func() ([]byte, error) { b, err := encoded(payRow("missed", 200, at))(); return b[:len(b)-40], err }, false, trade.ReconcileBillInvalid, "BILL_INVALID:", 24 * time.Hour, true},
		{"not ready", func() ([]byte, error) { return nil, ErrBillNotReady }, false, trade.ReconcilePending, "", 30 * time.Minute, false},
		{"no bill, no payments", func() ([]byte, error) { return nil, ErrNoBill }, false, trade.ReconcileNoBill, "", 0, true},
		{"no bill, a payment", func() ([]byte, error) { return nil, ErrNoBill }, true, trade.ReconcileDiscrepancies, "MISSING_IN_BILL:paid", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newReconcile(tc.bill)
			f.orders["missed"] = trade.Order{OutTradeNo: "missed", TotalFee: 200, State: trade.NotPay}
			if tc.paid {
				f.orders["paid"] = paidOrder("paid", 70, at)
			}
			rep, err := f.s.Reconcile(context.Background(), billDay)
			if err != nil || rep.Status != tc.status || kinds(rep) != tc.kinds {
				t.Fatalf("%+v %v", rep, err)
			}
			// A bad bill changes nothing: no query, no fix.
			if f.orders["missed"].State != trade.NotPay || len(f.fixed) != 0 {
				t.Fatal("a bad bill changed the store")
			}
			if got := f.saved[0].RetryAt; tc.retry == 0 && !got.IsZero() || tc.retry != 0 && got.Sub(f.s.now()) != tc.retry {
				t.Fatalf("retry at %v", got)
			}
			if (f.events == 1) != tc.event {
				t.Fatalf("%d events", f.events)
			}
		})
	}
}

func TestSweepReconcilesYesterdayAfterTen(t *testing.T) {
	for _, tc := range []struct {
		name   string
		hour   time.Duration // China time of the sweep
		stored map[string]trade.Reconciliation
		want   []string
	}{
		{"before ten", 9 * time.Hour, nil, nil},
		{"after ten", 10*time.Hour + time.Minute, nil, []string{"2026-11-29"}},
		{"done", 11 * time.Hour, map[string]trade.Reconciliation{"2026-11-29": {}}, nil},
		{"not ready, retry due", 11 * time.Hour, map[string]trade.Reconciliation{"2026-11-29": {RetryAt: billDay.Add(24*time.Hour + 10*time.Hour + 30*time.Minute)}}, []string{"2026-11-29"}},
		{"not ready, not yet", 11 * time.Hour, map[string]trade.Reconciliation{"2026-11-29": {RetryAt: billDay.Add(35*time.Hour + time.Minute)}}, nil},
		{"invalid the day before, retried", 11 * time.Hour, map[string]trade.Reconciliation{"2026-11-29": {}, "2026-11-28": {RetryAt: billDay.Add(34 * time.Hour)}}, []string{"2026-11-28"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ran []string
			f := newSweep(nil, nil)
			f.st.DueOrdersFn = func(context.Context, time.Time, time.Time, int) ([]trade.Order, error) { return nil, nil }
			f.st.DueRefundsFn = func(context.Context, time.Time, time.Time, int) ([]trade.Refund, error) { return nil, nil }
			f.st.ReconciliationFn = func(_ context.Context, day string) (trade.Reconciliation, error) {
				if r, ok := tc.stored[day]; ok {
					return r, nil
				}
				return trade.Reconciliation{}, trade.ErrNotFound
			}
			f.g.BillFn = func(_ context.Context, day time.Time, _ func(io.Reader) error) error {
				ran = append(ran, day.Format(time.DateOnly))
				return ErrBillNotReady
			}
			f.st.SaveReconciliationFn = func(context.Context, trade.Reconciliation, *trade.Event) (bool, error) { return true, nil }
			f.s.Now = func() time.Time { return billDay.Add(24*time.Hour + tc.hour) }
			if _, err := f.s.Sweep(context.Background(), time.Minute); err != nil {
				t.Fatal(err)
			}
			if strings.Join(ran, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("reconciled %v, want %v", ran, tc.want)
			}
		})
	}
}

// A bill whose download breaks off is no invalid bill: nothing is stored,
// and the day is tried again.
func TestReconcileBrokenDownload(t *testing.T) {
	f := newReconcile(encoded(payRow("missed", 200, billDay.Add(10*time.Hour))))
	f.orders["missed"] = trade.Order{OutTradeNo: "missed", TotalFee: 200, State: trade.NotPay}
	f.g.BillFn = func(_ context.Context, _ time.Time, read func(io.Reader) error) error {
		b, _ := encoded(payRow("missed", 200, billDay.Add(10*time.Hour)))()
		err := read(io.MultiReader(bytes.NewReader(b[:len(b)/2]), iotest.ErrReader(io.ErrUnexpectedEOF)))
		return &Error{Kind: Upstream, Code: "WXPAY_UNREACHABLE", Message: "WeChat Pay could not be reached", Err: err}
	}
	if rep, err := f.s.Reconcile(context.Background(), billDay); err == nil || errors.Is(err, ErrBillInvalid) || len(f.saved) != 0 {
		t.Fatalf("%+v %v, saved %d", rep, err, len(f.saved))
	}
}

// An invalid bill is tried again once, the next day; then it stays reported.
func TestInvalidBillRetriedOnce(t *testing.T) {
	f := newReconcile(func() ([]byte, error) { return []byte("not a bill"), nil })
	f.s.Now = func() time.Time { return billDay.Add(48*time.Hour + 10*time.Hour + time.Minute) } // D+2, after 10:00
	rep, err := f.s.Reconcile(context.Background(), billDay)
	if err != nil || rep.Status != trade.ReconcileBillInvalid || !f.saved[0].RetryAt.IsZero() {
		t.Fatalf("%+v %v %+v", rep, err, f.saved)
	}
}
