// Package webhooktest is a local webhook receiver for tests and demos: an
// httptest server on loopback that verifies every delivery with
// webhook.Verify, records the ones it accepts, and can be told to fail.
//
// It does not deduplicate on webhook-id, as a real receiver should, so that
// tests see every redelivery: [Receiver.Count] says how many an id got.
package webhooktest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/webhook"
)

// maxBody bounds a delivery's body; events are a few kilobytes.
const maxBody = 1 << 20

// Mode is how the receiver answers.
type Mode int

// The modes; a Receiver starts in Accept and stays in a mode until told
// otherwise.
const (
	// Accept verifies each delivery, records it and answers 204; one that
	// does not verify, or is not a POST of application/json, is answered
	// 4xx with the reason and not recorded.
	Accept Mode = iota
	// Fail answers 500 without recording.
	Fail
	// Hang reads the request and holds it until the client gives up or the
	// receiver is closed, then drops the connection without an answer.
	Hang
)

// Delivery is one accepted delivery.
type Delivery struct {
	ID     string // webhook-id
	Header http.Header
	Body   []byte // raw, as received
}

// Receiver is a running local receiver. Its methods are safe for
// concurrent use.
type Receiver struct {
	srv    *httptest.Server
	secret webhook.Secret
	closed chan struct{} // ends hanging requests on Close
	close  sync.Once

	mu         sync.Mutex
	mode       Mode
	now        func() time.Time // verification's clock; nil means time.Now
	deliveries []Delivery
	counts     map[string]int
}

// Start serves a receiver for secret over plain HTTP on 127.0.0.1, which
// webhook.ValidURL allows for local runs.
func Start(secret webhook.Secret) *Receiver {
	r := newReceiver(secret)
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	return r
}

// StartTLS serves a receiver over HTTPS with httptest's self-signed
// certificate: a Sender with the default transport refuses it, one with
// [Receiver.Transport] trusts it.
func StartTLS(secret webhook.Secret) *Receiver {
	r := newReceiver(secret)
	r.srv = httptest.NewTLSServer(http.HandlerFunc(r.serve))
	return r
}

func newReceiver(secret webhook.Secret) *Receiver {
	return &Receiver{secret: secret, closed: make(chan struct{}), counts: map[string]int{}}
}

// URL is the receiver's address, for Sender.URL.
func (r *Receiver) URL() string { return r.srv.URL }

// Transport trusts the receiver's certificate (StartTLS); for a plain HTTP
// receiver it is an ordinary transport.
func (r *Receiver) Transport() http.RoundTripper { return r.srv.Client().Transport }

// SetMode changes how the following deliveries are answered.
func (r *Receiver) SetMode(m Mode) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.mode = m
}

// SetClock makes the receiver verify timestamps against now instead of
// time.Now: a test that moves the sender's clock on keeps the receiver on
// the same time, within webhook's 5-minute window.
func (r *Receiver) SetClock(now func() time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.now = now
}

// Deliveries returns the accepted deliveries in the order they arrived,
// duplicates included.
func (r *Receiver) Deliveries() []Delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.deliveries)
}

// Count is how many deliveries of id were accepted.
func (r *Receiver) Count(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.counts[id]
}

// Close ends hanging requests and shuts the server down; closing again does
// nothing.
func (r *Receiver) Close() {
	r.close.Do(func() {
		close(r.closed)
		r.srv.Close()
	})
}

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	mode, now := r.mode, r.now
	r.mu.Unlock()
	if now == nil {
		now = time.Now
	}
	switch mode {
	case Fail:
		http.Error(w, "webhooktest: told to fail", http.StatusInternalServerError)
		return
	case Hang:
		// The server notices a client that gives up only once the body is
		// read.
		_, _ = io.Copy(io.Discard, http.MaxBytesReader(w, req.Body, maxBody))
		select {
		case <-req.Context().Done():
		case <-r.closed:
		}
		// Returning would answer 200; a hang ends with no answer at all.
		panic(http.ErrAbortHandler)
	}
	// What a delivery must be besides signed, checked here so that tests of
	// a Sender catch it.
	if req.Method != http.MethodPost {
		http.Error(w, "webhooktest: a delivery is a POST", http.StatusMethodNotAllowed)
		return
	}
	if req.Header.Get("Content-Type") != "application/json" {
		http.Error(w, "webhooktest: a delivery is application/json", http.StatusUnsupportedMediaType)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, maxBody))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if err := webhook.Verify(r.secret, req.Header.Get, body, now()); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	id := req.Header.Get(webhook.HeaderID)
	r.mu.Lock()
	r.deliveries = append(r.deliveries, Delivery{ID: id, Header: req.Header.Clone(), Body: body})
	r.counts[id]++
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}
