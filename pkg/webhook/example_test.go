package webhook_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/webhook"
)

// A merchant's receiver in Go: read the raw body, verify it, act once per
// webhook-id, and answer 2xx only when the event is handled, so that a
// failure is delivered again. The function's side is a Sender.
func Example() {
	secret, err := webhook.ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw") // from the merchant's config
	if err != nil {
		panic(err)
	}
	var (
		mu   sync.Mutex
		seen = map[string]bool{} // in production: a unique key, in the transaction that acts
	)
	receive := func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			http.Error(w, "unreadable body", http.StatusBadRequest)
			return
		}
		// The raw bytes: JSON decoded and encoded again would not verify.
		if err := webhook.Verify(secret, r.Header.Get, body, time.Now()); err != nil {
			http.Error(w, "not a valid delivery", http.StatusBadRequest)
			return
		}
		id := r.Header.Get(webhook.HeaderID)
		mu.Lock()
		defer mu.Unlock()
		if seen[id] {
			fmt.Println("already handled", id)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		var event struct {
			Type string `json:"type"`
			Data struct {
				OutTradeNo string `json:"out_trade_no"`
			} `json:"data"`
		}
		if err := json.Unmarshal(body, &event); err != nil {
			http.Error(w, "not an event", http.StatusBadRequest)
			return
		}
		fmt.Println("handling", event.Type, event.Data.OutTradeNo)
		seen[id] = true
		w.WriteHeader(http.StatusNoContent)
	}
	srv := httptest.NewServer(http.HandlerFunc(receive))
	defer srv.Close()

	sender := &webhook.Sender{URL: srv.URL + "/wxpay/events", Secret: secret}
	event := []byte(`{"id":"evt_3f9a2b7c1d4e5f60","type":"order.paid","data":{"out_trade_no":"20261126170000"}}`)
	for range 2 { // a redelivery, as after an answer that was lost
		if err := sender.Send(context.Background(), "evt_3f9a2b7c1d4e5f60", event); err != nil {
			fmt.Println(err)
		}
	}
	// Output:
	// handling order.paid 20261126170000
	// already handled evt_3f9a2b7c1d4e5f60
}
