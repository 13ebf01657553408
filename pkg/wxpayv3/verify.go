package wxpayv3

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Errors of verification; every one means the answer or notification must
// not be used.
var (
	ErrMissingSignature = errors.New("wxpayv3: no signature")
	ErrInvalidSignature = errors.New("wxpayv3: signature does not verify")
	// ErrProbe is a signature beginning WECHATPAY/SIGNTEST/, which WeChat Pay
	// sends now and then to see whether merchants verify. It is an
	// ErrInvalidSignature like any other.
	ErrProbe          = fmt.Errorf("%w: a WECHATPAY/SIGNTEST/ probe", ErrInvalidSignature)
	ErrStaleTimestamp = errors.New("wxpayv3: timestamp more than 5 minutes off")
	ErrUnknownSerial  = errors.New("wxpayv3: no key for this Wechatpay-Serial")
)

// MaxSkew is how far a signed timestamp may be from now.
const MaxSkew = 5 * time.Minute

// Signed is what the Wechatpay-Timestamp, -Nonce, -Signature and -Serial
// headers say about a body.
type Signed struct {
	Timestamp string
	Nonce     string
	Signature string
	Serial    string
}

// Keys finds WeChat Pay's public key by the serial an answer names: the
// WeChat Pay public key's id (PUB_KEY_ID_…) or a platform certificate's
// serial number.
type Keys interface {
	PublicKey(serial string) (*rsa.PublicKey, bool)
}

// PublicKeys is a fixed set of keys by serial.
type PublicKeys map[string]*rsa.PublicKey

// PublicKey returns the key for serial.
func (k PublicKeys) PublicKey(serial string) (*rsa.PublicKey, bool) {
	key, ok := k[serial]
	return key, ok
}

// Verify checks s over TIMESTAMP\nNONCE\nBODY\n, body being the raw bytes
// received, with the key s.Serial names, and that the timestamp is within
// MaxSkew of now.
//
// https://pay.weixin.qq.com/doc/v3/merchant/4012365342
func Verify(keys Keys, s Signed, body []byte, now time.Time) error {
	if err := s.check(now); err != nil {
		return err
	}
	key, ok := keys.PublicKey(s.Serial)
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownSerial, s.Serial)
	}
	return s.verify(key, body)
}

// check applies what needs no key: every header present, no probe, the
// timestamp within MaxSkew. It comes first, so that a stale or probing
// message never makes a Verifier download certificates.
func (s Signed) check(now time.Time) error {
	if s.Signature == "" || s.Timestamp == "" || s.Nonce == "" || s.Serial == "" {
		return ErrMissingSignature
	}
	if strings.HasPrefix(s.Signature, "WECHATPAY/SIGNTEST/") {
		return ErrProbe
	}
	ts, err := strconv.ParseInt(s.Timestamp, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: bad timestamp", ErrInvalidSignature)
	}
	if d := now.Sub(time.Unix(ts, 0)); d > MaxSkew || d < -MaxSkew {
		return ErrStaleTimestamp
	}
	return nil
}

// verify checks the signature itself with key.
func (s Signed) verify(key *rsa.PublicKey, body []byte) error {
	sig, err := base64.StdEncoding.DecodeString(s.Signature)
	if err != nil {
		return fmt.Errorf("%w: not base64", ErrInvalidSignature)
	}
	sum := sha256.Sum256([]byte(s.Timestamp + "\n" + s.Nonce + "\n" + string(body) + "\n"))
	if rsa.VerifyPKCS1v15(key, crypto.SHA256, sum[:], sig) != nil {
		return ErrInvalidSignature
	}
	return nil
}
