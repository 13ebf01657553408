package main

import (
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/store/storetest"
	"github.com/wxpay-scf/wxpay-scf/pkg/webhook"
	"github.com/wxpay-scf/wxpay-scf/pkg/webhook/webhooktest"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpayv3/wxpayv3test"
	_ "modernc.org/sqlite"
)

// testEventsSecret is a Standard Webhooks secret made for the test run.
func testEventsSecret(t *testing.T) (string, webhook.Secret) {
	t.Helper()
	b := make([]byte, 32)
	rand.Read(b)
	raw := "whsec_" + base64.StdEncoding.EncodeToString(b)
	s, err := webhook.ParseSecret(raw)
	if err != nil {
		t.Fatal(err)
	}
	return raw, s
}

// sweepWorld is the real binary on one protocol version and one store,
// with a webhook receiver for its events.
type sweepWorld struct {
	b        *binaryFixture
	sim3     *wxpayv3test.Sim // nil on v2
	receiver *webhooktest.Receiver
	secret   string // whsec_…
	dsn      string
}

func (w *sweepWorld) addUser(openid string) {
	w.b.sim.AddUser(openid)
	if w.sim3 != nil {
		w.sim3.AddUser(openid)
	}
}

// payAtWeChat has the user pay; the notification is lost.
func (w *sweepWorld) payAtWeChat(t *testing.T, no string) {
	t.Helper()
	ok := false
	if w.sim3 != nil {
		_, ok = w.sim3.Pay(no)
	} else {
		_, ok = w.b.sim.Pay(no)
	}
	if !ok {
		t.Fatalf("WeChat Pay refused to take the payment of %s", no)
	}
}

func (w *sweepWorld) advance(d time.Duration) {
	w.b.sim.Advance(d)
	if w.sim3 != nil {
		w.sim3.Advance(d)
	}
}

// finishRefundQuietly finishes a refund at WeChat Pay and loses its notification.
func (w *sweepWorld) finishRefundQuietly(t *testing.T, no string) {
	t.Helper()
	ok := false
	if w.sim3 != nil {
		_, ok = w.sim3.CompleteRefund(no, "SUCCESS")
	} else {
		_, ok = w.b.sim.CompleteRefund(no, "SUCCESS")
	}
	if !ok {
		t.Fatalf("the simulator has no refund %s", no)
	}
}

// eachWorld runs test on v2 and v3, each on SQLite and MySQL.
func eachWorld(t *testing.T, test func(t *testing.T, w *sweepWorld)) {
	for _, v3 := range []bool{false, true} {
		name := map[bool]string{false: "v2", true: "v3"}[v3]
		t.Run(name, func(t *testing.T) {
			eachStore(t, func(t *testing.T, edit func(map[string]string)) {
				raw, secret := testEventsSecret(t)
				w := &sweepWorld{receiver: webhooktest.Start(secret), secret: raw}
				t.Cleanup(w.receiver.Close)
				env := func(e map[string]string) {
					if edit != nil {
						edit(e)
					}
					e["WXPAY_EVENTS_URL"], e["WXPAY_EVENTS_SECRET"] = w.receiver.URL(), raw
					w.dsn = e["WXPAY_STORE"]
				}
				if v3 {
					w.b, w.sim3 = startBinaryV3(t, env)
				} else {
					w.b = startBinary(t, env)
				}
				test(t, w)
			})
		})
	}
}

func (w *sweepWorld) pay(t *testing.T, openid string) string {
	t.Helper()
	w.addUser(openid)
	payload, msg := w.b.direct(t, `{"total_fee":180,"openid":"`+openid+`"}`)
	var res struct {
		OutTradeNo string `json:"out_trade_no"`
	}
	if json.Unmarshal([]byte(payload), &res) != nil || res.OutTradeNo == "" {
		t.Fatalf("pay: %s %s", payload, msg)
	}
	return res.OutTradeNo
}

func (w *sweepWorld) sweep(t *testing.T) map[string]any {
	t.Helper()
	payload, msg := w.b.direct(t, `{"action":"sweep","min_age":0}`)
	var sum map[string]any
	if json.Unmarshal([]byte(payload), &sum) != nil {
		t.Fatalf("sweep: %s %s", payload, msg)
	}
	return sum
}

func (w *sweepWorld) state(t *testing.T, no string) string {
	t.Helper()
	payload, msg := w.b.direct(t, `{"action":"query","out_trade_no":"`+no+`"}`)
	var o struct {
		State string `json:"state"`
	}
	if json.Unmarshal([]byte(payload), &o) != nil {
		t.Fatalf("query: %s %s", payload, msg)
	}
	return o.State
}

// events returns the receiver's deliveries of events of type typ about no.
func (w *sweepWorld) events(t *testing.T, typ, no string) []webhooktest.Delivery {
	t.Helper()
	var out []webhooktest.Delivery
	for _, d := range w.receiver.Deliveries() {
		var e struct {
			Type string `json:"type"`
			Data struct {
				OutTradeNo string `json:"out_trade_no"`
			} `json:"data"`
		}
		if err := json.Unmarshal(d.Body, &e); err != nil {
			t.Fatalf("a delivery is not an event: %s", d.Body)
		}
		if e.Type == typ && e.Data.OutTradeNo == no {
			out = append(out, d)
		}
	}
	return out
}

// age moves an order's life back by d in the store itself, as if it had
// been created d earlier (the binary's clock is the real one). On SQLite
// the binary holds the file, so it is restarted around the change.
func (w *sweepWorld) age(t *testing.T, no string, d time.Duration) {
	t.Helper()
	sqlite := strings.HasPrefix(w.dsn, "sqlite:")
	var db *sql.DB
	if sqlite {
		w.b.fn.Close()
		w.b.fn.Wait()
		var err error
		if db, err = sql.Open("sqlite", strings.TrimPrefix(w.dsn, "sqlite:")); err != nil {
			t.Fatal(err)
		}
		defer db.Close()
	} else {
		db = storetest.OpenDB(t, w.dsn)
	}
	us := d.Microseconds()
	if _, err := db.Exec(`UPDATE orders SET created_at = created_at - ?, expires_at = expires_at - ? WHERE out_trade_no = ?`, us, us, no); err != nil {
		t.Fatal(err)
	}
	if sqlite {
		db.Close()
		w.b.start(t, builtBinary(t))
	}
}

// The sweep finds what WeChat Pay never told: a payment whose notification
// was lost is recorded paid and its order.paid event reaches the webhook
// once; an expired order is closed at WeChat Pay and here; a refund that
// finished days later, its notification lost too, is recorded.
func TestBinarySweep(t *testing.T) {
	eachWorld(t, func(t *testing.T, w *sweepWorld) {
		no := w.pay(t, unique("o-lost-"))
		w.payAtWeChat(t, no)
		if sum := w.sweep(t); sum["paid"] != float64(1) || sum["events_delivered"] != float64(1) || sum["more"] != false {
			t.Fatalf("sweep: %v", sum)
		}
		if s := w.state(t, no); s != "SUCCESS" {
			t.Fatalf("after the sweep the order is %s", s)
		}
		paid := w.events(t, "order.paid", no)
		if len(paid) != 1 {
			t.Fatalf("%d order.paid deliveries", len(paid))
		}
		if !webhooktest.NeedNPM(t).Verifies(t, w.secret, paid[0]) {
			t.Fatal("npm standardwebhooks refused the delivery")
		}
		if sum := w.sweep(t); sum["paid"] != float64(0) || sum["events_delivered"] != float64(0) || len(w.events(t, "order.paid", no)) != 1 {
			t.Fatalf("a second sweep did something again: %v", sum)
		}

		// A refund WeChat Pay finishes days later, its notification lost.
		payload, msg := w.b.direct(t, `{"action":"refund","out_trade_no":"`+no+`","refund_fee":80,"out_refund_no":"R-`+no[len(no)-8:]+`"}`)
		if !strings.Contains(payload, `"state":"PROCESSING"`) {
			t.Fatalf("refund: %s %s", payload, msg)
		}
		w.finishRefundQuietly(t, "R-"+no[len(no)-8:])
		if sum := w.sweep(t); sum["refunds_finished"] != float64(1) {
			t.Fatalf("sweep: %v", sum)
		}
		if s := w.state(t, no); s != "REFUND" || len(w.events(t, "refund.succeeded", no)) != 1 {
			t.Fatalf("the order is %s; %d refund.succeeded", s, len(w.events(t, "refund.succeeded", no)))
		}

		// An order never paid, past its expiry (and past v2's 5 minutes).
		old := w.pay(t, unique("o-gone-"))
		w.age(t, old, 3*time.Hour)
		w.advance(10 * time.Minute)
		if sum := w.sweep(t); sum["closed"] != float64(1) {
			t.Fatalf("sweep: %v", sum)
		}
		if s := w.state(t, old); s != "CLOSED" || len(w.events(t, "order.closed", old)) != 1 {
			t.Fatalf("the expired order is %s; %d order.closed", s, len(w.events(t, "order.closed", old)))
		}
		if w.receiver.Count(paid[0].ID) != 1 {
			t.Fatal("an event was delivered twice")
		}
	})
}
