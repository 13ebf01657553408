package webhooktest_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptrace"
	"testing"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/webhook"
	"github.com/wxpay-scf/wxpay-scf/pkg/webhook/webhooktest"
)

var (
	body   = []byte(`{"id":"evt_0123456789abcdef","type":"order.paid"}`)
	secret = func() webhook.Secret {
		s, err := webhook.ParseSecret("whsec_" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)))
		if err != nil {
			panic(err)
		}
		return s
	}()
)

func post(t *testing.T, r *webhooktest.Receiver, method string, header http.Header) int {
	t.Helper()
	req, err := http.NewRequest(method, r.URL(), bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = header
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

func signed(id string, at time.Time) http.Header {
	h := webhook.SignedHeaders(secret, id, at, body)
	h.Set("Content-Type", "application/json")
	return h
}

// The receiver records what verifies, duplicates included, and refuses the
// rest without recording it.
func TestReceiverChecksAndCounts(t *testing.T) {
	r := webhooktest.Start(secret)
	defer r.Close()
	now := time.Now()
	notJSON := signed("evt_a", now)
	notJSON.Set("Content-Type", "text/plain")
	forged := signed("evt_a", now)
	forged.Set(webhook.HeaderSignature, webhook.Sign(secret, "evt_b", now, body))
	for _, c := range []struct {
		name   string
		method string
		header http.Header
		want   int
	}{
		{"first", http.MethodPost, signed("evt_a", now), http.StatusNoContent},
		{"redelivery", http.MethodPost, signed("evt_a", now.Add(time.Minute)), http.StatusNoContent},
		{"another event", http.MethodPost, signed("evt_b", now), http.StatusNoContent},
		{"not a POST", http.MethodPut, signed("evt_a", now), http.StatusMethodNotAllowed},
		{"not JSON", http.MethodPost, notJSON, http.StatusUnsupportedMediaType},
		{"signature of another id", http.MethodPost, forged, http.StatusBadRequest},
		{"stale", http.MethodPost, signed("evt_a", now.Add(-time.Hour)), http.StatusBadRequest},
		{"unsigned", http.MethodPost, http.Header{"Content-Type": {"application/json"}}, http.StatusBadRequest},
	} {
		if got := post(t, r, c.method, c.header); got != c.want {
			t.Errorf("%s: answered %d, want %d", c.name, got, c.want)
		}
	}
	if a, b := r.Count("evt_a"), r.Count("evt_b"); a != 2 || b != 1 {
		t.Errorf("counts evt_a %d, evt_b %d; want 2 and 1", a, b)
	}
	d := r.Deliveries()
	if len(d) != 3 || d[0].ID != "evt_a" || d[2].ID != "evt_b" || !bytes.Equal(d[0].Body, body) ||
		d[1].Header.Get(webhook.HeaderSignature) == "" {
		t.Errorf("deliveries %+v", d)
	}
}

func TestReceiverModes(t *testing.T) {
	r := webhooktest.Start(secret)
	defer r.Close()
	r.SetMode(webhooktest.Fail)
	if got := post(t, r, http.MethodPost, signed("evt_a", time.Now())); got != http.StatusInternalServerError {
		t.Errorf("Fail answered %d", got)
	}
	r.SetMode(webhooktest.Accept)
	if got := post(t, r, http.MethodPost, signed("evt_a", time.Now())); got != http.StatusNoContent {
		t.Errorf("Accept answered %d", got)
	}
	if n := r.Count("evt_a"); n != 1 {
		t.Errorf("%d deliveries of evt_a recorded, want only the accepted one", n)
	}
}

// Close ends a hanging request, with no answer, rather than wait for a
// client that never gives up.
func TestReceiverCloseEndsHang(t *testing.T) {
	r := webhooktest.Start(secret)
	r.SetMode(webhooktest.Hang)
	wrote := make(chan struct{})
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		WroteRequest: func(httptrace.WroteRequestInfo) { close(wrote) },
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.URL(), bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = signed("evt_a", time.Now())
	answered := make(chan bool, 1)
	go func() {
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			res.Body.Close()
		}
		answered <- err == nil
	}()
	<-wrote
	time.Sleep(20 * time.Millisecond) // for the handler to start hanging
	closed := make(chan struct{})
	go func() {
		r.Close() // waits for the hanging handler
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(30 * time.Second):
		t.Fatal("Close waits for the hanging request")
	}
	if <-answered {
		t.Error("the hang ended with an answer")
	}
}

// A receiver on a test's clock verifies against it: a delivery stamped an
// hour ahead of real time is refused until the receiver's clock is there.
func TestReceiverClock(t *testing.T) {
	r := webhooktest.Start(secret)
	defer r.Close()
	later := time.Now().Add(time.Hour)
	if s := post(t, r, http.MethodPost, signed("evt_later", later)); s != http.StatusBadRequest {
		t.Fatalf("a timestamp an hour ahead: %d", s)
	}
	r.SetClock(func() time.Time { return time.Now().Add(time.Hour) })
	if s := post(t, r, http.MethodPost, signed("evt_later", later)); s != http.StatusNoContent || r.Count("evt_later") != 1 {
		t.Fatalf("on the receiver's clock: %d", s)
	}
}
