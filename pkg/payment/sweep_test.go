package payment

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/trade"
)

var sweepNow = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

func TestNextAttemptSchedule(t *testing.T) {
	created := sweepNow
	want := []time.Duration{time.Minute, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 6 * time.Hour, 12 * time.Hour, 12 * time.Hour}
	for i, w := range want {
		next, ok := nextAttempt(created, i+1, sweepNow)
		if !ok || next.Sub(sweepNow) != w {
			t.Errorf("after attempt %d: %v %v, want %v", i+1, next.Sub(sweepNow), ok, w)
		}
	}
	if _, ok := nextAttempt(created, 8, created.Add(71*time.Hour)); ok {
		t.Error("an attempt past the 3-day window was scheduled")
	}
}

// fakeTarget records what it was sent and fails while fail is set.
type fakeTarget struct {
	sent []string
	fail error
}

func (f *fakeTarget) Send(_ context.Context, id string, payload []byte) error {
	f.sent = append(f.sent, id)
	return f.fail
}

func pendingEvent(id string, attempts int, created time.Time) trade.Event {
	return trade.Event{ID: id, Type: trade.EventOrderPaid, OutTradeNo: testNo, Data: []byte(`{}`), CreatedAt: created,
		Delivery: trade.Delivery{State: trade.DeliveryPending, Attempts: attempts}}
}

func TestDeliveryOutcomes(t *testing.T) {
	for _, tc := range []struct {
		name     string
		fail     error
		attempts int
		created  time.Time
		want     trade.DeliveryState
		wantNext time.Duration
	}{
		{"accepted", nil, 0, sweepNow, trade.DeliveryDelivered, 0},
		{"first failure", errors.New("HTTP 500"), 0, sweepNow, trade.DeliveryPending, time.Minute},
		{"third failure", errors.New("HTTP 500"), 2, sweepNow, trade.DeliveryPending, 30 * time.Minute},
		{"past the window", errors.New("HTTP 500"), 9, sweepNow.Add(-71 * time.Hour), trade.DeliveryFailed, 0},
	} {
		var got trade.Delivery
		st := &fakeStore{SetDeliveryFn: func(_ context.Context, id string, d trade.Delivery) error { got = d; return nil }}
		target := &fakeTarget{fail: tc.fail}
		s, _ := newService(&fakeGateway{}, st)
		s.Target, s.Now = target, func() time.Time { return sweepNow }
		ok, err := s.deliver(context.Background(), pendingEvent("evt_1", tc.attempts, tc.created))
		if err != nil || ok != (tc.fail == nil) || got.State != tc.want || got.Attempts != tc.attempts+1 {
			t.Errorf("%s: %v %v %+v", tc.name, ok, err, got)
		}
		if tc.want == trade.DeliveryPending && got.NextAttemptAt.Sub(sweepNow) != tc.wantNext || tc.fail != nil && got.LastError != tc.fail.Error() {
			t.Errorf("%s: %+v", tc.name, got)
		}
	}
}

func TestNotificationDeliversItsEventFirst(t *testing.T) {
	notice := &Notice{Kind: trade.PaymentNotification, Fields: `{}`, OutTradeNo: testNo,
		Payment: &Status{OutTradeNo: testNo, TradeState: "SUCCESS", TransactionID: "4200001", TotalFee: 180}}
	g := &fakeGateway{NotificationFn: func(context.Context, func(string) string, []byte) (*Notice, error) { return notice, nil }}
	claimedFor := ""
	st := &fakeStore{
		ApplyNotificationFn: func(context.Context, trade.Notification, int64, trade.State, string, time.Time) (trade.State, bool, error) {
			return trade.NotPay, true, nil
		},
		ClaimEventsFn: func(_ context.Context, _ time.Time, _ time.Duration, no string, _ int) ([]trade.Event, error) {
			claimedFor = no
			return []trade.Event{pendingEvent("evt_1", 0, sweepNow)}, nil
		},
		SetDeliveryFn: func(context.Context, string, trade.Delivery) error { return nil },
	}
	s, _ := newService(g, st)
	target := &fakeTarget{fail: errors.New("connection refused")}
	s.Target = target
	// A failing target never fails the notification: the event is recorded and retried.
	if _, err := s.Notification(context.Background(), nil, nil); err != nil || claimedFor != testNo || len(target.sent) != 1 {
		t.Fatalf("%v, claimed for %q, sent %v", err, claimedFor, target.sent)
	}
}

func TestEventsAndRedeliver(t *testing.T) {
	events := []trade.Event{pendingEvent("evt_1", 0, sweepNow), pendingEvent("evt_2", 0, sweepNow), pendingEvent("evt_3", 0, sweepNow)}
	st := &fakeStore{EventsFn: func(_ context.Context, after string, limit int) ([]trade.Event, error) {
		if after == "evt_x" {
			return nil, trade.ErrNotFound
		}
		return events[:min(limit, len(events))], nil
	}}
	s, _ := newService(&fakeGateway{}, st)
	list, err := s.Events(context.Background(), "", 2)
	if err != nil || len(list.Events) != 2 || !list.HasMore || list.Events[0].ID != "evt_1" || list.Events[0].Delivery.State != "pending" {
		t.Fatalf("%+v %v", list, err)
	}
	if list, _ := s.Events(context.Background(), "", 3); list.HasMore {
		t.Fatal("has_more on the last page")
	}
	for limit, code := range map[int]string{0: "INVALID_LIMIT", 1001: "INVALID_LIMIT"} {
		_, err := s.Events(context.Background(), "", limit)
		wantCode(t, err, Invalid, code)
	}
	_, err = s.Events(context.Background(), "evt_x", 10)
	wantCode(t, err, NotFound, "EVENT_NOT_FOUND")

	_, err = s.Redeliver(context.Background(), "evt_1")
	wantCode(t, err, Config, "CONFIG_ERROR")
	s.Target = &fakeTarget{}
	st.ClaimEventFn = func(context.Context, string, time.Time, time.Duration) (trade.Event, bool, error) {
		return trade.Event{}, false, nil
	}
	_, err = s.Redeliver(context.Background(), "evt_1")
	wantCode(t, err, Conflict, "EVENT_BUSY")
}

// sweepFixture is a service whose store holds due orders and refunds, and
// which records the next queries and changes the sweep makes.
type sweepFixture struct {
	s         *Service
	g         *fakeGateway
	st        *fakeStore
	nextQuery map[string]time.Duration
	changes   *[]change
}

func newSweep(orders []trade.Order, refunds []trade.Refund) *sweepFixture {
	f := &sweepFixture{g: &fakeGateway{}, nextQuery: map[string]time.Duration{}}
	byNo := map[string]trade.Order{}
	for _, o := range orders {
		byNo[o.OutTradeNo] = o
	}
	f.st = &fakeStore{
		DueOrdersFn:  func(context.Context, time.Time, time.Time, int) ([]trade.Order, error) { return orders, nil },
		DueRefundsFn: func(context.Context, time.Time, time.Time, int) ([]trade.Refund, error) { return refunds, nil },
		OrderFn:      func(_ context.Context, no string) (trade.Order, error) { return byNo[no], nil },
		SetOrderNextQueryFn: func(_ context.Context, no string, next time.Time) error {
			f.nextQuery[no] = next.Sub(sweepNow)
			return nil
		},
		SetRefundNextQueryFn: func(_ context.Context, no string, next time.Time) error {
			f.nextQuery[no] = next.Sub(sweepNow)
			return nil
		},
		TransitionFn: func(_ context.Context, no string, to trade.State, _ string, _ time.Time) (trade.State, bool, error) {
			return byNo[no].State, true, nil
		},
		FinishRefundFn: func(_ context.Context, no string, to trade.RefundState, _ string) (trade.RefundState, bool, error) {
			return trade.RefundProcessing, true, nil
		},
		AcceptRefundFn: func(context.Context, string) error { return nil },
		// Every day already reconciled, unless a test says otherwise.
		ReconciliationFn: func(context.Context, string) (trade.Reconciliation, error) { return trade.Reconciliation{}, nil },
	}
	f.s, f.changes = newService(f.g, f.st)
	f.s.Now, f.s.MinCloseAge = func() time.Time { return sweepNow }, 5*time.Minute
	return f
}

func order(no string, state trade.State, age, ttl time.Duration) trade.Order {
	return trade.Order{OutTradeNo: no, TotalFee: 180, State: state, CreatedAt: sweepNow.Add(-age), ExpiresAt: sweepNow.Add(-age + ttl)}
}

func TestSweepOrders(t *testing.T) {
	f := newSweep([]trade.Order{
		order("paid-at-wechat", trade.NotPay, 2*time.Minute, 2*time.Hour),
		order("still-unpaid", trade.NotPay, 40*time.Minute, 2*time.Hour),
		order("expired", trade.NotPay, 3*time.Hour, 2*time.Hour),
		order("expired-young", trade.NotPay, 2*time.Minute, time.Minute),
		order("expired-paying", trade.UserPaying, 3*time.Hour, 2*time.Hour),
	}, nil)
	closed := map[string]bool{}
	f.g.QueryFn = func(_ context.Context, no string) (*Status, error) {
		switch no {
		case "paid-at-wechat":
			return &Status{OutTradeNo: no, TradeState: "SUCCESS", TransactionID: "4200001", TotalFee: 180, PaidAt: sweepNow}, nil
		case "expired-paying":
			return &Status{OutTradeNo: no, TradeState: "USERPAYING"}, nil
		}
		return &Status{OutTradeNo: no, TradeState: "NOTPAY"}, nil
	}
	f.g.CloseFn = func(_ context.Context, no string) error { closed[no] = true; return nil }
	sum, err := f.s.Sweep(context.Background(), time.Minute)
	if err != nil || *sum != (SweepSummary{Queried: 5, Paid: 1, Closed: 1}) {
		t.Fatalf("%+v %v", sum, err)
	}
	if len(closed) != 1 || !closed["expired"] {
		t.Fatalf("closed at WeChat: %v", closed)
	}
	// Asked again no sooner than a quarter of the age: 40 min old → 10 min.
	if f.nextQuery["still-unpaid"] != 10*time.Minute || f.nextQuery["expired-young"] != time.Minute || f.nextQuery["expired-paying"] != 45*time.Minute {
		t.Fatalf("%v", f.nextQuery)
	}
	if _, ok := f.nextQuery["paid-at-wechat"]; ok {
		t.Fatal("a paid order was scheduled for another query")
	}
}

// Each WeChat Pay call of the sweep ends within sweepCallTimeout and
// sweepWriteReserve before the invocation does, whatever the call: what
// came of an item is always recorded, and a few calls that hang cannot
// spend the whole budget. With the budget spent before a step, the sweep
// answers that work is left, and does no more.
func TestSweepBoundsEachWeChatCall(t *testing.T) {
	for _, budget := range []time.Duration{3 * time.Second, 30 * time.Second} {
		f := newSweep([]trade.Order{order("expired", trade.NotPay, 3*time.Hour, 2*time.Hour)},
			[]trade.Refund{{OutRefundNo: "R-1", OutTradeNo: testNo, RefundFee: 100, State: trade.RefundProcessing, CreatedAt: sweepNow.Add(-time.Hour)}})
		ctx, cancel := context.WithTimeout(context.Background(), budget)
		deadline, _ := ctx.Deadline()
		want := deadline.Add(-sweepWriteReserve)
		if capped := time.Now().Add(sweepCallTimeout); capped.Before(want) {
			want = capped
		}
		calls := map[string]time.Time{}
		given := func(call string, ctx context.Context) error {
			calls[call], _ = ctx.Deadline()
			return context.DeadlineExceeded // as a call that hung to its end
		}
		f.g.QueryFn = func(ctx context.Context, no string) (*Status, error) {
			if len(calls) == 0 {
				given("orderquery", ctx)
				return &Status{OutTradeNo: no, TradeState: "NOTPAY"}, nil
			}
			return nil, given("orderquery after closeorder", ctx)
		}
		f.g.CloseFn = func(ctx context.Context, _ string) error {
			given("closeorder", ctx)
			return &Error{Kind: Conflict, Code: "ORDERPAID", cond: ErrOrderPaid}
		}
		f.g.QueryRefundFn = func(ctx context.Context, _ string) (*RefundStatus, error) {
			return nil, given("refundquery", ctx)
		}
		sum, err := f.s.Sweep(ctx, time.Minute)
		cancel()
		if err != nil || sum.Queried != 2 {
			t.Fatalf("%v: %+v %v", budget, sum, err)
		}
		for _, call := range []string{"orderquery", "closeorder", "orderquery after closeorder", "refundquery"} {
			if got := calls[call]; got.IsZero() || got.Sub(want).Abs() > 100*time.Millisecond {
				t.Errorf("%v: %s ends at %v, want %v", budget, call, got, want)
			}
		}
		if f.nextQuery["expired"] == 0 || f.nextQuery["R-1"] == 0 {
			t.Errorf("%v: next queries %v", budget, f.nextQuery)
		}
	}
	f := newSweep([]trade.Order{order("due", trade.NotPay, time.Hour, 2*time.Hour)}, nil)
	f.st.DueOrdersFn = func(context.Context, time.Time, time.Time, int) ([]trade.Order, error) {
		t.Error("read due orders with the budget spent")
		return nil, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if sum, err := f.s.Sweep(ctx, time.Minute); err != nil || !sum.More {
		t.Fatalf("with the budget spent: %+v %v", sum, err)
	}
}

func TestSweepRefunds(t *testing.T) {
	refund := func(no string, st trade.RefundState, age time.Duration) trade.Refund {
		return trade.Refund{OutRefundNo: no, OutTradeNo: testNo, RefundFee: 100, State: st, CreatedAt: sweepNow.Add(-age)}
	}
	f := newSweep([]trade.Order{order(testNo, trade.Success, time.Hour, 2*time.Hour)}, []trade.Refund{
		refund("finished", trade.RefundProcessing, time.Hour),
		refund("never-sent", trade.RefundProcessing, 11*time.Minute),
		refund("just-sent", trade.RefundProcessing, 2*time.Minute),
		refund("abnormal", trade.RefundProcessing, time.Hour),
		refund("still-processing", trade.RefundProcessing, 20*time.Minute),
		// Verified answers about another refund than the one reserved.
		refund("other-fee", trade.RefundProcessing, time.Hour),
		refund("other-order", trade.RefundProcessing, time.Hour),
	})
	var finished, accepted []string
	f.st.AcceptRefundFn = func(_ context.Context, no string) error {
		accepted = append(accepted, no)
		return nil
	}
	f.st.FinishRefundFn = func(_ context.Context, no string, to trade.RefundState, _ string) (trade.RefundState, bool, error) {
		finished = append(finished, no+" "+string(to))
		return trade.RefundProcessing, true, nil
	}
	f.st.RefundFn = func(_ context.Context, no string) (trade.Refund, error) {
		return refund(no, trade.RefundSuccess, 0), nil
	}
	f.g.QueryRefundFn = func(_ context.Context, no string) (*RefundStatus, error) {
		switch no {
		case "never-sent", "just-sent":
			return nil, ErrRefundNotExist
		case "finished":
			return &RefundStatus{OutRefundNo: no, OutTradeNo: testNo, RefundFee: 100, State: trade.RefundSuccess}, nil
		case "abnormal":
			return &RefundStatus{OutRefundNo: no, OutTradeNo: testNo, RefundFee: 100, State: trade.RefundAbnormal}, nil
		case "other-fee":
			return &RefundStatus{OutRefundNo: no, OutTradeNo: testNo, RefundFee: 99, State: trade.RefundSuccess}, nil
		case "other-order":
			return &RefundStatus{OutRefundNo: no, OutTradeNo: "20261126170000another", RefundFee: 100, State: trade.RefundSuccess}, nil
		}
		return &RefundStatus{OutRefundNo: no, OutTradeNo: testNo, RefundFee: 100, State: trade.RefundProcessing}, nil
	}
	f.st.DueOrdersFn = func(context.Context, time.Time, time.Time, int) ([]trade.Order, error) { return nil, nil }
	var log strings.Builder
	f.s.Log = slog.New(slog.NewJSONHandler(&log, nil))
	sum, err := f.s.Sweep(context.Background(), time.Minute)
	if err != nil || sum.Queried != 7 || sum.RefundsFinished != 3 {
		t.Fatalf("%+v %v", sum, err)
	}
	want := "finished SUCCESS,never-sent FAILED,abnormal ABNORMAL"
	if got := joined(finished); got != want {
		t.Fatalf("finished %s, want %s", got, want)
	}
	// WeChat has the refunds it answered about as reserved: a retry of
	// one need not send it again.
	if got, want := joined(accepted), "finished,abnormal,still-processing"; got != want {
		t.Fatalf("accepted %s, want %s", got, want)
	}
	if f.nextQuery["just-sent"] != time.Minute || f.nextQuery["still-processing"] != 5*time.Minute ||
		f.nextQuery["abnormal"] != time.Hour || f.nextQuery["other-fee"] != 15*time.Minute {
		t.Fatalf("%v", f.nextQuery)
	}
	for _, no := range []string{"other-fee", "other-order"} {
		if !strings.Contains(log.String(), `"out_refund_no":"`+no+`","cause":"WXPAY_AMOUNT_MISMATCH`) {
			t.Errorf("%s: not logged: %s", no, log.String())
		}
	}
	// The order of the refund that succeeded reads REFUND.
	if c := *f.changes; len(c) == 0 || c[len(c)-1] != (change{testNo, "SUCCESS", "REFUND"}) && c[1] != (change{testNo, "SUCCESS", "REFUND"}) {
		t.Fatalf("%v", c)
	}
}

func joined(ss []string) string {
	out := ""
	for i, s := range ss {
		if i > 0 {
			out += ","
		}
		out += s
	}
	return out
}

func TestSweepDeliversDueEventsAndStopsInTime(t *testing.T) {
	f := newSweep(nil, nil)
	queue := []trade.Event{pendingEvent("evt_1", 0, sweepNow), pendingEvent("evt_2", 0, sweepNow)}
	f.st.ClaimEventsFn = func(_ context.Context, _ time.Time, _ time.Duration, no string, limit int) ([]trade.Event, error) {
		if no != "" {
			t.Errorf("the sweep claimed for one order: %q", no)
		}
		got := queue
		queue = nil
		return got, nil
	}
	f.st.SetDeliveryFn = func(context.Context, string, trade.Delivery) error { return nil }
	target := &fakeTarget{}
	f.s.Target = target
	sum, err := f.s.Sweep(context.Background(), time.Minute)
	if err != nil || sum.EventsDelivered != 2 || sum.More || len(target.sent) != 2 {
		t.Fatalf("%+v %v %v", sum, err, target.sent)
	}

	// No time left: nothing is started, and the rest is the next run's.
	f = newSweep([]trade.Order{order("o", trade.NotPay, time.Hour, 2*time.Hour)}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	sum, err = f.s.Sweep(ctx, time.Minute) // QueryFn is nil: a query would panic
	if err != nil || !sum.More || sum.Queried != 0 {
		t.Fatalf("%+v %v", sum, err)
	}
}

// Orders the sweep cannot settle (an answer it refuses, a close that
// fails) each get their next query and never hold the later steps back.
func TestSweepPastStuckOrders(t *testing.T) {
	var orders []trade.Order
	for i := 0; i < sweepBatch+5; i++ {
		orders = append(orders, order(fmt.Sprintf("stuck-%02d", i), trade.NotPay, 3*time.Hour, 2*time.Hour))
	}
	f := newSweep(nil, nil)
	served := 0
	f.st.DueOrdersFn = func(_ context.Context, _ time.Time, _ time.Time, limit int) ([]trade.Order, error) {
		var due []trade.Order
		for _, o := range orders {
			if _, asked := f.nextQuery[o.OutTradeNo]; !asked && len(due) < limit {
				due = append(due, o)
			}
		}
		served += len(due)
		return due, nil
	}
	// WeChat reports another amount for every one: refused, never recorded.
	f.g.QueryFn = func(_ context.Context, no string) (*Status, error) {
		return &Status{OutTradeNo: no, TradeState: "SUCCESS", TransactionID: "4200", TotalFee: 1}, nil
	}
	refundsAsked := false
	f.st.DueRefundsFn = func(context.Context, time.Time, time.Time, int) ([]trade.Refund, error) {
		refundsAsked = true
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 9*time.Second)
	defer cancel()
	sum, err := f.s.Sweep(ctx, time.Minute)
	if err != nil || sum.Queried != len(orders) || sum.More || !refundsAsked || served != len(orders) {
		t.Fatalf("%+v %v; refunds asked %v, %d served", sum, err, refundsAsked, served)
	}
	if len(f.nextQuery) != len(orders) {
		t.Fatalf("%d of %d orders got their next query", len(f.nextQuery), len(orders))
	}

	// A close that fails is no close, whatever the query said before.
	f = newSweep([]trade.Order{order("gone", trade.NotPay, 3*time.Hour, 2*time.Hour)}, nil)
	f.g.QueryFn = func(context.Context, string) (*Status, error) {
		return nil, refusal("ORDERNOTEXIST", "no such order", false, nil)
	}
	f.g.CloseFn = func(context.Context, string) error {
		return &Error{Kind: Timeout, Code: "WXPAY_TIMEOUT", Message: "WeChat Pay did not answer in time"}
	}
	f.st.TransitionFn = nil // a transition would panic
	if sum, err := f.s.Sweep(context.Background(), time.Minute); err != nil || sum.Closed != 0 || f.nextQuery["gone"] == 0 {
		t.Fatalf("%+v %v %v", sum, err, f.nextQuery)
	}
}

// A refund notification repeated after the order's own change failed
// heals the order: it reads REFUND once its refund has succeeded.
func TestRefundSuccessHealsItsOrder(t *testing.T) {
	o := testOrder
	o.State = trade.Success
	st := storeWith(o)
	st.FinishRefundFn = func(context.Context, string, trade.RefundState, string) (trade.RefundState, bool, error) {
		return trade.RefundSuccess, false, nil // already SUCCESS: the first delivery committed it
	}
	st.RefundFn = func(context.Context, string) (trade.Refund, error) {
		return trade.Refund{OutRefundNo: "R-1", OutTradeNo: testNo, State: trade.RefundSuccess}, nil
	}
	moved := trade.State("")
	st.TransitionFn = func(_ context.Context, _ string, to trade.State, _ string, _ time.Time) (trade.State, bool, error) {
		moved = to
		return trade.Success, true, nil
	}
	s, _ := newService(&fakeGateway{}, st)
	if _, err := s.changeRefund(context.Background(), "R-1", trade.RefundSuccess, "5030"); err != nil || moved != trade.Refunded {
		t.Fatalf("%v, the order moved to %q", err, moved)
	}
}

// An operator's redelivery of a delivered event that fails leaves it
// delivered: the receiver had it, and the order's later events must not wait.
func TestFailedRedeliveryKeepsDelivered(t *testing.T) {
	var got trade.Delivery
	e := pendingEvent("evt_1", 1, sweepNow)
	e.Delivery.State = trade.DeliveryDelivered
	st := &fakeStore{
		ClaimEventFn: func(context.Context, string, time.Time, time.Duration) (trade.Event, bool, error) {
			return e, true, nil
		},
		SetDeliveryFn: func(_ context.Context, _ string, d trade.Delivery) error { got = d; return nil },
		EventFn:       func(context.Context, string) (trade.Event, error) { return e, nil },
	}
	s, _ := newService(&fakeGateway{}, st)
	s.Target, s.Now = &fakeTarget{fail: errors.New("HTTP 500")}, func() time.Time { return sweepNow }
	if _, err := s.Redeliver(context.Background(), "evt_1"); err != nil || got.State != trade.DeliveryDelivered || got.Attempts != 2 || got.LastError != "HTTP 500" {
		t.Fatalf("%+v %v", got, err)
	}
}
