package bill

import (
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/trade"
)

// mustRead returns a file of testdata as a string.
func mustRead(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// readAll reads a whole bill, returning its rows, and its summary when the
// bill is valid.
func readAll(bill string) (Layout, []Row, Summary, error) {
	r, err := NewReader(strings.NewReader(bill))
	if err != nil {
		return 0, nil, Summary{}, err
	}
	var rows []Row
	for {
		row, err := r.Next()
		if err == io.EOF {
			s, ok := r.Summary()
			if !ok {
				return 0, nil, Summary{}, errors.New("no summary after io.EOF")
			}
			return r.Layout(), rows, s, nil
		}
		if err != nil {
			return r.Layout(), rows, Summary{}, err
		}
		rows = append(rows, row)
	}
}

func at(s string) time.Time {
	t, err := time.ParseInLocation(timeLayout, s, trade.ChinaTime)
	if err != nil {
		panic(err)
	}
	return t
}

// The rows of testdata/current.csv: payments with and without a coupon,
// refunds that succeeded and that are still processing, and a payment of
// another app of the same merchant.
var currentRows = []Row{
	{TradeTime: at("2026-11-29 10:00:03"), AppID: "wx2421b1c4370ec43b", MchID: "10000100", TransactionID: "4200002166202611290324636876",
		OutTradeNo: "20261129100000a", TradeState: "SUCCESS", TotalFee: 1, SettlementFee: 1},
	{TradeTime: at("2026-11-29 11:30:41"), AppID: "wx2421b1c4370ec43b", MchID: "10000100", TransactionID: "4200002360202611291150650780",
		OutTradeNo: "20261129113000b", TradeState: "SUCCESS", TotalFee: 18000, SettlementFee: 17000},
	{TradeTime: at("2026-11-29 15:20:00"), AppID: "wx2421b1c4370ec43b", MchID: "10000100", TransactionID: "4200002360202611291150650780",
		OutTradeNo: "20261129113000b", TradeState: "REFUND", RefundID: "50302709992026112991956632208", OutRefundNo: "R20261129-1",
		RefundFee: 5000, RefundState: "SUCCESS"},
	{TradeTime: at("2026-11-29 18:02:19"), AppID: "wx8888888888888888", MchID: "10000100", TransactionID: "4200002400202611296519816622",
		OutTradeNo: "ord0201129180210", TradeState: "SUCCESS", TotalFee: 6000, SettlementFee: 6000},
	{TradeTime: at("2026-11-29 23:59:59"), AppID: "wx2421b1c4370ec43b", MchID: "10000100", TransactionID: "4200002166202611290324636876",
		OutTradeNo: "20261129100000a", TradeState: "REFUND", RefundID: "50302709992026112991956632301", OutRefundNo: "R20261129-2",
		RefundFee: 1, RefundState: "PROCESSING"},
}

var olderRows = []Row{
	{TradeTime: at("2026-11-29 09:12:45"), AppID: "wx2421b1c4370ec43b", MchID: "10000100", TransactionID: "4200000480202611293149128488",
		OutTradeNo: "20261129091200a", TradeState: "SUCCESS", TotalFee: 12, SettlementFee: 12},
	{TradeTime: at("2026-11-29 16:45:31"), AppID: "wx2421b1c4370ec43b", MchID: "10000100", TransactionID: "4200000475202611290513553255",
		OutTradeNo: "20261129164500b", TradeState: "SUCCESS", TotalFee: 300, SettlementFee: 300},
	{TradeTime: at("2026-11-29 17:05:10"), AppID: "wx2421b1c4370ec43b", MchID: "10000100", TransactionID: "4200000475202611290513553255",
		OutTradeNo: "20261129164500b", TradeState: "REFUND", RefundID: "50000506642026112904485755976", OutRefundNo: "R20261129164500b",
		RefundFee: 100, RefundState: "SUCCESS"},
}

// lf turns a bill's CRLF line endings into LF.
func lf(s string) string { return strings.ReplaceAll(s, "\r\n", "\n") }

func noBOM(s string) string { return strings.TrimPrefix(s, "\uFEFF") }

func TestReadFixtures(t *testing.T) {
	current, older := mustRead(t, "current.csv"), mustRead(t, "older.csv")
	for _, tc := range []struct {
		name    string
		bill    string
		layout  Layout
		rows    []Row
		summary Summary
	}{
		{"current", current, Current, currentRows, Summary{Count: 5, SettlementFee: 23001, RefundFee: 5001, TotalFee: 24001}},
		{"current LF", lf(current), Current, currentRows, Summary{Count: 5, SettlementFee: 23001, RefundFee: 5001, TotalFee: 24001}},
		{"current without BOM", noBOM(current), Current, currentRows, Summary{Count: 5, SettlementFee: 23001, RefundFee: 5001, TotalFee: 24001}},
		{"current without the last line ending", strings.TrimSuffix(current, "\r\n"), Current, currentRows, Summary{Count: 5, SettlementFee: 23001, RefundFee: 5001, TotalFee: 24001}},
		{"current with blank lines at the end", current + "\r\n\r\n", Current, currentRows, Summary{Count: 5, SettlementFee: 23001, RefundFee: 5001, TotalFee: 24001}},
		{"older", older, Older, olderRows, Summary{Count: 3, SettlementFee: 312, RefundFee: 100, TotalFee: 312}},
		{"older LF without BOM", noBOM(lf(older)), Older, olderRows, Summary{Count: 3, SettlementFee: 312, RefundFee: 100, TotalFee: 312}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			layout, rows, summary, err := readAll(tc.bill)
			if err != nil {
				t.Fatal(err)
			}
			if layout != tc.layout || summary != tc.summary || len(rows) != len(tc.rows) {
				t.Fatalf("%v %+v %d rows", layout, summary, len(rows))
			}
			for i := range rows {
				if rows[i] != tc.rows[i] {
					t.Errorf("row %d:\n got %+v\nwant %+v", i, rows[i], tc.rows[i])
				}
				if rows[i].IsRefund() != (tc.rows[i].TradeState == "REFUND") {
					t.Errorf("row %d: IsRefund %v", i, rows[i].IsRefund())
				}
			}
		})
	}
}

// TestEmptyBill: a day with neither payments nor refunds, as a header and a
// summary of zeros.
func TestEmptyBill(t *testing.T) {
	bill := strings.Join(append(append([]string{"\uFEFF" + strings.Join(currentColumns, ",")}, strings.Join(currentSummary, ",")),
		"`0,`0.00,`0.00,`0.00,`0.00000,`0.00,`0.00"), "\r\n") + "\r\n"
	_, rows, summary, err := readAll(bill)
	if err != nil || len(rows) != 0 || summary != (Summary{}) {
		t.Fatalf("%v %d %+v", err, len(rows), summary)
	}
}

// permute rewrites a bill with its columns in the order perm gives and an
// extra column WeChat Pay might add, in the header and every row.
func permute(bill string, perm []int) string {
	lines := strings.Split(strings.TrimSuffix(noBOM(lf(bill)), "\n"), "\n")
	out := make([]string, len(lines))
	for i, line := range lines {
		sep, prefix, extra := ",", "", "新的列"
		if strings.HasPrefix(line, "`") {
			sep, prefix, extra = ",`", "`", "`x"
		}
		if i >= len(lines)-2 { // the summary stays as it is
			out[i] = line
			continue
		}
		fields := strings.Split(strings.TrimPrefix(line, prefix), sep)
		moved := make([]string, len(fields))
		for to, from := range perm {
			moved[to] = fields[from]
		}
		out[i] = extra + "," + prefix + strings.Join(moved, sep)
	}
	return strings.Join(out, "\n") + "\n"
}

func TestColumnsByName(t *testing.T) {
	for _, tc := range []struct {
		file string
		rows []Row
	}{{"current.csv", currentRows}, {"older.csv", olderRows}} {
		bill := mustRead(t, tc.file)
		n := strings.Count(strings.SplitN(bill, "\n", 2)[0], ",") + 1
		perm := make([]int, n)
		for i := range perm {
			perm[i] = n - 1 - i
		}
		_, rows, _, err := readAll(permute(bill, perm))
		if err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		for i := range rows {
			if rows[i] != tc.rows[i] {
				t.Errorf("%s row %d: %+v", tc.file, i, rows[i])
			}
		}
	}
}

// edit replaces the first old in s, failing the test when there is none, so
// that a case cannot pass by editing nothing.
func edit(t *testing.T, s, old, new string) string {
	t.Helper()
	if !strings.Contains(s, old) {
		t.Fatalf("%q is not in the bill", old)
	}
	return strings.Replace(s, old, new, 1)
}

func TestRefused(t *testing.T) {
	current, older := mustRead(t, "current.csv"), mustRead(t, "older.csv")
	cur := func(old, new string) func(*testing.T) string {
		return func(t *testing.T) string { return edit(t, current, old, new) }
	}
	const summaryLine = "`5,`230.01,`50.01,`0.00,`1.08000,`240.01,`50.01"
	for _, tc := range []struct {
		name string
		bill func(*testing.T) string
		want string // in the error, with the line
	}{
		{"wrong summary count", cur(summaryLine, "`6,`230.01,`50.01,`0.00,`1.08000,`240.01,`50.01"), "line 8: 总交易单数 says 6, the bill has 5 rows"},
		{"wrong settlement total", cur(summaryLine, "`5,`230.02,`50.01,`0.00,`1.08000,`240.01,`50.01"), "line 8: 应结订单总金额 says 230.02, the rows add up to 230.01"},
		{"wrong refund total", cur(summaryLine, "`5,`230.01,`50.00,`0.00,`1.08000,`240.01,`50.01"), "line 8: 退款总金额 says 50.00"},
		{"wrong order total", cur(summaryLine, "`5,`230.01,`50.01,`0.00,`1.08000,`240.00,`50.01"), "line 8: 订单总金额 says 240.00, the rows add up to 240.01"},
		{"wrong older total", func(t *testing.T) string { return edit(t, older, "`3,`3.12,", "`3,`3.13,") }, "line 6: 总交易额 says 3.13"},
		{"three decimals", cur("`60.00,`0.00,`0,`0", "`60.000,`0.00,`0,`0"), `line 5: 应结订单金额 "60.000" is not yuan with two decimals`},
		{"not a number", cur("`0.01,`0.00,`0,`0", "`abc,`0.00,`0,`0"), `line 2: 应结订单金额 "abc"`},
		{"whole yuan", cur(",`180.00,`0.00,`", ",`180,`0.00,`"), `line 3: 订单金额 "180" is not yuan`},
		{"one decimal", cur("`50.00,`0.00,`ORIGINAL", "`50.0,`0.00,`ORIGINAL"), `line 4: 退款金额 "50.0"`},
		{"negative", cur("`50.00,`0.00,`ORIGINAL", "`-50.00,`0.00,`ORIGINAL"), `line 4: 退款金额 "-50.00"`},
		{"leading zero", cur("`60.00,`0.00,`0,`0", "`060.00,`0.00,`0,`0"), `line 5: 应结订单金额 "060.00"`},
		{"beyond int64", cur("`60.00,`0.00,`0,`0", "`92233720368547758.08,`0.00,`0,`0"), `line 5: 应结订单金额 "92233720368547758.08"`},
		{"sums beyond int64", cur("`60.00,`0.00,`0,`0", "`92233720368547758.07,`0.00,`0,`0"), "line 5: the amounts add up beyond int64"},
		{"summary not a number", cur(summaryLine, "`5,`230.01,`50.01,`0.00,`1.08000,`240.01x,`50.01"), `line 8: 订单总金额 "240.01x"`},
		{"summary count", cur(summaryLine, "`05,`230.01,`50.01,`0.00,`1.08000,`240.01,`50.01"), `line 8: 总交易单数 "05" is not a count`},
		{"missing column", cur("商户订单号", "商户单号"), "line 1: header: no column 商户订单号"},
		{"column named twice", cur("设备号", "商户号"), `line 1: header: column "商户号" named twice`},
		{"unknown layout", cur("代金券金额", "总金额"), "line 1: header: unknown layout"},
		{"older without 总金额", func(t *testing.T) string { return edit(t, older, "总金额", "金额") }, "line 1: header: unknown layout"},
		{"missing summary column", cur(",订单总金额,", ",订单金额总计,"), "line 7: neither a row nor the summary header: no column 订单总金额"},
		{"truncated before the summary", func(t *testing.T) string { return current[:strings.Index(current, "总交易单数")] }, "line 7: truncated: no summary after the last row"},
		{"truncated after the summary header", func(t *testing.T) string { return current[:strings.Index(current, summaryLine)] }, "line 8: truncated: no summary line"},
		{"truncated in a row", func(t *testing.T) string { return current[:strings.Index(current, "`ORIGINAL")] }, "line 4: 18 fields where the header names 27"},
		{"row with a field too many", cur("`咨询服务,`", "`咨询服务,`,`"), "line 5: 28 fields where the header names 27"},
		{"row with a field too few", cur("`0.36000,`0.60%,", "`0.36000,"), "line 5: 26 fields where the header names 27"},
		{"summary with a field too few", cur(summaryLine, "`5,`230.01"), "line 8: 2 fields where the header names 7"},
		{"not UTF-8", cur("会员充值", "\xff\xfe"), "line 2: not UTF-8"},
		{"header not UTF-8", cur("交易时间", "\xe4\xba"), "line 1: not UTF-8"},
		{"empty", func(*testing.T) string { return "" }, "line 1: no header: the bill is empty"},
		{"only a BOM", func(*testing.T) string { return "\uFEFF" }, "line 1: header: empty header"},
		{"only the header", func(t *testing.T) string { return current[:strings.Index(current, "\n")+1] }, "line 2: truncated"},
		{"a blank line among the rows", cur("\r\n`2026-11-29 18:02:19", "\r\n\r\n`2026-11-29 18:02:19"), "line 5: neither a row nor the summary header: empty header"},
		{"text after the summary", func(t *testing.T) string { return current + "`1\r\n" }, "line 9: text after the summary"},
		{"a line too long", cur("会员充值", strings.Repeat("长", MaxLineBytes/3)), "line 2: longer than 65536 bytes"},
		{"a date that does not exist", cur("2026-11-29 10:00:03", "2026-02-30 10:00:03"), `line 2: 交易时间 "2026-02-30 10:00:03" is not a time`},
		{"a time in another form", cur("2026-11-29 10:00:03", "2026-11-29T10:00:03"), "line 2: 交易时间"},
		{"full-width colons", cur("2026-11-29 10:00:03", "2026-11-29 10：00：03"), "line 2: 交易时间"},
		{"hour 24", cur("2026-11-29 10:00:03", "2026-11-29 24:00:00"), "line 2: 交易时间"},
		{"refund without its number", cur("`R20261129-1,", "`,"), "line 4: a refund row without 商户退款单号 or 退款状态"},
		{"refund without its state", cur("`ORIGINAL,`SUCCESS,", "`ORIGINAL,`,"), "line 4: a refund row without"},
		{"no 商户订单号", cur("`20261129100000a,", "`,"), "line 2: 商户订单号 is empty"},
		{"no 交易状态", cur("`SUCCESS,", "`,"), "line 2: 交易状态 is empty"},
		{"a field without its backtick", cur(",`wx8888888888888888", ",wx8888888888888888"), "line 5: 26 fields"},
		{"a summary line without backticks", cur(summaryLine, "5,230.01,50.01,0.00,1.08000,240.01,50.01"), "line 8: a field does not start with a backtick"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, _, err := readAll(tc.bill(t))
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want ErrInvalid with %q", err, tc.want)
			}
		})
	}
}

func TestErrorsStick(t *testing.T) {
	r, err := NewReader(strings.NewReader(edit(t, mustRead(t, "current.csv"), "`0.01,`0.00,`0,`0", "`x,`0.00,`0,`0")))
	if err != nil {
		t.Fatal(err)
	}
	_, first := r.Next()
	_, again := r.Next()
	if first == nil || first != again {
		t.Fatalf("%v, then %v", first, again)
	}
	if _, ok := r.Summary(); ok {
		t.Fatal("a summary from a refused bill")
	}
}

type failingReader struct {
	data []byte
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

// TestReadError: a failure of the underlying reader (a corrupt gzip stream)
// comes back as itself, not as a refusal of the bill.
func TestReadError(t *testing.T) {
	bill := mustRead(t, "current.csv")
	broken := errors.New("gzip: invalid checksum")
	r, err := NewReader(&failingReader{data: []byte(bill[:len(bill)/2]), err: broken})
	if err != nil {
		t.Fatal(err)
	}
	for err == nil {
		_, err = r.Next()
	}
	if !errors.Is(err, broken) || errors.Is(err, ErrInvalid) {
		t.Fatalf("%v", err)
	}
	if _, err := NewReader(&failingReader{err: broken}); !errors.Is(err, broken) {
		t.Fatalf("%v", err)
	}
}

func TestAmounts(t *testing.T) {
	for in, want := range map[string]int64{
		"0.00": 0, "0.01": 1, "0.10": 10, "1.00": 100, "180.00": 18000, "10.05": 1005,
		"92233720368547758.07": 9223372036854775807,
	} {
		got, ok := parseFen([]byte(in))
		if !ok || got != want {
			t.Errorf("%s: %d %v", in, got, ok)
		}
		if back := string(appendYuan(nil, want)); back != in {
			t.Errorf("%d written %s", want, back)
		}
	}
	for _, in := range []string{"", "1", "1.5", "1.", ".01", "1.234", "-1.00", "+1.00", "01.00", "00.00", "1,00", " 1.00",
		"1.00 ", "1e2.00", "１.00", "0.0a", "92233720368547758.08", "99999999999999999999.00"} {
		if got, ok := parseFen([]byte(in)); ok {
			t.Errorf("%q accepted as %d", in, got)
		}
	}
	if got := string(appendYuan(nil, -105)); got != "-1.05" {
		t.Errorf("-105 written %s", got)
	}
}

func TestTimes(t *testing.T) {
	got, ok := parseTime([]byte("2028-02-29 23:59:59"))
	if !ok || !got.Equal(time.Date(2028, 2, 29, 15, 59, 59, 0, time.UTC)) {
		t.Fatalf("%v %v", got, ok)
	}
	for _, in := range []string{"2026-02-29 00:00:00", "2026-13-01 00:00:00", "2026-00-01 00:00:00", "2026-01-00 00:00:00",
		"2026-01-01 00:60:00", "2026-01-01 00:00:60", "2026-1-01 00:00:000", "2026/01/01 00:00:00", "2026-01-01 0a:00:00", "2026-01-01"} {
		if got, ok := parseTime([]byte(in)); ok {
			t.Errorf("%s accepted as %v", in, got)
		}
	}
}

func TestLayoutString(t *testing.T) {
	if Current.String() != "current (应结订单金额)" || Older.String() != "older (总金额)" || Layout(7).String() != "Layout(7)" {
		t.Fatal(Current, Older, Layout(7))
	}
}
