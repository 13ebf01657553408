package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/trade"
)

// billDaysBack is how far back the demo's payments for reconciliation go:
// the function reconciles only days before today, and a day's bill is made
// at 10:00 China time the next day, so two days back has a bill at any
// hour, and is a day the sweep's daily reconciliation (yesterday) leaves
// alone.
const billDaysBack = 2

// plantedFee is what another system of the merchant takes, in fen.
const plantedFee = 990

// dayAgo is a payment of the demo on the day it reconciles.
type dayAgo struct {
	date    string // the China day, 2006-01-02
	lost    string // an order of this store paid that day, its notification lost
	planted string // a payment taken that day by another system
}

// paidDaysAgo makes a third order whose user pays on a day before today
// (the simulator's business clock put back while the user pays, then
// forward again), with its notification lost, and a payment another system
// of the merchant takes that day. Nothing sweeps before the reconciliation:
// a sweep would find the order itself.
func (d *demoRun) paidDaysAgo(wechat demoWeChat, auth map[string]any) (dayAgo, error) {
	back := billDaysBack * 24 * time.Hour
	day := dayAgo{date: time.Now().Add(-back).In(trade.ChinaTime).Format(time.DateOnly)}
	day.planted = "POS" + strings.ReplaceAll(day.date, "-", "") + "0001"
	payBody := `{"total_fee":180,"description":"会员充值","request_id":"cart-44"}`
	d.say("A third order, %s,\n"+
		"   whose notification is lost as well, and no sweep comes this time. The function reconciles only days\n"+
		"   before today, so WeChat Pay's business clock is put back %d days while the user pays, and forward\n"+
		"   again after: the payment falls on %s, whose bill WeChat Pay made at 10:00 China time the next\n"+
		"   day. That day another system of the merchant also takes ¥%s (out_trade_no %s),\n"+
		"   which this store never heard of.",
		payBody, billDaysBack, day.date, yuan(plantedFee), day.planted)
	status, body, err := d.call("POST", "/release/pay", payBody, auth)
	var order struct {
		OutTradeNo string `json:"out_trade_no"`
	}
	if err != nil || status != 200 || json.Unmarshal(body, &order) != nil || order.OutTradeNo == "" {
		return day, fmt.Errorf("the third payment did not start: %d %s %v", status, body, err)
	}
	day.lost = order.OutTradeNo
	wechat.advance(-back)
	_, paid := wechat.pay(day.lost)
	added := wechat.addPaidOrder(day.planted, plantedFee)
	wechat.advance(back)
	if !paid || !added {
		return day, fmt.Errorf("WeChat Pay did not take the payments of %s (%v) and %s (%v)", day.lost, paid, day.planted, added)
	}
	fmt.Printf("   POST /release/pay → HTTP %d, out_trade_no %s; paid at WeChat Pay on %s.\n", status, day.lost, day.date)
	return day, d.rcv.nothingNew()
}

func yuan(fen int64) string { return fmt.Sprintf("%d.%02d", fen/100, fen%100) }

// want is the report the day must have: two payments of this app in the
// bill, the lost one fixed and the planted one reported.
func (day dayAgo) want() trade.Report {
	r := trade.Report{Date: day.date, Status: trade.ReconcileDiscrepancies, Discrepancies: []trade.Discrepancy{
		{Kind: trade.MissedPayment, OutTradeNo: day.lost, Bill: "SUCCESS 1.80", Store: "not paid 1.80", Fixed: true},
		{Kind: trade.UnknownOrder, OutTradeNo: day.planted, Bill: "SUCCESS " + yuan(plantedFee)},
	}}
	r.Payments.Count, r.Payments.TotalFee = 2, 180+plantedFee
	return r
}

// checkReport checks every claim of a report the function answered.
func (day dayAgo) checkReport(payload []byte) error {
	var got trade.Report
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		return fmt.Errorf("the report does not decode: %v: %s", err, payload)
	}
	if want := day.want(); !reflect.DeepEqual(got, want) {
		w, _ := json.Marshal(want)
		return fmt.Errorf("the report is\n   %s\n   not\n   %s", payload, w)
	}
	return nil
}

// reconcile has the operator reconcile the day, and checks that the lost
// payment was confirmed with WeChat Pay and recorded paid, its order.paid
// delivered, the planted payment reported, and the report sent.
func (d *demoRun) reconcile(wechat demoWeChat, logs *lockedBuffer, auth map[string]any, day dayAgo) error {
	event := `{"action":"reconcile","date":"` + day.date + `"}`
	d.say("An operator reconciles that day with WeChat Pay's trade bill by direct invocation:\n   %s", event)
	sent := len(wechat.calls())
	payload, err := d.direct(event, "demo-reconcile")
	if err != nil {
		return err
	}
	fmt.Printf("   → %s\n", payload)
	if err := day.checkReport(payload); err != nil {
		return err
	}
	calls := wechat.calls()[sent:]
	fmt.Println("   What WeChat Pay received meanwhile:")
	fetched, queried := false, 0
	for _, c := range calls {
		fmt.Println("     " + c)
		fetched = fetched || strings.Contains(c, "bill")
		if strings.Contains(c, day.lost) {
			queried++
		}
		if strings.Contains(c, day.planted) {
			return fmt.Errorf("the function asked WeChat Pay about %s, an order it never made", day.planted)
		}
	}
	if !fetched || queried != 1 {
		return fmt.Errorf("the function did not fetch the bill and query %s once", day.lost)
	}
	if _, ok := logs.line(`"order_state"`, day.lost, `"from":"NOTPAY","to":"SUCCESS"`, `"request_id":"demo-reconcile"`); !ok {
		return fmt.Errorf("the reconciliation logged no change of %s from NOTPAY", day.lost)
	}
	fmt.Printf("   The bill lists two payments of this app on %s. The store had %s NOTPAY:\n"+
		"   the function confirmed it with WeChat Pay's verified order query before recording it paid\n"+
		"   (MISSED_PAYMENT, fixed). %s it never heard of: reported (UNKNOWN_ORDER), not adopted.\n", day.date, day.lost, day.planted)
	_, paid, err := d.rcv.next("order.paid", day.lost)
	if err != nil {
		return err
	}
	showArrival("was at the receiver, verified, by the time the reconciliation answered, and the report after it:", paid)
	_, report, err := d.rcv.arrived("bill.reconciled", day.date)
	if err != nil {
		return err
	}
	fmt.Printf("     %s\n", report)
	status, body, err := d.call("GET", "/release/orders/"+day.lost, "", auth)
	if err != nil || status != 200 || !bytes.Contains(body, []byte(`"state":"SUCCESS"`)) || !bytes.Contains(body, []byte(`"paid_at":"`+day.date)) {
		return fmt.Errorf("the order does not read as paid on %s: %d %s %v", day.date, status, body, err)
	}
	fmt.Printf("   The mini-program reads it as paid (WeChat Pay's clock was %d days back when the user paid):\n", billDaysBack)
	show(status, body)
	return nil
}

// finalReport reconciles the day again, which must change nothing and
// send nothing, and reads the stored report.
func (d *demoRun) finalReport(wechat demoWeChat, day dayAgo) error {
	again := `{"action":"reconcile","date":"` + day.date + `"}`
	stored := `{"action":"reconciliation","date":"` + day.date + `"}`
	d.say("Reconciling the day again (%s) gives the same report, changes\n"+
		"   nothing, asks WeChat Pay about no order and sends no event. The day's report, as stored:\n   %s", again, stored)
	sent := len(wechat.calls())
	payload, err := d.direct(again, "demo-reconcile-again")
	if err != nil {
		return err
	}
	if err := day.checkReport(payload); err != nil {
		return fmt.Errorf("reconciling again: %w", err)
	}
	for _, c := range wechat.calls()[sent:] {
		if strings.Contains(c, day.lost) {
			return fmt.Errorf("reconciling again asked WeChat Pay about %s", day.lost)
		}
	}
	if err := d.rcv.nothingNew(); err != nil {
		return fmt.Errorf("reconciling again: %w", err)
	}
	if payload, err = d.direct(stored, "demo-reconciliation"); err != nil {
		return err
	}
	if err := day.checkReport(payload); err != nil {
		return fmt.Errorf("the stored report: %w", err)
	}
	fmt.Printf("   Checked, the same as the first run's: %s; two payments of this app, ¥%s; no refund;\n"+
		"   %s missed and fixed; %s unknown, not fixed.\n",
		trade.ReconcileDiscrepancies, yuan(180+plantedFee), day.lost, day.planted)
	fmt.Printf("   → %s\n", payload)
	return nil
}
