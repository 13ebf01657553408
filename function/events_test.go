package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"net/http/httptest"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tencentyun/scf-go-lib/functioncontext"
	"github.com/wxpay-scf/wxpay-scf/pkg/httpevent"
	"github.com/wxpay-scf/wxpay-scf/pkg/payment"
	"github.com/wxpay-scf/wxpay-scf/pkg/scfinvoke"
	"github.com/wxpay-scf/wxpay-scf/pkg/scfinvoke/scfinvoketest"
	"github.com/wxpay-scf/wxpay-scf/pkg/store"
	"github.com/wxpay-scf/wxpay-scf/pkg/store/storetest"
	"github.com/wxpay-scf/wxpay-scf/pkg/trade"
	"github.com/wxpay-scf/wxpay-scf/pkg/webhook"
	"github.com/wxpay-scf/wxpay-scf/pkg/webhook/webhooktest"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpay/wxpaytest"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpayv3/wxpayv3test"
)

// listedEvent is an event as {"action":"events"} lists it.
type listedEvent struct {
	ID        string          `json:"id"`
	Type      string          `json:"type"`
	CreatedAt string          `json:"created_at"`
	Data      json.RawMessage `json:"data"`
	Delivery  struct {
		State     string `json:"state"`
		Attempts  int    `json:"attempts"`
		LastError string `json:"last_error"`
	} `json:"delivery"`
}

// outTradeNo is the order the event is about.
func (e listedEvent) outTradeNo() string {
	var d struct {
		OutTradeNo string `json:"out_trade_no"`
	}
	json.Unmarshal(e.Data, &d)
	return d.OutTradeNo
}

// withReceiver builds the fixture with a webhook receiver (webhooktest.Start
// or StartTLS) as its events target, on the fixture's clock; edit, if any,
// tweaks the environment further.
func withReceiver(t *testing.T, start func(webhook.Secret) *webhooktest.Receiver, edit func(map[string]string)) (*fixture, *webhooktest.Receiver) {
	t.Helper()
	raw, secret := testEventsSecret(t)
	receiver := start(secret)
	t.Cleanup(receiver.Close)
	f := newFixture(t, both(func(env map[string]string) {
		env["WXPAY_EVENTS_URL"], env["WXPAY_EVENTS_SECRET"] = receiver.URL(), raw
	}, edit))
	receiver.SetClock(f.clock.Now)
	return f, receiver
}

// both applies edits in turn.
func both(edits ...func(map[string]string)) func(map[string]string) {
	return func(env map[string]string) {
		for _, e := range edits {
			if e != nil {
				e(env)
			}
		}
	}
}

// directOn invokes a with a direct event, as an operator does, and returns
// the answer as the runtime would marshal it, or the function error's
// message. It is safe in any goroutine.
func directOn(a *app, event string, timeout time.Duration) (json.RawMessage, string) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	ctx = functioncontext.NewContext(ctx, &functioncontext.FunctionContext{RequestID: "req-direct"})
	out, err := a.invoke(ctx, json.RawMessage(event))
	if err != nil {
		return nil, err.Error()
	}
	raw, err := json.Marshal(out)
	if err != nil {
		return nil, "the answer does not marshal: " + err.Error()
	}
	return raw, ""
}

// direct is directOn the fixture's function, failing the test on a function error.
func (f *fixture) direct(event string) json.RawMessage {
	f.t.Helper()
	raw, msg := directOn(f.app, event, 3*time.Second)
	if msg != "" {
		f.t.Fatalf("%s: %s", event, msg)
	}
	return raw
}

// directError invokes with a direct event that must fail, and returns the
// function error's code.
func (f *fixture) directError(event string) string {
	f.t.Helper()
	raw, msg := directOn(f.app, event, 3*time.Second)
	code, _, ok := strings.Cut(msg, ": ")
	if msg == "" || !ok {
		f.t.Fatalf("%s: answered %s, want a function error", event, raw)
	}
	return code
}

// events lists every event through the pull API, a page at a time.
func (f *fixture) events() []listedEvent {
	f.t.Helper()
	var all []listedEvent
	after := ""
	for {
		q := `{"action":"events","limit":100}`
		if after != "" {
			q = `{"action":"events","limit":100,"after":"` + after + `"}`
		}
		var page struct {
			Events  []listedEvent `json:"events"`
			HasMore bool          `json:"has_more"`
		}
		if err := json.Unmarshal(f.direct(q), &page); err != nil {
			f.t.Fatal(err)
		}
		all = append(all, page.Events...)
		if !page.HasMore {
			return all
		}
		after = page.Events[len(page.Events)-1].ID
	}
}

// eventsOf returns the listed events of order no of type typ.
func (f *fixture) eventsOf(no, typ string) []listedEvent {
	f.t.Helper()
	var out []listedEvent
	for _, e := range f.events() {
		if e.outTradeNo() == no && e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

// theEvent is the one event of order no of type typ.
func (f *fixture) theEvent(no, typ string) listedEvent {
	f.t.Helper()
	got := f.eventsOf(no, typ)
	if len(got) != 1 {
		f.t.Fatalf("%d %s events of %s", len(got), typ, no)
	}
	return got[0]
}

// newOrder creates an order for a new user by direct invocation.
func (f *fixture) newOrder() string {
	f.t.Helper()
	openid := unique("o-")
	f.sim.AddUser(openid)
	if f.sim3 != nil {
		f.sim3.AddUser(openid)
	}
	var res payment.Result
	if err := json.Unmarshal(f.direct(`{"total_fee":180,"openid":"`+openid+`"}`), &res); err != nil || res.OutTradeNo == "" {
		f.t.Fatalf("pay: %v", err)
	}
	return res.OutTradeNo
}

// payAtWeChat has the user pay order no; the notification is lost.
func (f *fixture) payAtWeChat(no string) {
	f.t.Helper()
	ok := false
	if f.sim3 != nil {
		_, ok = f.sim3.Pay(no)
	} else {
		_, ok = f.sim.Pay(no)
	}
	if !ok {
		f.t.Fatalf("WeChat Pay refused to take the payment of %s", no)
	}
}

// paid creates an order and has the user pay it, notification included (v2).
func (f *fixture) paid() string {
	f.t.Helper()
	no := f.newOrder()
	note, ok := f.sim.Pay(no)
	if !ok {
		f.t.Fatal("the simulator refused the payment")
	}
	if r := f.notify(note); r != "SUCCESS" {
		f.t.Fatalf("notification: %s", r)
	}
	return no
}

// sweep runs a direct sweep that includes orders created this instant.
func (f *fixture) sweep() payment.SweepSummary {
	f.t.Helper()
	return f.sweepWithin(3 * time.Second)
}

// sweepWithin is sweep in an invocation of timeout.
func (f *fixture) sweepWithin(timeout time.Duration) payment.SweepSummary {
	f.t.Helper()
	raw, msg := directOn(f.app, `{"action":"sweep","min_age":0}`, timeout)
	var sum payment.SweepSummary
	if err := json.Unmarshal(raw, &sum); msg != "" || err != nil {
		f.t.Fatalf("sweep: %s %v", msg, err)
	}
	return sum
}

// stored reads an order from the store itself, asking WeChat Pay nothing.
func (f *fixture) stored(no string) trade.Order {
	f.t.Helper()
	o, err := f.store.Store.Order(context.Background(), no)
	if err != nil {
		f.t.Fatal(err)
	}
	return o
}

// A webhook that fails, hangs or cannot be trusted never holds up the
// answer to WeChat Pay: the notification is answered success within its
// invocation's deadline, the event waits as pending with the attempt's
// error, and the sweep tries again on schedule (1 min, then 5 min), by the
// function's clock, until the receiver takes it.
func TestWebhookDownNeverBlocksANotification(t *testing.T) {
	cases := []struct {
		name    string
		start   func(webhook.Secret) *webhooktest.Receiver
		mode    webhooktest.Mode
		cause   string // in last_error
		recover bool   // the receiver accepts again later
	}{
		{"500", webhooktest.Start, webhooktest.Fail, "500", true},
		{"hang", webhooktest.Start, webhooktest.Hang, "no answer", true},
		// The function's transport trusts the system's roots only.
		{"untrusted TLS", webhooktest.StartTLS, webhooktest.Accept, "certificate", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, receiver := withReceiver(t, c.start, nil)
			receiver.SetMode(c.mode)
			no := f.newOrder()
			note, _ := f.sim.Pay(no)

			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			deadline, _ := ctx.Deadline()
			out, err := f.app.invoke(ctx, json.RawMessage(urlEvent("POST", "/release/notify", string(note), nil)))
			if answered := time.Now(); answered.After(deadline) {
				t.Fatalf("answered %v after the invocation's deadline", answered.Sub(deadline))
			}
			resp, _ := out.(*httpevent.Response)
			if err != nil || resp == nil || !wxpaytest.IsSuccessReply([]byte(resp.Body)) {
				t.Fatalf("the notification was not acknowledged: %+v %v", out, err)
			}
			if f.stored(no).State != trade.Success {
				t.Fatal("the payment was not recorded")
			}
			e := f.theEvent(no, "order.paid")
			if e.Delivery.State != "pending" || e.Delivery.Attempts != 1 || !strings.Contains(e.Delivery.LastError, c.cause) {
				t.Fatalf("after the first attempt: %+v", e.Delivery)
			}

			// Not due yet: a sweep leaves it alone.
			if sum := f.sweep(); sum.EventsDelivered+sum.EventsFailed != 0 || f.theEvent(no, "order.paid").Delivery.Attempts != 1 {
				t.Fatalf("tried again before its time: %+v", sum)
			}
			// A minute later the sweep tries again; a receiver that still hangs
			// holds the sweep no longer than its invocation, and the attempt is
			// recorded.
			f.clock.Advance(time.Minute + time.Second)
			if sum := f.sweepWithin(2 * time.Second); sum.EventsFailed != 1 {
				t.Fatalf("the second attempt: %+v", sum)
			}
			if e := f.theEvent(no, "order.paid"); e.Delivery.State != "pending" || e.Delivery.Attempts != 2 || !strings.Contains(e.Delivery.LastError, c.cause) {
				t.Fatalf("after the second attempt: %+v", e.Delivery)
			}
			f.clock.Advance(4 * time.Minute)
			if sum := f.sweep(); sum.EventsFailed+sum.EventsDelivered != 0 {
				t.Fatalf("tried again before 5 minutes: %+v", sum)
			}
			f.clock.Advance(time.Minute + time.Second)
			if !c.recover {
				if sum := f.sweep(); sum.EventsFailed != 1 {
					t.Fatalf("the third attempt: %+v", sum)
				}
				if e := f.theEvent(no, "order.paid"); e.Delivery.State != "pending" || e.Delivery.Attempts != 3 || len(receiver.Deliveries()) != 0 {
					t.Fatalf("%+v", e.Delivery)
				}
				return
			}
			receiver.SetMode(webhooktest.Accept)
			if sum := f.sweep(); sum.EventsDelivered != 1 || sum.EventsFailed != 0 {
				t.Fatalf("sweep: %+v", sum)
			}
			e = f.theEvent(no, "order.paid")
			if e.Delivery.State != "delivered" || e.Delivery.Attempts != 3 || e.Delivery.LastError != "" || receiver.Count(e.ID) != 1 {
				t.Fatalf("after the retry: %+v, received %d times", e.Delivery, receiver.Count(e.ID))
			}
		})
	}
}

// An event is never lost to a store that is down. Down while a
// notification is recorded: it is answered FAIL and nothing is recorded,
// and WeChat Pay's retry records the payment and one event. Down right
// after the payment commits: the notification is answered success (it is
// recorded) and the sweep delivers the event the first attempt could not
// claim. Down when a delivery's outcome is recorded: the event is
// delivered again, with the same id, once its lease runs out.
func TestStoreDownLosesNoEvent(t *testing.T) {
	f, receiver := withReceiver(t, webhooktest.Start, nil)

	no := f.newOrder()
	note, _ := f.sim.Pay(no)
	f.store.down.Store(true)
	if r := f.notify(note); r != "FAIL" {
		t.Fatalf("a notification the store could not record: %s", r)
	}
	f.store.down.Store(false)
	if f.stored(no).State != trade.NotPay || f.store.notes.Load() != 0 || len(f.events()) != 0 || f.stateChanges(no) != 0 {
		t.Fatalf("recorded while the store was down: %s", f.log.String())
	}
	for range 2 { // WeChat Pay's retry, and a duplicate
		if r := f.notify(note); r != "SUCCESS" {
			t.Fatalf("the retry: %s", r)
		}
	}
	e := f.theEvent(no, "order.paid")
	if len(f.events()) != 1 || e.Delivery.State != "delivered" || receiver.Count(e.ID) != 1 || f.stateChanges(no) != 1 {
		t.Fatalf("%d events, %+v, received %d times", len(f.events()), e.Delivery, receiver.Count(e.ID))
	}

	// paidThenDown has a new order paid, its notification recorded and the
	// store go down right after call, then come back.
	paidThenDown := func(call string) string {
		no := f.newOrder()
		note, _ := f.sim.Pay(no)
		f.store.goDownAfter(call)
		if r := f.notify(note); r != "SUCCESS" {
			t.Fatalf("a recorded notification: %s", r)
		}
		f.store.down.Store(false)
		return no
	}
	no = paidThenDown("ApplyNotification")
	if e := f.theEvent(no, "order.paid"); e.Delivery.State != "pending" || e.Delivery.Attempts != 0 || receiver.Count(e.ID) != 0 {
		t.Fatalf("unclaimed: %+v", e.Delivery)
	}
	if sum := f.sweep(); sum.EventsDelivered != 1 {
		t.Fatalf("sweep: %+v", sum)
	}
	if e := f.theEvent(no, "order.paid"); e.Delivery.State != "delivered" || receiver.Count(e.ID) != 1 {
		t.Fatalf("after the sweep: %+v", e.Delivery)
	}

	no = paidThenDown("ClaimEvents")
	e = f.theEvent(no, "order.paid")
	if e.Delivery.State != "pending" || receiver.Count(e.ID) != 1 {
		t.Fatalf("a delivery whose outcome was not recorded: %+v", e.Delivery)
	}
	if sum := f.sweep(); sum.EventsDelivered != 0 {
		t.Fatalf("delivered again while its lease holds: %+v", sum)
	}
	f.clock.Advance(time.Minute + time.Second)
	if sum := f.sweep(); sum.EventsDelivered != 1 || receiver.Count(e.ID) != 2 || f.theEvent(no, "order.paid").Delivery.State != "delivered" {
		t.Fatalf("after the lease: %+v, received %d times", sum, receiver.Count(e.ID))
	}
}

// A configuration error of the events feature alone, or of the order TTL,
// is logged once by variable at ERROR, never with its value; payments and
// notifications go on and events are recorded for the pull API. An events
// error stops delivery (nothing reaches the receiver, not even by a sweep
// or a redelivery); a bad TTL falls back to 2 h.
func TestEventsConfigurationErrors(t *testing.T) {
	secretOf := func(n int) string { return "whsec_" + base64.StdEncoding.EncodeToString(make([]byte, n)) }
	cases := []struct {
		name, variable, value string
		edit                  func(env map[string]string, url, secret string)
	}{
		{"secret without whsec_", "WXPAY_EVENTS_SECRET", strings.TrimPrefix(secretOf(32), "whsec_"), nil},
		{"secret of 16 bytes", "WXPAY_EVENTS_SECRET", secretOf(16), nil},
		{"secret of 65 bytes", "WXPAY_EVENTS_SECRET", secretOf(65), nil},
		{"secret not base64", "WXPAY_EVENTS_SECRET", "whsec_TEST-not*base64", nil},
		{"secret without a URL", "WXPAY_EVENTS_URL", "", func(env map[string]string, _, secret string) {
			env["WXPAY_EVENTS_SECRET"] = secret
		}},
		{"http to another host", "WXPAY_EVENTS_URL", "hooks.example.com", func(env map[string]string, _, secret string) {
			env["WXPAY_EVENTS_URL"], env["WXPAY_EVENTS_SECRET"] = "http://hooks.example.com/wxpay", secret
		}},
		{"both targets", "WXPAY_EVENTS_FUNCTION", "TEST-ns/receiver", func(env map[string]string, url, secret string) {
			env["WXPAY_EVENTS_URL"], env["WXPAY_EVENTS_SECRET"], env["WXPAY_EVENTS_FUNCTION"] = url, secret, "TEST-ns/receiver"
		}},
		{"function without a region", "TENCENTCLOUD_REGION", "", func(env map[string]string, _, _ string) {
			env["WXPAY_EVENTS_FUNCTION"] = "TEST-ns/receiver"
		}},
		{"function with a bad API base", "WXPAY_TENCENTCLOUD_API_BASE", "scf.example.com", func(env map[string]string, _, _ string) {
			env["WXPAY_EVENTS_FUNCTION"], env["TENCENTCLOUD_REGION"], env["WXPAY_TENCENTCLOUD_API_BASE"] = "TEST-ns/receiver", "ap-guangzhou", "http://scf.example.com"
		}},
		{"TTL 5s", "WXPAY_ORDER_TTL", "5s", nil},
		{"TTL 200h", "WXPAY_ORDER_TTL", "200h", nil},
		{"TTL 2 hours", "WXPAY_ORDER_TTL", "2 hours", nil},
		// Left as deployment variables the deploying shell did not set.
		{"secret unresolved", "WXPAY_EVENTS_SECRET", "${env:WXPAY_EVENTS_SECRET}", nil},
		{"URL unresolved", "WXPAY_EVENTS_URL", "${env:WXPAY_EVENTS_URL}", func(env map[string]string, _, secret string) {
			env["WXPAY_EVENTS_URL"], env["WXPAY_EVENTS_SECRET"] = "${env:WXPAY_EVENTS_URL}", secret
		}},
		{"function unresolved", "WXPAY_EVENTS_FUNCTION", "${env:WXPAY_EVENTS_FUNCTION}", func(env map[string]string, _, _ string) {
			env["WXPAY_EVENTS_FUNCTION"], env["TENCENTCLOUD_REGION"] = "${env:WXPAY_EVENTS_FUNCTION}", "ap-guangzhou"
		}},
		{"TTL unresolved", "WXPAY_ORDER_TTL", "${env:WXPAY_ORDER_TTL}", nil},
		{"URL unresolved beside a function", "WXPAY_EVENTS_URL", "${env:WXPAY_EVENTS_URL}", func(env map[string]string, _, _ string) {
			env["WXPAY_EVENTS_URL"], env["WXPAY_EVENTS_FUNCTION"], env["TENCENTCLOUD_REGION"] = "${env:WXPAY_EVENTS_URL}", "TEST-ns/receiver", "ap-guangzhou"
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			raw, secret := testEventsSecret(t)
			receiver := webhooktest.Start(secret)
			t.Cleanup(receiver.Close)
			ttl := c.variable == "WXPAY_ORDER_TTL"
			f := newFixture(t, func(env map[string]string) {
				switch {
				case c.edit != nil:
					c.edit(env, receiver.URL(), raw)
				case ttl:
					env["WXPAY_EVENTS_URL"], env["WXPAY_EVENTS_SECRET"], env["WXPAY_ORDER_TTL"] = receiver.URL(), raw, c.value
				default:
					env["WXPAY_EVENTS_URL"], env["WXPAY_EVENTS_SECRET"] = receiver.URL(), c.value
				}
			})
			no := f.paid()
			e := f.theEvent(no, "order.paid")
			log := f.log.String()
			if strings.Count(log, `"msg":"configuration"`) != 1 || !strings.Contains(log, `"level":"ERROR","msg":"configuration","variable":"`+c.variable+`"`) {
				t.Fatalf("not logged once by name: %s", log)
			}
			if c.value != "" && strings.Contains(log, c.value) {
				t.Fatalf("the log carries the value: %s", log)
			}
			if strings.HasPrefix(c.value, "${") && !strings.Contains(log, "holds an unresolved deployment variable") {
				t.Fatalf("not said to be unresolved: %s", log)
			}
			if ttl {
				expires, err := time.ParseInLocation("20060102150405", f.sim.Order(no).Params["time_expire"], trade.ChinaTime)
				if d := expires.Sub(f.clock.Now()); err != nil || d < payment.DefaultOrderTTL-time.Minute || d > payment.DefaultOrderTTL {
					t.Fatalf("time_expire %v from now", d)
				}
				if e.Delivery.State != "delivered" || receiver.Count(e.ID) != 1 {
					t.Fatalf("events stopped for a bad TTL: %+v", e.Delivery)
				}
				return
			}
			f.clock.Advance(time.Hour)
			f.sweep()
			if code := f.directError(`{"action":"redeliver","id":"` + e.ID + `"}`); code != "CONFIG_ERROR" {
				t.Fatalf("redeliver: %s", code)
			}
			if e := f.theEvent(no, "order.paid"); e.Delivery.State != "pending" || e.Delivery.Attempts != 0 || len(receiver.Deliveries()) != 0 {
				t.Fatalf("delivered with a broken configuration: %+v", e.Delivery)
			}
		})
	}
}

// WeChat Pay's word counts only once verified: a sweep whose orderquery
// answer is forged or unverifiable changes nothing and records no event;
// the next sweep, once the order is due again, records the payment.
func TestSweepIgnoresUnverifiedAnswers(t *testing.T) {
	cases := []struct {
		name  string
		v3    bool
		forge func(f *fixture)
	}{
		{"v2 bad signature", false, func(f *fixture) { f.sim.Inject("/pay/orderquery", wxpaytest.Fault{Kind: wxpaytest.BadSignature}) }},
		{"v2 no signature", false, func(f *fixture) { f.sim.Inject("/pay/orderquery", wxpaytest.Fault{Kind: wxpaytest.NoSignature}) }},
		{"v3 bad signature", true, func(f *fixture) { f.sim3.Inject(wxpayv3test.Fault{Kind: wxpayv3test.BadSignature}) }},
		{"v3 probe", true, func(f *fixture) { f.sim3.Inject(wxpayv3test.Fault{Kind: wxpayv3test.Probe}) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var f *fixture
			if c.v3 {
				f, _ = newFixtureV3(t, false, nil)
			} else {
				f = newFixture(t, nil)
			}
			no := f.newOrder()
			f.payAtWeChat(no)
			c.forge(f)
			if sum := f.sweep(); sum.Queried != 1 || sum.Paid != 0 {
				t.Fatalf("sweep: %+v", sum)
			}
			if s := f.stored(no).State; s != trade.NotPay || len(f.events()) != 0 || f.stateChanges(no) != 0 {
				t.Fatalf("an unverified answer changed the order to %s: %s", s, f.log.String())
			}
			if !strings.Contains(f.log.String(), `"msg":"sweep_order","out_trade_no":"`+no+`"`) {
				t.Fatalf("the refused answer is not logged: %s", f.log.String())
			}
			if sum := f.sweep(); sum.Queried != 0 {
				t.Fatalf("asked again before its time: %+v", sum)
			}
			f.clock.Advance(time.Minute + time.Second)
			if sum := f.sweep(); sum.Queried != 1 || sum.Paid != 1 {
				t.Fatalf("the next sweep: %+v", sum)
			}
			if s := f.stored(no).State; s != trade.Success || len(f.eventsOf(no, "order.paid")) != 1 || f.stateChanges(no) != 1 {
				t.Fatalf("the order is %s", s)
			}
		})
	}
}

// A WeChat Pay call that hangs costs the sweep one item's call, not its
// whole budget: the order still gets its next query, the sweep answers
// that work is left, and the next run delivers the event that waited,
// which needs no WeChat Pay at all.
func TestSweepOutlivesAHungQuery(t *testing.T) {
	f, receiver := withReceiver(t, webhooktest.Start, nil)
	receiver.SetMode(webhooktest.Fail)
	paid := f.paid() // its event's first attempt fails
	receiver.SetMode(webhooktest.Accept)
	unpaid := f.newOrder()
	f.clock.Advance(2 * time.Minute)
	f.sim.Inject("/pay/orderquery", wxpaytest.Fault{Kind: wxpaytest.Hang}, wxpaytest.Fault{Kind: wxpaytest.Hang}, wxpaytest.Fault{Kind: wxpaytest.Hang})
	if sum := f.sweepWithin(3 * time.Second); sum.Queried != 1 || !sum.More || sum.EventsDelivered != 0 {
		t.Fatalf("the sweep with a hung query: %+v", sum)
	}
	if next := f.stored(unpaid).NextQueryAt; !next.After(f.clock.Now()) {
		t.Fatalf("the hung order's next query: %v", next)
	}
	if sum := f.sweepWithin(3 * time.Second); sum.Queried != 0 || sum.More || sum.EventsDelivered != 1 {
		t.Fatalf("the next sweep: %+v", sum)
	}
	if e := f.theEvent(paid, "order.paid"); e.Delivery.State != "delivered" {
		t.Fatalf("%+v", e.Delivery)
	}
}

// instance is another instance of the fixture's function, as SCF runs
// several: its own app and store connections, with the same environment,
// simulator, clock and log. Its store is open when it returns.
func (f *fixture) instance() *app {
	f.t.Helper()
	a := &app{
		getenv: f.app.getenv, log: f.app.log, transport: f.app.transport, certTransport: f.app.certTransport,
		now: f.app.now, rand: f.app.rand,
		openStore: func(ctx context.Context, dsn string, now func() time.Time) (trade.Store, error) {
			s, err := store.Open(ctx, dsn, now)
			if err != nil {
				return nil, err
			}
			f.t.Cleanup(func() { s.Close() })
			return &testStore{Store: s}, nil
		},
	}
	a.setup()
	if _, err := a.service(context.Background()); err != nil {
		f.t.Fatal(err)
	}
	return a
}

// Sweeps at the same time on several instances of a shared store (the
// timer's tick on each, an operator's sweep) change each order once and
// deliver each event once, and together say so.
func TestConcurrentSweeps(t *testing.T) {
	dsn := storetest.FreshMySQLDSN(t)
	f, receiver := withReceiver(t, webhooktest.Start, func(env map[string]string) { env["WXPAY_STORE"] = dsn })
	nos := make([]string, 6)
	for i := range nos {
		nos[i] = f.newOrder()
		f.payAtWeChat(nos[i])
	}
	instances := []*app{f.app, f.instance(), f.instance()}
	type answer struct {
		raw json.RawMessage
		msg string
	}
	answers := make([]answer, len(instances))
	var wg sync.WaitGroup
	for i, a := range instances {
		wg.Go(func() {
			answers[i].raw, answers[i].msg = directOn(a, `{"action":"sweep","min_age":0}`, 5*time.Second)
		})
	}
	wg.Wait()
	var total payment.SweepSummary
	for _, a := range answers {
		var sum payment.SweepSummary
		if err := json.Unmarshal(a.raw, &sum); a.msg != "" || err != nil {
			t.Fatalf("sweep: %s %v", a.msg, err)
		}
		total.Paid += sum.Paid
		total.EventsDelivered += sum.EventsDelivered
		total.EventsFailed += sum.EventsFailed
	}
	for _, no := range nos {
		if n := f.stateChanges(no); n != 1 || f.stored(no).State != trade.Success {
			t.Fatalf("%s changed %d times", no, n)
		}
	}
	events := f.events()
	if len(events) != len(nos) {
		t.Fatalf("%d events for %d payments", len(events), len(nos))
	}
	for _, e := range events {
		if e.Type != "order.paid" || e.Delivery.State != "delivered" || e.Delivery.Attempts != 1 || receiver.Count(e.ID) != 1 {
			t.Fatalf("%s %s: %+v, received %d times", e.Type, e.ID, e.Delivery, receiver.Count(e.ID))
		}
	}
	if total.Paid != len(nos) || total.EventsDelivered != len(nos) || total.EventsFailed != 0 {
		t.Fatalf("the sweeps together report %+v for %d payments", total, len(nos))
	}
}

// refund asks for a refund of fee on order no by direct invocation and has
// WeChat Pay finish it, its notification delivered; it returns the
// out_refund_no.
func (f *fixture) refund(no string, fee int) string {
	f.t.Helper()
	refundNo := unique("R-")
	f.direct(fmt.Sprintf(`{"action":"refund","out_trade_no":%q,"refund_fee":%d,"out_refund_no":%q}`, no, fee, refundNo))
	note, ok := f.sim.CompleteRefund(refundNo, "SUCCESS")
	if !ok {
		f.t.Fatalf("WeChat Pay has no refund %s", refundNo)
	}
	if r := f.notify(note); r != "SUCCESS" {
		f.t.Fatalf("refund notification: %s", r)
	}
	return refundNo
}

// redeliver has the operator deliver event id again and returns the answer.
func (f *fixture) redeliver(id string) listedEvent {
	f.t.Helper()
	var e listedEvent
	if err := json.Unmarshal(f.direct(`{"action":"redeliver","id":"`+id+`"}`), &e); err != nil {
		f.t.Fatal(err)
	}
	return e
}

// page reads one page of the pull API as JSON objects.
func (f *fixture) page(query string) (events []map[string]any, hasMore bool) {
	f.t.Helper()
	var p struct {
		Events  []map[string]any `json:"events"`
		HasMore *bool            `json:"has_more"`
	}
	if err := json.Unmarshal(f.direct(query), &p); err != nil || p.Events == nil || p.HasMore == nil {
		f.t.Fatalf("%s: not a page: %v", query, err)
	}
	return p.Events, *p.HasMore
}

var eventID = regexp.MustCompile(`^evt_[0-9A-Za-z]{16,}$`)

// The pull API lists events in the order they were recorded, a page at a
// time, each as delivered plus where its delivery stands; an order event's
// data is the order as GET …/orders/{no} answered it, plus openid, attach
// and request_id; a refund event's is the refund. A redelivery sends an
// event again with the same id. GET …/orders/{no} lists the refunds.
func TestEventsPullAPIAndRedelivery(t *testing.T) {
	f, receiver := withReceiver(t, webhooktest.Start, nil)
	openid := unique("o-")
	tok := f.token(openid)
	no := f.payWithToken(tok, `{"total_fee":180,"description":"会员充值","attach":"cart=42","request_id":"cart-7"}`)
	if a := f.order(no, tok); !strings.Contains(a.raw, `"refunds":[]`) {
		t.Fatalf("an order without refunds: %s", a.raw)
	}
	note, _ := f.sim.Pay(no)
	if r := f.notify(note); r != "SUCCESS" {
		t.Fatalf("notification: %s", r)
	}
	paidView := f.order(no, tok).body

	refundNo := unique("R-")
	f.direct(`{"action":"refund","out_trade_no":"` + no + `","refund_fee":100,"out_refund_no":"` + refundNo + `"}`)
	want := []any{map[string]any{"out_refund_no": refundNo, "refund_fee": float64(100), "state": "PROCESSING"}}
	if a := f.order(no, tok); !reflect.DeepEqual(a.body["refunds"], want) {
		t.Fatalf("refunds: %s", a.raw)
	}
	rn, _ := f.sim.CompleteRefund(refundNo, "SUCCESS")
	if r := f.notify(rn); r != "SUCCESS" {
		t.Fatalf("refund notification: %s", r)
	}
	want[0].(map[string]any)["state"] = "SUCCESS"
	if a := f.order(no, tok); a.body["state"] != "REFUND" || !reflect.DeepEqual(a.body["refunds"], want) {
		t.Fatalf("after the refund: %s", a.raw)
	}

	closedNo := f.payWithToken(tok, `{"total_fee":5}`)
	f.clock.Advance(wxpaytest.MinCloseAge)
	if a := f.http(urlEvent("POST", "/release/orders/"+closedNo+"/close", ``, bearer(tok))); a.body["state"] != "CLOSED" {
		t.Fatalf("close: %s", a.raw)
	}

	first, more := f.page(`{"action":"events","limit":2}`)
	if len(first) != 2 || !more {
		t.Fatalf("first page: %d events, has_more %v", len(first), more)
	}
	rest, more := f.page(`{"action":"events","limit":2,"after":"` + first[1]["id"].(string) + `"}`)
	if len(rest) != 1 || more {
		t.Fatalf("second page: %d events, has_more %v", len(rest), more)
	}
	if none, more := f.page(`{"action":"events","after":"` + rest[0]["id"].(string) + `"}`); len(none) != 0 || more {
		t.Fatalf("after the last: %v %v", none, more)
	}
	all := append(first, rest...)
	deliveries := receiver.Deliveries()
	for i, typ := range []string{"order.paid", "refund.succeeded", "order.closed"} {
		e := all[i]
		id, _ := e["id"].(string)
		created, err := time.Parse(time.RFC3339, fmt.Sprint(e["created_at"]))
		if e["type"] != typ || !eventID.MatchString(id) || err != nil || !strings.HasSuffix(e["created_at"].(string), "+08:00") || len(e) != 5 {
			t.Fatalf("event %d: %v", i, e)
		}
		if d := f.clock.Now().Sub(created); d < 0 || d > 10*time.Minute {
			t.Fatalf("created_at %v ago", d)
		}
		if !reflect.DeepEqual(e["delivery"], map[string]any{"state": "delivered", "attempts": float64(1), "last_error": ""}) {
			t.Fatalf("%s delivery: %v", typ, e["delivery"])
		}
		// As listed, less where its delivery stands, is as delivered.
		delete(e, "delivery")
		var got map[string]any
		if json.Unmarshal(deliveries[i].Body, &got); deliveries[i].ID != id || !reflect.DeepEqual(got, e) {
			t.Fatalf("delivered %s\nlisted %v", deliveries[i].Body, e)
		}
	}
	data := all[0]["data"].(map[string]any)
	wantData := maps.Clone(paidView)
	wantData["openid"], wantData["attach"], wantData["request_id"] = openid, "cart=42", "cart-7"
	if !reflect.DeepEqual(data, wantData) {
		t.Fatalf("order.paid data %v\nwant %v", data, wantData)
	}
	data = all[1]["data"].(map[string]any)
	if refundID, _ := data["refund_id"].(string); refundID == "" || !reflect.DeepEqual(data, map[string]any{
		"out_refund_no": refundNo, "out_trade_no": no, "refund_fee": float64(100), "state": "SUCCESS", "refund_id": refundID,
	}) {
		t.Fatalf("refund.succeeded data %v", data)
	}
	if data = all[2]["data"].(map[string]any); data["out_trade_no"] != closedNo || data["state"] != "CLOSED" {
		t.Fatalf("order.closed data %v", data)
	}

	// Redelivered: the same id and payload, one more attempt.
	id := all[0]["id"].(string)
	if again := f.redeliver(id); again.ID != id || again.Delivery.State != "delivered" || again.Delivery.Attempts != 2 || receiver.Count(id) != 2 {
		t.Fatalf("redelivered: %+v, received %d times", again, receiver.Count(id))
	}
	if d := receiver.Deliveries(); !bytes.Equal(d[len(d)-1].Body, deliveries[0].Body) {
		t.Fatalf("redelivered another payload: %s", d[len(d)-1].Body)
	}

	for event, code := range map[string]string{
		`{"action":"redeliver","id":"evt_000000000000000000000000"}`:           "EVENT_NOT_FOUND",
		`{"action":"events","after":"evt_000000000000000000000000"}`:           "EVENT_NOT_FOUND",
		`{"action":"redeliver"}`:                                               "INVALID_EVENT_ID",
		`{"action":"redeliver","id":7}`:                                        "INVALID_EVENT_ID",
		`{"action":"redeliver","id":"` + strings.TrimPrefix(id, "evt_") + `"}`: "INVALID_EVENT_ID",
		`{"action":"redeliver","id":"evt_` + strings.Repeat("0", 61) + `"}`:    "INVALID_EVENT_ID",
		`{"action":"events","limit":0}`:                                        "INVALID_LIMIT",
		`{"action":"events","limit":1001}`:                                     "INVALID_LIMIT",
		`{"action":"events","limit":"2"}`:                                      "INVALID_LIMIT",
		`{"action":"events","limit":1.5}`:                                      "INVALID_LIMIT",
		`{"action":"events","after":7}`:                                        "INVALID_AFTER",
		`{"action":"events","after":"` + strings.TrimPrefix(id, "evt_") + `"}`: "INVALID_AFTER",
	} {
		if got := f.directError(event); got != code {
			t.Errorf("%s: %s, want %s", event, got, code)
		}
	}
}

// An order's events are first delivered in the order they happened: a
// refund recorded while the order's order.paid waits for its retry waits
// too, and follows it; another order's events do not wait.
func TestEventsOfAnOrderInOrder(t *testing.T) {
	f, receiver := withReceiver(t, webhooktest.Start, nil)
	receiver.SetMode(webhooktest.Fail)
	no := f.paid()
	receiver.SetMode(webhooktest.Accept)
	f.refund(no, 100)
	if e := f.theEvent(no, "refund.succeeded"); e.Delivery.State != "pending" || e.Delivery.Attempts != 0 {
		t.Fatalf("the refund's event went ahead of the payment's: %+v", e.Delivery)
	}
	other := f.paid()
	if e := f.theEvent(other, "order.paid"); e.Delivery.State != "delivered" {
		t.Fatalf("another order's event waited: %+v", e.Delivery)
	}
	if sum := f.sweep(); sum.EventsDelivered != 0 {
		t.Fatalf("delivered before the payment's retry: %+v", sum)
	}
	f.clock.Advance(time.Minute + time.Second)
	if sum := f.sweep(); sum.EventsDelivered != 2 {
		t.Fatalf("sweep: %+v", sum)
	}
	var order []string
	for _, d := range receiver.Deliveries() {
		var e listedEvent
		json.Unmarshal(d.Body, &e)
		if e.outTradeNo() == no {
			order = append(order, e.Type)
		}
	}
	if !slices.Equal(order, []string{"order.paid", "refund.succeeded"}) {
		t.Fatalf("delivered in the order %v", order)
	}
}

// Test credentials of an execution role, known to the SCF API stand-in.
var testRole = scfinvoke.Credentials{
	SecretID:  "AKIDTEST0000role0000000000000000",
	SecretKey: "TEST-role-secret-key-000000000000",
	Token:     "TEST-role-session-token-00000000000000",
}

// With WXPAY_EVENTS_FUNCTION the events go to another SCF function through
// the Invoke API, signed with the execution role's credentials: a paid
// order's event arrives as an accepted asynchronous invocation whose
// ClientContext is the event; a refusal leaves the event pending with its
// code, and the sweep delivers it later. No credential reaches the log.
func TestEventsToAnSCFFunction(t *testing.T) {
	target := scfinvoke.Function{Namespace: "ns", Name: "name", Qualifier: "prod"}
	standin := scfinvoketest.New(scfinvoketest.Config{
		Region: "ap-guangzhou", Credentials: []scfinvoke.Credentials{testRole}, Functions: []scfinvoke.Function{target},
	})
	t.Cleanup(standin.Close)
	api := httptest.NewServer(standin)
	t.Cleanup(api.Close)
	var env map[string]string
	f := newFixture(t, func(e map[string]string) {
		env = e
		e["WXPAY_EVENTS_FUNCTION"], e["TENCENTCLOUD_REGION"], e["WXPAY_TENCENTCLOUD_API_BASE"] = "ns/name:prod", "ap-guangzhou", api.URL
		e["TENCENTCLOUD_SECRETID"], e["TENCENTCLOUD_SECRETKEY"], e["TENCENTCLOUD_SESSIONTOKEN"] = testRole.SecretID, testRole.SecretKey, testRole.Token
		// A webhook secret left over from an earlier setup is unused, and
		// must not stop the function target.
		e["WXPAY_EVENTS_SECRET"], _ = testEventsSecret(t)
	})

	no := f.paid()
	e := f.theEvent(no, "order.paid")
	inv := standin.Invocations()
	if e.Delivery.State != "delivered" || len(inv) != 1 || inv[0].Function != target || inv[0].SecretID != testRole.SecretID {
		t.Fatalf("%+v, invocations %+v", e.Delivery, inv)
	}
	var got, want map[string]any
	json.Unmarshal(inv[0].ClientContext, &got)
	json.Unmarshal(fmt.Appendf(nil, `{"id":%q,"type":%q,"created_at":%q,"data":%s}`, e.ID, e.Type, e.CreatedAt, e.Data), &want)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ClientContext %s\nthe event %v", inv[0].ClientContext, want)
	}

	refusals := []struct {
		name, code string
		refuse     func() (restore func())
	}{
		{"refused", "AuthFailure.SignatureFailure", func() func() {
			standin.Inject(scfinvoketest.Fault{Kind: scfinvoketest.Refuse, Code: "AuthFailure.SignatureFailure", Message: "The provided credentials could not be validated."})
			return func() {}
		}},
		{"another key", "AuthFailure.SignatureFailure", func() func() {
			env["TENCENTCLOUD_SECRETKEY"] = "TEST-not-the-role-key-11111111111"
			return func() { env["TENCENTCLOUD_SECRETKEY"] = testRole.SecretKey }
		}},
		{"a stale token", "AuthFailure.TokenFailure", func() func() {
			env["TENCENTCLOUD_SESSIONTOKEN"] = "TEST-stale-session-token-1111111111111"
			return func() { env["TENCENTCLOUD_SESSIONTOKEN"] = testRole.Token }
		}},
	}
	var pending []string
	for _, r := range refusals {
		restore := r.refuse()
		no := f.paid()
		restore()
		e := f.theEvent(no, "order.paid")
		if e.Delivery.State != "pending" || e.Delivery.Attempts != 1 || !strings.Contains(e.Delivery.LastError, r.code) {
			t.Fatalf("%s: %+v", r.name, e.Delivery)
		}
		pending = append(pending, no)
	}
	f.clock.Advance(time.Minute + time.Second)
	if sum := f.sweep(); sum.EventsDelivered != len(pending) {
		t.Fatalf("sweep: %+v", sum)
	}
	if n := len(standin.Invocations()); n != 1+len(pending) {
		t.Fatalf("%d invocations", n)
	}
	for _, no := range pending {
		if e := f.theEvent(no, "order.paid"); e.Delivery.State != "delivered" || e.Delivery.Attempts != 2 {
			t.Fatalf("%s: %+v", no, e.Delivery)
		}
	}
	log := f.log.String()
	for _, secret := range []string{testRole.SecretKey, testRole.Token, "TEST-not-the-role-key", "TEST-stale-session-token", testRole.SecretID} {
		if strings.Contains(log, secret) {
			t.Fatalf("the log carries a credential: %s", log)
		}
	}
}

// An event still undelivered 3 days after it happened is given up, logged
// at ERROR, and stays listed as failed; an operator's redelivery sends it
// when the receiver takes it, and a failed redelivery leaves it failed.
func TestFailedEventRedelivered(t *testing.T) {
	f, receiver := withReceiver(t, webhooktest.Start, nil)
	receiver.SetMode(webhooktest.Fail)
	no := f.paid()
	f.clock.Advance(72*time.Hour + time.Minute)
	if sum := f.sweep(); sum.EventsFailed != 1 {
		t.Fatalf("sweep: %+v", sum)
	}
	e := f.theEvent(no, "order.paid")
	if e.Delivery.State != "failed" || e.Delivery.Attempts != 2 || !strings.Contains(f.log.String(), `"level":"ERROR","msg":"event_failed","event_id":"`+e.ID+`"`) {
		t.Fatalf("after 3 days: %+v\n%s", e.Delivery, f.log.String())
	}
	f.clock.Advance(24 * time.Hour)
	if sum := f.sweep(); sum.EventsFailed+sum.EventsDelivered != 0 {
		t.Fatalf("a failed event was tried again: %+v", sum)
	}
	if got := f.redeliver(e.ID); got.Delivery.State != "failed" || got.Delivery.Attempts != 3 || got.Delivery.LastError == "" {
		t.Fatalf("a failed redelivery: %+v", got.Delivery)
	}
	receiver.SetMode(webhooktest.Accept)
	if got := f.redeliver(e.ID); got.ID != e.ID || got.Delivery.State != "delivered" || got.Delivery.Attempts != 4 || receiver.Count(e.ID) != 1 {
		t.Fatalf("redelivered: %+v", got)
	}
}
