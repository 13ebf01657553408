package wxpay

import (
	"encoding/json"
	"errors"
	"os"
	"testing"
)

type v2Vector struct {
	Source string            `json:"source"`
	Params map[string]string `json:"params"`
	Key    string            `json:"key"`
	MD5    string            `json:"MD5"`
	HMAC   string            `json:"HMAC-SHA256"`
}

func loadV2Vectors(t *testing.T) []v2Vector {
	t.Helper()
	raw, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var all struct {
		V2 []v2Vector `json:"v2_sign"`
	}
	if err := json.Unmarshal(raw, &all); err != nil {
		t.Fatal(err)
	}
	if len(all.V2) < 4 {
		t.Fatalf("expected the four v2 vectors, got %d", len(all.V2))
	}
	return all.V2
}

func TestSignOfficialVectors(t *testing.T) {
	for _, v := range loadV2Vectors(t) {
		for st, want := range map[SignType]string{SignMD5: v.MD5, SignHMACSHA256: v.HMAC} {
			if want == "" {
				continue
			}
			got, err := Sign(Params(v.Params), v.Key, st)
			if err != nil {
				t.Fatalf("%s %s: %v", v.Source, st, err)
			}
			if got != want {
				t.Errorf("%s %s: got %s, want %s", v.Source, st, got, want)
			}
			signed := Params{"sign": want}
			for k, val := range v.Params {
				signed[k] = val
			}
			if err := Verify(signed, v.Key, st); err != nil {
				t.Errorf("%s %s: Verify of the official signature: %v", v.Source, st, err)
			}
		}
	}
}

func TestVerifyRefuses(t *testing.T) {
	const key = "192006250b4c09247ec02edce69f6a2d"
	base := Params{"appid": "wxd930ea5d5a258f4f", "mch_id": "10000100", "device_info": "1000", "body": "test", "nonce_str": "ibuaiVcKdpRxkhJA"}
	with := func(mut func(Params)) Params {
		p := Params{"sign": "9A0A8659F005D6984697E2CA0A9CF3B7"}
		for k, v := range base {
			p[k] = v
		}
		mut(p)
		return p
	}
	cases := []struct {
		name string
		p    Params
		key  string
		st   SignType
		want error
	}{
		{"no sign", with(func(p Params) { delete(p, "sign") }), key, SignMD5, ErrMissingSignature},
		{"empty sign", with(func(p Params) { p["sign"] = "" }), key, SignMD5, ErrMissingSignature},
		{"changed value", with(func(p Params) { p["body"] = "test2" }), key, SignMD5, ErrInvalidSignature},
		{"unknown field added", with(func(p Params) { p["coupon_fee"] = "1" }), key, SignMD5, ErrInvalidSignature},
		{"lower-case sign", with(func(p Params) { p["sign"] = "9a0a8659f005d6984697e2ca0a9cf3b7" }), key, SignMD5, ErrInvalidSignature},
		{"wrong key", with(func(Params) {}), "192006250b4c09247ec02edce69f6a2e", SignMD5, ErrInvalidSignature},
		{"other algorithm", with(func(Params) {}), key, SignHMACSHA256, ErrInvalidSignature},
		{"unknown algorithm", with(func(Params) {}), key, "SHA1", ErrUnsupportedSignType},
	}
	for _, c := range cases {
		if err := Verify(c.p, c.key, c.st); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
	// An empty field takes no part, so adding one keeps the signature valid.
	if err := Verify(with(func(p Params) { p["attach"] = "" }), key, SignMD5); err != nil {
		t.Errorf("empty field: %v", err)
	}
}

func TestParseSignType(t *testing.T) {
	for in, want := range map[string]SignType{"": SignMD5, "MD5": SignMD5, "HMAC-SHA256": SignHMACSHA256} {
		if got, err := ParseSignType(in); err != nil || got != want {
			t.Errorf("%q: got %q, %v", in, got, err)
		}
	}
	for _, in := range []string{"md5", "SHA256", "RSA", "HMAC-SHA1"} {
		if _, err := ParseSignType(in); !errors.Is(err, ErrUnsupportedSignType) {
			t.Errorf("%q: got %v", in, err)
		}
	}
}

func TestSignLongMessage(t *testing.T) {
	// Past the stack buffer the message goes to the heap; the digest must not change.
	long := make([]byte, 3000)
	for i := range long {
		long[i] = 'a' + byte(i%26)
	}
	p := Params{"body": string(long), "a": "1"}
	s1, _ := Sign(p, "k", SignMD5)
	p["sign"] = s1
	if err := Verify(p, "k", SignMD5); err != nil {
		t.Fatal(err)
	}
	p["body"] = string(long[:2999])
	if err := Verify(p, "k", SignMD5); !errors.Is(err, ErrInvalidSignature) {
		t.Fatalf("got %v", err)
	}
}
