package scfinvoketest

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/scfinvoke"
)

// This file verifies TC3-HMAC-SHA256 from the published algorithm, written
// apart from the SDK so that agreement between the two means something.
// https://cloud.tencent.com/document/api/213/30654

const (
	algorithm = "TC3-HMAC-SHA256"
	// window is how far a request's timestamp may be from the server's
	// clock.
	window = 5 * time.Minute
)

// apiError is a refusal in the API's words.
type apiError struct {
	code, message string
}

// verifier checks requests to one product's endpoint.
type verifier struct {
	service string // the product in the credential scope, such as scf
	now     time.Time
	// lookup finds the credentials a SecretId belongs to.
	lookup func(secretID string) (scfinvoke.Credentials, bool)
}

// authorization is a parsed Authorization header.
type authorization struct {
	secretID, date, service string
	signedHeaders           []string // as listed, lower case
	signature               []byte
}

// verify checks r's Authorization, timestamp and token over body, the
// raw bytes received, and returns the credentials that signed it.
func (v verifier) verify(r *http.Request, body []byte) (scfinvoke.Credentials, *apiError) {
	auth, ok := parseAuthorization(r.Header.Get("Authorization"))
	if !ok {
		return scfinvoke.Credentials{}, &apiError{"AuthFailure.InvalidAuthorization", "Authorization is not a well-formed TC3-HMAC-SHA256 header."}
	}
	timestamp := r.Header.Get("X-TC-Timestamp")
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return scfinvoke.Credentials{}, &apiError{"MissingParameter", "The request is missing a valid X-TC-Timestamp."}
	}
	if d := v.now.Sub(time.Unix(ts, 0)); d > window || d < -window {
		return scfinvoke.Credentials{}, &apiError{"AuthFailure.SignatureExpire", "The signature expired: the timestamp is more than five minutes from the server's time."}
	}
	// The scope's date is the timestamp's, in UTC, and its service the
	// endpoint's product; a scope for anything else signs nothing here.
	if auth.date != time.Unix(ts, 0).UTC().Format("2006-01-02") || auth.service != v.service {
		return scfinvoke.Credentials{}, &apiError{"AuthFailure.SignatureFailure", "The credential scope does not match the timestamp's date and this product."}
	}
	creds, ok := v.lookup(auth.secretID)
	if !ok {
		return scfinvoke.Credentials{}, &apiError{"AuthFailure.SecretIdNotFound", "The SecretId is not found."}
	}
	// Temporary credentials are valid only with their token, which is
	// sent beside the signature rather than in it.
	if subtle.ConstantTimeCompare([]byte(r.Header.Get("X-TC-Token")), []byte(creds.Token)) != 1 {
		return scfinvoke.Credentials{}, &apiError{"AuthFailure.TokenFailure", "The token is invalid or does not belong to this SecretId."}
	}
	want := signature(creds.SecretKey, auth.date, auth.service, stringToSign(timestamp, auth.date, auth.service, canonicalRequest(r, body, auth.signedHeaders)))
	if !hmac.Equal(want, auth.signature) {
		return scfinvoke.Credentials{}, &apiError{"AuthFailure.SignatureFailure", "The provided credentials could not be validated. Please check your signature is correct."}
	}
	return creds, nil
}

// parseAuthorization reads
// "TC3-HMAC-SHA256 Credential=ID/DATE/SERVICE/tc3_request, SignedHeaders=a;b, Signature=HEX".
func parseAuthorization(h string) (authorization, bool) {
	var a authorization
	rest, ok := strings.CutPrefix(h, algorithm+" ")
	if !ok {
		return a, false
	}
	fields := map[string]string{}
	for f := range strings.SplitSeq(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(f), "=")
		if !ok {
			return a, false
		}
		fields[k] = v
	}
	scope := strings.Split(fields["Credential"], "/")
	if len(fields) != 3 || len(scope) != 4 || scope[0] == "" || scope[3] != "tc3_request" {
		return a, false
	}
	a.secretID, a.date, a.service = scope[0], scope[1], scope[2]
	a.signedHeaders = strings.Split(fields["SignedHeaders"], ";")
	// content-type and host are the headers every signature must cover.
	if !slices.Contains(a.signedHeaders, "content-type") || !slices.Contains(a.signedHeaders, "host") {
		return a, false
	}
	for _, name := range a.signedHeaders {
		if name == "" || name != strings.ToLower(name) {
			return a, false
		}
	}
	sig, err := hex.DecodeString(fields["Signature"])
	if err != nil || len(sig) != sha256.Size {
		return a, false
	}
	a.signature = sig
	return a, true
}

// canonicalRequest is step 1: method, URI ("/" in API 3.0), query,
// the signed headers as lower-case name:value lines in ASCII order, their
// names, and the hex SHA-256 of the body.
func canonicalRequest(r *http.Request, body []byte, signed []string) string {
	names := slices.Sorted(slices.Values(signed))
	var headers strings.Builder
	for _, name := range names {
		value := r.Header.Get(name)
		if name == "host" {
			value = r.Host // Go keeps Host apart from the other headers
		}
		headers.WriteString(name + ":" + strings.ToLower(strings.TrimSpace(value)) + "\n")
	}
	return strings.Join([]string{
		r.Method, "/", r.URL.RawQuery, headers.String(), strings.Join(names, ";"), sha256Hex(body),
	}, "\n")
}

// stringToSign is step 2.
func stringToSign(timestamp, date, service, canonical string) string {
	return algorithm + "\n" + timestamp + "\n" + date + "/" + service + "/tc3_request\n" + sha256Hex([]byte(canonical))
}

// signature is step 3: a key derived from the SecretKey through the date,
// the service and "tc3_request" signs the string.
func signature(secretKey, date, service, toSign string) []byte {
	key := hmacSHA256([]byte("TC3"+secretKey), date)
	key = hmacSHA256(key, service)
	key = hmacSHA256(key, "tc3_request")
	return hmacSHA256(key, toSign)
}

func hmacSHA256(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
