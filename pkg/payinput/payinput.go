// Package payinput parses and validates what callers send: the pay request
// of the mini-program and the refund request of an operator, into the
// request types of pkg/payment. Bad input is a *payment.Error of kind
// Invalid with a stable code naming the field; nothing here does I/O.
package payinput

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tidwall/gjson"
	"github.com/wxpay-scf/wxpay-scf/pkg/httpevent"
	"github.com/wxpay-scf/wxpay-scf/pkg/payment"
	"github.com/wxpay-scf/wxpay-scf/pkg/trade"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpay"
)

func invalid(code, msg string) *payment.Error {
	return &payment.Error{Kind: payment.Invalid, Code: code, Message: msg}
}

// MaxRequestIDLen bounds request_id.
const MaxRequestIDLen = 64

// Object reads a request body that must be one JSON object, nested at
// most httpevent.MaxDepth levels (checked before any parse).
func Object(body []byte) (gjson.Result, error) {
	if httpevent.CheckDepth(body) != nil {
		return gjson.Result{}, invalid("INVALID_BODY", "the body is nested too deeply")
	}
	if !gjson.ValidBytes(body) {
		return gjson.Result{}, invalid("INVALID_BODY", "the body must be a JSON object")
	}
	obj := gjson.ParseBytes(body)
	if !obj.IsObject() {
		return gjson.Result{}, invalid("INVALID_BODY", "the body must be a JSON object")
	}
	return obj, nil
}

// ParseRequest reads the pay fields of a JSON object: total_fee, code,
// description, attach and request_id, and with a price list (priced) item
// and quantity, when total_fee becomes optional. Unknown fields are
// ignored; an openid field is never read, because the client is not a
// verified source.
func ParseRequest(body []byte, maxTotalFee int64, priced bool) (payment.PayRequest, error) {
	obj, err := Object(body)
	if err != nil {
		return payment.PayRequest{}, err
	}
	var r payment.PayRequest
	if fee := obj.Get("total_fee"); !priced || fee.Exists() && fee.Type != gjson.Null {
		if r.TotalFee, err = ParseTotalFee(fee, maxTotalFee); err != nil {
			return payment.PayRequest{}, err
		}
	}
	if priced {
		if r.Item, r.Quantity, err = parseItem(obj); err != nil {
			return payment.PayRequest{}, err
		}
	}
	if r.Description, err = optionalText(obj.Get("description"), "INVALID_DESCRIPTION", "description", wxpay.MaxBodyBytes); err != nil {
		return payment.PayRequest{}, err
	}
	if r.Attach, err = optionalText(obj.Get("attach"), "INVALID_ATTACH", "attach", wxpay.MaxAttachBytes); err != nil {
		return payment.PayRequest{}, err
	}
	if id := obj.Get("request_id"); id.Exists() && id.Type != gjson.Null {
		if id.Type != gjson.String || id.Str == "" || len(id.Str) > MaxRequestIDLen || CheckText(id.Str, MaxRequestIDLen) != "" {
			return payment.PayRequest{}, invalid("INVALID_REQUEST_ID", "request_id must be a string of 1 to 64 bytes")
		}
		r.RequestID = id.Str
	}
	if code := obj.Get("code"); code.Exists() && code.Type != gjson.Null {
		if code.Type != gjson.String || len(code.Str) > 128 {
			return payment.PayRequest{}, invalid("INVALID_CODE", "code must be the string wx.login returned")
		}
		r.Code = code.Str
	}
	return r, nil
}

// ParseTotalFee accepts a positive integer number of fen up to max, written
// as a JSON integer (180) or a canonical decimal string ("180"). Everything
// else is refused: 0, negatives, 180.0, 1e3, "0180", "+180", spaces,
// booleans, null, arrays and a missing value.
func ParseTotalFee(v gjson.Result, max int64) (int64, error) {
	var digits string
	switch v.Type {
	case gjson.Number:
		digits = v.Raw
	case gjson.String:
		digits = v.Str
	}
	if digits == "" || len(digits) > 19 || digits[0] == '0' {
		return 0, invalidFee(max)
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, invalidFee(max)
		}
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || n < 1 || n > max {
		return 0, invalidFee(max)
	}
	return n, nil
}

func invalidFee(max int64) error {
	return invalid("INVALID_TOTAL_FEE", "total_fee must be a whole number of fen from 1 to "+strconv.FormatInt(max, 10)+", such as 180 or \"180\"")
}

// optionalText reads an optional string field that ends up in a v2 XML
// field and a v3 JSON field: at most max bytes of valid UTF-8, no control
// characters, and (v3's rule, kept on v2 too) nothing outside the Basic
// Multilingual Plane.
func optionalText(v gjson.Result, code, name string, max int) (string, error) {
	if !v.Exists() || v.Type == gjson.Null {
		return "", nil
	}
	if v.Type != gjson.String {
		return "", invalid(code, name+" must be a string")
	}
	if problem := CheckText(v.Str, max); problem != "" {
		return "", invalid(code, name+" "+problem)
	}
	return v.Str, nil
}

// CheckText applies the rule for texts that reach WeChat Pay (description,
// attach, the default body): at most max bytes of valid UTF-8, no control
// characters, nothing outside the Basic Multilingual Plane (v3 refuses
// emoji; v2 keeps the same rule so a mini-program works on both). It
// returns what is wrong, or "".
func CheckText(s string, max int) string {
	if len(s) > max {
		return "must be at most " + strconv.Itoa(max) + " bytes of UTF-8 (it is not truncated)"
	}
	if !utf8.ValidString(s) {
		return "must be valid UTF-8"
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r > 0xFFFF || r == 0xFFFE || r == 0xFFFF {
			return "must not hold control characters or characters outside the Basic Multilingual Plane, such as emoji"
		}
	}
	return ""
}

// ParseClientIP validates a client IP given by a trusted caller.
func ParseClientIP(s string) (string, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return "", invalid("INVALID_SPBILL_CREATE_IP", "spbill_create_ip must be an IPv4 or IPv6 address")
	}
	return a.Unmap().String(), nil
}

// MaxReasonBytes bounds a refund's reason (WeChat's refund_desc).
const MaxReasonBytes = 80

// ParseRefund reads {"out_trade_no","refund_fee","out_refund_no","reason"}.
func ParseRefund(event gjson.Result) (payment.RefundRequest, error) {
	var in payment.RefundRequest
	no := event.Get("out_trade_no")
	if no.Type != gjson.String || !wxpay.ValidOutTradeNo(no.Str) {
		return in, invalid("INVALID_OUT_TRADE_NO", "out_trade_no must be the order's number")
	}
	in.OutTradeNo = no.Str
	fee, err := ParseTotalFee(event.Get("refund_fee"), wxpay.MaxTotalFee)
	if err != nil {
		return in, invalid("INVALID_REFUND_FEE", "refund_fee must be a whole number of fen, at least 1")
	}
	in.RefundFee = fee
	if r := event.Get("out_refund_no"); r.Exists() && r.Type != gjson.Null {
		if r.Type != gjson.String || !wxpay.ValidOutRefundNo(r.Str) {
			return in, invalid("INVALID_OUT_REFUND_NO", "out_refund_no must be 1 to 64 characters of 0-9 A-Z a-z _ - | * @")
		}
		in.OutRefundNo = r.Str
	}
	if in.Reason, err = optionalText(event.Get("reason"), "INVALID_REASON", "reason", MaxReasonBytes); err != nil {
		return in, err
	}
	return in, nil
}

// ParseSweep reads {"action":"sweep","min_age":N}: min_age whole seconds
// from 0 (orders created this instant) to a week, default 60.
func ParseSweep(event gjson.Result) (time.Duration, error) {
	v := event.Get("min_age")
	if !v.Exists() || v.Type == gjson.Null {
		return payment.DefaultSweepMinAge, nil
	}
	n, err := wholeNumber(v, 0, 7*24*3600)
	if err != nil {
		return 0, invalid("INVALID_MIN_AGE", "min_age must be a whole number of seconds from 0 to 604800")
	}
	return time.Duration(n) * time.Second, nil
}

// ParseEventsQuery reads {"action":"events","after":"evt_…","limit":100}:
// after optional, limit 1 to payment.MaxEventsPage, default 100.
func ParseEventsQuery(event gjson.Result) (after string, limit int, err error) {
	limit = 100
	if v := event.Get("limit"); v.Exists() && v.Type != gjson.Null {
		n, err := wholeNumber(v, 1, payment.MaxEventsPage)
		if err != nil {
			return "", 0, invalid("INVALID_LIMIT", "limit must be a whole number from 1 to 1000")
		}
		limit = int(n)
	}
	if v := event.Get("after"); v.Exists() && v.Type != gjson.Null {
		if after, err = eventID(v, "INVALID_AFTER", "after"); err != nil {
			return "", 0, err
		}
	}
	return after, limit, nil
}

// ParseEventID reads the "id" of {"action":"redeliver","id":"evt_…"}.
func ParseEventID(event gjson.Result) (string, error) {
	return eventID(event.Get("id"), "INVALID_EVENT_ID", "id")
}

func eventID(v gjson.Result, code, name string) (string, error) {
	if v.Type != gjson.String || !strings.HasPrefix(v.Str, "evt_") || len(v.Str) > 64 || CheckText(v.Str, 64) != "" {
		return "", invalid(code, name+" must be an event id, evt_…")
	}
	return v.Str, nil
}

// wholeNumber reads a JSON integer from lo to hi, nothing else.
func wholeNumber(v gjson.Result, lo, hi int64) (int64, error) {
	if v.Type != gjson.Number {
		return 0, strconv.ErrSyntax
	}
	n, err := strconv.ParseInt(v.Raw, 10, 64)
	if err != nil || n < lo || n > hi {
		return 0, strconv.ErrRange
	}
	return n, nil
}

// ParseDate reads the "date" of {"action":"reconcile"|"reconciliation",
// "date":"2026-11-29"}: a China calendar day before today and at most 90
// days back; anything else (malformed, today, the future, older) is
// INVALID_DATE.
func ParseDate(event gjson.Result, now time.Time) (time.Time, error) {
	bad := invalid("INVALID_DATE", "date must be a day before today and at most 90 days back, as 2006-01-02 (China time)")
	v := event.Get("date")
	if v.Type != gjson.String {
		return time.Time{}, bad
	}
	day, err := time.ParseInLocation(time.DateOnly, v.Str, trade.ChinaTime)
	today := payment.ChinaDay(now)
	if err != nil || day.Format(time.DateOnly) != v.Str || !day.Before(today) || today.Sub(day) > payment.MaxReconcileAge {
		return time.Time{}, bad
	}
	return day, nil
}

// parseItem reads item (a string; whether the list has it is the price
// list's to say) and quantity (a JSON integer from 1 to 99; 0 when absent).
func parseItem(obj gjson.Result) (string, int, error) {
	var item string
	if v := obj.Get("item"); v.Exists() && v.Type != gjson.Null {
		if v.Type != gjson.String || v.Str == "" {
			return "", 0, invalid("UNKNOWN_ITEM", "item must be the id of an item of the price list")
		}
		item = v.Str
	}
	var quantity int64
	if v := obj.Get("quantity"); v.Exists() && v.Type != gjson.Null {
		var err error
		if quantity, err = wholeNumber(v, 1, payment.MaxQuantity); err != nil {
			return "", 0, invalid("INVALID_QUANTITY", "quantity must be a whole number from 1 to 99")
		}
	}
	return item, int(quantity), nil
}

// validItemID is 1 to 32 characters of 0-9 A-Z a-z _ -.
func validItemID(id string) bool {
	if id == "" || len(id) > 32 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// ParsePrices reads WXPAY_PRICES, a JSON object of items:
// {"vip-month":{"total_fee":1800,"description":"会员月卡"}}. Each id is 1 to
// 32 characters of 0-9 A-Z a-z _ -, each total_fee a positive integer of
// fen within maxTotalFee, each description a valid goods description. The
// error says which item and why.
func ParsePrices(raw string, maxTotalFee int64) (*payment.PriceList, error) {
	obj, err := Object([]byte(raw))
	if err != nil {
		return nil, errors.New("is not a JSON object of items")
	}
	list := &payment.PriceList{Items: map[string]payment.Price{}, MaxTotalFee: maxTotalFee}
	obj.ForEach(func(k, v gjson.Result) bool {
		id := k.Str
		switch _, dup := list.Items[id]; {
		case !validItemID(id):
			err = fmt.Errorf("item %q: the id must be 1 to 32 characters of 0-9 A-Z a-z _ -", id)
		case dup:
			err = fmt.Errorf("item %q is listed twice", id)
		case !v.IsObject():
			err = fmt.Errorf("item %q must be {\"total_fee\":…,\"description\":…}", id)
		}
		if err != nil {
			return false
		}
		fee, ferr := ParseTotalFee(v.Get("total_fee"), maxTotalFee)
		if ferr != nil || v.Get("total_fee").Type != gjson.Number {
			err = fmt.Errorf("item %q: total_fee must be a whole number of fen from 1 to %d", id, maxTotalFee)
			return false
		}
		desc := v.Get("description")
		if desc.Type != gjson.String || desc.Str == "" {
			err = fmt.Errorf("item %q: description must be a non-empty string", id)
			return false
		}
		if problem := CheckText(desc.Str, wxpay.MaxBodyBytes); problem != "" {
			err = fmt.Errorf("item %q: description %s", id, problem)
			return false
		}
		list.Items[id] = payment.Price{TotalFee: fee, Description: desc.Str}
		return true
	})
	if err != nil {
		return nil, err
	}
	if len(list.Items) == 0 {
		return nil, errors.New("lists no item")
	}
	return list, nil
}
