package main

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/webhook"
	"github.com/wxpay-scf/wxpay-scf/pkg/webhook/webhooktest"
)

// demoEvent is what the demo reads of an event: an order's or a refund's,
// or a reconciliation report (bill.reconciled).
type demoEvent struct {
	ID   string `json:"id"`
	Type string `json:"type"`
	Data struct {
		OutTradeNo string `json:"out_trade_no"`
		Date       string `json:"date"`
		Status     string `json:"status"`
	} `json:"data"`
}

// subject is what the event is about: the report's day, or the order.
func (e demoEvent) subject() string {
	if e.Data.Date != "" {
		return e.Data.Date
	}
	return e.Data.OutTradeNo
}

func (e demoEvent) String() string {
	if e.Data.Date != "" {
		return fmt.Sprintf("%s  %-16s  date %s, %s", e.ID, e.Type, e.Data.Date, e.Data.Status)
	}
	return fmt.Sprintf("%s  %-16s  out_trade_no %s", e.ID, e.Type, e.Data.OutTradeNo)
}

// demoReceiver is the merchant's business in the demo: a local webhook
// receiver that verifies every delivery with webhook.Verify and accepts
// only those, and how many of its deliveries the demo has looked at.
type demoReceiver struct {
	*webhooktest.Receiver
	secret webhook.Secret
	raw    string // WXPAY_EVENTS_SECRET
	seen   int
}

// startReceiver serves a receiver on loopback with a secret made for the run.
func startReceiver() (*demoReceiver, error) {
	b := make([]byte, 32)
	rand.Read(b)
	raw := "whsec_" + base64.StdEncoding.EncodeToString(b)
	secret, err := webhook.ParseSecret(raw)
	if err != nil {
		return nil, err
	}
	return &demoReceiver{Receiver: webhooktest.Start(secret), secret: secret, raw: raw}, nil
}

// env points the function's events at the receiver.
func (r *demoReceiver) env() []string {
	return []string{"WXPAY_EVENTS_URL=" + r.URL(), "WXPAY_EVENTS_SECRET=" + r.raw}
}

// arrived checks that exactly one delivery has arrived since the last look,
// an event of type typ about subject (an order's number, or a report's
// day) that verifies and whose webhook-id is its id, and returns it.
func (r *demoReceiver) arrived(typ, subject string) (webhooktest.Delivery, demoEvent, error) {
	d, e, err := r.next(typ, subject)
	if err == nil {
		err = r.nothingNew()
	}
	return d, e, err
}

// next checks the first delivery not yet looked at as arrived does, and
// leaves the later ones for the next look.
func (r *demoReceiver) next(typ, subject string) (webhooktest.Delivery, demoEvent, error) {
	all := r.Deliveries()
	if len(all) == r.seen {
		return webhooktest.Delivery{}, demoEvent{}, fmt.Errorf("the receiver got no %s", typ)
	}
	d := all[r.seen]
	r.seen++
	var e demoEvent
	if err := json.Unmarshal(d.Body, &e); err != nil {
		return d, e, fmt.Errorf("a delivery is not an event: %s", d.Body)
	}
	if e.Type != typ || e.subject() != subject || e.ID != d.ID {
		return d, e, fmt.Errorf("the receiver got %s (webhook-id %s), not %s of %s", e, d.ID, typ, subject)
	}
	if err := webhook.Verify(r.secret, d.Header.Get, d.Body, time.Now()); err != nil {
		return d, e, fmt.Errorf("the delivery of %s does not verify: %v", e.ID, err)
	}
	return d, e, nil
}

// nothingNew checks that no delivery has arrived since the last look.
func (r *demoReceiver) nothingNew() error {
	if n := len(r.Deliveries()) - r.seen; n != 0 {
		return fmt.Errorf("the receiver got %d unexpected deliveries", n)
	}
	return nil
}

// tampered returns Verify's refusal of d with one byte of its body
// changed, or an error when that is not ErrInvalidSignature.
func (r *demoReceiver) tampered(d webhooktest.Delivery) (string, error) {
	body := bytes.Clone(d.Body)
	body[len(body)/2] ^= 1
	err := webhook.Verify(r.secret, d.Header.Get, body, time.Now())
	if !errors.Is(err, webhook.ErrInvalidSignature) {
		return "", fmt.Errorf("a changed body was not refused: %v", err)
	}
	return err.Error(), nil
}

// demoEventList is the pull API's answer, as the demo reads it.
type demoEventList struct {
	Events []struct {
		demoEvent
		Delivery struct {
			State    string `json:"state"`
			Attempts int    `json:"attempts"`
		} `json:"delivery"`
	} `json:"events"`
	HasMore bool `json:"has_more"`
}
