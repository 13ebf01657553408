package webhook_test

import (
	"fmt"
	"strings"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/webhook"
)

// A signed test delivery for a receiver that runs as an SCF function, which
// is handed the headers as a map with lower-case names.
func ExampleSignedHeaders() {
	secret, err := webhook.ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw") // a test secret
	if err != nil {
		panic(err)
	}
	body := []byte(`{"id":"evt_3f9a2b7c1d4e5f60","type":"order.paid","data":{"out_trade_no":"20261126170000"}}`)
	at := time.Date(2026, 11, 26, 17, 0, 42, 0, time.UTC)
	signed := webhook.SignedHeaders(secret, "evt_3f9a2b7c1d4e5f60", at, body)

	headers := map[string]string{} // the event's "headers"
	for name := range signed {
		headers[strings.ToLower(name)] = signed.Get(name)
	}
	lookup := func(name string) string { return headers[name] }
	fmt.Println(headers[webhook.HeaderTimestamp], headers[webhook.HeaderSignature])
	fmt.Println(webhook.Verify(secret, lookup, body, at.Add(time.Minute)))
	fmt.Println(webhook.Verify(secret, lookup, body, at.Add(10*time.Minute)))
	// Output:
	// 1795712442 v1,nG3QmVsFwbROg/gwpTdytJn1Iw9af2B/hq8ZpvYz9+M=
	// <nil>
	// webhook: webhook-timestamp more than 5 minutes off: 1795712442, now 1795713042
}
