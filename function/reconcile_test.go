package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/bill"
	"github.com/wxpay-scf/wxpay-scf/pkg/payment"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpay/wxpaytest/billsim"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpayv3/wxpayv3test"
)

// setBill plants a plan for a day's bill at the simulator.
func (w *sweepWorld) setBill(day time.Time, p billsim.Plan) {
	if w.sim3 != nil {
		w.sim3.SetBill(day, wxpayv3test.BillPlan{Plan: p})
	} else {
		w.b.sim.SetBill(day, p)
	}
}

// addPaidOrder has WeChat Pay know a payment the store never heard of.
func (w *sweepWorld) addPaidOrder(t *testing.T, no string, fee int64) {
	t.Helper()
	ok := false
	if w.sim3 != nil {
		ok = w.sim3.AddPaidOrder(no, fee)
	} else {
		ok = w.b.sim.AddPaidOrder(no, fee)
	}
	if !ok {
		t.Fatalf("the simulator refused %s", no)
	}
}

// payAndNotify has the user pay and WeChat Pay's notification delivered.
func (w *sweepWorld) payAndNotify(t *testing.T, no string) {
	t.Helper()
	var event string
	if w.sim3 != nil {
		n, ok := w.sim3.Pay(no)
		if !ok {
			t.Fatalf("WeChat Pay refused to take the payment of %s", no)
		}
		event = v3NotifyEvent(n)
	} else {
		note, ok := w.b.sim.Pay(no)
		if !ok {
			t.Fatalf("WeChat Pay refused to take the payment of %s", no)
		}
		event = urlEvent("POST", "/release/notify", string(note), map[string]any{"content-type": "text/xml"})
	}
	if resp := w.b.rawAnswer(t, event, 3*time.Second); resp.StatusCode/100 != 2 || strings.Contains(resp.Body, "FAIL") {
		t.Fatalf("the notification of %s: %d %s", no, resp.StatusCode, resp.Body)
	}
}

// reconcile runs a day's reconciliation through the binary.
func (w *sweepWorld) reconcile(t *testing.T, day time.Time) (string, map[string]any) {
	t.Helper()
	payload, msg := w.b.direct(t, `{"action":"reconcile","date":"`+day.Format(time.DateOnly)+`"}`)
	if msg != "" {
		t.Fatalf("reconcile: %s", msg)
	}
	var rep map[string]any
	if err := json.Unmarshal([]byte(payload), &rep); err != nil {
		t.Fatalf("%s", payload)
	}
	return payload, rep
}

// discrepancies lists a report's discrepancies as kind:out_trade_no[:fixed].
func discrepancies(rep map[string]any) string {
	var out []string
	list, _ := rep["discrepancies"].([]any)
	for _, d := range list {
		d := d.(map[string]any)
		s := d["kind"].(string) + ":" + d["out_trade_no"].(string)
		if d["fixed"] == true {
			s += ":fixed"
		}
		out = append(out, s)
	}
	return strings.Join(out, ",")
}

// Reconciliation through the real binary, on v2 and v3, SQLite and MariaDB:
// a payment whose notification was lost is found in the bill, confirmed and
// recorded paid with its order.paid event; every planted difference is
// reported with its kind; a bad bill changes nothing; a second run changes
// nothing and gives the same report.
func TestBinaryReconcile(t *testing.T) {
	eachWorld(t, func(t *testing.T, w *sweepWorld) {
		// The payments happen two days ago at WeChat Pay, whose bill of that
		// day exists (bills are made at 10:00 the next day).
		w.advance(-48 * time.Hour)
		day := payment.ChinaDay(time.Now().Add(-48 * time.Hour))
		matched, lost, wrong := w.pay(t, unique("o-a-")), w.pay(t, unique("o-b-")), w.pay(t, unique("o-c-"))
		unknown := "X" + matched[1:]
		w.payAtWeChat(t, lost)
		for _, no := range []string{matched, wrong} {
			w.payAndNotify(t, no)
		}
		w.addPaidOrder(t, unknown, 500)
		// A third day: a lost payment, and a bill that arrives cut short.
		w.advance(-24 * time.Hour)
		badDay := payment.ChinaDay(time.Now().Add(-72 * time.Hour))
		lostToo := w.pay(t, unique("o-d-"))
		w.payAtWeChat(t, lostToo)
		w.advance(72 * time.Hour)

		w.setBill(day, billsim.Plan{Rows: func(rows []bill.Row) []bill.Row {
			for i := range rows {
				if rows[i].OutTradeNo == wrong {
					rows[i].TotalFee++ // a wrong amount
				}
			}
			other := rows[0]
			other.AppID, other.OutTradeNo = "wx0000000000000000", "O"+matched[1:]
			return append(rows, other) // another app's row: counted nowhere, judged never
		}})
		raw, rep := w.reconcile(t, day)
		want := "AMOUNT_MISMATCH:" + wrong + ",MISSED_PAYMENT:" + lost + ":fixed,UNKNOWN_ORDER:" + unknown
		if rep["status"] != "DISCREPANCIES" || discrepancies(rep) != want {
			t.Fatalf("got  %s\nwant %s", raw, want)
		}
		if p := rep["payments"].(map[string]any); p["count"] != float64(4) || p["total_fee"] != float64(180*3+1+500) {
			t.Fatalf("payments %v", p)
		}
		if s := w.state(t, lost); s != "SUCCESS" || len(w.events(t, "order.paid", lost)) != 1 {
			t.Fatalf("the lost payment is %s, with %d order.paid", s, len(w.events(t, "order.paid", lost)))
		}
		// Again: nothing changes twice, the same report, no second event.
		if again, _ := w.reconcile(t, day); again != raw || len(w.events(t, "order.paid", lost)) != 1 {
			t.Fatalf("a second run:\n%s\n%s", again, raw)
		}
		if stored, _ := w.b.direct(t, `{"action":"reconciliation","date":"`+day.Format(time.DateOnly)+`"}`); stored != raw {
			t.Fatalf("stored:\n%s\n%s", stored, raw)
		}

		// A bill cut short changes nothing; the whole bill then fixes the day.
		// (Reading the order would ask WeChat Pay itself: the webhook tells.)
		w.setBill(badDay, billsim.Plan{Body: billsim.Truncated})
		if _, rep := w.reconcile(t, badDay); rep["status"] != "BILL_INVALID" || len(w.events(t, "order.paid", lostToo)) != 0 {
			t.Fatalf("a truncated bill: %v", rep)
		}
		w.setBill(badDay, billsim.Plan{})
		if _, rep := w.reconcile(t, badDay); discrepancies(rep) != "MISSED_PAYMENT:"+lostToo+":fixed" || len(w.events(t, "order.paid", lostToo)) != 1 {
			t.Fatalf("the whole bill: %v", rep)
		}
	})
}

// A date that is malformed, today, in the future or more than 90 days back
// is refused before anything is fetched; an unknown day's report is NOT_FOUND.
func TestReconcileDates(t *testing.T) {
	f := newFixture(t, nil)
	today := payment.ChinaDay(time.Now())
	for _, date := range []string{"2026-13-01", "29/11/2026", "", today.Format(time.DateOnly),
		today.AddDate(0, 0, 1).Format(time.DateOnly), today.AddDate(0, 0, -91).Format(time.DateOnly)} {
		for _, action := range []string{"reconcile", "reconciliation"} {
			if _, err := f.invoke(`{"action":"`+action+`","date":"`+date+`"}`, time.Second); err == nil || !strings.HasPrefix(err.Error(), "INVALID_DATE: ") {
				t.Errorf("%s %q: %v", action, date, err)
			}
		}
	}
	if f.sent("/pay/downloadbill") != 0 {
		t.Fatal("a bill was fetched for a refused date")
	}
	f.store.reconcile.Store(true)
	if _, err := f.invoke(`{"action":"reconciliation","date":"`+today.AddDate(0, 0, -5).Format(time.DateOnly)+`"}`, time.Second); err == nil || !strings.HasPrefix(err.Error(), "NOT_FOUND: ") {
		t.Fatalf("%v", err)
	}
}
