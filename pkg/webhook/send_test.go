package webhook_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/webhook"
	"github.com/wxpay-scf/wxpay-scf/pkg/webhook/webhooktest"
)

const (
	eventID = "evt_3f9a2b7c1d4e5f60a1b2"
	token   = "tok3n-in-the-query" // must never reach an error message
)

var event = []byte(`{"id":"evt_3f9a2b7c1d4e5f60a1b2","type":"order.paid","data":{"out_trade_no":"20261126170000","total_fee":180,"description":"会员月卡"}}`)

func startReceiver(t *testing.T, secret webhook.Secret, tls bool) *webhooktest.Receiver {
	t.Helper()
	start := webhooktest.Start
	if tls {
		start = webhooktest.StartTLS
	}
	r := start(secret)
	t.Cleanup(r.Close)
	return r
}

// roundTripFunc lets a test see the request a Sender makes.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestSenderDelivers(t *testing.T) {
	for _, useTLS := range []bool{false, true} {
		t.Run("tls="+strconv.FormatBool(useTLS), func(t *testing.T) {
			secret := mustSecret(t, secretOf(32, 's'))
			r := startReceiver(t, secret, useTLS)
			at := time.Now().Truncate(time.Second)
			s := &webhook.Sender{URL: r.URL() + "/events?token=" + token, Secret: secret, Transport: r.Transport(),
				Now: func() time.Time { return at }}
			for range 2 {
				if err := s.Send(context.Background(), eventID, event); err != nil {
					t.Fatal(err)
				}
			}
			got := r.Deliveries()
			if len(got) != 2 || r.Count(eventID) != 2 {
				t.Fatalf("%d deliveries, %d of %s; want the same one twice", len(got), r.Count(eventID), eventID)
			}
			d := got[0]
			if d.ID != eventID || !bytes.Equal(d.Body, event) {
				t.Errorf("delivered %s %s", d.ID, d.Body)
			}
			if ts := d.Header.Get(webhook.HeaderTimestamp); ts != strconv.FormatInt(at.Unix(), 10) {
				t.Errorf("webhook-timestamp %s, want the attempt's %d", ts, at.Unix())
			}
		})
	}
}

// Every way a delivery fails is an error naming what happened, with
// neither the URL's query nor the secret in it.
func TestSenderFailures(t *testing.T) {
	secret := mustSecret(t, secretOf(32, 's'))
	other := mustSecret(t, secretOf(32, 'x'))
	cases := []struct {
		name   string
		tls    bool
		mode   webhooktest.Mode
		change func(s *webhook.Sender, r *webhooktest.Receiver)
		ctx    time.Duration // a deadline for Send's context, 0 for none
		want   []error
		says   string
	}{
		{name: "answer 500", mode: webhooktest.Fail, want: []error{webhook.ErrRefused}, says: "500 Internal Server Error"},
		{name: "hang until the context ends", mode: webhooktest.Hang, ctx: 100 * time.Millisecond,
			want: []error{webhook.ErrNoAnswer, context.DeadlineExceeded}},
		{name: "untrusted certificate", tls: true, change: func(s *webhook.Sender, _ *webhooktest.Receiver) { s.Transport = nil },
			want: []error{webhook.ErrNoAnswer}, says: "certificate"},
		{name: "plain HTTP to a TLS port", tls: true, change: func(s *webhook.Sender, _ *webhooktest.Receiver) {
			s.URL = strings.Replace(s.URL, "https:", "http:", 1)
		}, want: []error{webhook.ErrRefused}, says: "400"},
		{name: "receiver gone", change: func(_ *webhook.Sender, r *webhooktest.Receiver) { r.Close() },
			want: []error{webhook.ErrNoAnswer}, says: "refused"},
		{name: "signed with another secret", change: func(s *webhook.Sender, _ *webhooktest.Receiver) { s.Secret = other },
			want: []error{webhook.ErrRefused}, says: webhook.ErrInvalidSignature.Error()},
		{name: "clock 10 minutes slow", change: func(s *webhook.Sender, _ *webhooktest.Receiver) {
			s.Now = func() time.Time { return time.Now().Add(-10 * time.Minute) }
		}, want: []error{webhook.ErrRefused}, says: "more than 5 minutes off"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := startReceiver(t, secret, c.tls)
			r.SetMode(c.mode)
			s := &webhook.Sender{URL: r.URL() + "/events?token=" + token, Secret: secret, Transport: r.Transport()}
			if c.change != nil {
				c.change(s, r)
			}
			ctx := context.Background()
			if c.ctx > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, c.ctx)
				defer cancel()
			}
			err := s.Send(ctx, eventID, event)
			for _, want := range c.want {
				if !errors.Is(err, want) {
					t.Errorf("err = %v, want %v", err, want)
				}
			}
			if err != nil && !strings.Contains(err.Error(), c.says) {
				t.Errorf("err = %v, want it to say %q", err, c.says)
			}
			if err != nil && (strings.Contains(err.Error(), token) || strings.Contains(err.Error(), "c3Nzc3Nz")) {
				t.Errorf("err = %v quotes the URL's query or the secret", err)
			}
			if n := len(r.Deliveries()); n != 0 {
				t.Errorf("the receiver accepted %d deliveries", n)
			}
		})
	}
}

func TestSenderRefusesTLSItDoesNotTrust(t *testing.T) {
	secret := mustSecret(t, secretOf(32, 's'))
	r := startReceiver(t, secret, true)
	err := (&webhook.Sender{URL: r.URL(), Secret: secret}).Send(context.Background(), eventID, event)
	var cve *tls.CertificateVerificationError
	if !errors.Is(err, webhook.ErrNoAnswer) || !errors.As(err, &cve) {
		t.Fatalf("err = %v, want ErrNoAnswer and a tls.CertificateVerificationError", err)
	}
}

// A redirect is an answer that is not 2xx, and is not followed.
func TestSenderNeverFollowsRedirects(t *testing.T) {
	secret := mustSecret(t, secretOf(32, 's'))
	r := startReceiver(t, secret, false)
	redirect := httptest.NewServer(http.RedirectHandler(r.URL(), http.StatusTemporaryRedirect))
	defer redirect.Close()
	err := (&webhook.Sender{URL: redirect.URL, Secret: secret}).Send(context.Background(), eventID, event)
	if !errors.Is(err, webhook.ErrRefused) || !strings.Contains(err.Error(), "307") {
		t.Fatalf("err = %v, want ErrRefused for the 307", err)
	}
	if n := len(r.Deliveries()); n != 0 {
		t.Fatalf("the redirect was followed: %d deliveries", n)
	}
}

// The attempt is bounded by DeliveryTimeout within the caller's context.
func TestSenderBoundsTheAttempt(t *testing.T) {
	secret := mustSecret(t, secretOf(32, 's'))
	for _, c := range []struct {
		name   string
		ctx    time.Duration
		within time.Duration
	}{
		{"no deadline", 0, webhook.DeliveryTimeout},
		{"a later deadline", time.Minute, webhook.DeliveryTimeout},
		{"an earlier deadline", time.Second, time.Second},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			if c.ctx > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, c.ctx)
				defer cancel()
			}
			var left time.Duration
			s := &webhook.Sender{URL: "https://merchant.example/events", Secret: secret,
				Transport: roundTripFunc(func(req *http.Request) (*http.Response, error) {
					deadline, ok := req.Context().Deadline()
					if !ok {
						t.Fatal("the attempt has no deadline")
					}
					left = time.Until(deadline)
					return &http.Response{StatusCode: 200, Body: http.NoBody}, nil
				})}
			if err := s.Send(ctx, eventID, event); err != nil {
				t.Fatal(err)
			}
			if left > c.within || left < c.within-time.Second {
				t.Fatalf("the attempt's deadline is %s away, want about %s", left, c.within)
			}
		})
	}
}

// A receiver that never answers costs DeliveryTimeout, not the caller's
// whole budget.
func TestSenderGivesUpOnAHangingReceiver(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for DeliveryTimeout")
	}
	t.Parallel()
	secret := mustSecret(t, secretOf(32, 's'))
	r := startReceiver(t, secret, false)
	r.SetMode(webhooktest.Hang)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := time.Now()
	err := (&webhook.Sender{URL: r.URL(), Secret: secret}).Send(ctx, eventID, event)
	if !errors.Is(err, webhook.ErrNoAnswer) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want ErrNoAnswer after the attempt's deadline", err)
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Fatalf("gave up after %s", took)
	}
}

// A Sender that is misconfigured, or asked to send an id that cannot be
// signed safely, refuses before any request.
func TestSenderRefusesBeforeSending(t *testing.T) {
	secret := mustSecret(t, secretOf(32, 's'))
	cases := []struct {
		name string
		s    webhook.Sender
		id   string
		want error
	}{
		{"http to another host", webhook.Sender{URL: "http://merchant.example/events", Secret: secret}, eventID, webhook.ErrInvalidURL},
		{"no URL", webhook.Sender{Secret: secret}, eventID, webhook.ErrInvalidURL},
		{"zero secret", webhook.Sender{URL: "https://merchant.example/events"}, eventID, webhook.ErrInvalidSecret},
		{"empty id", webhook.Sender{URL: "https://merchant.example/events", Secret: secret}, "", webhook.ErrInvalidID},
		{"id with a dot", webhook.Sender{URL: "https://merchant.example/events", Secret: secret}, "evt_1.2", webhook.ErrInvalidID},
		{"id with a space", webhook.Sender{URL: "https://merchant.example/events", Secret: secret}, "evt_1 2", webhook.ErrInvalidID},
		{"id with a newline", webhook.Sender{URL: "https://merchant.example/events", Secret: secret}, "evt_1\nX-Injected: 1", webhook.ErrInvalidID},
		{"id not ASCII", webhook.Sender{URL: "https://merchant.example/events", Secret: secret}, "evt_订单", webhook.ErrInvalidID},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.s.Transport = roundTripFunc(func(*http.Request) (*http.Response, error) {
				t.Fatal("a request was made")
				return nil, nil
			})
			if err := c.s.Send(context.Background(), c.id, event); !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
		})
	}
}

func TestValidURL(t *testing.T) {
	cases := []struct {
		url string
		ok  bool
	}{
		{"https://merchant.example/wxpay/events", true},
		{"https://merchant.example:8443/events?token=" + token, true},
		{"HTTPS://merchant.example/events", true},
		{"https://203.0.113.7/events", true},
		{"http://127.0.0.1:8080/events", true},
		{"http://127.8.9.10/events", true},
		{"http://localhost:3000/events", true},
		{"http://LOCALHOST/events", true},
		{"http://[::1]:8080/events", true},
		{"http://merchant.example/events", false},
		{"http://10.0.0.1/events", false},
		{"http://[::2]/events", false},
		{"http://localhost.merchant.example/events", false},
		{"http://127.0.0.1.nip.io/events", false},
		{"ftp://merchant.example/events", false},
		{"//merchant.example/events", false},
		{"/events", false},
		{"merchant.example/events", false},
		{"https:merchant.example", false},
		{"https://:443/events", false},
		{"", false},
		{"https://merchant.example/%zz?token=" + token, false},
		{"https://merchant example/?token=" + token, false},
	}
	for _, c := range cases {
		err := webhook.ValidURL(c.url)
		if c.ok != (err == nil) || err != nil && !errors.Is(err, webhook.ErrInvalidURL) {
			t.Errorf("ValidURL(%q) = %v, want ok %v", c.url, err, c.ok)
		}
		if err != nil && strings.Contains(err.Error(), token) {
			t.Errorf("ValidURL(%q) quotes the URL: %v", c.url, err)
		}
	}
}
