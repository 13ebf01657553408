package webhook

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// ErrInvalidSecret is a secret that is not "whsec_" and the base64 of 24 to
// 64 bytes, or the zero Secret. Its messages never quote the secret.
var ErrInvalidSecret = errors.New("webhook: invalid secret")

// The bounds of a secret's decoded length: the specification's minimum, and
// one SHA-256 block (HMAC hashes a longer key first, so it adds nothing).
const (
	minSecretBytes = 24
	maxSecretBytes = 64
)

const secretPrefix = "whsec_"

// Secret is a parsed signing secret. Its zero value is invalid: Verify and
// Sender refuse it. It prints as a placeholder, never as the key.
type Secret struct {
	key []byte
}

// ParseSecret parses "whsec_" followed by the standard, padded base64 of 24
// to 64 bytes, exactly as WXPAY_EVENTS_SECRET holds it. Anything else,
// surrounding whitespace included, is ErrInvalidSecret.
func ParseSecret(s string) (Secret, error) {
	b64, ok := strings.CutPrefix(s, secretPrefix)
	if !ok {
		return Secret{}, fmt.Errorf("%w: it does not begin with %s", ErrInvalidSecret, secretPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	// The decoder skips newlines and accepts non-zero padding bits; only
	// the canonical form, which every library reads alike, is accepted.
	if err != nil || base64.StdEncoding.EncodeToString(key) != b64 {
		return Secret{}, fmt.Errorf("%w: what follows %s is not standard base64", ErrInvalidSecret, secretPrefix)
	}
	if len(key) < minSecretBytes || len(key) > maxSecretBytes {
		return Secret{}, fmt.Errorf("%w: it decodes to %d bytes, not %d to %d", ErrInvalidSecret, len(key), minSecretBytes, maxSecretBytes)
	}
	return Secret{key: key}, nil
}

func (s Secret) valid() bool { return len(s.key) > 0 }

// String hides the key from logs and error messages.
func (s Secret) String() string { return "whsec_[redacted]" }

// GoString hides the key from %#v.
func (s Secret) GoString() string { return "webhook.Secret{[redacted]}" }
