package payment

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/trade"
)

const testNo = "20261130120000a1b2c3d4e5f6a7b8c9"

var (
	paidAt    = time.Date(2026, 11, 30, 12, 0, 5, 0, time.UTC)
	testOrder = trade.Order{OutTradeNo: testNo, OpenID: "o1", TotalFee: 180, State: trade.NotPay, PrepayID: "wx1"}
)

// change is one state change a use case reported.
type change struct{ no, from, to string }

func newService(g *fakeGateway, st *fakeStore) (*Service, *[]change) {
	var changes []change
	s := &Service{WeChat: g, Store: st, NotifyURL: "https://example.com/notify",
		StateChanged: func(_ context.Context, no string, from, to trade.State) {
			changes = append(changes, change{no, string(from), string(to)})
		},
		RefundChanged: func(_ context.Context, no string, from, to trade.RefundState) {
			changes = append(changes, change{no, string(from), string(to)})
		},
	}
	return s, &changes
}

func storeWith(o trade.Order) *fakeStore {
	return &fakeStore{
		OrderFn:             func(context.Context, string) (trade.Order, error) { return o, nil },
		SetOrderNextQueryFn: func(context.Context, string, time.Time) error { return nil },
	}
}

func wantCode(t *testing.T, err error, kind Kind, code string) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Kind != kind || e.Code != code {
		t.Fatalf("got %v (%#v), want %s", err, e, code)
	}
	return e
}

func TestOrderPaidBeforeItsNotification(t *testing.T) {
	st := storeWith(testOrder)
	var moved trade.State
	st.TransitionFn = func(_ context.Context, no string, to trade.State, tx string, at time.Time) (trade.State, bool, error) {
		if tx != "4200001" || !at.Equal(paidAt) {
			t.Errorf("recorded %s at %v", tx, at)
		}
		moved = to
		return trade.NotPay, true, nil
	}
	g := &fakeGateway{QueryFn: func(context.Context, string) (*Status, error) {
		return &Status{OutTradeNo: testNo, TradeState: "SUCCESS", TransactionID: "4200001", TotalFee: 180, PaidAt: paidAt}, nil
	}}
	s, changes := newService(g, st)
	v, err := s.Order(context.Background(), "o1", testNo)
	if err != nil || v.State != "SUCCESS" || v.TransactionID != "4200001" || moved != trade.Success {
		t.Fatalf("%+v %v", v, err)
	}
	if len(*changes) != 1 || (*changes)[0] != (change{testNo, "NOTPAY", "SUCCESS"}) {
		t.Fatalf("changes %v", *changes)
	}
	// Another user's order is as absent as an unknown one.
	if _, err := s.Order(context.Background(), "o2", testNo); err == nil {
		t.Fatal("another user's order was answered")
	} else {
		wantCode(t, err, NotFound, "ORDER_NOT_FOUND")
	}
}

func TestOrderQueryWithAnotherAmountChangesNothing(t *testing.T) {
	st := storeWith(testOrder)
	g := &fakeGateway{QueryFn: func(context.Context, string) (*Status, error) {
		return &Status{OutTradeNo: testNo, TradeState: "SUCCESS", TransactionID: "4200001", TotalFee: 1}, nil
	}}
	s, changes := newService(g, st) // TransitionFn is nil: a transition would panic
	_, err := s.Order(context.Background(), "", testNo)
	wantCode(t, err, Upstream, "WXPAY_AMOUNT_MISMATCH")
	if !errors.Is(err, ErrAmountMismatch) || len(*changes) != 0 {
		t.Fatalf("%v %v", err, *changes)
	}
}

func TestReadingNeverClosesAnOrderWeChatDoesNotKnowYet(t *testing.T) {
	for _, prepay := range []string{"", "wx1"} {
		o := testOrder
		o.PrepayID = prepay
		g := &fakeGateway{QueryFn: func(context.Context, string) (*Status, error) {
			return nil, refusal("ORDERNOTEXIST", "no such order", false, nil)
		}}
		s, changes := newService(g, storeWith(o))
		v, err := s.Order(context.Background(), "", testNo)
		if err != nil || v.State != "NOTPAY" || len(*changes) != 0 {
			t.Fatalf("prepay %q: %+v %v %v", prepay, v, err, *changes)
		}
	}
}

func TestCloseRecordsWhatWeChatSays(t *testing.T) {
	st := storeWith(testOrder)
	st.TransitionFn = func(_ context.Context, _ string, to trade.State, _ string, _ time.Time) (trade.State, bool, error) {
		return trade.NotPay, to == trade.Closed, nil
	}
	g := &fakeGateway{CloseFn: func(context.Context, string) error { return nil }}
	s, changes := newService(g, st)
	if v, err := s.Close(context.Background(), "o1", testNo); err != nil || v.State != "CLOSED" || len(*changes) != 1 {
		t.Fatalf("%+v %v %v", v, err, *changes)
	}
	// Paid at WeChat before the close: recorded paid, and refused.
	g.CloseFn = func(context.Context, string) error { return refusal("ORDERPAID", "paid", false, nil) }
	g.QueryFn = func(context.Context, string) (*Status, error) {
		return &Status{TradeState: "SUCCESS", TransactionID: "4200001", TotalFee: 180, PaidAt: paidAt}, nil
	}
	st.TransitionFn = func(_ context.Context, _ string, to trade.State, _ string, _ time.Time) (trade.State, bool, error) {
		return trade.NotPay, to == trade.Success, nil
	}
	_, err := s.Close(context.Background(), "o1", testNo)
	wantCode(t, err, Conflict, "ORDERPAID")
	if (*changes)[1] != (change{testNo, "NOTPAY", "SUCCESS"}) {
		t.Fatalf("%v", *changes)
	}
}

func TestPayForAnOrderClosedDuringItsPrepay(t *testing.T) {
	closed := 0
	g := &fakeGateway{
		NewOutTradeNoFn: func() (string, error) { return testNo, nil },
		PrepayFn:        func(context.Context, PrepayOrder) (string, error) { return "wx1", nil },
		CloseFn:         func(context.Context, string) error { closed++; return nil },
	}
	st := &fakeStore{
		CreateOrderFn: func(_ context.Context, o trade.Order) (trade.Order, bool, error) { return o, true, nil },
		SetPrepayIDFn: func(context.Context, string, string) error { return trade.ErrOrderFinal },
	}
	s, _ := newService(g, st) // PayParamsFn is nil: handing out parameters would panic
	_, err := s.Pay(context.Background(), PayRequest{TotalFee: 180, OpenID: "o1"})
	wantCode(t, err, Conflict, "ORDER_EXPIRED")
	if closed != 1 {
		t.Fatalf("closed at WeChat %d times", closed)
	}
}

func TestPaymentNotifications(t *testing.T) {
	notice := &Notice{Kind: trade.PaymentNotification, Fields: `{}`, OutTradeNo: testNo,
		Payment: &Status{OutTradeNo: testNo, TradeState: "SUCCESS", TransactionID: "4200001", TotalFee: 180, PaidAt: paidAt}}
	g := &fakeGateway{NotificationFn: func(context.Context, func(string) string, []byte) (*Notice, error) { return notice, nil }}

	// WeChat's verified word is final: a closed order becomes paid, and the change is reported.
	st := &fakeStore{ApplyNotificationFn: func(_ context.Context, n trade.Notification, fee int64, to trade.State, tx string, _ time.Time) (trade.State, bool, error) {
		if n.Kind != trade.PaymentNotification || fee != 180 || to != trade.Success || tx != "4200001" {
			t.Errorf("applied %+v %d %s %s", n, fee, to, tx)
		}
		return trade.Closed, true, nil
	}}
	s, changes := newService(g, st)
	if _, err := s.Notification(context.Background(), nil, nil); err != nil {
		t.Fatal(err)
	}
	if len(*changes) != 1 || (*changes)[0] != (change{testNo, "CLOSED", "SUCCESS"}) || !trade.PaidAfterClose(trade.Closed, trade.Success) {
		t.Fatalf("%v", *changes)
	}

	// Another amount than the order's: refused (WeChat retries) and marked for operators.
	st.ApplyNotificationFn = func(context.Context, trade.Notification, int64, trade.State, string, time.Time) (trade.State, bool, error) {
		return "", false, trade.ErrAmountMismatch
	}
	_, err := s.Notification(context.Background(), nil, nil)
	if !errors.Is(err, ErrAmountMismatch) {
		t.Fatalf("%v", err)
	}

	// The store down: refused as unavailable, so the reply asks for a retry.
	st.ApplyNotificationFn = func(context.Context, trade.Notification, int64, trade.State, string, time.Time) (trade.State, bool, error) {
		return "", false, errors.New("connection refused")
	}
	_, err = s.Notification(context.Background(), nil, nil)
	wantCode(t, err, Unavailable, "STORE_UNAVAILABLE")

	// Not authentic: refused, nothing touched.
	g.NotificationFn = func(context.Context, func(string) string, []byte) (*Notice, error) {
		return nil, errors.New("bad sign")
	}
	_, err = s.Notification(context.Background(), nil, nil)
	wantCode(t, err, Invalid, "NOTIFICATION_REFUSED")
}

func TestRefundNotificationStates(t *testing.T) {
	for _, tc := range []struct {
		state        trade.RefundState
		finishes     bool
		orderRefunds bool
	}{
		{trade.RefundSuccess, true, true},
		{trade.RefundAbnormal, true, false},
		{trade.RefundClosed, true, false},
		{trade.RefundProcessing, false, false},
	} {
		notice := &Notice{Kind: trade.RefundNotification, Fields: `{}`,
			Refund: &RefundResult{OutTradeNo: testNo, OutRefundNo: "R-1", RefundID: "5030", RefundFee: 100, State: tc.state}}
		g := &fakeGateway{NotificationFn: func(context.Context, func(string) string, []byte) (*Notice, error) { return notice, nil }}
		var finished trade.RefundState
		o := testOrder
		o.State = trade.Success
		st := storeWith(o)
		st.RecordNotificationFn = func(_ context.Context, n trade.Notification) error {
			if n.Kind != trade.RefundNotification || n.OutRefundNo != "R-1" {
				t.Errorf("recorded %+v", n)
			}
			return nil
		}
		st.FinishRefundFn = func(_ context.Context, no string, to trade.RefundState, id string) (trade.RefundState, bool, error) {
			finished = to
			return trade.RefundProcessing, true, nil
		}
		st.RefundFn = func(context.Context, string) (trade.Refund, error) {
			return trade.Refund{OutRefundNo: "R-1", OutTradeNo: testNo, RefundFee: 100, State: finished}, nil
		}
		refunded := false
		st.TransitionFn = func(_ context.Context, _ string, to trade.State, _ string, _ time.Time) (trade.State, bool, error) {
			refunded = to == trade.Refunded
			return trade.Success, true, nil
		}
		s, _ := newService(g, st)
		if _, err := s.Notification(context.Background(), nil, nil); err != nil {
			t.Fatalf("%s: %v", tc.state, err)
		}
		if (finished == tc.state) != tc.finishes || refunded != tc.orderRefunds {
			t.Errorf("%s: finished as %q, order refunded %v", tc.state, finished, refunded)
		}
	}
}

// A refund notification about another amount or order than the refund
// reserved under its out_refund_no is recorded, and changes nothing.
func TestRefundNotificationOfAnotherRefund(t *testing.T) {
	for _, other := range []RefundResult{
		{OutTradeNo: testNo, OutRefundNo: "R-1", RefundID: "5030", RefundFee: 99, State: trade.RefundSuccess},
		{OutTradeNo: "20261126170000another", OutRefundNo: "R-1", RefundID: "5030", RefundFee: 100, State: trade.RefundSuccess},
	} {
		notice := &Notice{Kind: trade.RefundNotification, Fields: `{}`, Refund: &other}
		g := &fakeGateway{NotificationFn: func(context.Context, func(string) string, []byte) (*Notice, error) { return notice, nil }}
		o := testOrder
		o.State = trade.Success
		st := storeWith(o)
		recorded := 0
		st.RecordNotificationFn = func(context.Context, trade.Notification) error { recorded++; return nil }
		st.RefundFn = func(context.Context, string) (trade.Refund, error) {
			return trade.Refund{OutRefundNo: "R-1", OutTradeNo: testNo, RefundFee: 100, State: trade.RefundProcessing}, nil
		}
		st.FinishRefundFn = func(context.Context, string, trade.RefundState, string) (trade.RefundState, bool, error) {
			t.Errorf("%+v: finished the refund", other)
			return trade.RefundProcessing, true, nil
		}
		s, _ := newService(g, st)
		_, err := s.Notification(context.Background(), nil, nil)
		var e *Error
		if !errors.As(err, &e) || e.Code != "WXPAY_AMOUNT_MISMATCH" || !errors.Is(err, ErrAmountMismatch) || recorded != 1 {
			t.Errorf("%+v: %v, %d recorded", other, err, recorded)
		}
	}
}

func refundFixture(reserved trade.Refund, created bool) (*fakeGateway, *fakeStore, *[]string) {
	var calls []string
	o := testOrder
	o.State = trade.Success
	st := storeWith(o)
	st.ReserveRefundFn = func(_ context.Context, r trade.Refund) (trade.Refund, bool, error) {
		calls = append(calls, "reserve "+r.OutRefundNo)
		if created {
			reserved.OutRefundNo = r.OutRefundNo
		}
		return reserved, created, nil
	}
	st.FinishRefundFn = func(_ context.Context, no string, to trade.RefundState, _ string) (trade.RefundState, bool, error) {
		calls = append(calls, "finish "+no+" "+string(to))
		return trade.RefundProcessing, true, nil
	}
	st.AcceptRefundFn = func(_ context.Context, no string) error { calls = append(calls, "accept "+no); return nil }
	g := &fakeGateway{
		CanRefundFn:     func() bool { return true },
		NewOutTradeNoFn: func() (string, error) { return "R-generated", nil },
	}
	return g, st, &calls
}

func TestRefund(t *testing.T) {
	processing := trade.Refund{OutTradeNo: testNo, RefundFee: 100, State: trade.RefundProcessing}
	req := RefundRequest{OutTradeNo: testNo, RefundFee: 100}

	// Accepted: PROCESSING, marked accepted.
	g, st, calls := refundFixture(processing, true)
	g.RefundFn = func(_ context.Context, r RefundOrder) error {
		if r.OutRefundNo != "R-generated" || r.RefundFee != 100 || r.TotalFee != 180 {
			t.Errorf("sent %+v", r)
		}
		return nil
	}
	s, _ := newService(g, st)
	v, err := s.Refund(context.Background(), req)
	if err != nil || v.State != "PROCESSING" || v.OutRefundNo != "R-generated" || strings.Join(*calls, ",") != "reserve R-generated,accept R-generated" {
		t.Fatalf("%+v %v %v", v, err, *calls)
	}

	// Refused outright: FAILED, which releases the amount.
	g, st, calls = refundFixture(processing, true)
	g.RefundFn = func(context.Context, RefundOrder) error { return refusal("NOTENOUGH", "balance", false, nil) }
	s, changes := newService(g, st)
	_, err = s.Refund(context.Background(), req)
	wantCode(t, err, Upstream, "NOTENOUGH")
	if strings.Join(*calls, ",") != "reserve R-generated,finish R-generated FAILED" || len(*changes) != 1 {
		t.Fatalf("%v %v", *calls, *changes)
	}

	// No answer: the reservation stays, and the error names the number to retry with.
	g, st, calls = refundFixture(processing, true)
	g.RefundFn = func(context.Context, RefundOrder) error {
		return &Error{Kind: Timeout, Code: "WXPAY_TIMEOUT", Message: "WeChat Pay did not answer in time"}
	}
	s, _ = newService(g, st)
	_, err = s.Refund(context.Background(), req)
	if e := wantCode(t, err, Timeout, "WXPAY_TIMEOUT"); !strings.Contains(e.Message, "out_refund_no R-generated") || len(*calls) != 1 {
		t.Fatalf("%v %v", e, *calls)
	}

	// The store lost the reservation's answer: it may exist, so the number is named too.
	g, st, _ = refundFixture(processing, true)
	st.ReserveRefundFn = func(context.Context, trade.Refund) (trade.Refund, bool, error) {
		return trade.Refund{}, false, context.DeadlineExceeded
	}
	s, _ = newService(g, st)
	_, err = s.Refund(context.Background(), req)
	if e := wantCode(t, err, Timeout, "STORE_TIMEOUT"); !strings.Contains(e.Message, "out_refund_no R-generated") {
		t.Fatalf("%v", e)
	}

	// A retry of a refund WeChat accepted: answered as recorded, not sent again.
	accepted := processing
	accepted.OutRefundNo, accepted.Accepted = "R-1", true
	g, st, _ = refundFixture(accepted, false)
	s, _ = newService(g, st) // RefundFn is nil: sending would panic
	if v, err := s.Refund(context.Background(), RefundRequest{OutTradeNo: testNo, OutRefundNo: "R-1", RefundFee: 100}); err != nil || v.OutRefundNo != "R-1" {
		t.Fatalf("%+v %v", v, err)
	}

	// A retry of one WeChat never acknowledged: sent again with the same number.
	unsent := processing
	unsent.OutRefundNo = "R-1"
	g, st, _ = refundFixture(unsent, false)
	sent := ""
	g.RefundFn = func(_ context.Context, r RefundOrder) error { sent = r.OutRefundNo; return nil }
	s, _ = newService(g, st)
	if _, err := s.Refund(context.Background(), RefundRequest{OutTradeNo: testNo, OutRefundNo: "R-1", RefundFee: 100}); err != nil || sent != "R-1" {
		t.Fatalf("%q %v", sent, err)
	}

	// Refusals before WeChat Pay is called.
	for storeErr, code := range map[error]string{trade.ErrNotPaid: "ORDER_NOT_PAID", trade.ErrExceedsPaid: "REFUND_EXCEEDS_PAID", trade.ErrRefundMismatch: "REFUND_NO_CONFLICT"} {
		g, st, _ = refundFixture(processing, true)
		st.ReserveRefundFn = func(context.Context, trade.Refund) (trade.Refund, bool, error) {
			return trade.Refund{}, false, storeErr
		}
		s, _ = newService(g, st)
		var e *Error
		if _, err := s.Refund(context.Background(), req); !errors.As(err, &e) || e.Code != code {
			t.Errorf("%v: %v", storeErr, err)
		}
	}
}

func TestPriceList(t *testing.T) {
	l := &PriceList{Items: map[string]Price{"vip-month": {TotalFee: 1800, Description: "会员月卡"}}, MaxTotalFee: 10000}
	for _, tc := range []struct {
		in       PayRequest
		code     string
		fee      int64
		quantity int
	}{
		{PayRequest{Item: "vip-month"}, "", 1800, 1},
		{PayRequest{Item: "vip-month", Quantity: 5}, "", 9000, 5},
		{PayRequest{Item: "vip-month", TotalFee: 1800, Description: "会员月卡"}, "", 1800, 1}, // what the client shows
		{PayRequest{Item: "vip-month", TotalFee: 1}, "PRICE_MISMATCH", 0, 0},
		{PayRequest{Item: "vip-month", Description: "年卡"}, "PRICE_MISMATCH", 0, 0},
		{PayRequest{Item: "vip-month", Quantity: 6}, "INVALID_QUANTITY", 0, 0}, // over the largest order
		{PayRequest{Item: "vip-year"}, "UNKNOWN_ITEM", 0, 0},
		{PayRequest{TotalFee: 1}, "ITEM_REQUIRED", 0, 0},
		{PayRequest{TotalFee: 7, Trusted: true}, "", 7, 0}, // a trusted caller's own amount
	} {
		r := tc.in
		err := l.price(&r)
		var e *Error
		switch {
		case tc.code != "" && (!errors.As(err, &e) || e.Code != tc.code || e.Kind != Invalid):
			t.Errorf("%+v: %v, want %s", tc.in, err, tc.code)
		case tc.code == "" && (err != nil || r.TotalFee != tc.fee || r.Quantity != tc.quantity):
			t.Errorf("%+v: %+v %v", tc.in, r, err)
		case tc.code == "" && r.Item != "" && r.Description != "会员月卡":
			t.Errorf("%+v: description %q", tc.in, r.Description)
		}
	}
}
