package payinput

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"
	"github.com/wxpay-scf/wxpay-scf/pkg/payment"
)

func TestParseTotalFee(t *testing.T) {
	const max = 2147483647
	accept := map[string]int64{
		`180`: 180, `"180"`: 180, `1`: 1, `"2147483647"`: 2147483647, `2147483647`: 2147483647, `"\u0031\u0038\u0030"`: 180,
	}
	for raw, want := range accept {
		got, err := ParseTotalFee(gjson.Parse(raw), max)
		if err != nil || got != want {
			t.Errorf("%s: got %d, %v", raw, got, err)
		}
	}
	refuse := []string{
		`0`, `"0"`, `-1`, `"-1"`, `-0`, `180.0`, `1.5`, `1e3`, `1E3`, `"1e3"`, `"0180"`, `0180`, `"+180"`, `"0x10"`,
		`" 180"`, `"180 "`, `"18 0"`, `""`, `true`, `false`, `null`, `[180]`, `{"v":180}`, `2147483648`, `"2147483648"`,
		`9223372036854775808`, `99999999999999999999`, `"１８０"`, `"180\n"`,
	}
	for _, raw := range refuse {
		if got, err := ParseTotalFee(gjson.Parse(raw), max); !isCode(err, "INVALID_TOTAL_FEE") {
			t.Errorf("%s: got %d, %v", raw, got, err)
		}
	}
	if _, err := ParseTotalFee(gjson.Result{}, max); !isCode(err, "INVALID_TOTAL_FEE") {
		t.Errorf("missing: %v", err)
	}
	if _, err := ParseTotalFee(gjson.Parse(`1001`), 1000); !isCode(err, "INVALID_TOTAL_FEE") {
		t.Errorf("over a configured max: %v", err)
	}
	if n, err := ParseTotalFee(gjson.Parse(`1000`), 1000); n != 1000 || err != nil {
		t.Errorf("at the configured max: %d %v", n, err)
	}
}

func isCode(err error, code string) bool {
	var e *payment.Error
	return errors.As(err, &e) && e.Kind == payment.Invalid && e.Code == code && e.Message != ""
}

func TestParseRequest(t *testing.T) {
	r, err := ParseRequest([]byte(`{"total_fee":"180","code":"0a1","description":"腾讯充值中心-QQ会员充值","attach":"x=1","openid":"forged","extra":[1]}`), 2147483647, false)
	if err != nil {
		t.Fatal(err)
	}
	if r.TotalFee != 180 || r.Code != "0a1" || r.Description != "腾讯充值中心-QQ会员充值" || r.Attach != "x=1" || r.OpenID != "" {
		t.Fatalf("%+v", r)
	}
	cases := map[string]string{
		``:                                  "INVALID_BODY",
		`[]`:                                "INVALID_BODY",
		`"x"`:                               "INVALID_BODY",
		`{"total_fee":180`:                  "INVALID_BODY",
		`{}`:                                "INVALID_TOTAL_FEE",
		`{"total_fee":180,"code":5}`:        "INVALID_CODE",
		`{"total_fee":180,"description":5}`: "INVALID_DESCRIPTION",
		`{"total_fee":180,"description":"` + strings.Repeat("a", 128) + `"}`: "INVALID_DESCRIPTION",
		`{"total_fee":180,"description":"` + strings.Repeat("中", 43) + `"}`:  "INVALID_DESCRIPTION",
		`{"total_fee":180,"description":"pay 😀"}`:                            "INVALID_DESCRIPTION",
		`{"total_fee":180,"description":"a\u0000b"}`:                         "INVALID_DESCRIPTION",
		`{"total_fee":180,"attach":"` + strings.Repeat("a", 128) + `"}`:      "INVALID_ATTACH",
		`{"total_fee":180,"attach":{}}`:                                      "INVALID_ATTACH",
	}
	for body, code := range cases {
		if _, err := ParseRequest([]byte(body), 2147483647, false); !isCode(err, code) {
			t.Errorf("%.60s: got %v, want %s", body, err, code)
		}
	}
	// Exactly at the limits is fine: 127 ASCII bytes, 42 three-byte characters.
	for _, ok := range []string{strings.Repeat("a", 127), strings.Repeat("中", 42)} {
		if _, err := ParseRequest([]byte(`{"total_fee":1,"description":"`+ok+`","attach":"`+ok+`"}`), 10, false); err != nil {
			t.Errorf("%d bytes: %v", len(ok), err)
		}
	}
}

func FuzzParseTotalFee(f *testing.F) {
	for _, s := range []string{`180`, `"180"`, `0`, `1e3`, `"0180"`, `-5`, `null`, `2147483648`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		n, err := ParseTotalFee(gjson.Parse(raw), 2147483647)
		if err != nil {
			if n != 0 || !isCode(err, "INVALID_TOTAL_FEE") {
				t.Fatalf("%q: %d %v", raw, n, err)
			}
			return
		}
		if n < 1 || n > 2147483647 {
			t.Fatalf("%q accepted as %d", raw, n)
		}
	})
}

func TestOperatorInputs(t *testing.T) {
	for raw, want := range map[string]time.Duration{`{}`: time.Minute, `{"min_age":0}`: 0, `{"min_age":300}`: 5 * time.Minute, `{"min_age":null}`: time.Minute} {
		if got, err := ParseSweep(gjson.Parse(raw)); err != nil || got != want {
			t.Errorf("%s: %v %v", raw, got, err)
		}
	}
	for _, raw := range []string{`{"min_age":-1}`, `{"min_age":1.5}`, `{"min_age":"60"}`, `{"min_age":604801}`, `{"min_age":true}`} {
		if _, err := ParseSweep(gjson.Parse(raw)); !isCode(err, "INVALID_MIN_AGE") {
			t.Errorf("%s: %v", raw, err)
		}
	}
	after, limit, err := ParseEventsQuery(gjson.Parse(`{"after":"evt_0a1b","limit":5}`))
	if err != nil || after != "evt_0a1b" || limit != 5 {
		t.Fatalf("%q %d %v", after, limit, err)
	}
	if _, limit, err := ParseEventsQuery(gjson.Parse(`{}`)); err != nil || limit != 100 {
		t.Fatalf("%d %v", limit, err)
	}
	for raw, code := range map[string]string{`{"limit":0}`: "INVALID_LIMIT", `{"limit":1001}`: "INVALID_LIMIT", `{"limit":"5"}`: "INVALID_LIMIT", `{"after":5}`: "INVALID_AFTER", `{"after":"x"}`: "INVALID_AFTER"} {
		if _, _, err := ParseEventsQuery(gjson.Parse(raw)); !isCode(err, code) {
			t.Errorf("%s: %v", raw, err)
		}
	}
	if id, err := ParseEventID(gjson.Parse(`{"id":"evt_1"}`)); err != nil || id != "evt_1" {
		t.Fatalf("%q %v", id, err)
	}
	for _, raw := range []string{`{}`, `{"id":"1"}`, `{"id":["evt_1"]}`} {
		if _, err := ParseEventID(gjson.Parse(raw)); !isCode(err, "INVALID_EVENT_ID") {
			t.Errorf("%s: %v", raw, err)
		}
	}
}

func TestParseDate(t *testing.T) {
	now := time.Date(2026, 11, 30, 1, 0, 0, 0, time.UTC) // 09:00 in China
	if day, err := ParseDate(gjson.Parse(`{"date":"2026-11-29"}`), now); err != nil || day.Format(time.RFC3339) != "2026-11-29T00:00:00+08:00" {
		t.Fatalf("%v %v", day, err)
	}
	if _, err := ParseDate(gjson.Parse(`{"date":"2026-09-01"}`), now); err != nil {
		t.Fatalf("90 days back: %v", err)
	}
	for _, raw := range []string{`{}`, `{"date":20261129}`, `{"date":"2026-11-30"}`, `{"date":"2026-12-01"}`, `{"date":"2026-08-31"}`,
		`{"date":"2026-2-1"}`, `{"date":"2026-02-30"}`, `{"date":"29/11/2026"}`, `{"date":"2026-11-29T00:00:00Z"}`} {
		if _, err := ParseDate(gjson.Parse(raw), now); !isCode(err, "INVALID_DATE") {
			t.Errorf("%s: %v", raw, err)
		}
	}
}

func TestParseItemRequests(t *testing.T) {
	r, err := ParseRequest([]byte(`{"item":"vip-month","quantity":2,"code":"c"}`), 2147483647, true)
	if err != nil || r.Item != "vip-month" || r.Quantity != 2 || r.TotalFee != 0 {
		t.Fatalf("%+v %v", r, err)
	}
	// Without a price list, item and quantity mean nothing and total_fee is required.
	if r, err := ParseRequest([]byte(`{"item":"vip-month","quantity":200,"total_fee":5}`), 2147483647, false); err != nil || r.Item != "" || r.Quantity != 0 {
		t.Fatalf("%+v %v", r, err)
	}
	for body, code := range map[string]string{
		`{"item":5}`:                      "UNKNOWN_ITEM",
		`{"item":""}`:                     "UNKNOWN_ITEM",
		`{"item":"a","quantity":0}`:       "INVALID_QUANTITY",
		`{"item":"a","quantity":100}`:     "INVALID_QUANTITY",
		`{"item":"a","quantity":1.5}`:     "INVALID_QUANTITY",
		`{"item":"a","quantity":"2"}`:     "INVALID_QUANTITY",
		`{"item":"a","total_fee":"0180"}`: "INVALID_TOTAL_FEE",
		`{"item":"a","description":"😀"}`:  "INVALID_DESCRIPTION",
	} {
		if _, err := ParseRequest([]byte(body), 2147483647, true); !isCode(err, code) {
			t.Errorf("%s: %v, want %s", body, err, code)
		}
	}
}

func TestParsePrices(t *testing.T) {
	l, err := ParsePrices(`{"vip-month":{"total_fee":1800,"description":"会员月卡"},"coins_60":{"total_fee":600,"description":"60 金币"}}`, 100000)
	if err != nil || len(l.Items) != 2 || l.Items["vip-month"].TotalFee != 1800 || l.Items["coins_60"].Description != "60 金币" || l.MaxTotalFee != 100000 {
		t.Fatalf("%+v %v", l, err)
	}
	for raw, why := range map[string]string{
		``:        "JSON object",
		`[]`:      "JSON object",
		`{}`:      "no item",
		`{"a":1}`: `item "a" must be`,
		`{"a b":{"total_fee":1,"description":"x"}}`:                                     `item "a b": the id`,
		`{"` + strings.Repeat("a", 33) + `":{"total_fee":1,"description":"x"}}`:         "the id",
		`{"a":{"total_fee":0,"description":"x"}}`:                                       `item "a": total_fee`,
		`{"a":{"total_fee":"5","description":"x"}}`:                                     `item "a": total_fee`,
		`{"a":{"total_fee":100001,"description":"x"}}`:                                  `item "a": total_fee`,
		`{"a":{"total_fee":1.5,"description":"x"}}`:                                     `item "a": total_fee`,
		`{"a":{"total_fee":1}}`:                                                         `item "a": description`,
		`{"a":{"total_fee":1,"description":"😀"}}`:                                       `item "a": description`,
		`{"a":{"total_fee":1,"description":"x"},"a":{"total_fee":2,"description":"y"}}`: "twice",
	} {
		if _, err := ParsePrices(raw, 100000); err == nil || !strings.Contains(err.Error(), why) {
			t.Errorf("%s: %v, want %q", raw, err, why)
		}
	}
}
