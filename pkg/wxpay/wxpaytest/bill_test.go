package wxpaytest

import (
	"bytes"
	"compress/gzip"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/bill"
	"github.com/wxpay-scf/wxpay-scf/pkg/trade"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpay"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpay/wxpaytest/billsim"
)

// downloadBill asks for the bill of date (yyyyMMdd) with the given extra
// fields, signed, and returns the body; refusal is the decoded answer when
// it is XML.
func downloadBill(t *testing.T, s *Sim, date string, extra wxpay.Params) (body []byte, refusal wxpay.Params) {
	t.Helper()
	p := wxpay.Params{"appid": appID, "mch_id": mchID, "nonce_str": randomHex(32), "bill_date": date, "bill_type": "ALL", "tar_type": "GZIP"}
	maps.Copy(p, extra)
	maps.DeleteFunc(p, func(_, v string) bool { return v == "" })
	if _, ok := p["sign"]; !ok {
		p["sign"], _ = wxpay.Sign(p, key, wxpay.SignMD5)
	}
	doc, _ := wxpay.EncodeXML(p)
	w := httptest.NewRecorder()
	s.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/pay/downloadbill", bytes.NewReader(doc)))
	if bytes.HasPrefix(w.Body.Bytes(), []byte("<xml>")) {
		a, err := wxpay.DecodeXML(w.Body.Bytes())
		if err != nil || a["return_code"] != "FAIL" || a["sign"] != "" {
			t.Fatalf("refusal %q: %v", w.Body.String(), err)
		}
		return nil, a
	}
	return w.Body.Bytes(), nil
}

// billLines is the bill of date as lines, without the byte order mark.
func billLines(t *testing.T, s *Sim, date string) []string {
	t.Helper()
	body, refusal := downloadBill(t, s, date, nil)
	if refusal != nil {
		t.Fatalf("bill of %s: %q", date, refusal)
	}
	text := gunzip(t, body)
	return strings.Split(strings.TrimSuffix(strings.TrimPrefix(string(text), "\uFEFF"), "\r\n"), "\r\n")
}

// The bill holds what the simulator saw on the day: payments by their
// time, refunds by the time they were accepted with their status when the
// bill was made (10:00 the next day), an order no merchant system created,
// and nothing unpaid.
func TestSimulatorBill(t *testing.T) {
	s, refund := refundSim(t, 0, "") // paid 2026-11-26 17:00, 180 fen
	paid := validOrder()["out_trade_no"]
	unpaid := validOrder()
	unpaid["out_trade_no"] = "20261126170000unpaid"
	post(t, s, unpaid)
	if !s.AddPaidOrder("FOREIGN-0001", 999) || s.AddPaidOrder(paid, 1) {
		t.Fatal("AddPaidOrder")
	}
	s.Advance(30 * time.Minute)
	refund("R-1", "100")
	s.CompleteRefund("R-1", "SUCCESS") // its notification is never delivered
	s.Advance(30 * time.Minute)
	refund("R-2", "50")
	s.Advance(15*time.Hour + 59*time.Minute) // 2026-11-27 09:59
	if _, a := downloadBill(t, s, "20261126", nil); a["return_msg"] != billCreating {
		t.Fatalf("before 10:00: %q", a)
	}
	s.Advance(2 * time.Minute)
	s.CompleteRefund("R-2", "SUCCESS") // after the bill was made
	lines := billLines(t, s, "20261126")
	if len(lines) != 7 {
		t.Fatalf("%d lines:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	for i, want := range []string{
		"`2026-11-26 17:00:00,`" + appID + ",`" + mchID + ",`0,`,`42000",
		"`2026-11-26 17:00:00,`" + appID + ",`" + mchID + ",`0,`,`42000",
		"`2026-11-26 17:30:00,`" + appID + ",`" + mchID + ",`0,`,`42000",
		"`2026-11-26 18:00:00,`" + appID + ",`" + mchID + ",`0,`,`42000",
	} {
		if !strings.HasPrefix(lines[i+1], want) {
			t.Errorf("row %d: %s", i, lines[i+1])
		}
	}
	for _, want := range []string{
		",`FOREIGN-0001,`o", ",`SUCCESS,`OTHERS,`CNY,`9.99,`0.00,`0,`0,`0.00,`0.00,`,`,`其他系统的订单,`,`0.06000,`0.60%,`9.99,`0.00,`",
		",`" + paid + ",`o1,`JSAPI,`SUCCESS,`OTHERS,`CNY,`1.80,`0.00,`0,`0,`0.00,`0.00,`,`,`test,`,`0.01000,`0.60%,`1.80,`0.00,`",
		",`" + paid + ",`o1,`JSAPI,`REFUND,`OTHERS,`CNY,`0.00,`0.00,`50", ",`R-1,`1.00,`0.00,`ORIGINAL,`SUCCESS,`test,`,`-0.01000,`0.60%,`0.00,`1.00,`",
		",`R-2,`0.50,`0.00,`ORIGINAL,`PROCESSING,`test,`,`0.00000,`0.60%,`0.00,`0.50,`",
		"`4,`11.79,`1.50,`0.00,`0.06000,`11.79,`1.50",
	} {
		if !strings.Contains(strings.Join(lines, "\n"), want) {
			t.Errorf("no %q in\n%s", want, strings.Join(lines, "\n"))
		}
	}
	for no, a := range map[string]string{"20261127": billCreating, "20261125": noBill, "20261128": "invalid bill_date", "20260825": "invalid bill_date"} {
		if _, got := downloadBill(t, s, no, nil); got["return_msg"] != a || (a == noBill) != (got["error_code"] == "20002") {
			t.Errorf("bill of %s: %q, want %s", no, got, a)
		}
	}
}

// Refunds that finish by themselves show as they were when the bill was
// made, however late a query settles them.
func TestSimulatorBillRefundFinishingLater(t *testing.T) {
	for _, c := range []struct {
		delay time.Duration
		want  string
	}{
		{17 * time.Hour, "`CHANGE,"}, // 2026-11-27 10:00: as the bill was made
		{17*time.Hour + time.Second, "`PROCESSING,"},
	} {
		s, refund := refundSim(t, c.delay, "CHANGE")
		refund("R-1", "100")
		s.Advance(30 * 24 * time.Hour)
		if text := strings.Join(billLines(t, s, "20261126"), "\n"); !strings.Contains(text, c.want) {
			t.Errorf("delay %v: no %s in\n%s", c.delay, c.want, text)
		}
	}
}

func TestSimulatorBillKnobs(t *testing.T) {
	s, _ := refundSim(t, 0, "")
	day := time.Date(2026, 11, 26, 0, 0, 0, 0, trade.ChinaTime)
	s.Advance(24 * time.Hour) // 2026-11-27 17:00: the bill of the 26th is made
	for _, c := range []struct {
		name    string
		plan    billsim.Plan
		refusal string
		check   func(body []byte) bool
	}{
		{"not ready", billsim.Plan{State: billsim.NotReady}, billCreating, nil},
		{"none", billsim.Plan{State: billsim.None}, noBill, nil},
		{"rows removed", billsim.Plan{Rows: func([]bill.Row) []bill.Row { return nil }}, noBill, nil},
		{"wrong amount", billsim.Plan{Rows: func(rows []bill.Row) []bill.Row {
			rows[0].TotalFee = 1800
			return rows
		}}, "", func(body []byte) bool { return bytes.Contains(gunzip(t, body), []byte("`18.00,`0.00,`\r\n")) }},
		{"a row of another app", billsim.Plan{Rows: func(rows []bill.Row) []bill.Row {
			other := rows[0]
			other.AppID, other.OutTradeNo = "wx0000000000000000", "OTHER-APP-0001"
			return append(rows, other)
		}}, "", func(body []byte) bool {
			text := gunzip(t, body)
			return bytes.Contains(text, []byte(",`wx0000000000000000,`"+mchID+",`")) && bytes.Contains(text, []byte("\r\n`2,`3.60,`"))
		}},
		{"summary lies", billsim.Plan{Summary: func(s *bill.Summary) { s.RefundFee = 1 }}, "", func(body []byte) bool {
			return bytes.HasSuffix(gunzip(t, body), []byte("`1,`1.80,`0.01,`0.00,`0.01000,`1.80,`0.01\r\n"))
		}},
		{"not gzip", billsim.Plan{Body: billsim.NotGzip}, "", func(body []byte) bool { return bytes.HasPrefix(body, []byte("\uFEFF交易时间,")) }},
		{"truncated", billsim.Plan{Body: billsim.Truncated}, "", func(body []byte) bool {
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err == nil {
				_, err = io.ReadAll(zr)
			}
			return err == io.ErrUnexpectedEOF
		}},
	} {
		s.SetBill(day.Add(13*time.Hour), c.plan) // any time of the day names it
		body, refusal := downloadBill(t, s, "20261126", nil)
		if refusal["return_msg"] != c.refusal || c.check != nil && !c.check(body) {
			t.Errorf("%s: %q %q", c.name, refusal, body)
		}
	}
	s.SetBill(day, billsim.Plan{})
	if len(billLines(t, s, "20261126")) != 4 {
		t.Error("a zero plan does not restore the bill")
	}
}

func TestSimulatorBillRequests(t *testing.T) {
	s, _ := refundSim(t, 0, "")
	s.Advance(24 * time.Hour)
	s.cfg.BillLayout = bill.Older
	if lines := billLines(t, s, "20261126"); !strings.Contains(lines[0], ",总金额,企业红包金额,") || lines[2] != "总交易单数,总交易额,总退款金额,总企业红包退款金额,手续费总金额" {
		t.Errorf("older layout:\n%s", strings.Join(lines, "\n"))
	}
	if body, _ := downloadBill(t, s, "20261126", wxpay.Params{"tar_type": ""}); !bytes.HasPrefix(body, []byte("\uFEFF交易时间,")) {
		t.Errorf("without tar_type: %q", body)
	}
	for name, c := range map[string]struct {
		date  string
		extra wxpay.Params
		want  string
	}{
		"bad signature": {"20261126", wxpay.Params{"sign": "00000000000000000000000000000000"}, "签名错误"},
		"no date":       {"", nil, "missing parameter"},
		"bad date":      {"2026-11-26", nil, "invalid bill_date"},
		"no such date":  {"20261131", nil, "invalid bill_date"},
		"SUCCESS bill":  {"20261126", wxpay.Params{"bill_type": "SUCCESS"}, "invalid bill_type"},
		"zip":           {"20261126", wxpay.Params{"tar_type": "ZIP"}, "invalid tar_type"},
	} {
		if _, a := downloadBill(t, s, c.date, c.extra); a["return_msg"] != c.want {
			t.Errorf("%s: %q", name, a)
		}
	}
}

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	text, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return text
}
