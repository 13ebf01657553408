package httpevent

import (
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
)

func mustRead(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseFunctionURL(t *testing.T) {
	r, err := Parse(mustRead(t, "testdata/function_url.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := &Request{
		Kind: FunctionURL, Method: "POST", Path: "/pay",
		Header: Values{
			"accept": {"*/*"}, "content-type": {"application/json"}, "content-length": {"34"},
			"x-forwarded-for": {"6.6.6.6"}, "cookie": {"a=1", "b=2"}, "x-empty": {""},
			"x-scf-remote-addr": {"111.206.96.145:53412"},
		},
		Query:    Values{"a": {"1"}, "tag": {"x", "y"}, "flag": {""}},
		Body:     []byte(`{"total_fee":180,"code":"0a3xyz"}`),
		SourceIP: "111.206.96.145",
	}
	if !reflect.DeepEqual(r, want) {
		t.Fatalf("got  %+v\nwant %+v", r, want)
	}
}

func TestParseAPIGateway(t *testing.T) {
	r, err := Parse(mustRead(t, "testdata/api_gateway.json"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Kind != APIGateway || r.SourceIP != "10.0.2.14" || string(r.Body) != `{"total_fee":"180"}` || r.Path != "/release/pay/" {
		t.Fatalf("%+v", r)
	}
	if r.Header.Get("content-type") != "application/json" || r.Header.Get("x-forwarded-for") != "6.6.6.6" {
		t.Fatalf("headers not lower-cased: %v", r.Header)
	}
}

func TestParseDirect(t *testing.T) {
	ev := []byte(`{"total_fee":180,"spbill_create_ip":"1.2.3.4","openid":"o"}`)
	r, err := Parse(ev)
	if err != nil || r.Kind != Direct || string(r.Body) != string(ev) {
		t.Fatalf("%+v %v", r, err)
	}
}

func TestClientIP(t *testing.T) {
	for in, want := range map[string]string{
		"1.2.3.4": "1.2.3.4", "1.2.3.4:80": "1.2.3.4", "[2001:db8::1]:443": "2001:db8::1", "2001:db8::1": "2001:db8::1",
		"::ffff:1.2.3.4": "1.2.3.4", "": "", "1.2.3.4, 5.6.7.8": "", "localhost": "", "1.2.3": "",
	} {
		if got := clientIP(in); got != want {
			t.Errorf("%q: got %q, want %q", in, got, want)
		}
	}
}

func TestSourceIPNeverFromClientHeaders(t *testing.T) {
	// A Function URL event whose remote address repeats cannot be trusted; X-Forwarded-For never is.
	r, err := Parse([]byte(`{"httpMethod":"POST","path":"/pay","headers":{"x-forwarded-for":"6.6.6.6","x-real-ip":"6.6.6.6","x-scf-remote-addr":["1.1.1.1","6.6.6.6"]}}`))
	if err != nil || r.SourceIP != "" {
		t.Fatalf("%+v %v", r, err)
	}
}

func TestParseTimer(t *testing.T) {
	ev := []byte(`{"Type":"Timer","TriggerName":"sweep","Time":"2026-11-26T09:00:00Z","Message":"","total_fee":180,"openid":"o"}`)
	r, err := Parse(ev)
	if err != nil || r.Kind != Timer || r.TriggerName != "sweep" || string(r.Body) != string(ev) || r.Kind.String() != "timer" {
		t.Fatalf("%+v %v", r, err)
	}
	// Only the exact type makes a timer; an HTTP event never is one.
	for _, ev := range []string{`{"Type":"timer"}`, `{"Type":1}`, `{"type":"Timer"}`} {
		if r, err := Parse([]byte(ev)); err != nil || r.Kind != Direct {
			t.Errorf("%s: %+v %v", ev, r, err)
		}
	}
	if r, err := Parse([]byte(`{"Type":"Timer","httpMethod":"POST","path":"/pay"}`)); err != nil || r.Kind != FunctionURL {
		t.Fatalf("%+v %v", r, err)
	}
}

func TestCheckDepth(t *testing.T) {
	ok := []string{``, `{}`, `"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["`, `"\\"`, `["\"[[[["]`, strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth)}
	for _, b := range ok {
		if err := CheckDepth([]byte(b)); err != nil {
			t.Errorf("%q: %v", b, err)
		}
	}
	deep := []string{strings.Repeat("[", MaxDepth+1), strings.Repeat(`{"a":`, MaxDepth+1), `"\\"` + strings.Repeat("[", MaxDepth+1)}
	for _, b := range deep {
		if err := CheckDepth([]byte(b)); !errors.Is(err, ErrTooDeep) {
			t.Errorf("%.40q: %v", b, err)
		}
	}
	if _, err := Parse([]byte(strings.Repeat("[", 1<<20))); !errors.Is(err, ErrMalformed) || !errors.Is(err, ErrTooDeep) {
		t.Fatalf("a deep event: %v", err)
	}
}

func TestParseRefuses(t *testing.T) {
	for _, ev := range []string{
		``, `[]`, `"x"`, `{`, `{"httpMethod":1}`, `{"httpMethod":""}`,
		`{"httpMethod":"POST","headers":"x"}`, `{"httpMethod":"POST","headers":{"a":{"b":1}}}`,
		`{"httpMethod":"POST","headers":{"a":[1]}}`, `{"httpMethod":"POST","body":{}}`,
		`{"httpMethod":"POST","body":"!!","isBase64Encoded":true}`, `{"httpMethod":"POST","path":5}`,
	} {
		if _, err := Parse([]byte(ev)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: got %v", ev, err)
		}
	}
}

func TestJSONResponse(t *testing.T) {
	b, _ := json.Marshal(JSON(400, []byte(`{"error":{}}`)))
	want := `{"isBase64Encoded":false,"statusCode":400,"headers":{"Content-Type":"application/json; charset=utf-8"},"body":"{\"error\":{}}"}`
	if string(b) != want {
		t.Fatalf("got %s", b)
	}
}

func FuzzParse(f *testing.F) {
	for _, name := range []string{"testdata/function_url.json", "testdata/api_gateway.json"} {
		b, _ := os.ReadFile(name)
		f.Add(b)
	}
	f.Add([]byte(`{"total_fee":180}`))
	f.Fuzz(func(t *testing.T, ev []byte) {
		r, err := Parse(ev)
		if err != nil {
			if r != nil || !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v with request %+v", err, r)
			}
			return
		}
		if r.Kind != Direct && r.Method == "" {
			t.Fatal("HTTP event without a method")
		}
	})
}
