package wxpayv3_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/outbound"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpayv3"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpayv3/wxpayv3test"
)

const (
	appID    = "wxd678efh567hg6787"
	mchID    = "1900000109"
	serial   = "3775B6A45ACD588826D15E583A95F5DD********"
	openID   = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
	apiV3Key = "TEST-apiv3-key-0123456789abcdefg" // 32 bytes, a test key
)

// merchantKey is the published RSA test key (PEM label TESTING KEY).
func merchantKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	raw, err := os.ReadFile("testdata/v3-test-key.pem")
	if err != nil {
		t.Fatal(err)
	}
	k, err := wxpayv3.ParsePrivateKey(bytes.ReplaceAll(raw, []byte("TESTING KEY"), []byte("PRIVATE KEY")))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

type setup struct {
	sim    *wxpayv3test.Sim
	client *wxpayv3.Client
}

func newSetup(t *testing.T, certificates bool) setup {
	t.Helper()
	key := merchantKey(t)
	sim, err := wxpayv3test.New(wxpayv3test.Config{
		AppID: appID, MchID: mchID, APIv3Key: []byte(apiV3Key), MerchantKey: &key.PublicKey, MerchantSerial: serial, Certificates: certificates,
	})
	if err != nil {
		t.Fatal(err)
	}
	sim.AddUser(openID)
	srv := httptest.NewServer(sim)
	t.Cleanup(func() { sim.Close(); srv.Close() })
	c := &wxpayv3.Client{
		AppID:  appID,
		Signer: &wxpayv3.Signer{MchID: mchID, Serial: serial, Key: key, Rand: rand.Reader},
		HTTP:   outbound.Client{BaseURL: srv.URL, Transport: srv.Client().Transport, RetryWait: time.Millisecond},
	}
	if certificates {
		c.Keys = &wxpayv3.Certificates{APIv3Key: []byte(apiV3Key)}
	} else {
		pub, err := wxpayv3.ParsePublicKey(sim.PublicKeyPEM())
		if err != nil {
			t.Fatal(err)
		}
		c.Keys, c.PublicKeyID = wxpayv3.PublicKeys{wxpayv3test.PublicKeyID: pub}, wxpayv3test.PublicKeyID
	}
	return setup{sim, c}
}

func order(no string) *wxpayv3.PrepayRequest {
	return &wxpayv3.PrepayRequest{OutTradeNo: no, Description: "会员充值", NotifyURL: "https://pay.example.com/notify", Total: 180, OpenID: openID, ClientIP: "1.2.3.4"}
}

func TestOrderLife(t *testing.T) {
	for _, certs := range []bool{false, true} {
		s := newSetup(t, certs)
		ctx := context.Background()
		prepay, err := s.client.Prepay(ctx, order("20261126170000000001"))
		if err != nil || !strings.HasPrefix(prepay, "wx") {
			t.Fatalf("certificates=%v: %q %v", certs, prepay, err)
		}
		if again, err := s.client.Prepay(ctx, order("20261126170000000001")); err != nil || again != prepay {
			t.Fatalf("re-entry: %q %v", again, err)
		}
		changed := order("20261126170000000001")
		changed.Total = 181
		var e *wxpayv3.Error
		if _, err := s.client.Prepay(ctx, changed); !errors.As(err, &e) || e.Code != "OUT_TRADE_NO_USED" || e.StatusCode != 403 {
			t.Fatalf("changed order: %v", err)
		}
		tx, err := s.client.QueryOrder(ctx, "20261126170000000001")
		if err != nil || tx.TradeState != "NOTPAY" || tx.Amount.Total != 180 {
			t.Fatalf("%+v %v", tx, err)
		}
		note, _ := s.sim.Pay("20261126170000000001")
		if tx, _ = s.client.QueryOrder(ctx, "20261126170000000001"); tx.TradeState != "SUCCESS" || tx.TransactionID == "" || tx.PaidAt().IsZero() || tx.Payer.OpenID != openID {
			t.Fatalf("%+v", tx)
		}
		if err := s.client.CloseOrder(ctx, "20261126170000000001"); !errors.As(err, &e) || e.Code != "ORDERPAID" {
			t.Fatalf("closing a paid order: %v", err)
		}
		s.client.Prepay(ctx, order("20261126170000000002"))
		if err := s.client.CloseOrder(ctx, "20261126170000000002"); err != nil {
			t.Fatalf("close: %v", err)
		}
		if _, err := s.client.QueryOrder(ctx, "20261126170000000404"); !errors.As(err, &e) || e.Code != "ORDER_NOT_EXIST" {
			t.Fatalf("unknown: %v", err)
		}
		// Refunds: a retry refunds once; more than is left is refused.
		r := &wxpayv3.RefundRequest{OutTradeNo: "20261126170000000001", OutRefundNo: "R1", Reason: "退货", Refund: 100, Total: 180}
		got, err := s.client.CreateRefund(ctx, r)
		if err != nil || got.Status != "PROCESSING" {
			t.Fatalf("%+v %v", got, err)
		}
		if again, _ := s.client.CreateRefund(ctx, r); again.RefundID != got.RefundID {
			t.Fatal("a retry refunded twice")
		}
		if _, err := s.client.CreateRefund(ctx, &wxpayv3.RefundRequest{OutTradeNo: r.OutTradeNo, OutRefundNo: "R2", Refund: 81, Total: 180}); !errors.As(err, &e) || e.Code != "NOT_ENOUGH" {
			t.Fatalf("over: %v", err)
		}
		if q, err := s.client.QueryRefund(ctx, "R1"); err != nil || q.Amount.Refund != 100 {
			t.Fatalf("%+v %v", q, err)
		}
		// The notifications decrypt and verify.
		n, err := wxpayv3.ParseNotification(s.client.Keys, []byte(apiV3Key), note.Signed, note.Body, time.Now())
		var paid wxpayv3.Transaction
		if err != nil || n.EventType != "TRANSACTION.SUCCESS" || json.Unmarshal(n.Plaintext, &paid) != nil || paid.OutTradeNo != "20261126170000000001" || paid.Amount.Total != 180 {
			t.Fatalf("%+v %v", n, err)
		}
		rn, _ := s.sim.CompleteRefund("R1", "SUCCESS")
		n, err = wxpayv3.ParseNotification(s.client.Keys, []byte(apiV3Key), rn.Signed, rn.Body, time.Now())
		var refunded wxpayv3.RefundNotice
		if err != nil || n.EventType != "REFUND.SUCCESS" || json.Unmarshal(n.Plaintext, &refunded) != nil || refunded.RefundStatus != "SUCCESS" || refunded.Amount.Refund != 100 {
			t.Fatalf("%+v %v", n, err)
		}
		downloads := 0
		for _, r := range s.sim.Requests() {
			if r == "GET /v3/certificates" {
				downloads++
			}
		}
		if certs && downloads != 1 || !certs && downloads != 0 {
			t.Fatalf("certificates=%v: %d downloads", certs, downloads)
		}
	}
}

func TestRefusesBadAnswers(t *testing.T) {
	cases := []struct {
		fault wxpayv3test.Fault
		want  error
	}{
		{wxpayv3test.Fault{Kind: wxpayv3test.BadSignature}, wxpayv3.ErrInvalidSignature},
		{wxpayv3test.Fault{Kind: wxpayv3test.NoSignature}, wxpayv3.ErrMissingSignature},
		{wxpayv3test.Fault{Kind: wxpayv3test.StaleTimestamp}, wxpayv3.ErrStaleTimestamp},
		{wxpayv3test.Fault{Kind: wxpayv3test.UnknownSerial}, wxpayv3.ErrUnknownSerial},
		{wxpayv3test.Fault{Kind: wxpayv3test.Probe}, wxpayv3.ErrProbe},
	}
	s := newSetup(t, false)
	for _, c := range cases {
		s.sim.Inject(c.fault)
		if id, err := s.client.Prepay(context.Background(), order("20261126170000000009")); !errors.Is(err, c.want) || id != "" {
			t.Errorf("%+v: got %q %v, want %v", c.fault, id, err, c.want)
		}
	}
	// 500 is retried with the same request; three in a row fail.
	s.sim.Inject(wxpayv3test.Fault{Kind: wxpayv3test.HTTP500})
	if _, err := s.client.Prepay(context.Background(), order("20261126170000000010")); err != nil {
		t.Fatalf("one 500: %v", err)
	}
	s.sim.Inject(wxpayv3test.Fault{Kind: wxpayv3test.HTTP500}, wxpayv3test.Fault{Kind: wxpayv3test.HTTP500}, wxpayv3test.Fault{Kind: wxpayv3test.HTTP500})
	var e *wxpayv3.Error
	if _, err := s.client.Prepay(context.Background(), order("20261126170000000011")); !errors.As(err, &e) || e.StatusCode != 500 {
		t.Fatalf("three 500s: %v", err)
	}
	s.sim.Inject(wxpayv3test.Fault{Kind: wxpayv3test.Hang})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := s.client.Prepay(ctx, order("20261126170000000012")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("hang: %v", err)
	}
	// The simulator refuses a request signed with another key.
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	s.client.Signer.Key = other
	if _, err := s.client.Prepay(context.Background(), order("20261126170000000013")); !errors.As(err, &e) || e.Code != "SIGN_ERROR" {
		t.Fatalf("wrong merchant key: %v", err)
	}
}

func TestNotificationRefusals(t *testing.T) {
	s := newSetup(t, false)
	s.client.Prepay(context.Background(), order("20261126170000000020"))
	note, _ := s.sim.Pay("20261126170000000020")
	probe, _ := s.sim.PaymentNotice("20261126170000000020", true)
	now := time.Now()
	for name, c := range map[string]struct {
		n    wxpayv3test.Notice
		key  string
		at   time.Time
		want error
	}{
		"probe":           {probe, apiV3Key, now, wxpayv3.ErrProbe},
		"tampered":        {wxpayv3test.Notice{Body: bytes.Replace(note.Body, []byte("TRANSACTION"), []byte("TRANSACTIOM"), 1), Signed: note.Signed}, apiV3Key, now, wxpayv3.ErrInvalidSignature},
		"replayed later":  {note, apiV3Key, now.Add(10 * time.Minute), wxpayv3.ErrStaleTimestamp},
		"wrong APIv3 key": {note, strings.Repeat("k", 32), now, wxpayv3.ErrDecrypt},
	} {
		if _, err := wxpayv3.ParseNotification(s.client.Keys, []byte(c.key), c.n.Signed, c.n.Body, c.at); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", name, err, c.want)
		}
	}
	// A re-signed duplicate is as good as the first.
	again, _ := s.sim.PaymentNotice("20261126170000000020", false)
	if _, err := wxpayv3.ParseNotification(s.client.Keys, []byte(apiV3Key), again.Signed, again.Body, now); err != nil {
		t.Fatal(err)
	}
}

func TestCertificatesMustDecrypt(t *testing.T) {
	s := newSetup(t, true)
	s.client.Keys = &wxpayv3.Certificates{APIv3Key: []byte(strings.Repeat("x", 32))}
	if _, err := s.client.Prepay(context.Background(), order("20261126170000000030")); !errors.Is(err, wxpayv3.ErrUnknownSerial) {
		t.Fatalf("certificates under another APIv3 key: %v", err)
	}
}

func TestFailover(t *testing.T) {
	s := newSetup(t, false)
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(503) }))
	defer down.Close()
	s.client.HTTP.FailoverURL, s.client.HTTP.BaseURL = s.client.HTTP.BaseURL, down.URL
	if _, err := s.client.Prepay(context.Background(), order("20261126170000000040")); err != nil {
		t.Fatalf("failover: %v", err)
	}
	if n := len(s.sim.Requests()); n != 1 {
		t.Fatalf("the backup received %d requests", n)
	}
}

func TestErrorsKeepRequestID(t *testing.T) {
	s := newSetup(t, false)
	refusal := wxpayv3test.Fault{Kind: wxpayv3test.Refuse, Status: 400, Code: "PARAM_ERROR"}
	http500 := wxpayv3test.Fault{Kind: wxpayv3test.HTTP500}
	for _, c := range []struct {
		name   string
		faults []wxpayv3test.Fault
		want   error
	}{
		{"refusal", []wxpayv3test.Fault{refusal}, nil},
		{"5xx", []wxpayv3test.Fault{http500, http500, http500}, nil},
		{"bad signature", []wxpayv3test.Fault{{Kind: wxpayv3test.BadSignature}}, wxpayv3.ErrInvalidSignature},
		{"unknown serial", []wxpayv3test.Fault{{Kind: wxpayv3test.UnknownSerial}}, wxpayv3.ErrUnknownSerial},
		{"probe", []wxpayv3test.Fault{{Kind: wxpayv3test.Probe}}, wxpayv3.ErrProbe},
	} {
		s.sim.Inject(c.faults...)
		_, err := s.client.Prepay(context.Background(), order("20261126170000000050"))
		id := s.sim.LastRequestID()
		if err == nil || id == "" || wxpayv3.RequestID(err) != id || !strings.Contains(err.Error(), id) {
			t.Errorf("%s: %v does not carry Request-ID %q", c.name, err, id)
		}
		var e *wxpayv3.Error
		if c.want == nil && (!errors.As(err, &e) || e.RequestID != id) || c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("%s: got %v", c.name, err)
		}
	}
	if wxpayv3.RequestID(context.DeadlineExceeded) != "" {
		t.Error("a timeout has no Request-ID")
	}
}

// A refusal without WeChat's JSON body (from a proxy, say) has no code: no
// words of net/http may pose as one.
func TestBareRefusalHasNoCode(t *testing.T) {
	s := newSetup(t, false)
	for _, status := range []int{400, 404, 502} {
		bare := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Request-ID", "bare-1")
			w.WriteHeader(status)
		}))
		s.client.HTTP.BaseURL = bare.URL
		_, err := s.client.Prepay(context.Background(), order("20261126170000000060"))
		bare.Close()
		var e *wxpayv3.Error
		if !errors.As(err, &e) || e.StatusCode != status || e.Code != "" || e.RequestID != "bare-1" || strings.Contains(err.Error(), http.StatusText(status)) {
			t.Errorf("%d: %v", status, err)
		}
	}
}
