package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/webhook"
)

// npm runs testdata/standardwebhooks.cjs, npm standardwebhooks (the Standard
// Webhooks reference implementation, which merchants' Node receivers use),
// from the node_modules directory in WXPAY_TEST_NODE_MODULES, as
// scripts/standardwebhooks-install.sh prints it. Without it the interop
// tests are skipped, except under CI, where they must run.
type npm struct {
	node, modules string
}

func needNPM(t *testing.T) npm {
	t.Helper()
	modules := os.Getenv("WXPAY_TEST_NODE_MODULES")
	node, err := exec.LookPath("node")
	if modules == "" || err != nil {
		const why = "needs node and WXPAY_TEST_NODE_MODULES=$(scripts/standardwebhooks-install.sh)"
		if os.Getenv("CI") == "true" {
			t.Fatal(why)
		}
		t.Skip(why)
	}
	if _, err := os.Stat(filepath.Join(modules, "standardwebhooks", "package.json")); err != nil {
		t.Fatalf("WXPAY_TEST_NODE_MODULES holds no standardwebhooks: %v", err)
	}
	return npm{node: node, modules: modules}
}

// run sends req to the script and returns what it printed and its exit
// code: 0 done, 1 refused by the library; anything else fails the test.
func (n npm) run(t *testing.T, req map[string]any) (string, int) {
	t.Helper()
	in, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, n.node, filepath.Join("testdata", "standardwebhooks.cjs"))
	cmd.Env = append(os.Environ(), "NODE_PATH="+n.modules)
	cmd.Stdin = bytes.NewReader(in)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return stdout.String(), 0
	case errors.As(err, &exit) && exit.ExitCode() == 1:
		return stdout.String(), 1
	}
	t.Fatalf("node: %v: %s", err, stderr.String())
	return "", 0
}

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
	n := needNPM(t)
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
			_, code := n.run(t, map[string]any{"op": "verify", "secret": c.secret, "headers": h, "body": body})
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
	n := needNPM(t)
	secret := secretOf(48, 'd')
	r := startReceiver(t, mustSecret(t, secret), false)
	if err := (&webhook.Sender{URL: r.URL(), Secret: mustSecret(t, secret)}).Send(context.Background(), eventID, event); err != nil {
		t.Fatal(err)
	}
	d := r.Deliveries()[0]
	if _, code := n.run(t, map[string]any{"op": "verify", "secret": secret, "headers": lowerCase(d.Header), "body": d.Body}); code != 0 {
		t.Fatal("npm standardwebhooks refused the delivery")
	}
}

// What npm standardwebhooks signs, Verify accepts, and Sign agrees with it
// to the byte.
func TestVerifyAcceptsNPMSignatures(t *testing.T) {
	n := needNPM(t)
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
			sig, _ := n.run(t, map[string]any{"op": "sign", "secret": c.secret, "id": c.id, "timestamp": now.Unix(), "body": c.body})
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
