// Package wxpayv3test is a local WeChat Pay speaking API v3, for tests and
// local runs: it verifies every request's Authorization signature with the
// merchant's public key, applies the field rules, signs every answer with
// its own key (as a WeChat Pay public key or as a platform certificate),
// keeps orders and refunds, encrypts notifications, serves the daily trade
// bill of what it saw (see package billsim), and can misbehave.
//
// The simulator's business clock (orders' age and time_expire, refunds'
// RefundDelay, payment and refund times, when bills are made and how long
// their download_url works) is Config.Now moved on by
// [Sim.Advance]. Signature timestamps, and the window requests' timestamps
// must fall in, follow Config.Now alone, so a client on real time still
// verifies after a test has made days pass.
package wxpayv3test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/bill"
)

// Config is the merchant the simulator serves.
type Config struct {
	AppID          string
	MchID          string
	APIv3Key       []byte
	MerchantKey    *rsa.PublicKey // verifies the merchant's requests
	MerchantSerial string         // the serial_no requests must name
	// Certificates selects certificate mode (answers signed by a platform
	// certificate served at /v3/certificates); otherwise public-key mode.
	Certificates bool
	// AnyPayer accepts any payer openid, for local runs where openids come
	// from real wx.login codes the simulator never issued.
	AnyPayer bool
	Now      func() time.Time // nil means time.Now; see also Sim.Advance
	// RefundDelay is how long an accepted refund stays PROCESSING, on the
	// business clock, before it finishes by itself with RefundStatus and no
	// notification, as bank-card refunds finish days later. 0 leaves every
	// refund PROCESSING until CompleteRefund.
	RefundDelay time.Duration
	// RefundStatus is how such a refund finishes: SUCCESS (also when ""),
	// CLOSED or ABNORMAL.
	RefundStatus string
	// BillLayout is the columns of the merchant's trade bills:
	// bill.Current, or bill.Older as some older merchants still get.
	// See also Sim.SetBill.
	BillLayout bill.Layout
}

// PublicKeyID is the id of the simulator's WeChat Pay public key.
const PublicKeyID = "PUB_KEY_ID_0119000001092026112600000000000001"

// FaultKind is a way to misbehave, once, on the next request.
type FaultKind int

// The faults.
const (
	Hang FaultKind = iota + 1
	HTTP500
	BadSignature
	NoSignature
	StaleTimestamp
	UnknownSerial
	Probe
	Refuse // answer Fault.Status with Fault.Code
)

// Fault is one misbehaviour.
type Fault struct {
	Kind   FaultKind
	Status int
	Code   string
}

type order struct {
	fields        string // what defines the order, to refuse a changed re-entry
	prepayID      string
	openid        string
	total         int64
	description   string
	attach        string
	state         string
	transactionID string
	paidAt        time.Time
	refunded      int64     // fen of refunds accepted and not closed
	expires       time.Time // after it the order cannot be paid
}

type refund struct {
	outTradeNo, refundID, status string
	amount                       int64
	accepted, finished           time.Time // accepted, and left PROCESSING
}

// Sim is the simulated API v3.
type Sim struct {
	cfg     Config
	key     *rsa.PrivateKey         // the WeChat Pay public key's private half
	signing atomic.Pointer[signing] // what signs answers and notifications now
	mux     *http.ServeMux
	closing chan struct{}
	mu      sync.Mutex
	certs   []platformCert // served at /v3/certificates, oldest first
	orders  map[string]*order
	refunds map[string]*refund
	users   map[string]bool
	bills   map[string]BillPlan // by billsim.Key
	files   map[string]billFile // by download token
	faults  []Fault
	// requests holds the method and path of every request.
	requests []string
	// lastRequestID is the Request-ID of the last answer.
	lastRequestID string
	closed        bool
	offset        atomic.Int64 // what Advance added to the business clock, in nanoseconds
}

// signing is a private key and the serial its signatures name.
type signing struct {
	key    *rsa.PrivateKey
	serial string
}

// platformCert is a platform certificate as /v3/certificates serves it.
type platformCert struct {
	serial string
	pem    []byte
}

// New returns a simulator with a fresh signing key, and in certificate mode
// a platform certificate with a key of its own.
func New(cfg Config) (*Sim, error) {
	switch cfg.RefundStatus {
	case "", "SUCCESS", "CLOSED", "ABNORMAL":
	default:
		return nil, fmt.Errorf("wxpayv3test: RefundStatus %q is not SUCCESS, CLOSED or ABNORMAL", cfg.RefundStatus)
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	s := &Sim{
		cfg: cfg, key: key, mux: http.NewServeMux(), closing: make(chan struct{}),
		orders: map[string]*order{}, refunds: map[string]*refund{}, users: map[string]bool{},
		bills: map[string]BillPlan{}, files: map[string]billFile{},
	}
	s.signing.Store(&signing{key, PublicKeyID})
	if cfg.Certificates {
		if _, err := s.RotateCertificate(); err != nil {
			return nil, err
		}
	}
	s.routes()
	return s, nil
}

// RotateCertificate issues a new platform certificate, as WeChat Pay does
// before the old one expires: /v3/certificates serves the old and the new,
// and the new one signs from now on. It returns the new serial.
func (s *Sim) RotateCertificate() (string, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", err
	}
	serial := big.NewInt(time.Now().UnixNano())
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: "TEST Tenpay platform certificate"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return "", err
	}
	c := platformCert{serial: hex.EncodeToString(serial.Bytes()), pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
	s.mu.Lock()
	s.certs = append(s.certs, c)
	s.mu.Unlock()
	s.signing.Store(&signing{key, c.serial})
	return c.serial, nil
}

// SwitchToPublicKey plays a merchant's move from platform certificates to
// the WeChat Pay public key: from now on answers and notifications are
// signed with the public key, under PublicKeyID, while the certificates are
// still served.
func (s *Sim) SwitchToPublicKey() { s.signing.Store(&signing{s.key, PublicKeyID}) }

// PublicKeyPEM is the simulator's WeChat Pay public key, as the merchant
// platform hands it out (WXPAY_PUBLIC_KEY).
func (s *Sim) PublicKeyPEM() []byte {
	der, _ := x509.MarshalPKIXPublicKey(&s.key.PublicKey)
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// ServeHTTP serves the API.
func (s *Sim) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Close releases requests held by Hang faults.
func (s *Sim) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.closing)
	}
}

// Inject queues faults for the next requests, one each.
func (s *Sim) Inject(f ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, f...)
}

// AddUser makes openid a user of the mini-program.
func (s *Sim) AddUser(openid string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[openid] = true
}

// Requests returns "METHOD /path" of every request received.
func (s *Sim) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requests...)
}

// LastRequestID is the Request-ID header of the last answer.
func (s *Sim) LastRequestID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastRequestID
}

// Advance moves the business clock on by d, as if d had passed: orders
// pass their time_expire and refunds reach Config.RefundDelay at once.
func (s *Sim) Advance(d time.Duration) { s.offset.Add(int64(d)) }

// now is the business clock.
func (s *Sim) now() time.Time { return s.wireNow().Add(time.Duration(s.offset.Load())) }

// wireNow is the clock of signature timestamps, which Advance leaves alone.
func (s *Sim) wireNow() time.Time {
	if s.cfg.Now != nil {
		return s.cfg.Now()
	}
	return time.Now()
}

func randomHex(n int) string {
	b := make([]byte, (n+1)/2)
	rand.Read(b)
	return hex.EncodeToString(b)[:n]
}
