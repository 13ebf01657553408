package billsim

import (
	"bytes"
	"compress/gzip"
	"crypto/sha1"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/trade"
)

var day = time.Date(2026, 11, 26, 0, 0, 0, 0, trade.ChinaTime)

// rows are a payment of 180 fen and a refund of 100 fen of it.
func rows() []Row {
	return []Row{
		{TradeTime: day.Add(17 * time.Hour), AppID: "wxd678efh567hg6787", MchID: "1230000109", TransactionID: "4200000001202611260000000001",
			OutTradeNo: "20261126170000000001", TradeState: "SUCCESS", TotalFee: 180, SettlementFee: 180, OpenID: "o1", Body: "会员,充值", Attach: "a"},
		{TradeTime: day.Add(18 * time.Hour), AppID: "wxd678efh567hg6787", MchID: "1230000109", TransactionID: "4200000001202611260000000001",
			OutTradeNo: "20261126170000000001", TradeState: "REFUND", RefundID: "50300001", OutRefundNo: "R-1", RefundFee: 100,
			RefundState: "SUCCESS", OpenID: "o1", Body: "会员,充值", Attach: "a"},
	}
}

// The two layouts, line by line, as the format page and real bills show
// them: amounts in yuan, the fee with five decimals and given back on a
// refund, 0 for a payment's refund numbers.
func TestEncode(t *testing.T) {
	for _, c := range []struct {
		layout Layout
		want   []string
	}{
		{Current, []string{
			"\uFEFF交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注",
			"`2026-11-26 17:00:00,`wxd678efh567hg6787,`1230000109,`0,`,`4200000001202611260000000001,`20261126170000000001,`o1,`JSAPI,`SUCCESS,`OTHERS,`CNY,`1.80,`0.00,`0,`0,`0.00,`0.00,`,`,`会员,充值,`a,`0.01000,`0.60%,`1.80,`0.00,`",
			"`2026-11-26 18:00:00,`wxd678efh567hg6787,`1230000109,`0,`,`4200000001202611260000000001,`20261126170000000001,`o1,`JSAPI,`REFUND,`OTHERS,`CNY,`0.00,`0.00,`50300001,`R-1,`1.00,`0.00,`ORIGINAL,`SUCCESS,`会员,充值,`a,`-0.01000,`0.60%,`0.00,`1.00,`",
			"总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额",
			"`2,`1.80,`1.00,`0.00,`0.00000,`1.80,`1.00",
		}},
		{Older, []string{
			"\uFEFF交易时间,公众账号ID,商户号,子商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,总金额,企业红包金额,微信退款单号,商户退款单号,退款金额,企业红包退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率",
			"`2026-11-26 17:00:00,`wxd678efh567hg6787,`1230000109,`0,`,`4200000001202611260000000001,`20261126170000000001,`o1,`JSAPI,`SUCCESS,`OTHERS,`CNY,`1.80,`0.00,`0,`0,`0.00,`0.00,`,`,`会员,充值,`a,`0.01000,`0.60%",
			"`2026-11-26 18:00:00,`wxd678efh567hg6787,`1230000109,`0,`,`4200000001202611260000000001,`20261126170000000001,`o1,`JSAPI,`REFUND,`OTHERS,`CNY,`0.00,`0.00,`50300001,`R-1,`1.00,`0.00,`ORIGINAL,`SUCCESS,`会员,充值,`a,`-0.01000,`0.60%",
			"总交易单数,总交易额,总退款金额,总企业红包退款金额,手续费总金额",
			"`2,`1.80,`1.00,`0.00,`0.00000",
		}},
	} {
		var b bytes.Buffer
		rs := rows()
		if err := Encode(&b, c.layout, rs, Sum(rs)); err != nil {
			t.Fatal(err)
		}
		got := strings.Split(strings.TrimSuffix(b.String(), "\r\n"), "\r\n")
		if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
			t.Errorf("layout %d:\n%s\nwant\n%s", c.layout, strings.Join(got, "\n"), strings.Join(c.want, "\n"))
		}
	}
}

func TestSumAndFees(t *testing.T) {
	rs := []Row{
		{TradeState: "SUCCESS", TotalFee: 5000, SettlementFee: 5000}, // 0.30 fee
		{TradeState: "SUCCESS", TotalFee: 300, SettlementFee: 300},   // 0.018 rounds to 0.02
		{TradeState: "REFUND", RefundFee: 5000},                      // -0.30
	}
	if got, want := Sum(rs), (Summary{Count: 3, SettlementFee: 5300, RefundFee: 5000, TotalFee: 5300, ServiceFee: 2}); got != want {
		t.Errorf("Sum = %+v, want %+v", got, want)
	}
}

func TestCheck(t *testing.T) {
	at := func(d, h int) time.Time { return time.Date(2026, 11, d, h, 0, 0, 0, trade.ChinaTime) }
	for _, c := range []struct {
		day, now time.Time
		want     Availability
	}{
		{at(26, 0), at(26, 23), Creating},                      // today
		{at(26, 0), at(27, 9), Creating},                       // before 10:00 the next day
		{at(26, 0), at(27, 10), Available},                     // made
		{at(26, 13), at(27, 10), Available},                    // any time of the day names it
		{at(26, 0).UTC(), at(27, 10), Available},               // 2026-11-25T16:00Z is the 26th in China
		{at(27, 0), at(26, 23), OutOfRange},                    // the future
		{at(26, 0).AddDate(0, -3, 0), at(26, 12), Available},   // three months back
		{at(26, 0).AddDate(0, -3, -1), at(26, 12), OutOfRange}, // further back
	} {
		if got := Check(c.day, c.now); got != c.want {
			t.Errorf("Check(%v, %v) = %d, want %d", c.day, c.now, got, c.want)
		}
	}
}

func TestPlanBill(t *testing.T) {
	for _, c := range []struct {
		name  string
		plan  Plan
		check func(text, body []byte) bool
	}{
		{"gzip", Plan{}, func(text, body []byte) bool { return bytes.Equal(gunzip(t, body), text) }},
		{"not gzip", Plan{Body: NotGzip}, func(text, body []byte) bool { return bytes.Equal(body, text) }},
		{"truncated", Plan{Body: Truncated}, func(text, body []byte) bool {
			_, err := io.ReadAll(mustGzip(t, body))
			return err == io.ErrUnexpectedEOF
		}},
		{"rows", Plan{Rows: func(rs []Row) []Row { rs[0].TotalFee = 1; return rs[:1] }}, func(text, _ []byte) bool {
			return bytes.Contains(text, []byte("`1,`1.80,`0.00,`0.00,`0.01000,`0.01,`0.00\r\n")) // the summary follows the rows
		}},
		{"summary lies", Plan{Summary: func(s *Summary) { s.Count++ }}, func(text, _ []byte) bool {
			return bytes.HasSuffix(text, []byte("`3,`1.80,`1.00,`0.00,`0.00000,`1.80,`1.00\r\n"))
		}},
	} {
		text, body, ok := c.plan.Bill(Current, rows())
		if !ok || !c.check(text, body) {
			t.Errorf("%s: %v\n%s", c.name, ok, text)
		}
	}
	// In Older, 总金额 is the row's amount and its summary's too.
	text, _, _ := Plan{Rows: func(rs []Row) []Row { rs[0].TotalFee = 1; return rs }}.Bill(Older, rows())
	if !bytes.Contains(text, []byte(",`CNY,`0.01,`0.00,`0,`")) || !bytes.HasSuffix(text, []byte("\r\n`2,`0.01,`1.00,`0.00,`-0.01000\r\n")) {
		t.Errorf("older, wrong amount:\n%s", text)
	}
	if _, _, ok := (Plan{}).Bill(Current, nil); ok {
		t.Error("a bill of no row")
	}
	if _, _, ok := (Plan{Rows: func([]Row) []Row { return nil }}).Bill(Current, rows()); ok {
		t.Error("a bill of no row left")
	}
}

func TestLarge(t *testing.T) {
	var b bytes.Buffer
	sum, err := Large(&b, day, 1000)
	if err != nil {
		t.Fatal(err)
	}
	text := gunzip(t, b.Bytes())
	if got := sha1.Sum(text); !bytes.Equal(got[:], sum) || bytes.Count(text, []byte("\r\n")) != 1003 || b.Len() < len(text)/4 {
		t.Errorf("%d bytes, %d compressed, lines %d", len(text), b.Len(), bytes.Count(text, []byte("\r\n")))
	}
	var again bytes.Buffer
	if sum2, _ := Large(&again, day, 1000); !bytes.Equal(sum, sum2) {
		t.Error("not the same bill again")
	}
}

func mustGzip(t *testing.T, b []byte) io.Reader {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return zr
}

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	text, err := io.ReadAll(mustGzip(t, b))
	if err != nil {
		t.Fatal(err)
	}
	return text
}
