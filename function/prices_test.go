package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"
)

const testPrices = `{"vip-month":{"total_fee":1800,"description":"会员月卡"},"coins-60":{"total_fee":600,"description":"60 金币"}}`

// With prices configured, the mini-program names an item and a quantity;
// the amount and description are the list's, through the real binary.
func TestBinaryPrices(t *testing.T) {
	b := startBinary(t, func(env map[string]string) { env["WXPAY_PRICES"] = testPrices })
	f := &fixture{t: t, sim: b.sim}
	pay := func(body string) answer {
		t.Helper()
		return b.httpAnswer(t, urlEvent("POST", "/release/pay", body, nil), 3*time.Second)
	}
	code := func() string { return `"code":"` + b.sim.LoginCode(testOpenID) + `"` }

	no := f.checkPaid(pay(`{"item":"coins-60","quantity":3,`+code()+`}`), "MD5")
	if p := b.sim.Order(no).Params; p["total_fee"] != "1800" || p["body"] != "60 金币" {
		t.Fatalf("WeChat Pay was asked for %s %q", p["total_fee"], p["body"])
	}
	// A client may send what it shows, when it is the list's.
	f.checkPaid(pay(`{"item":"vip-month","total_fee":1800,"description":"会员月卡",`+code()+`}`), "MD5")
	for body, want := range map[string]string{
		`{"total_fee":1,` + code() + `}`:                                    "ITEM_REQUIRED",
		`{"item":"vip-month","total_fee":1,` + code() + `}`:                 "PRICE_MISMATCH",
		`{"item":"vip-month","total_fee":"1",` + code() + `}`:               "PRICE_MISMATCH",
		`{"item":"vip-month","description":"年卡",` + code() + `}`:            "PRICE_MISMATCH",
		`{"item":"vip-month","quantity":2,"total_fee":1800,` + code() + `}`: "PRICE_MISMATCH",
		`{"item":"vip-year",` + code() + `}`:                                "UNKNOWN_ITEM",
		`{"item":"vip-month","quantity":0,` + code() + `}`:                  "INVALID_QUANTITY",
		`{"item":"vip-month","quantity":100,` + code() + `}`:                "INVALID_QUANTITY",
		`{"item":"vip-month","quantity":-1,` + code() + `}`:                 "INVALID_QUANTITY",
	} {
		f.expectError(pay(body), 400, want)
	}
	// The same request_id with another item or quantity is a conflict.
	first := pay(`{"item":"coins-60","request_id":"cart-1",` + code() + `}`)
	f.checkPaid(first, "MD5")
	f.expectError(pay(`{"item":"coins-60","quantity":2,"request_id":"cart-1",`+code()+`}`), 409, "REQUEST_ID_CONFLICT")
	f.expectError(pay(`{"item":"vip-month","request_id":"cart-1",`+code()+`}`), 409, "REQUEST_ID_CONFLICT")

	// The item travels with the order, into its events.
	b.sim.AddUser(testOpenID)
	note, _ := b.sim.Pay(no)
	b.rawAnswer(t, urlEvent("POST", "/release/notify", string(note), nil), 3*time.Second)
	payload, _ := b.direct(t, `{"action":"query","out_trade_no":"`+no+`"}`)
	if !strings.Contains(payload, `"total_fee":1800,`) || !strings.Contains(payload, `"item":"coins-60","quantity":3`) {
		t.Fatalf("the order: %s", payload)
	}
	events, _ := b.direct(t, `{"action":"events"}`)
	if !strings.Contains(events, `"type":"order.paid"`) || !strings.Contains(events, `"item":"coins-60","quantity":3`) {
		t.Fatalf("the events: %s", events)
	}

	// A trusted caller may still charge an amount of its own, or buy an item.
	if payload, msg := b.direct(t, `{"total_fee":7,"openid":"`+testOpenID+`"}`); msg != "" {
		t.Fatalf("direct: %s", msg)
	} else if no := outTradeNo(t, payload); b.sim.Order(no).Params["total_fee"] != "7" {
		t.Fatalf("%s", payload)
	}
	if payload, msg := b.direct(t, `{"item":"vip-month","quantity":2,"openid":"`+testOpenID+`"}`); msg != "" || b.sim.Order(outTradeNo(t, payload)).Params["total_fee"] != "3600" {
		t.Fatalf("direct with an item: %s %s", payload, msg)
	}
}

func outTradeNo(t *testing.T, payload string) string {
	t.Helper()
	var res struct {
		OutTradeNo string `json:"out_trade_no"`
	}
	if json.Unmarshal([]byte(payload), &res) != nil || res.OutTradeNo == "" {
		t.Fatalf("%s", payload)
	}
	return res.OutTradeNo
}

// A broken price list refuses /pay rather than fall back to client amounts;
// the log names the variable and the item, and the rest keeps working.
func TestBinaryBrokenPrices(t *testing.T) {
	b := startBinary(t, func(env map[string]string) {
		env["WXPAY_PRICES"] = `{"vip-month":{"total_fee":0,"description":"会员月卡"}}`
		env["WXPAY_SESSION_SECRET"] = "TEST-session-secret-0123456789abcdef"
	})
	f := &fixture{t: t, sim: b.sim}
	f.expectError(b.httpAnswer(t, urlEvent("POST", "/pay", `{"total_fee":180,"code":"`+b.sim.LoginCode(testOpenID)+`"}`, nil), 3*time.Second), 500, "CONFIG_ERROR")
	f.expectError(b.httpAnswer(t, urlEvent("POST", "/pay", `{"item":"vip-month","code":"`+b.sim.LoginCode(testOpenID)+`"}`, nil), 3*time.Second), 500, "CONFIG_ERROR")
	if lines := b.logLines(`"level":"ERROR"`, `"variable":"WXPAY_PRICES"`, `item \"vip-month\": total_fee`); len(lines) != 1 {
		t.Fatalf("%s", b.log.String())
	}
	if a := b.httpAnswer(t, urlEvent("POST", "/login", `{"code":"`+b.sim.LoginCode(testOpenID)+`"}`, nil), 3*time.Second); a.status != 200 {
		t.Fatalf("login: %d %s", a.status, a.raw)
	}
	if len(b.sim.Requests()) == 0 || b.sim.Requests()[len(b.sim.Requests())-1].Path != "/sns/jscode2session" {
		t.Fatal("unexpected calls")
	}
	for _, r := range b.sim.Requests() {
		if r.Path == "/pay/unifiedorder" {
			t.Fatal("an order was made with a broken price list")
		}
	}
}

// Whatever a mini-program sends, every order made has the list's price
// times a valid quantity (200 random requests through the handler).
func TestNoClientSetsAPrice(t *testing.T) {
	f := newFixture(t, func(env map[string]string) { env["WXPAY_PRICES"] = testPrices })
	rnd := rand.New(rand.NewPCG(1, 2))
	fields := map[string][]string{
		// Valid values more often than not, so that orders get made.
		"item":        {`"vip-month"`, `"coins-60"`, `"vip-month"`, `"coins-60"`, `"vip-year"`, `""`, `5`, `null`},
		"quantity":    {`1`, `2`, `99`, `1`, `3`, `100`, `0`, `-3`, `1.5`, `"2"`, `null`},
		"total_fee":   {`1`, `1800`, `600`, `3600`, `"1800"`, `0`, `-1800`, `1e3`, `null`},
		"description": {`"会员月卡"`, `"60 金币"`, `"免费"`, `""`, `null`},
	}
	names := []string{"item", "quantity", "total_fee", "description"}
	for i := 0; i < 200; i++ {
		parts := []string{`"code":"` + f.sim.LoginCode(testOpenID) + `"`}
		for _, name := range names {
			if name == "item" || rnd.IntN(3) == 0 {
				vs := fields[name]
				parts = append(parts, fmt.Sprintf("%q:%s", name, vs[rnd.IntN(len(vs))]))
			}
		}
		f.http(urlEvent("POST", "/pay", "{"+strings.Join(parts, ",")+"}", nil))
	}
	made := 0
	for _, r := range f.sim.Requests() {
		if r.Path != "/pay/unifiedorder" {
			continue
		}
		made++
		fee, _ := strconv.Atoi(r.Params["total_fee"])
		unit := map[string]int{"会员月卡": 1800, "60 金币": 600}[r.Params["body"]]
		if unit == 0 || fee%unit != 0 || fee/unit < 1 || fee/unit > 99 {
			t.Fatalf("an order of %d fen for %q", fee, r.Params["body"])
		}
	}
	if made < 20 {
		t.Fatalf("only %d orders were made: the test proves little", made)
	}
}
