//go:build unix

package payment

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wxpay-scf/wxpay-scf/internal/benchcpu"
	"github.com/wxpay-scf/wxpay-scf/pkg/store"
	"github.com/wxpay-scf/wxpay-scf/pkg/trade"
	"github.com/wxpay-scf/wxpay-scf/pkg/webhook"
)

// BenchmarkDeliverFirst measures the first delivery attempt of an order's
// event, as a notification makes it once its change is committed: claim
// the order's due events on SQLite, send its order.paid event to a local
// webhook (http on a kept-alive connection; the receiver runs in this
// process and answers 204, so cpu-ns/op counts it too), and record the
// delivery.
func BenchmarkDeliverFirst(b *testing.B) {
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite:"+filepath.Join(b.TempDir(), "wxpay.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer receiver.Close()
	secret, err := webhook.ParseSecret("whsec_" + base64.StdEncoding.EncodeToString([]byte(strings.Repeat("s", 32))))
	if err != nil {
		b.Fatal(err)
	}
	s := &Service{Store: st, Target: &webhook.Sender{URL: receiver.URL + "/events", Secret: secret}}
	for i := range b.N {
		no := fmt.Sprintf("DF%08d", i)
		o := trade.Order{OutTradeNo: no, OpenID: "o1", TotalFee: 180, Description: "会员月卡", ExpiresAt: time.Now().Add(2 * time.Hour)}
		if _, _, err := st.CreateOrder(ctx, o); err != nil {
			b.Fatal(err)
		}
		if _, _, err := st.Transition(ctx, no, trade.Success, "4200"+no, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	stop := benchcpu.Start(b)
	for i := range b.N {
		s.deliverFirst(ctx, fmt.Sprintf("DF%08d", i))
	}
	stop()
	b.StopTimer()
	events, err := st.Events(ctx, "", b.N+1)
	if err != nil || len(events) != b.N {
		b.Fatal(len(events), err)
	}
	for _, e := range events {
		if e.Delivery.State != trade.DeliveryDelivered {
			b.Fatalf("%s: %+v", e.ID, e.Delivery)
		}
	}
}
