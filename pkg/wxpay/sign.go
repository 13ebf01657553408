package wxpay

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
)

// Params is a flat v2 message: field name to value, as signed and as carried
// in the <xml> document.
type Params map[string]string

// SignType names a v2 signature algorithm.
type SignType string

// The v2 signature algorithms.
const (
	SignMD5        SignType = "MD5"
	SignHMACSHA256 SignType = "HMAC-SHA256"
)

// ParseSignType returns the sign type named by s; an empty s means MD5, the
// protocol's default.
func ParseSignType(s string) (SignType, error) {
	switch SignType(s) {
	case "", SignMD5:
		return SignMD5, nil
	case SignHMACSHA256:
		return SignHMACSHA256, nil
	}
	return "", fmt.Errorf("%w: %q", ErrUnsupportedSignType, s)
}

// Sign returns the v2 signature of p under key: every non-empty field except
// "sign", sorted by name, joined as k=v&k=v, followed by &key=KEY, hashed with
// t and written as upper-case hex.
//
// https://pay.weixin.qq.com/wiki/doc/api/wxa/wxa_api.php?chapter=4_3
func Sign(p Params, key string, t SignType) (string, error) {
	var fb [32]field
	return signFields(sortedFields(fb[:0], p), key, t)
}

// Verify checks p["sign"] against the signature of the other fields, in
// constant time. Every field received takes part, known or not.
func Verify(p Params, key string, t SignType) error {
	got := p["sign"]
	if got == "" {
		return ErrMissingSignature
	}
	var sum [sha256.Size]byte
	var fb [32]field
	n, err := digest(&sum, sortedFields(fb[:0], p), key, t)
	if err != nil {
		return err
	}
	var want [2 * sha256.Size]byte
	hex.Encode(want[:], sum[:n])
	upper(want[:2*n])
	if subtle.ConstantTimeCompare([]byte(got), want[:2*n]) != 1 {
		return ErrInvalidSignature
	}
	return nil
}

// field is one name and value of a message.
type field struct{ k, v string }

// sortedFields appends p's fields to buf, sorted by name.
func sortedFields(buf []field, p Params) []field {
	for k, v := range p {
		buf = append(buf, field{k, v})
	}
	slices.SortFunc(buf, func(a, b field) int { return strings.Compare(a.k, b.k) })
	return buf
}

// signFields signs fields already sorted by name.
func signFields(fs []field, key string, t SignType) (string, error) {
	var sum [sha256.Size]byte
	n, err := digest(&sum, fs, key, t)
	if err != nil {
		return "", err
	}
	var out [2 * sha256.Size]byte
	hex.Encode(out[:], sum[:n])
	upper(out[:2*n])
	return string(out[:2*n]), nil
}

// digest writes the raw signature digest of the sorted fields into sum and
// returns its length.
func digest(sum *[sha256.Size]byte, fs []field, key string, t SignType) (int, error) {
	var mb [1024]byte
	msg := mb[:0]
	size := len("&key=") + len(key)
	for _, f := range fs {
		size += len(f.k) + len(f.v) + 2
	}
	if size > len(mb) {
		msg = make([]byte, 0, size)
	}
	for _, f := range fs {
		if f.v == "" || f.k == "sign" {
			continue
		}
		msg = append(msg, f.k...)
		msg = append(msg, '=')
		msg = append(msg, f.v...)
		msg = append(msg, '&')
	}
	msg = append(msg, "key="...)
	msg = append(msg, key...)
	switch t {
	case SignMD5:
		*(*[md5.Size]byte)(sum[:]) = md5.Sum(msg)
		return md5.Size, nil
	case SignHMACSHA256:
		m := hmac.New(sha256.New, []byte(key))
		// A copy goes through the interface, so that msg's stack buffer
		// does not escape on the MD5 path.
		m.Write(bytes.Clone(msg))
		m.Sum(sum[:0])
		return sha256.Size, nil
	}
	return 0, fmt.Errorf("%w: %q", ErrUnsupportedSignType, t)
}

func upper(b []byte) {
	for i, c := range b {
		if 'a' <= c && c <= 'f' {
			b[i] = c - 'a' + 'A'
		}
	}
}
