// Package session issues and verifies the login tokens a mini-program sends
// as "Authorization: Bearer …" after one wx.login, so later calls need no
// fresh code. A token carries the openid and an expiry, signed with
// HMAC-SHA256; nothing is stored.
package session

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"
)

// MinSecretLen is the shortest secret accepted, in bytes.
const MinSecretLen = 32

// DefaultTTL is how long a token lives.
const DefaultTTL = 2 * time.Hour

// Errors of Verify.
var (
	ErrMalformed = errors.New("session: malformed token")
	ErrSignature = errors.New("session: token signature does not verify")
	ErrExpired   = errors.New("session: token expired")
)

// Signer issues and verifies tokens with one secret.
type Signer struct {
	secret []byte
	ttl    time.Duration
	now    func() time.Time
}

// NewSigner returns a signer; secret must be at least MinSecretLen bytes.
// ttl 0 means DefaultTTL, now nil means time.Now.
func NewSigner(secret []byte, ttl time.Duration, now func() time.Time) (*Signer, error) {
	if len(secret) < MinSecretLen {
		return nil, errors.New("session: secret shorter than 32 bytes")
	}
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	if now == nil {
		now = time.Now
	}
	return &Signer{secret: secret, ttl: ttl, now: now}, nil
}

const prefix = "v1."

// Issue returns a token for openid and its lifetime in seconds.
func (s *Signer) Issue(openid string) (string, int) {
	exp := s.now().Add(s.ttl).Unix()
	payload := base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(exp, 10) + "." + openid))
	return prefix + payload + "." + s.mac(payload), int(s.ttl / time.Second)
}

func (s *Signer) mac(payload string) string {
	m := hmac.New(sha256.New, s.secret)
	m.Write([]byte(prefix + payload))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Verify returns the openid of a valid, unexpired token. The signature is
// checked, in constant time, before anything in the token is believed.
func (s *Signer) Verify(token string) (string, error) {
	rest, ok := strings.CutPrefix(token, prefix)
	if !ok {
		return "", ErrMalformed
	}
	payload, sig, ok := strings.Cut(rest, ".")
	if !ok || payload == "" {
		return "", ErrMalformed
	}
	if !hmac.Equal([]byte(sig), []byte(s.mac(payload))) {
		return "", ErrSignature
	}
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return "", ErrMalformed
	}
	expStr, openid, ok := strings.Cut(string(raw), ".")
	exp, err := strconv.ParseInt(expStr, 10, 64)
	if !ok || err != nil || openid == "" {
		return "", ErrMalformed
	}
	if !s.now().Before(time.Unix(exp, 0)) {
		return "", ErrExpired
	}
	return openid, nil
}
