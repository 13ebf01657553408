package webhook_test

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/webhook"
	"github.com/wxpay-scf/wxpay-scf/pkg/webhook/webhooktest"
)

// lowerCase gives headers as a Node receiver sees them.
func lowerCase(h map[string][]string) map[string]string {
	m := map[string]string{}
	for name, v := range h {
		m[strings.ToLower(name)] = strings.Join(v, ", ")
	}
	return m
}

// npm standardwebhooks accepts what this package signs, and refuses what
// it refuses.
func TestNPMVerifiesOurSignatures(t *testing.T) {
	n := webhooktest.NeedNPM(t)
	secret := secretOf(32, 's')
	now := time.Now()
	utf8Body := []byte(`{"id":"evt_3f9a2b7c1d4e5f60a1b2","type":"order.paid","data":{"description":"会员月卡 · 月度","attach":"émoji 🎉"}}`)
	cases := []struct {
		name    string
		secret  string
		id      string
		at      time.Time
		body    []byte
		tamper  func(h map[string]string, body []byte) []byte
		refused bool
	}{
		{name: "event", secret: secret, id: eventID, at: now, body: event},
		{name: "UTF-8 body", secret: secret, id: eventID, at: now, body: utf8Body},
		{name: "24-byte secret", secret: secretOf(24, 'a'), id: eventID, at: now, body: event},
		{name: "64-byte secret", secret: secretOf(64, 'b'), id: eventID, at: now, body: event},
		{name: "rotation", secret: secret, id: eventID, at: now, body: event,
			tamper: func(h map[string]string, body []byte) []byte {
				h["webhook-signature"] = webhook.Sign(mustSecret(t, secretOf(32, 'o')), eventID, now, body) + " " + h["webhook-signature"]
				return body
			}},
		{name: "tampered body", secret: secret, id: eventID, at: now, body: utf8Body, refused: true,
			tamper: func(_ map[string]string, body []byte) []byte {
				return bytes.Replace(body, []byte("月卡"), []byte("年卡"), 1)
			}},
		{name: "other id", secret: secret, id: eventID, at: now, body: event, refused: true,
			tamper: func(h map[string]string, body []byte) []byte { h["webhook-id"] = "evt_other0123456789"; return body }},
		{name: "signed with another secret", secret: secret, id: eventID, at: now, body: event, refused: true,
			tamper: func(h map[string]string, body []byte) []byte {
				h["webhook-signature"] = webhook.Sign(mustSecret(t, secretOf(32, 'o')), eventID, now, body)
				return body
			}},
		{name: "10 minutes old", secret: secret, id: eventID, at: now.Add(-10 * time.Minute), body: event, refused: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := mustSecret(t, c.secret)
			h := lowerCase(webhook.SignedHeaders(s, c.id, c.at, c.body))
			body := c.body
			if c.tamper != nil {
				body = c.tamper(h, bytes.Clone(body))
			}
			_, code := n.Run(t, map[string]any{"op": "verify", "secret": c.secret, "headers": h, "body": body})
			if refused := code == 1; refused != c.refused {
				t.Errorf("npm standardwebhooks refused: %v, want %v", refused, c.refused)
			}
			err := webhook.Verify(s, func(name string) string { return h[name] }, body, now)
			if refused := err != nil; refused != c.refused {
				t.Errorf("Verify = %v, want refused %v like npm", err, c.refused)
			}
		})
	}
}

// A delivery as Sender makes it, captured by a receiver, verifies in npm
// standardwebhooks: headers, timestamp and body as they went over the wire.
func TestNPMVerifiesASentDelivery(t *testing.T) {
	n := webhooktest.NeedNPM(t)
	secret := secretOf(48, 'd')
	r := startReceiver(t, mustSecret(t, secret), false)
	if err := (&webhook.Sender{URL: r.URL(), Secret: mustSecret(t, secret)}).Send(context.Background(), eventID, event); err != nil {
		t.Fatal(err)
	}
	d := r.Deliveries()[0]
	if _, code := n.Run(t, map[string]any{"op": "verify", "secret": secret, "headers": lowerCase(d.Header), "body": d.Body}); code != 0 {
		t.Fatal("npm standardwebhooks refused the delivery")
	}
}

// What npm standardwebhooks signs, Verify accepts, and Sign agrees with it
// to the byte.
func TestVerifyAcceptsNPMSignatures(t *testing.T) {
	n := webhooktest.NeedNPM(t)
	now := time.Now().Truncate(time.Second)
	for _, c := range []struct {
		name, secret, id string
		body             []byte
	}{
		{"event", secretOf(32, 'n'), eventID, event},
		{"UTF-8 body", secretOf(64, 'u'), "evt_utf8utf8utf8utf8", []byte(`{"description":"会员月卡","attach":"🎉"}`)},
		{"the npm vector", vectorSecret, vectorID, []byte(vectorBody)},
	} {
		t.Run(c.name, func(t *testing.T) {
			sig, _ := n.Run(t, map[string]any{"op": "sign", "secret": c.secret, "id": c.id, "timestamp": now.Unix(), "body": c.body})
			s := mustSecret(t, c.secret)
			if want := webhook.Sign(s, c.id, now, c.body); sig != want {
				t.Errorf("npm signed %q, Sign %q", sig, want)
			}
			h := map[string]string{"webhook-id": c.id, "webhook-timestamp": strconv.FormatInt(now.Unix(), 10), "webhook-signature": sig}
			lookup := func(name string) string { return h[name] }
			if err := webhook.Verify(s, lookup, c.body, now.Add(time.Second)); err != nil {
				t.Errorf("Verify = %v", err)
			}
			if err := webhook.Verify(s, lookup, append(bytes.Clone(c.body), ' '), now); !errors.Is(err, webhook.ErrInvalidSignature) {
				t.Errorf("Verify of a tampered body = %v, want ErrInvalidSignature", err)
			}
		})
	}
}
