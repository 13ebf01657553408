package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The headers of a delivery, lower-case as SCF hands them to a function.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// Tolerance is how far a delivery's timestamp may be from the receiver's
// clock, either way, before Verify refuses it as a possible replay.
const Tolerance = 5 * time.Minute

// Errors of verification; every one means the delivery must not be used.
var (
	ErrMissingHeaders = errors.New("webhook: missing webhook-id, webhook-timestamp or webhook-signature")
	// ErrInvalidTimestamp is a webhook-timestamp that is not Unix seconds
	// in plain decimal.
	ErrInvalidTimestamp    = errors.New("webhook: invalid webhook-timestamp")
	ErrTimestampOutOfRange = errors.New("webhook: webhook-timestamp more than 5 minutes off")
	ErrInvalidSignature    = errors.New("webhook: no signature matches")
)

// Sign returns the signature of one delivery attempt, "v1," and the base64
// HMAC-SHA256 of id.timestamp.body, as the webhook-signature header carries
// it. The zero Secret signs with an empty key, which Verify refuses.
func Sign(secret Secret, id string, ts time.Time, body []byte) string {
	return "v1," + mac(secret, id, strconv.FormatInt(ts.Unix(), 10), body)
}

// mac is the base64 HMAC over the content the specification signs, with
// the timestamp as its header spells it.
func mac(secret Secret, id, ts string, body []byte) string {
	h := hmac.New(sha256.New, secret.key)
	h.Write([]byte(id))
	h.Write([]byte{'.'})
	h.Write([]byte(ts))
	h.Write([]byte{'.'})
	h.Write(body)
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// SignedHeaders returns the three headers of a delivery of body signed at
// ts: what Sender sends, and a correctly signed test delivery. Its Get
// method is a header lookup for Verify.
func SignedHeaders(secret Secret, id string, ts time.Time, body []byte) http.Header {
	h := make(http.Header, 3)
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderSignature, Sign(secret, id, ts, body))
	return h
}

// Verify checks a delivery: that its timestamp is within Tolerance of now
// and that one of the v1 signatures in webhook-signature is the HMAC of
// its id, timestamp and body, which must be the raw bytes received (JSON
// decoded and encoded again no longer verifies). Every candidate is
// compared in constant time; other versions (v1a) are skipped.
//
// header looks a header up by its lower-case name and returns "" when it is
// absent: http.Header's Get (r.Header.Get) and httpevent.Values' Get both
// fit, and so does a closure over an SCF event's header map. Deduplicating
// on webhook-id is the caller's part.
func Verify(secret Secret, header func(name string) string, body []byte, now time.Time) error {
	if !secret.valid() {
		return ErrInvalidSecret
	}
	id, tsHeader, sigHeader := header(HeaderID), header(HeaderTimestamp), header(HeaderSignature)
	if id == "" || tsHeader == "" || sigHeader == "" {
		return ErrMissingHeaders
	}
	// Only the canonical spelling is accepted, because other libraries
	// (npm standardwebhooks) sign the number they parsed, not the header.
	ts, err := strconv.ParseInt(tsHeader, 10, 64)
	if err != nil || strconv.FormatInt(ts, 10) != tsHeader {
		return ErrInvalidTimestamp
	}
	// In whole seconds, as the timestamp is, so that the window's edges
	// fall where npm standardwebhooks puts them.
	if nowSec, tol := now.Unix(), int64(Tolerance/time.Second); ts < nowSec-tol || ts > nowSec+tol {
		return fmt.Errorf("%w: %d, now %d", ErrTimestampOutOfRange, ts, nowSec)
	}
	want := []byte(mac(secret, id, tsHeader, body))
	for _, candidate := range strings.Fields(sigHeader) {
		version, sig, _ := strings.Cut(candidate, ",")
		if version == "v1" && subtle.ConstantTimeCompare([]byte(sig), want) == 1 {
			return nil
		}
	}
	return ErrInvalidSignature
}
