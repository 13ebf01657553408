package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/payment"
	"github.com/wxpay-scf/wxpay-scf/pkg/scflocal"
	"github.com/wxpay-scf/wxpay-scf/pkg/trade"
	"github.com/wxpay-scf/wxpay-scf/pkg/webhook"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpay"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpay/wxpaytest"
)

// lockedBuffer collects the function's output.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// line waits up to a second for the log line that contains every one of
// parts: the log arrives through a pipe.
func (l *lockedBuffer) line(parts ...string) (string, bool) {
	for deadline := time.Now().Add(time.Second); ; time.Sleep(5 * time.Millisecond) {
	lines:
		for _, line := range strings.Split(l.String(), "\n") {
			for _, p := range parts {
				if !strings.Contains(line, p) {
					continue lines
				}
			}
			return line, true
		}
		if time.Now().After(deadline) {
			return "", false
		}
	}
}

// demoRun is one run of the demo: the binary, the simulator, the
// merchant's webhook receiver, and the mini-program's side of the
// conversation.
type demoRun struct {
	fn   *scflocal.Process
	sim  *localSim
	rcv  *demoReceiver
	step int
}

func (d *demoRun) say(format string, args ...any) {
	d.step++
	fmt.Printf("\n%d. "+format+"\n", append([]any{d.step}, args...)...)
}

// call sends an HTTP request to the function as a Function URL event and
// returns the status and body.
func (d *demoRun) call(method, path, body string, headers map[string]any) (int, []byte, error) {
	h := map[string]any{"content-type": "application/json", "x-scf-remote-addr": "111.206.96.145:53412"}
	for k, v := range headers {
		h[k] = v
	}
	event, _ := json.Marshal(map[string]any{"httpMethod": method, "path": path, "body": body, "headers": h, "queryString": map[string]any{}})
	res, err := d.fn.Invoke(event, 3*time.Second, fmt.Sprintf("demo-%d", d.step))
	if err != nil {
		return 0, nil, err
	}
	if res.Error != nil {
		return 0, nil, fmt.Errorf("function error: %s", res.Error.Message)
	}
	var resp struct {
		StatusCode int    `json:"statusCode"`
		Body       string `json:"body"`
	}
	if err := json.Unmarshal(res.Payload, &resp); err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, []byte(resp.Body), nil
}

func show(status int, body []byte) {
	fmt.Printf("   → HTTP %d %s\n", status, body)
}

// direct invokes the function directly, as an operator does, with the
// deadline serverless.yml gives it (30 s), and returns its answer; a
// function error is an error.
func (d *demoRun) direct(event, requestID string) ([]byte, error) {
	r, err := d.fn.Invoke([]byte(event), 30*time.Second, requestID)
	if err != nil {
		return nil, err
	}
	if r.Error != nil {
		return nil, fmt.Errorf("%s: %s", event, r.Error.Message)
	}
	return r.Payload, nil
}

// events reads the pull API.
func (d *demoRun) events() (demoEventList, error) {
	var list demoEventList
	payload, err := d.direct(`{"action":"events","limit":10}`, "demo-events")
	if err == nil {
		err = json.Unmarshal(payload, &list)
	}
	return list, err
}

// showArrival prints an event the receiver got and checked.
func showArrival(how string, e demoEvent) {
	fmt.Printf("   %s %s\n     %s\n", e.Type, how, e)
}

// demo runs one order's whole life, then a payment whose notification is
// lost and which the sweep finds, then another that a day's reconciliation
// finds in WeChat Pay's bill beside a payment the store never saw, in the
// real binary over the SCF protocol against a simulated WeChat Pay, with
// its events delivered to a local webhook receiver; it checks each step
// and ends with the day's reconciliation report.
func demo(args []string) error {
	fs := flag.NewFlagSet("demo", flag.ExitOnError)
	binary := fs.String("binary", "build/main", "the built function")
	v3 := fs.Bool("v3", false, "a merchant with only API v3 public-key credentials")
	fs.Parse(args)

	sim, m, env, err := startTestMerchant(*v3, false, "https://pay.example.com/release/notify")
	if err != nil {
		return err
	}
	defer sim.Close()
	defer os.RemoveAll(m.dir)
	rcv, err := startReceiver()
	if err != nil {
		return err
	}
	defer rcv.Close()
	logs := &lockedBuffer{}
	fn, err := startFunction(*binary, append(env, rcv.env()...), logs)
	if err != nil {
		return err
	}
	defer fn.Close()
	d := &demoRun{fn: fn, sim: sim, rcv: rcv}
	wechat := newDemoWeChat(sim, m)
	d.say("A simulated WeChat Pay (%s) and login API at %s, for a test merchant (mch_id %s)\n   whose keys, AppSecret and certificates were generated for this run. %s started as SCF starts it\n   (_LAMBDA_SERVER_PORT, net/rpc): first Function.Ping answered after %v.\n   Its events go to a local webhook receiver at %s (WXPAY_EVENTS_URL; WXPAY_EVENTS_SECRET\n   is a whsec_ secret made for this run), which verifies every delivery with webhook.Verify\n   and accepts only those.",
		wechat.name(), sim.URL, m.mchID, *binary, fn.Started.Round(10*time.Microsecond), rcv.URL())

	const openid = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
	code := sim.login(openid)
	d.say("wx.login gives the mini-program a code; it logs in once:  POST /release/login")
	status, body, err := d.call("POST", "/release/login", `{"code":"`+code+`"}`, nil)
	if err != nil {
		return err
	}
	var login struct {
		Token     string `json:"token"`
		ExpiresIn int    `json:"expires_in"`
	}
	if json.Unmarshal(body, &login) != nil || status != 200 || login.Token == "" {
		return fmt.Errorf("login failed: %d %s", status, body)
	}
	fmt.Printf("   → HTTP %d {\"token\":\"%s…\",\"expires_in\":%d}\n", status, login.Token[:12], login.ExpiresIn)
	auth := map[string]any{"authorization": "Bearer " + login.Token}

	payBody := `{"total_fee":180,"description":"会员充值","request_id":"cart-42"}`
	d.say("wx.request  POST /release/pay  %s  (Authorization: Bearer …)", payBody)
	status, body, err = d.call("POST", "/release/pay", payBody, auth)
	if err != nil {
		return err
	}
	show(status, body)
	var paid struct {
		OutTradeNo string          `json:"out_trade_no"`
		Data       wxpay.PayParams `json:"data"`
	}
	if status != 200 || json.Unmarshal(body, &paid) != nil {
		return fmt.Errorf("the payment did not start")
	}
	if err := wechat.checkPay(paid.OutTradeNo, paid.Data); err != nil {
		return err
	}
	fmt.Println("   What WeChat Pay received:")
	for _, line := range wechat.received() {
		fmt.Println("     " + line)
	}
	fmt.Printf("   Checked: package is WeChat's prepay_id, the %s paySign verifies, timeStamp is in seconds.\n", paid.Data.SignType)
	status, again, _ := d.call("POST", "/release/pay", payBody, auth)
	if status != 200 || !bytes.Contains(again, []byte(paid.OutTradeNo)) {
		return fmt.Errorf("the same request_id made another order")
	}
	fmt.Println("   Sent again with the same request_id: the same order comes back, not a second one.")

	d.say("The mini-program calls wx.requestPayment({...res.data.data}); the user pays. WeChat Pay first\n   probes with a deliberately wrong signature, then posts the real notification (three copies at once).")
	note, _ := wechat.pay(paid.OutTradeNo)
	deliver := func(ctx context.Context, n demoNotice) ([]byte, error) {
		status, reply, err := d.call("POST", "/release/notify", string(n.body), n.headers)
		if err != nil {
			return nil, err
		}
		if !wechat.accepted(status, reply) {
			return nil, fmt.Errorf("refused: HTTP %d %s", status, reply)
		}
		return wxpay.NotifyReply(true), nil // what WeChatPay's retry loop reads as delivered
	}
	if _, err := deliver(context.Background(), wechat.probe(paid.OutTradeNo)); err == nil {
		return fmt.Errorf("the probe was not refused")
	} else {
		fmt.Printf("   probe → %v\n", err)
	}
	res := wxpaytest.Notify(context.Background(), func(ctx context.Context, _ []byte) ([]byte, error) {
		return deliver(ctx, note)
	}, nil, wxpaytest.NotifyOptions{Copies: 3, TimeScale: 1e-5})
	if !res.Delivered {
		return fmt.Errorf("the notification was not accepted")
	}
	fmt.Printf("   notification → accepted after %d attempt(s), %d posts; verified, recorded, then answered.\n", res.Attempts, res.Posts)
	delivery, event, err := rcv.arrived("order.paid", paid.OutTradeNo)
	if err != nil {
		return err
	}
	showArrival("was at the receiver, verified, by the time the notification was answered (the first attempt\n   is made inside the invocation that records the change):", event)
	for _, h := range []string{webhook.HeaderID, webhook.HeaderTimestamp, webhook.HeaderSignature} {
		fmt.Printf("       %s: %s\n", h, delivery.Header.Get(h))
	}
	refused, err := rcv.tampered(delivery)
	if err != nil {
		return err
	}
	fmt.Printf("     The same delivery with one byte of its body changed: %v\n", refused)

	d.say("The mini-program asks for its order:  GET /release/orders/%s", paid.OutTradeNo)
	status, body, err = d.call("GET", "/release/orders/"+paid.OutTradeNo, "", auth)
	if err != nil || status != 200 || !bytes.Contains(body, []byte(`"state":"SUCCESS"`)) {
		return fmt.Errorf("the order does not read as paid: %d %s %v", status, body, err)
	}
	show(status, body)

	refund := `{"action":"refund","out_trade_no":"` + paid.OutTradeNo + `","refund_fee":100,"reason":"退货"}`
	d.say("An operator refunds ¥1.00 by direct invocation (on v2 with the client certificate over mutual TLS):\n   %s", refund)
	r, err := fn.Invoke([]byte(refund), 3*time.Second, "demo-refund")
	if err != nil || r.Error != nil {
		return fmt.Errorf("refund failed: %v %+v", err, r)
	}
	fmt.Printf("   → %s\n", r.Payload)
	var rv struct {
		OutRefundNo string `json:"out_refund_no"`
	}
	json.Unmarshal(r.Payload, &rv)
	over, _ := fn.Invoke([]byte(strings.Replace(refund, `"refund_fee":100`, `"refund_fee":81`, 1)), 3*time.Second, "demo-refund-2")
	fmt.Printf("   Another ¥0.81 is more than is left to refund: %s\n", over.Error.Message)

	d.say("WeChat Pay finishes the refund and posts its encrypted notification.")
	refundNote, _ := wechat.completeRefund(rv.OutRefundNo)
	if _, err := deliver(context.Background(), refundNote); err != nil {
		return fmt.Errorf("the refund notification was not accepted: %v", err)
	}
	// Looked at before the order is read, so that it is known to have come
	// with the notification.
	if _, event, err = rcv.arrived("refund.succeeded", paid.OutTradeNo); err != nil {
		return err
	}
	status, body, _ = d.call("GET", "/release/orders/"+paid.OutTradeNo, "", auth)
	if !bytes.Contains(body, []byte(`"state":"REFUND"`)) {
		return fmt.Errorf("the order does not read as refunded: %s", body)
	}
	show(status, body)
	showArrival("was at the receiver, verified, by the time the notification was answered:", event)

	d.say(`A request with "total_fee":"0180" is refused before anything reaches WeChat:`)
	sent := len(wechat.calls())
	status, body, _ = d.call("POST", "/release/pay", `{"total_fee":"0180"}`, auth)
	show(status, body)
	if status != 400 || len(wechat.calls()) != sent {
		return fmt.Errorf("a refused request reached WeChat")
	}

	if err := d.prices(*binary, env, m, auth); err != nil {
		return err
	}

	lost, err := d.lostNotification(wechat, auth)
	if err != nil {
		return err
	}
	if err := d.sweep(logs, lost); err != nil {
		return err
	}
	day, err := d.paidDaysAgo(wechat, auth)
	if err != nil {
		return err
	}
	if err := d.reconcile(wechat, logs, auth, day); err != nil {
		return err
	}
	if err := d.pullEvents(); err != nil {
		return err
	}

	time.Sleep(20 * time.Millisecond) // let the last log lines arrive
	d.say("The audit trail in the function's log (one JSON line per state change, the sweep's summary, and\n   the reconciliation's discrepancies and summary; no key, AppSecret, code, token or webhook secret):")
	sweepLine, reconciliationLine := false, false
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		for _, secret := range []string{m.key, m.appSecret, m.apiV3Key, code, login.Token, strings.TrimPrefix(rcv.raw, "whsec_")} {
			if secret != "" && strings.Contains(line, secret) {
				return fmt.Errorf("a secret reached the log")
			}
		}
		sweep := strings.Contains(line, `"event":"sweep"`)
		reconciliation := strings.Contains(line, `"event":"reconciliation","date":"`+day.date+`"`)
		if sweep || strings.Contains(line, `"event":"reconciliation"`) || strings.Contains(line, `"order_state"`) || strings.Contains(line, `"msg":"discrepancy"`) {
			fmt.Println("   " + line)
		}
		sweepLine, reconciliationLine = sweepLine || sweep, reconciliationLine || reconciliation
	}
	if !sweepLine || !reconciliationLine {
		return fmt.Errorf("the sweep or the reconciliation logged no summary line")
	}
	return d.finalReport(wechat, day)
}

// lostNotification makes a second order whose user pays while its
// notification never arrives, and checks that nothing has told the
// merchant's business. Nothing reads the order through the function
// either: a read would ask WeChat Pay and record the payment itself, and
// would put the sweep's next query of it a minute off.
func (d *demoRun) lostNotification(wechat demoWeChat, auth map[string]any) (string, error) {
	payBody := `{"total_fee":180,"description":"会员充值","request_id":"cart-43"}`
	d.say("A second order, %s:\n   the user pays, but WeChat Pay's notification is lost (here it is simply never posted), and the\n   user has left the page, so nothing reads the order.", payBody)
	status, body, err := d.call("POST", "/release/pay", payBody, auth)
	var order struct {
		OutTradeNo string `json:"out_trade_no"`
	}
	if err != nil || status != 200 || json.Unmarshal(body, &order) != nil || order.OutTradeNo == "" {
		return "", fmt.Errorf("the second payment did not start: %d %s %v", status, body, err)
	}
	fmt.Printf("   POST /release/pay → HTTP %d, out_trade_no %s\n", status, order.OutTradeNo)
	if _, ok := wechat.pay(order.OutTradeNo); !ok {
		return "", fmt.Errorf("WeChat Pay did not take the payment of %s", order.OutTradeNo)
	}
	list, err := d.events()
	if err != nil {
		return "", err
	}
	for _, e := range list.Events {
		if e.Data.OutTradeNo == order.OutTradeNo {
			return "", fmt.Errorf("the pull API already lists %s", e.demoEvent)
		}
	}
	if err := d.rcv.nothingNew(); err != nil {
		return "", err
	}
	fmt.Println("   WeChat Pay has it paid. The business has heard nothing: no delivery reached the receiver,\n   and the pull API lists no event for it.")
	return order.OutTradeNo, nil
}

// sweep has the operator sweep, and checks that it found the lost payment,
// recorded it and delivered its event.
func (d *demoRun) sweep(logs *lockedBuffer, lost string) error {
	const sweep = `{"action":"sweep","min_age":0}`
	d.say("An operator sweeps by direct invocation:  %s", sweep)
	before := time.Now()
	payload, err := d.direct(sweep, "demo-sweep")
	if err != nil {
		return err
	}
	after := time.Now()
	fmt.Printf("   → %s\n", payload)
	var sum struct {
		Queried         int  `json:"queried"`
		Paid            int  `json:"paid"`
		Closed          int  `json:"closed"`
		RefundsFinished int  `json:"refunds_finished"`
		EventsDelivered int  `json:"events_delivered"`
		EventsFailed    int  `json:"events_failed"`
		More            bool `json:"more"`
	}
	if json.Unmarshal(payload, &sum) != nil || sum.Queried != 1 || sum.Paid != 1 || sum.Closed != 0 ||
		sum.RefundsFinished != 0 || sum.EventsDelivered != 1 || sum.EventsFailed != 0 || sum.More {
		return fmt.Errorf("the sweep did not find exactly the lost payment")
	}
	if _, ok := logs.line(`"order_state"`, lost, `"from":"NOTPAY","to":"SUCCESS"`, `"request_id":"demo-sweep"`); !ok {
		return fmt.Errorf("the sweep logged no change of %s from NOTPAY", lost)
	}
	fmt.Println("   It asked WeChat Pay about the one unpaid order and recorded it paid: NOTPAY until this sweep,\n   SUCCESS now (its order_state line is in the audit trail below).")
	_, event, err := d.rcv.next("order.paid", lost)
	if err != nil {
		return err
	}
	showArrival("was at the receiver, verified, by the time the sweep answered:", event)
	return d.sweptYesterday(before, after)
}

// sweptYesterday checks the sweep's daily reconciliation: from 10:00 China
// time a sweep reconciles the day before, which in this run has neither a
// bill nor a payment (NO_BILL), and sends its report; before 10:00 it does
// not. The sweep ran between before and after.
func (d *demoRun) sweptYesterday(before, after time.Time) error {
	pastHour := func(t time.Time) bool { return t.Sub(payment.ChinaDay(t)) >= payment.ReconcileAfter }
	yesterday := payment.ChinaDay(after).AddDate(0, 0, -1).Format(time.DateOnly)
	if d.rcv.nothingNew() == nil {
		if pastHour(before) {
			return fmt.Errorf("the sweep after 10:00 China time did not reconcile %s", yesterday)
		}
		return nil
	}
	_, event, err := d.rcv.arrived("bill.reconciled", yesterday)
	switch {
	case err != nil:
		return err
	case !pastHour(after):
		return fmt.Errorf("the sweep reconciled %s before 10:00 China time", yesterday)
	case event.Data.Status != string(trade.ReconcileNoBill):
		return fmt.Errorf("the sweep's reconciliation of %s is %s, not NO_BILL", yesterday, event.Data.Status)
	}
	showArrival(fmt.Sprintf("was at the receiver too: past 10:00 China time a sweep reconciles the day before, %s,\n   which has neither a bill nor a payment:", yesterday), event)
	return nil
}

// pullEvents reads the pull API and checks that it lists what the
// receiver got, in the same order, each delivered once at its first
// attempt.
func (d *demoRun) pullEvents() error {
	d.say(`The pull API, for a backend that polls instead of receiving:  {"action":"events","limit":10}`)
	list, err := d.events()
	if err != nil {
		return err
	}
	fmt.Printf("   → {\"events\":[%d events],\"has_more\":%t}\n", len(list.Events), list.HasMore)
	got := d.rcv.Deliveries()
	if list.HasMore || len(list.Events) != len(got) {
		return fmt.Errorf("the pull API lists %d events, the receiver got %d deliveries", len(list.Events), len(got))
	}
	for i, e := range list.Events {
		fmt.Printf("     %s  %s, %d attempt(s)\n", e.demoEvent, e.Delivery.State, e.Delivery.Attempts)
		if e.ID != got[i].ID || e.Delivery.State != "delivered" || e.Delivery.Attempts != 1 || d.rcv.Count(e.ID) != 1 {
			return fmt.Errorf("%s is not the receiver's delivery %d, delivered once", e.ID, i+1)
		}
	}
	fmt.Printf("   The %d the receiver got, in the same order; each delivered once, at its first attempt.\n", len(got))
	return nil
}

// demoPrices is the price list of the demo's shop.
const demoPrices = `{"vip-month":{"total_fee":1800,"description":"会员月卡"}}`

// prices shows a shop that sets its own prices: a second instance of the
// function with WXPAY_PRICES (its own store), where the mini-program names
// an item, and a request whose amount was tampered with is refused.
func (d *demoRun) prices(binary string, env []string, m testMerchant, auth map[string]any) error {
	d.say("A shop sets its prices instead (WXPAY_PRICES=%s),\n   on a second instance of the function. The mini-program names the item:  POST /release/pay  {\"item\":\"vip-month\"}", demoPrices)
	env = append(env[:len(env):len(env)], "WXPAY_PRICES="+demoPrices, "WXPAY_STORE=sqlite:"+filepath.Join(m.dir, "shop.db"))
	shop, err := startFunction(binary, env, io.Discard)
	if err != nil {
		return err
	}
	defer shop.Close()
	first := d.fn
	d.fn = shop
	defer func() { d.fn = first }()
	status, body, err := d.call("POST", "/release/pay", `{"item":"vip-month"}`, auth)
	if err != nil || status != 200 {
		return fmt.Errorf("paying for an item: %d %s %v", status, body, err)
	}
	var paid struct {
		OutTradeNo string `json:"out_trade_no"`
	}
	json.Unmarshal(body, &paid)
	status, body, err = d.call("GET", "/release/orders/"+paid.OutTradeNo, "", auth)
	if err != nil || status != 200 || !bytes.Contains(body, []byte(`"total_fee":1800,`)) || !bytes.Contains(body, []byte(`"item":"vip-month","quantity":1`)) {
		return fmt.Errorf("the item's order: %d %s %v", status, body, err)
	}
	fmt.Printf("   → the order, priced by the server:  %s\n", body)
	tampered := `{"item":"vip-month","total_fee":1}`
	status, body, err = d.call("POST", "/release/pay", tampered, auth)
	if err != nil || status != 400 || !bytes.Contains(body, []byte(`"PRICE_MISMATCH"`)) {
		return fmt.Errorf("a tampered amount was not refused: %d %s %v", status, body, err)
	}
	fmt.Printf("   Someone edits the request to pay ¥0.01:  %s\n", tampered)
	show(status, body)
	return nil
}
