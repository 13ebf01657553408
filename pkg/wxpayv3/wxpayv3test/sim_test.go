package wxpayv3test_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/outbound"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpayv3"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpayv3/wxpayv3test"
)

const (
	appID    = "wxd678efh567hg6787"
	mchID    = "1900000109"
	serial   = "SERIAL"
	openID   = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
	apiV3Key = "TEST-apiv3-key-0123456789abcdefg" // 32 bytes, a test key
)

// newSim is a simulator in public-key mode and a client on real time that
// signs every request and verifies every answer.
func newSim(t *testing.T, cfg wxpayv3test.Config) (*wxpayv3test.Sim, *wxpayv3.Client) {
	t.Helper()
	raw, err := os.ReadFile("../testdata/v3-test-key.pem")
	if err != nil {
		t.Fatal(err)
	}
	key, err := wxpayv3.ParsePrivateKey(bytes.ReplaceAll(raw, []byte("TESTING KEY"), []byte("PRIVATE KEY")))
	if err != nil {
		t.Fatal(err)
	}
	cfg.AppID, cfg.MchID, cfg.APIv3Key, cfg.MerchantKey, cfg.MerchantSerial = appID, mchID, []byte(apiV3Key), &key.PublicKey, serial
	sim, err := wxpayv3test.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sim.AddUser(openID)
	srv := httptest.NewServer(sim)
	t.Cleanup(func() { sim.Close(); srv.Close() })
	pub, err := wxpayv3.ParsePublicKey(sim.PublicKeyPEM())
	if err != nil {
		t.Fatal(err)
	}
	return sim, &wxpayv3.Client{
		AppID:    appID,
		Signer:   &wxpayv3.Signer{MchID: mchID, Serial: serial, Key: key, Rand: rand.Reader},
		Verifier: &wxpayv3.Verifier{PublicKeyID: wxpayv3test.PublicKeyID, PublicKey: pub},
		APIv3Key: []byte(apiV3Key),
		HTTP:     outbound.Client{BaseURL: srv.URL, RetryWait: time.Millisecond},
	}
}

// prepay creates order no, with timeExpire unless it is "", and returns
// WeChat's refusal code ("" when accepted).
func prepay(t *testing.T, c *wxpayv3.Client, no, timeExpire string) string {
	t.Helper()
	body := map[string]any{
		"appid": appID, "mchid": mchID, "description": "会员充值", "out_trade_no": no, "notify_url": "https://pay.example.com/notify",
		"amount": map[string]any{"total": 180, "currency": "CNY"}, "payer": map[string]string{"openid": openID},
	}
	if timeExpire != "" {
		body["time_expire"] = timeExpire
	}
	err := c.Do(context.Background(), "POST", "/v3/pay/transactions/jsapi", body, nil)
	var refusal *wxpayv3.Error
	if errors.As(err, &refusal) {
		return refusal.Code
	}
	if err != nil {
		t.Fatal(err)
	}
	return ""
}

// tradeState queries an order; the answer must verify.
func tradeState(t *testing.T, c *wxpayv3.Client, no string) string {
	t.Helper()
	tr, err := c.QueryOrder(context.Background(), no)
	if err != nil {
		t.Fatal(err)
	}
	return tr.TradeState
}

func TestTimeExpire(t *testing.T) {
	sim, c := newSim(t, wxpayv3test.Config{})
	for _, bad := range []string{"20261126173000", "2026-11-26 17:30:00", "2026-11-26T17:30:00", "2026-11-31T17:30:00+08:00", "tomorrow"} {
		if code := prepay(t, c, "20261126170000bad", bad); code != "PARAM_ERROR" {
			t.Errorf("time_expire %q: %q", bad, code)
		}
	}
	var passed time.Duration // how far the business clock is ahead
	rfc := func(d time.Duration) string { return time.Now().Add(passed + d).Format(time.RFC3339) }
	for _, o := range []struct {
		no, timeExpire string
		wait           time.Duration // business time passed before the user pays
		paid           bool
	}{
		{"20261126170000a", rfc(time.Hour), 59 * time.Minute, true},
		{"20261126170000b", rfc(time.Hour), time.Hour + 2*time.Second, false},
		{"20261126170000c", rfc(10 * time.Second), 30 * time.Second, true}, // moved to a minute after the order
		{"20261126170000d", "", 7*24*time.Hour - time.Minute, true},        // seven days without one
		{"20261126170000e", "", 7*24*time.Hour + time.Second, false},
		{"20261126170000f", rfc(200 * 24 * time.Hour), 91 * 24 * time.Hour, false}, // cut to 90 days
	} {
		if code := prepay(t, c, o.no, o.timeExpire); code != "" {
			t.Fatalf("%s: %s", o.no, code)
		}
		sim.Advance(o.wait)
		passed += o.wait
		_, ok := sim.Pay(o.no)
		// The business clock moved, the signatures' did not: answers verify.
		if state := tradeState(t, c, o.no); ok != o.paid || state != map[bool]string{true: "SUCCESS", false: "NOTPAY"}[o.paid] {
			t.Errorf("%s after %v: paid %v, %s", o.no, o.wait, ok, state)
		}
	}
	// time_expire cannot be changed on re-entry.
	if code := prepay(t, c, "20261126170000a", rfc(2*time.Hour)); code != "OUT_TRADE_NO_USED" {
		t.Fatalf("changed time_expire: %q", code)
	}
}

// A payment whose notification is lost is still reported by the query.
func TestLostNotification(t *testing.T) {
	sim, c := newSim(t, wxpayv3test.Config{})
	prepay(t, c, "20261126170000000001", "")
	if _, ok := sim.Pay("20261126170000000001"); !ok { // the notice is never delivered
		t.Fatal("not paid")
	}
	tr, err := c.QueryOrder(context.Background(), "20261126170000000001")
	if err != nil || tr.TradeState != "SUCCESS" || tr.TransactionID == "" || tr.PaidAt().IsZero() || tr.Amount.Total != 180 {
		t.Fatalf("%+v %v", tr, err)
	}
}

// Refunds that finish days later: PROCESSING until the delay has passed on
// the business clock, then final, with nothing posted.
func TestRefundsFinishLater(t *testing.T) {
	const delay = 72 * time.Hour
	ctx := context.Background()
	for _, c := range []struct {
		status, want, tradeState string
		refundable               bool // the order's 180 fen can be refunded again
	}{
		{"", "SUCCESS", "REFUND", false},
		{"ABNORMAL", "ABNORMAL", "SUCCESS", false}, // the merchant pays it out by hand
		{"CLOSED", "CLOSED", "SUCCESS", true},
	} {
		sim, client := newSim(t, wxpayv3test.Config{RefundDelay: delay, RefundStatus: c.status})
		const no = "20261126170000000001"
		prepay(t, client, no, "")
		sim.Pay(no)
		refund := func(rno string) error {
			_, err := client.CreateRefund(ctx, &wxpayv3.RefundRequest{OutTradeNo: no, OutRefundNo: rno, Refund: 180, Total: 180})
			return err
		}
		if err := refund("R-1"); err != nil {
			t.Fatal(err)
		}
		for _, wait := range []time.Duration{0, delay - time.Second, time.Second} {
			sim.Advance(wait)
			r, err := client.QueryRefund(ctx, "R-1")
			want := "PROCESSING"
			if wait == time.Second {
				want = c.want
			}
			if err != nil || r.Status != want || r.Amount.Refund != 180 || r.OutTradeNo != no || r.RefundID == "" {
				t.Fatalf("%s: %+v %v", want, r, err)
			}
		}
		if state := tradeState(t, client, no); state != c.tradeState {
			t.Errorf("%s: trade_state %s", c.want, state)
		}
		if err := refund("R-2"); (err == nil) != c.refundable {
			t.Errorf("%s: refunding again: %v", c.want, err)
		}
		if _, ok := sim.CompleteRefund("R-1", "SUCCESS"); ok {
			t.Errorf("%s: a finished refund completed again", c.want)
		}
	}
}

func TestRefundQuery(t *testing.T) {
	sim, c := newSim(t, wxpayv3test.Config{})
	ctx := context.Background()
	var refusal *wxpayv3.Error
	if _, err := c.QueryRefund(ctx, "R-1"); !errors.As(err, &refusal) || refusal.StatusCode != 404 || refusal.Code != "RESOURCE_NOT_EXISTS" {
		t.Fatalf("unknown refund: %v", err)
	}
	prepay(t, c, "20261126170000000001", "")
	sim.Pay("20261126170000000001")
	if _, err := c.CreateRefund(ctx, &wxpayv3.RefundRequest{OutTradeNo: "20261126170000000001", OutRefundNo: "R-1", Refund: 60, Total: 180}); err != nil {
		t.Fatal(err)
	}
	sim.Advance(1000 * time.Hour) // without RefundDelay, only CompleteRefund finishes a refund
	if r, err := c.QueryRefund(ctx, "R-1"); err != nil || r.Status != "PROCESSING" {
		t.Fatalf("%+v %v", r, err)
	}
	if _, ok := sim.CompleteRefund("R-1", "ABNORMAL"); !ok { // its notice is never delivered
		t.Fatal("not completed")
	}
	if r, err := c.QueryRefund(ctx, "R-1"); err != nil || r.Status != "ABNORMAL" || r.Amount.Refund != 60 {
		t.Fatalf("%+v %v", r, err)
	}
}

func TestNewRefusesUnknownRefundStatus(t *testing.T) {
	for _, s := range []string{"REFUNDCLOSE", "CHANGE", "PROCESSING", "success"} {
		if _, err := wxpayv3test.New(wxpayv3test.Config{RefundStatus: s}); err == nil {
			t.Errorf("%s accepted", s)
		}
	}
}
