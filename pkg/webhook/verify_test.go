package webhook_test

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/webhook"
)

// The vector of npm standardwebhooks' own test suite ("sign function
// works"), libraries/javascript/src/webhook.test.ts in
// github.com/standard-webhooks/standard-webhooks.
const (
	vectorSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vectorID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vectorTimestamp = 1614265330
	vectorBody      = `{"test": 2432232314}`
	vectorSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

// secretOf returns the secret string of n bytes, all of them fill.
func secretOf(n int, fill byte) string {
	return "whsec_" + base64.StdEncoding.EncodeToString([]byte(strings.Repeat(string(fill), n)))
}

func mustSecret(t testing.TB, s string) webhook.Secret {
	t.Helper()
	secret, err := webhook.ParseSecret(s)
	if err != nil {
		t.Fatal(err)
	}
	return secret
}

func TestParseSecret(t *testing.T) {
	b64 := strings.TrimPrefix(secretOf(32, 'k'), "whsec_")
	cases := []struct {
		name, secret string
		ok           bool
	}{
		{"24 bytes", secretOf(24, 'k'), true},
		{"64 bytes", secretOf(64, 'k'), true},
		{"the npm vector", vectorSecret, true},
		{"23 bytes", secretOf(23, 'k'), false},
		{"65 bytes", secretOf(65, 'k'), false},
		{"empty", "", false},
		{"prefix only", "whsec_", false},
		{"no prefix", b64, false},
		{"asymmetric prefix", "whsk_" + b64, false},
		{"upper-case prefix", "WHSEC_" + b64, false},
		{"not base64", "whsec_" + strings.Repeat("!", 44), false},
		{"URL-safe alphabet", "whsec_" + strings.Repeat("-_", 22), false},
		{"padding dropped", strings.TrimRight(secretOf(64, 'k'), "="), false},
		{"newline inside", "whsec_" + b64[:20] + "\n" + b64[20:], false},
		{"trailing newline", "whsec_" + b64 + "\n", false},
		{"non-zero padding bits", "whsec_" + strings.Repeat("A", 86) + "B=", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := webhook.ParseSecret(c.secret)
			if c.ok {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, webhook.ErrInvalidSecret) {
				t.Fatalf("err = %v, want ErrInvalidSecret", err)
			}
			if body := strings.TrimPrefix(c.secret, "whsec_"); len(body) > 4 && strings.Contains(err.Error(), body) {
				t.Errorf("the error quotes the secret: %v", err)
			}
		})
	}
}

func TestSecretNeverPrints(t *testing.T) {
	raw := secretOf(32, 'k')
	secret := mustSecret(t, raw)
	b64 := strings.TrimPrefix(raw, "whsec_")
	holder := struct{ Secret webhook.Secret }{secret}
	for _, s := range []string{
		fmt.Sprint(secret), fmt.Sprintf("%+v", holder), fmt.Sprintf("%#v", holder), fmt.Sprintf("%s", secret),
	} {
		if strings.Contains(s, b64) || strings.Contains(s, "kkkk") || strings.Contains(s, "107") {
			t.Errorf("printed %q", s)
		}
	}
}

func TestSignVector(t *testing.T) {
	got := webhook.Sign(mustSecret(t, vectorSecret), vectorID, time.Unix(vectorTimestamp, 0), []byte(vectorBody))
	if got != vectorSignature {
		t.Fatalf("Sign = %s, want %s", got, vectorSignature)
	}
}

func TestVerify(t *testing.T) {
	secret := mustSecret(t, vectorSecret)
	old := mustSecret(t, secretOf(32, 'o'))
	at := time.Unix(vectorTimestamp, 0)
	valid := webhook.Sign(secret, vectorID, at, []byte(vectorBody))
	byOld := webhook.Sign(old, vectorID, at, []byte(vectorBody))
	sig := strings.TrimPrefix(valid, "v1,")

	type delivery struct {
		header map[string]string
		body   string
		now    time.Time
		secret webhook.Secret
	}
	cases := []struct {
		name   string
		change func(*delivery)
		want   error
	}{
		{"as signed", func(*delivery) {}, nil},
		{"received a second later", func(d *delivery) { d.now = at.Add(time.Second) }, nil},
		{"exactly 5 minutes old", func(d *delivery) { d.now = at.Add(webhook.Tolerance + 999*time.Millisecond) }, nil},
		{"exactly 5 minutes ahead", func(d *delivery) { d.now = at.Add(-webhook.Tolerance) }, nil},
		{"over 5 minutes old", func(d *delivery) { d.now = at.Add(webhook.Tolerance + time.Second) }, webhook.ErrTimestampOutOfRange},
		{"over 5 minutes ahead", func(d *delivery) { d.now = at.Add(-webhook.Tolerance - time.Second) }, webhook.ErrTimestampOutOfRange},
		{"a day old", func(d *delivery) { d.now = at.Add(24 * time.Hour) }, webhook.ErrTimestampOutOfRange},
		{"rotation, new signature first", func(d *delivery) { d.header["webhook-signature"] = valid + " " + byOld }, nil},
		{"rotation, new signature last", func(d *delivery) { d.header["webhook-signature"] = byOld + " " + valid }, nil},
		{"among other versions", func(d *delivery) {
			d.header["webhook-signature"] = "v1a,AAAA v2," + sig + "  " + valid + " v1,"
		}, nil},
		{"signed by the old secret only", func(d *delivery) { d.header["webhook-signature"] = byOld }, webhook.ErrInvalidSignature},
		{"verified with another secret", func(d *delivery) { d.secret = old }, webhook.ErrInvalidSignature},
		{"right signature, other version", func(d *delivery) { d.header["webhook-signature"] = "v2," + sig }, webhook.ErrInvalidSignature},
		{"no version", func(d *delivery) { d.header["webhook-signature"] = sig }, webhook.ErrInvalidSignature},
		{"truncated", func(d *delivery) { d.header["webhook-signature"] = valid[:20] }, webhook.ErrInvalidSignature},
		{"empty v1", func(d *delivery) { d.header["webhook-signature"] = "v1," }, webhook.ErrInvalidSignature},
		{"body changed", func(d *delivery) { d.body = `{"test": 2432232315}` }, webhook.ErrInvalidSignature},
		{"body re-encoded", func(d *delivery) { d.body = `{"test":2432232314}` }, webhook.ErrInvalidSignature},
		{"other id", func(d *delivery) { d.header["webhook-id"] = "msg_other" }, webhook.ErrInvalidSignature},
		{"other timestamp", func(d *delivery) { d.header["webhook-timestamp"] = "1614265331" }, webhook.ErrInvalidSignature},
		{"no id", func(d *delivery) { delete(d.header, "webhook-id") }, webhook.ErrMissingHeaders},
		{"no timestamp", func(d *delivery) { delete(d.header, "webhook-timestamp") }, webhook.ErrMissingHeaders},
		{"no signature", func(d *delivery) { delete(d.header, "webhook-signature") }, webhook.ErrMissingHeaders},
		{"timestamp not a number", func(d *delivery) { d.header["webhook-timestamp"] = "hello" }, webhook.ErrInvalidTimestamp},
		{"timestamp with a sign", func(d *delivery) { d.header["webhook-timestamp"] = "+1614265330" }, webhook.ErrInvalidTimestamp},
		{"timestamp with a zero", func(d *delivery) { d.header["webhook-timestamp"] = "01614265330" }, webhook.ErrInvalidTimestamp},
		{"timestamp in milliseconds' form", func(d *delivery) { d.header["webhook-timestamp"] = "1614265330.000" }, webhook.ErrInvalidTimestamp},
		{"timestamp too large", func(d *delivery) { d.header["webhook-timestamp"] = "99999999999999999999" }, webhook.ErrInvalidTimestamp},
		{"zero secret", func(d *delivery) { d.secret = webhook.Secret{} }, webhook.ErrInvalidSecret},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := delivery{
				header: map[string]string{
					"webhook-id": vectorID, "webhook-timestamp": "1614265330", "webhook-signature": valid,
				},
				body: vectorBody, now: at, secret: secret,
			}
			c.change(&d)
			err := webhook.Verify(d.secret, func(name string) string { return d.header[name] }, []byte(d.body), d.now)
			if !errors.Is(err, c.want) {
				t.Fatalf("Verify = %v, want %v", err, c.want)
			}
		})
	}
}

// SignedHeaders makes the three headers and nothing else, and its Get is
// the lookup Verify wants.
func TestSignedHeadersVerify(t *testing.T) {
	secret := mustSecret(t, vectorSecret)
	at := time.Unix(vectorTimestamp, 0)
	h := webhook.SignedHeaders(secret, vectorID, at, []byte(vectorBody))
	want := map[string]string{"Webhook-Id": vectorID, "Webhook-Timestamp": "1614265330", "Webhook-Signature": vectorSignature}
	for name, v := range want {
		if got := h.Get(name); got != v {
			t.Errorf("%s = %q, want %q", name, got, v)
		}
	}
	if len(h) != len(want) {
		t.Errorf("headers %v, want only %v", h, want)
	}
	if err := webhook.Verify(secret, h.Get, []byte(vectorBody), at); err != nil {
		t.Fatal(err)
	}
}
