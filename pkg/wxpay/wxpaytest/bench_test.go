package wxpaytest

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/wxpay-scf/wxpay-scf/pkg/wxpay"
)

// BenchmarkSimulatorUnifiedOrder measures the simulator's own share of an
// in-process invocation: decode, authenticate, check, store and answer one
// new order. Subtracted from the function's invocation benchmark, it leaves
// what the function itself costs.
func BenchmarkSimulatorUnifiedOrder(b *testing.B) {
	s := New(Config{AppID: appID, MchID: mchID, Key: key})
	s.AddUser("o1")
	bodies := make([]string, 0, 1<<16)
	for i := 0; i < cap(bodies); i++ {
		p := validOrder()
		p["out_trade_no"] = "20261126170000" + strconv.Itoa(1e6+i)
		p["sign"], _ = wxpay.Sign(p, key, wxpay.SignMD5)
		doc, _ := wxpay.EncodeXML(p)
		bodies = append(bodies, string(doc))
	}
	rt := s.Transport()
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/pay/unifiedorder", strings.NewReader(bodies[i%len(bodies)]))
		i++
		resp, err := rt.RoundTrip(req)
		if err != nil || resp.StatusCode != 200 {
			b.Fatal(err)
		}
	}
}
