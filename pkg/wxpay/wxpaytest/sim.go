// Package wxpaytest is a local WeChat Pay: an http.Handler that plays the
// merchant API v2 and the mini-program login API the way the real services
// behave, for tests and local runs. It checks every signature and field rule
// the real API checks, signs its answers, keeps orders, issues single-use
// login codes, serves the daily trade bill of what it saw (see package
// billsim), and can be told to misbehave.
//
// Serve it with httptest.NewServer, or call it in process through
// [Sim.Transport].
//
// Time is the simulator's own: Config.Now, moved on by [Sim.Advance], so a
// test can make an order old or expired, a refund finish, or a day's bill
// be made, without sleeping.
package wxpaytest

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/bill"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpay"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpay/wxpaytest/billsim"
)

// Config is the merchant and mini-program the simulator knows.
type Config struct {
	AppID     string
	MchID     string
	Key       string // API v2 key
	AppSecret string
	Now       func() time.Time // nil means time.Now; see also Sim.Advance
	// AnyCode accepts, once, login codes the simulator never issued, with
	// an openid derived from the code: for local runs where WeChat DevTools
	// sends real wx.login codes.
	AnyCode bool
	// MerchantCert is the client certificate /secapi/ requests must
	// present (see NewMerchantCert); nil refuses them all.
	MerchantCert *x509.Certificate
	// RefundDelay is how long an accepted refund stays PROCESSING, on the
	// simulator's clock, before it finishes by itself with RefundStatus and
	// no notification, as bank-card refunds finish days later. 0 leaves
	// every refund PROCESSING until CompleteRefund.
	RefundDelay time.Duration
	// RefundStatus is how such a refund finishes: SUCCESS (also when ""),
	// CHANGE or REFUNDCLOSE.
	RefundStatus string
	// BillLayout is the columns of the merchant's trade bills:
	// bill.Current, or bill.Older as some older merchants still get.
	// See also Sim.SetBill.
	BillLayout bill.Layout
}

// FaultKind is a way to misbehave.
type FaultKind int

// The faults the simulator can play, once each, on the next request to a path.
const (
	// Hang holds the request until the client gives up.
	Hang FaultKind = iota + 1
	// HTTP500 answers 500 with no body.
	HTTP500
	// Garbage answers 200 with a body that is not the API's format.
	Garbage
	// BadSignature processes the request and signs the answer with another key.
	BadSignature
	// NoSignature processes the request and drops the answer's sign.
	NoSignature
	// ReturnFail answers return_code FAIL with Fault.Msg.
	ReturnFail
	// ResultFail answers a signed result_code FAIL with Fault.Code; on the
	// login API it answers errcode Fault.Code.
	ResultFail
)

// Fault is one misbehaviour.
type Fault struct {
	Kind FaultKind
	Code string // err_code, or the login API's errcode
	Msg  string
}

// Request is one request the simulator received, as decoded.
type Request struct {
	Path   string
	Params wxpay.Params // v2 fields, or the login API's query without the secret
}

// MinCloseAge is how old an order must be before closeorder accepts it.
const MinCloseAge = wxpay.MinCloseAge

// Order is the simulator's record of a unified order.
type Order struct {
	Params        wxpay.Params // the business fields as received
	PrepayID      string
	TradeState    string
	TransactionID string
	Refunded      int64
}

// order is how an order is kept: no maps, so that a simulator holding many
// orders costs the garbage collector little.
type order struct {
	fields        string // the business fields, as businessFields writes them
	prepayID      string
	signType      wxpay.SignType
	openid        string
	totalFee      int64
	body          string
	attach        string
	state         string // trade_state
	transactionID string
	timeEnd       time.Time
	refunded      int64     // fen of refunds accepted and not closed
	created       time.Time // when the unified order was first accepted
	expires       time.Time // time_expire; zero when none was sent
	refunds       []string  // out_refund_no of its refunds, oldest first
}

// refund is an accepted refund.
type refund struct {
	outTradeNo string
	refundID   string
	fee        int64
	status     string    // PROCESSING until completed
	accepted   time.Time // when the refund was first accepted
	finished   time.Time // when it left PROCESSING
}

// Sim is the simulated WeChat Pay and login API.
type Sim struct {
	cfg     Config
	mux     *http.ServeMux
	closing chan struct{}

	offset atomic.Int64 // what Advance added to the clock, in nanoseconds

	mu       sync.Mutex
	faults   map[string][]Fault
	requests []Request
	orders   map[string]*order
	refunds  map[string]*refund
	codes    map[string]loginCode
	users    map[string]bool
	bills    map[string]billsim.Plan // by billsim.Key
	closed   bool
}

type loginCode struct {
	openid  string
	expires time.Time
	used    bool
}

// New returns a simulator for cfg. It panics on a RefundStatus WeChat
// Pay's v2 does not have, a mistake in the test itself.
func New(cfg Config) *Sim {
	switch cfg.RefundStatus {
	case "", "SUCCESS", "CHANGE", "REFUNDCLOSE":
	default:
		panic("wxpaytest: RefundStatus " + cfg.RefundStatus + " is not SUCCESS, CHANGE or REFUNDCLOSE")
	}
	s := &Sim{
		cfg:     cfg,
		mux:     http.NewServeMux(),
		closing: make(chan struct{}),
		faults:  map[string][]Fault{},
		orders:  map[string]*order{},
		refunds: map[string]*refund{},
		codes:   map[string]loginCode{},
		users:   map[string]bool{},
		bills:   map[string]billsim.Plan{},
	}
	s.mux.HandleFunc("/pay/unifiedorder", s.v2(s.unifiedOrder))
	s.mux.HandleFunc("/pay/orderquery", s.v2(s.orderQuery))
	s.mux.HandleFunc("/pay/closeorder", s.v2(s.closeOrder))
	s.mux.HandleFunc("/secapi/pay/refund", s.v2cert(s.refund, true))
	s.mux.HandleFunc("/pay/refundquery", s.v2(s.refundQuery))
	s.mux.HandleFunc("/pay/downloadbill", s.v2(s.downloadBill))
	s.mux.HandleFunc("/sns/jscode2session", s.jscode2session)
	return s
}

// ServeHTTP serves the merchant and login APIs.
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

// Transport calls the simulator in process, with no network.
func (s *Sim) Transport() http.RoundTripper { return transport{s} }

type transport struct{ h http.Handler }

func (t transport) RoundTrip(r *http.Request) (*http.Response, error) {
	w := &responseWriter{header: http.Header{}, status: http.StatusOK}
	t.h.ServeHTTP(w, r)
	if err := r.Context().Err(); err != nil {
		return nil, err
	}
	return &http.Response{
		Status:        http.StatusText(w.status),
		StatusCode:    w.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        w.header,
		Body:          io.NopCloser(bytes.NewReader(w.body.Bytes())),
		ContentLength: int64(w.body.Len()),
		Request:       r,
	}, nil
}

// responseWriter collects an in-process answer.
type responseWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *responseWriter) Header() http.Header         { return w.header }
func (w *responseWriter) Write(b []byte) (int, error) { return w.body.Write(b) }
func (w *responseWriter) WriteHeader(status int)      { w.status = status }

// Inject queues faults for the next requests to path, one request each.
func (s *Sim) Inject(path string, faults ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[path] = append(s.faults[path], faults...)
}

// maxRecorded bounds the request log of a long-running simulator.
const maxRecorded = 1000

// Requests returns the requests received so far: all of the last 500 at
// least, and never more than 1000.
func (s *Sim) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Order returns the order recorded for outTradeNo, or nil.
func (s *Sim) Order(outTradeNo string) *Order {
	s.mu.Lock()
	s.settleRefunds()
	o, ok := s.orders[outTradeNo]
	if !ok {
		s.mu.Unlock()
		return nil
	}
	out := &Order{PrepayID: o.prepayID, TradeState: o.state, TransactionID: o.transactionID, Refunded: o.refunded}
	fields := o.fields
	s.mu.Unlock()
	out.Params = wxpay.Params{}
	for _, kv := range strings.Split(strings.TrimSuffix(fields, "\x00"), "\x00") {
		k, v, _ := strings.Cut(kv, "=")
		out.Params[k] = v
	}
	return out
}

// AddUser makes openid a user of the mini-program, as if it had logged in.
func (s *Sim) AddUser(openid string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[openid] = true
}

// LoginCode issues a wx.login code for openid: single use, valid for five minutes.
func (s *Sim) LoginCode(openid string) string {
	code := "0" + randomHex(15)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[openid] = true
	s.codes[code] = loginCode{openid: openid, expires: s.now().Add(5 * time.Minute)}
	return code
}

// Advance moves the simulator's clock on by d, as if d had passed: orders
// grow old enough for closeorder, pass their time_expire, and refunds reach
// Config.RefundDelay, at once.
func (s *Sim) Advance(d time.Duration) { s.offset.Add(int64(d)) }

func (s *Sim) now() time.Time {
	t := time.Now()
	if s.cfg.Now != nil {
		t = s.cfg.Now()
	}
	return t.Add(time.Duration(s.offset.Load()))
}

// nextFault takes the first queued fault for path, if any.
func (s *Sim) nextFault(path string) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.faults[path]
	if len(q) == 0 {
		return Fault{}, false
	}
	s.faults[path] = q[1:]
	return q[0], true
}

func (s *Sim) record(path string, p wxpay.Params) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.requests) == maxRecorded {
		s.requests = append(s.requests[:0], s.requests[maxRecorded/2:]...)
	}
	s.requests = append(s.requests, Request{Path: path, Params: p})
}

// playNetworkFault plays the faults that happen before any API logic
// (hang, HTTP 500, a body from something that is not the API) and reports
// whether it played one.
func (s *Sim) playNetworkFault(w http.ResponseWriter, r *http.Request, f Fault) bool {
	switch f.Kind {
	case Hang:
		s.hang(r)
	case HTTP500:
		w.WriteHeader(http.StatusInternalServerError)
	case Garbage:
		io.WriteString(w, "<html><body>502 Bad Gateway</body></html>")
	default:
		return false
	}
	return true
}

// hang blocks until the client gives up or the simulator closes.
func (s *Sim) hang(r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-s.closing:
	}
}

// randomHex returns n random hex digits. The simulator's ids and nonces
// only need to be unique, not secret, so a fast generator serves.
func randomHex(n int) string {
	const digits = "0123456789abcdef"
	b := make([]byte, n)
	var r uint64
	for i := range b {
		if i%16 == 0 {
			r = rand.Uint64()
		}
		b[i] = digits[r&15]
		r >>= 4
	}
	return string(b)
}

// jscode2session plays https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/user-login/code2Session.html
func (s *Sim) jscode2session(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s.record(r.URL.Path, wxpay.Params{"appid": q.Get("appid"), "js_code": q.Get("js_code"), "grant_type": q.Get("grant_type")})
	if f, ok := s.nextFault(r.URL.Path); ok {
		if !s.playNetworkFault(w, r, f) {
			code, _ := strconv.Atoi(f.Code)
			writeJSON(w, map[string]any{"errcode": code, "errmsg": f.Msg})
		}
		return
	}
	fail := func(code int, msg string) { writeJSON(w, map[string]any{"errcode": code, "errmsg": msg}) }
	switch {
	case r.Method != http.MethodGet:
		fail(43001, "require GET method")
	case q.Get("appid") != s.cfg.AppID:
		fail(40013, "invalid appid")
	case q.Get("secret") != s.cfg.AppSecret:
		fail(40125, "invalid appsecret")
	case q.Get("grant_type") != "authorization_code":
		fail(40002, "invalid grant_type")
	default:
		s.mu.Lock()
		c, ok := s.codes[q.Get("js_code")]
		if !ok && s.cfg.AnyCode {
			sum := sha256.Sum256([]byte(q.Get("js_code")))
			c, ok = loginCode{openid: "o" + base64.RawURLEncoding.EncodeToString(sum[:])[:27], expires: s.now().Add(time.Minute)}, true
			s.users[c.openid] = true
		}
		switch {
		case !ok || s.now().After(c.expires):
			s.mu.Unlock()
			fail(40029, "invalid code")
		case c.used:
			s.mu.Unlock()
			fail(40163, "code been used")
		default:
			c.used = true
			s.codes[q.Get("js_code")] = c
			s.mu.Unlock()
			writeJSON(w, map[string]any{"openid": c.openid, "session_key": randomHex(24)})
		}
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	json.NewEncoder(w).Encode(v)
}
