package scfinvoketest

import (
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/scfinvoke"
)

// vector is the worked example of the Signature v3 page.
type vector struct {
	SecretID               string `json:"secret_id"`
	SecretKey              string `json:"secret_key"`
	Service                string `json:"service"`
	Host                   string `json:"host"`
	ContentType            string `json:"content_type"`
	Timestamp              string `json:"timestamp"`
	Payload                string `json:"payload"`
	HashedPayload          string `json:"hashed_payload"`
	HashedCanonicalRequest string `json:"hashed_canonical_request"`
	Signature              string `json:"signature"`
	Authorization          string `json:"authorization"`
}

func loadVector(t *testing.T) (vector, *http.Request) {
	t.Helper()
	raw, err := os.ReadFile("testdata/tc3-vector.json")
	if err != nil {
		t.Fatal(err)
	}
	var v vector
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodPost, "https://"+v.Host+"/", strings.NewReader(v.Payload))
	r.Header.Set("Content-Type", v.ContentType)
	r.Header.Set("X-TC-Timestamp", v.Timestamp)
	r.Header.Set("Authorization", v.Authorization)
	return v, r
}

func (v vector) verifier(now time.Time) verifier {
	return verifier{service: v.Service, now: now, lookup: func(id string) (scfinvoke.Credentials, bool) {
		return scfinvoke.Credentials{SecretID: v.SecretID, SecretKey: v.SecretKey}, id == v.SecretID
	}}
}

// TestPublishedVector checks each step of the verifier against the values
// the Signature v3 page publishes, then the whole verification.
func TestPublishedVector(t *testing.T) {
	v, r := loadVector(t)
	if got := sha256Hex([]byte(v.Payload)); got != v.HashedPayload {
		t.Errorf("hashed payload %s, want %s", got, v.HashedPayload)
	}
	canonical := canonicalRequest(r, []byte(v.Payload), []string{"content-type", "host"})
	if got := sha256Hex([]byte(canonical)); got != v.HashedCanonicalRequest {
		t.Errorf("hashed canonical request %s, want %s\n%s", got, v.HashedCanonicalRequest, canonical)
	}
	sig := signature(v.SecretKey, "2019-02-25", v.Service, stringToSign(v.Timestamp, "2019-02-25", v.Service, canonical))
	if got := hex.EncodeToString(sig); got != v.Signature {
		t.Errorf("signature %s, want %s", got, v.Signature)
	}

	ts, _ := strconv.ParseInt(v.Timestamp, 10, 64)
	signedAt := time.Unix(ts, 0)
	if creds, e := v.verifier(signedAt.Add(4*time.Minute)).verify(r, []byte(v.Payload)); e != nil || creds.SecretID != v.SecretID {
		t.Fatalf("verify = %v, %v", creds.SecretID, e)
	}
	for _, c := range []struct {
		name   string
		change func(r *http.Request, body []byte, now *time.Time) []byte
		code   string
	}{
		{"body changed", func(r *http.Request, body []byte, _ *time.Time) []byte {
			return []byte(strings.Replace(string(body), `"Limit": 1`, `"Limit": 2`, 1))
		}, "AuthFailure.SignatureFailure"},
		{"host changed", func(r *http.Request, body []byte, _ *time.Time) []byte {
			r.Host = "cvm.ap-guangzhou.tencentcloudapi.com"
			return body
		}, "AuthFailure.SignatureFailure"},
		{"content type changed", func(r *http.Request, body []byte, _ *time.Time) []byte {
			r.Header.Set("Content-Type", "application/json")
			return body
		}, "AuthFailure.SignatureFailure"},
		{"six minutes late", func(r *http.Request, body []byte, now *time.Time) []byte {
			*now = signedAt.Add(6 * time.Minute)
			return body
		}, "AuthFailure.SignatureExpire"},
		{"token added", func(r *http.Request, body []byte, _ *time.Time) []byte {
			r.Header.Set("X-TC-Token", "a-token-this-key-has-not")
			return body
		}, "AuthFailure.TokenFailure"},
		{"unknown SecretId", func(r *http.Request, body []byte, _ *time.Time) []byte {
			r.Header.Set("Authorization", strings.Replace(v.Authorization, v.SecretID, "AKIDother", 1))
			return body
		}, "AuthFailure.SecretIdNotFound"},
		{"host not signed", func(r *http.Request, body []byte, _ *time.Time) []byte {
			r.Header.Set("Authorization", strings.Replace(v.Authorization, "content-type;host", "content-type", 1))
			return body
		}, "AuthFailure.InvalidAuthorization"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, r := loadVector(t)
			now := signedAt
			body := c.change(r, []byte(v.Payload), &now)
			if _, e := v.verifier(now).verify(r, body); e == nil || e.code != c.code {
				t.Fatalf("verify = %+v, want %s", e, c.code)
			}
		})
	}
}
