package wxpayv3_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
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
	clock  *clock // the Verifier's
}

// clock is a clock that moves only when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// newSetup is a client and a simulator in certificate mode or public-key
// mode; in public-key mode the client would download certificates for
// other serials (mixed mode), as function/ wires it.
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
	clk := &clock{t: time.Now()}
	c := &wxpayv3.Client{
		AppID:    appID,
		Signer:   &wxpayv3.Signer{MchID: mchID, Serial: serial, Key: key, Rand: rand.Reader},
		APIv3Key: []byte(apiV3Key),
		HTTP:     outbound.Client{BaseURL: srv.URL, Transport: srv.Client().Transport, RetryWait: time.Millisecond},
	}
	c.Verifier = &wxpayv3.Verifier{Download: c.DownloadCertificates, Now: clk.Now}
	if !certificates {
		pub, err := wxpayv3.ParsePublicKey(sim.PublicKeyPEM())
		if err != nil {
			t.Fatal(err)
		}
		c.Verifier.PublicKeyID, c.Verifier.PublicKey = wxpayv3test.PublicKeyID, pub
	}
	return setup{sim, c, clk}
}

// downloads counts the certificate downloads the simulator served.
func (s setup) downloads() int {
	n := 0
	for _, r := range s.sim.Requests() {
		if r == "GET /v3/certificates" {
			n++
		}
	}
	return n
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
		n, err := wxpayv3.ParseNotification(ctx, s.client.Verifier, []byte(apiV3Key), note.Signed, note.Body)
		var paid wxpayv3.Transaction
		if err != nil || n.EventType != "TRANSACTION.SUCCESS" || json.Unmarshal(n.Plaintext, &paid) != nil || paid.OutTradeNo != "20261126170000000001" || paid.Amount.Total != 180 {
			t.Fatalf("%+v %v", n, err)
		}
		rn, _ := s.sim.CompleteRefund("R1", "SUCCESS")
		n, err = wxpayv3.ParseNotification(ctx, s.client.Verifier, []byte(apiV3Key), rn.Signed, rn.Body)
		var refunded wxpayv3.RefundNotice
		if err != nil || n.EventType != "REFUND.SUCCESS" || json.Unmarshal(n.Plaintext, &refunded) != nil || refunded.RefundStatus != "SUCCESS" || refunded.Amount.Refund != 100 {
			t.Fatalf("%+v %v", n, err)
		}
		if downloads := s.downloads(); certs && downloads != 1 || !certs && downloads != 0 {
			t.Fatalf("certificates=%v: %d downloads", certs, downloads)
		}
	}
}

// time_expire goes out as RFC 3339 in China time, and WeChat Pay takes no
// payment after it; no expiry sends none.
func TestPrepayTimeExpire(t *testing.T) {
	s := newSetup(t, false)
	var sent []byte
	spy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sent, _ = io.ReadAll(r.Body)
		w.WriteHeader(http.StatusBadRequest) // a bare refusal: nothing to verify
	}))
	defer spy.Close()
	c := *s.client
	c.HTTP.BaseURL = spy.URL
	for _, e := range []struct {
		at   time.Time
		sent string
	}{
		{time.Date(2026, 11, 26, 9, 30, 0, 0, time.UTC), `"time_expire":"2026-11-26T17:30:00+08:00"`},
		{time.Date(2026, 11, 26, 23, 59, 59, 999, time.FixedZone("", -5*3600)), `"time_expire":"2026-11-27T12:59:59+08:00"`},
		{time.Time{}, ""},
	} {
		o := order("20261126170000000001")
		o.TimeExpire = e.at
		c.Prepay(context.Background(), o)
		if got := regexp.MustCompile(`"time_expire":"[^"]*"`).Find(sent); string(got) != e.sent {
			t.Errorf("%v: sent %s", e.at, sent)
		}
	}
	o := order("20261126170000000002")
	o.TimeExpire = time.Now().Add(time.Hour)
	if _, err := s.client.Prepay(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	s.sim.Advance(time.Hour + time.Second)
	if _, ok := s.sim.Pay(o.OutTradeNo); ok {
		t.Fatal("paid after time_expire")
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
	ctx := context.Background()
	s.client.Prepay(ctx, order("20261126170000000020"))
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
		v := &wxpayv3.Verifier{PublicKeyID: s.client.Verifier.PublicKeyID, PublicKey: s.client.Verifier.PublicKey, Now: func() time.Time { return c.at }}
		if _, err := wxpayv3.ParseNotification(ctx, v, []byte(c.key), c.n.Signed, c.n.Body); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", name, err, c.want)
		}
	}
	// A re-signed duplicate is as good as the first.
	again, _ := s.sim.PaymentNotice("20261126170000000020", false)
	if _, err := wxpayv3.ParseNotification(ctx, s.client.Verifier, []byte(apiV3Key), again.Signed, again.Body); err != nil {
		t.Fatal(err)
	}
}

func TestCertificatesMustDecrypt(t *testing.T) {
	s := newSetup(t, true)
	s.client.APIv3Key = []byte(strings.Repeat("x", 32))
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
	s.client.Verifier.Download = nil // the last answer is the one refused
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

// A refusal says whether it was signed: only a signed one may release money.
func TestRefusalSaysWhetherSigned(t *testing.T) {
	s := newSetup(t, false)
	var e *wxpayv3.Error
	if _, err := s.client.QueryRefund(context.Background(), "R-404"); !errors.As(err, &e) || e.Code != "RESOURCE_NOT_EXISTS" || !e.Signed {
		t.Fatalf("from WeChat: %v %+v", err, e)
	}
	unsigned := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"code":"RESOURCE_NOT_EXISTS","message":"退款单不存在"}`)
	}))
	defer unsigned.Close()
	s.client.HTTP.BaseURL = unsigned.URL
	if _, err := s.client.QueryRefund(context.Background(), "R-404"); !errors.As(err, &e) || e.Code != "RESOURCE_NOT_EXISTS" || e.Signed {
		t.Fatalf("unsigned: %v %+v", err, e)
	}
}

// Certificate mode heals by itself, for answers and notifications alike: a
// failed first download, then a rotation, each within one download a minute.
func TestCertificatesHeal(t *testing.T) {
	s := newSetup(t, true)
	ctx := context.Background()
	if _, err := s.client.Prepay(ctx, order("20261126170000000070")); err != nil {
		t.Fatal(err)
	}
	note, _ := s.sim.Pay("20261126170000000070")
	// Another instance, whose first download fails.
	instance := &wxpayv3.Verifier{Download: s.client.DownloadCertificates, Now: s.clock.Now}
	parse := func(n wxpayv3test.Notice) error {
		_, err := wxpayv3.ParseNotification(ctx, instance, []byte(apiV3Key), n.Signed, n.Body)
		return err
	}
	s.sim.Inject(wxpayv3test.Fault{Kind: wxpayv3test.HTTP500})
	if err := parse(note); !errors.Is(err, wxpayv3.ErrUnknownSerial) || s.downloads() != 2 {
		t.Fatalf("failed download: %v after %d downloads", err, s.downloads())
	}
	s.clock.Add(30 * time.Second)
	if err := parse(note); !errors.Is(err, wxpayv3.ErrUnknownSerial) || s.downloads() != 2 {
		t.Fatalf("within the minute: %v after %d downloads", err, s.downloads())
	}
	s.clock.Add(31 * time.Second)
	if err := parse(note); err != nil || s.downloads() != 3 {
		t.Fatalf("a minute later: %v after %d downloads", err, s.downloads())
	}
	// A rotation: the new certificate signs answers and notifications.
	if _, err := s.sim.RotateCertificate(); err != nil {
		t.Fatal(err)
	}
	s.clock.Add(61 * time.Second)
	if _, err := s.client.QueryOrder(ctx, "20261126170000000070"); err != nil || s.downloads() != 4 {
		t.Fatalf("answer after the rotation: %v after %d downloads", err, s.downloads())
	}
	again, _ := s.sim.PaymentNotice("20261126170000000070", false)
	if err := parse(again); err != nil || s.downloads() != 5 {
		t.Fatalf("notification after the rotation: %v after %d downloads", err, s.downloads())
	}
}

// A merchant moving from certificates to the public key receives both
// kinds of signature.
func TestMixedMode(t *testing.T) {
	s := newSetup(t, true)
	pub, err := wxpayv3.ParsePublicKey(s.sim.PublicKeyPEM())
	if err != nil {
		t.Fatal(err)
	}
	s.client.Verifier.PublicKeyID, s.client.Verifier.PublicKey = wxpayv3test.PublicKeyID, pub
	ctx := context.Background()
	for i, switchKey := range []bool{false, true} {
		if switchKey {
			s.sim.SwitchToPublicKey()
		}
		no := "2026112617000000008" + strconv.Itoa(i)
		if _, err := s.client.Prepay(ctx, order(no)); err != nil {
			t.Fatalf("public key %v: %v", switchKey, err)
		}
		note, _ := s.sim.Pay(no)
		if _, err := wxpayv3.ParseNotification(ctx, s.client.Verifier, []byte(apiV3Key), note.Signed, note.Body); err != nil {
			t.Fatalf("public key %v: %v", switchKey, err)
		}
		if (note.Signed.Serial == wxpayv3test.PublicKeyID) != switchKey || s.downloads() != 1 {
			t.Fatalf("public key %v: signed by %s, %d downloads", switchKey, note.Signed.Serial, s.downloads())
		}
	}
}
