package bill

import (
	"bytes"
	"errors"
	"io"
	"math"
	"math/big"
	"slices"
	"strings"
	"testing"
)

// TestEncodeRoundTrip: the rows of each fixture, encoded, read back the same
// with the same summary; and the bill looks like WeChat Pay's.
func TestEncodeRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		file   string
		layout Layout
	}{{"current.csv", Current}, {"older.csv", Older}} {
		_, want, summary, err := readAll(mustRead(t, tc.file))
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := Encode(&buf, tc.layout, want); err != nil {
			t.Fatal(err)
		}
		bill := buf.String()
		if !strings.HasPrefix(bill, "\uFEFF交易时间,") || strings.Count(bill, "\r\n") != len(want)+3 || strings.Count(bill, "\n") != len(want)+3 {
			t.Errorf("%s: not a BOM and CRLF bill:\n%s", tc.file, bill)
		}
		layout, got, gotSummary, err := readAll(bill)
		if err != nil {
			t.Fatalf("%s: %v\n%s", tc.file, err, bill)
		}
		if layout != tc.layout || gotSummary != summary || len(got) != len(want) {
			t.Fatalf("%s: %v %+v %d rows", tc.file, layout, gotSummary, len(got))
		}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("%s row %d: %+v", tc.file, i, got[i])
			}
		}
	}
}

// TestEncodeLikeWeChat: the rows of testdata/current.csv, with the columns
// the Reader skips, are written as WeChat Pay wrote them, fees and
// placeholders included, but for 付款银行, which the Writer does not vary.
func TestEncodeLikeWeChat(t *testing.T) {
	rows := slices.Clone(currentRows)
	for i, extra := range [][3]string{
		{"oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", "会员充值", ""},
		{"oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", "年卡, 两人", `{"shop":"A","n":2}`},
		{"oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", "年卡, 两人", `{"shop":"A","n":2}`},
		{"orB-mvyTy5Qvs8f-8c69-mwMLu4o", "咨询服务", ""},
		{"oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", "会员充值", ""},
	} {
		rows[i].OpenID, rows[i].Body, rows[i].Attach = extra[0], extra[1], extra[2]
	}
	var buf bytes.Buffer
	if err := Encode(&buf, Current, rows); err != nil {
		t.Fatal(err)
	}
	if want := strings.ReplaceAll(mustRead(t, "current.csv"), "`CMB_DEBIT,", "`OTHERS,"); buf.String() != want {
		t.Errorf("got\n%s\nwant\n%s", buf.String(), want)
	}
}

// TestEncodeOlder: the older layout writes 总金额 and no 订单金额, and its fees
// follow 总金额.
func TestEncodeOlder(t *testing.T) {
	rows := []Row{
		{TradeTime: at("2026-11-26 17:00:00"), AppID: "wxd678efh567hg6787", MchID: "1230000109", TransactionID: "4200000001202611260000000001",
			OutTradeNo: "20261126170000000001", TradeState: "SUCCESS", TotalFee: 180, OpenID: "o1", Body: "会员,充值", Attach: "a"},
		{TradeTime: at("2026-11-26 18:00:00"), AppID: "wxd678efh567hg6787", MchID: "1230000109", TransactionID: "4200000001202611260000000001",
			OutTradeNo: "20261126170000000001", TradeState: "REFUND", RefundID: "50300001", OutRefundNo: "R-1", RefundFee: 100,
			RefundState: "SUCCESS", OpenID: "o1", Body: "会员,充值", Attach: "a"},
	}
	var buf bytes.Buffer
	if err := Encode(&buf, Older, rows); err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		"\uFEFF交易时间,公众账号ID,商户号,子商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,总金额,企业红包金额,微信退款单号,商户退款单号,退款金额,企业红包退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率",
		"`2026-11-26 17:00:00,`wxd678efh567hg6787,`1230000109,`0,`,`4200000001202611260000000001,`20261126170000000001,`o1,`JSAPI,`SUCCESS,`OTHERS,`CNY,`1.80,`0.00,`0,`0,`0.00,`0.00,`,`,`会员,充值,`a,`0.01000,`0.60%",
		"`2026-11-26 18:00:00,`wxd678efh567hg6787,`1230000109,`0,`,`4200000001202611260000000001,`20261126170000000001,`o1,`JSAPI,`REFUND,`OTHERS,`CNY,`0.00,`0.00,`50300001,`R-1,`1.00,`0.00,`ORIGINAL,`SUCCESS,`会员,充值,`a,`-0.01000,`0.60%",
		"总交易单数,总交易额,总退款金额,总企业红包退款金额,手续费总金额",
		"`2,`1.80,`1.00,`0.00,`0.00000",
		"",
	}, "\r\n")
	if buf.String() != want {
		t.Errorf("got\n%s\nwant\n%s", buf.String(), want)
	}
}

// TestServiceFee: 0.60% rounded half up, given back on a refund, exact for
// any amount the Writer accepts, and added up in the summary.
func TestServiceFee(t *testing.T) {
	w := NewWriter(io.Discard, Current)
	for _, row := range []Row{
		{TradeState: "SUCCESS", TotalFee: 5000, SettlementFee: 5000}, // 0.30
		{TradeState: "SUCCESS", TotalFee: 300, SettlementFee: 300},   // 0.018 rounds to 0.02
		{TradeState: "SUCCESS", TotalFee: 250, SettlementFee: 250},   // 0.015 rounds to 0.02
		{TradeState: "SUCCESS", TotalFee: 249, SettlementFee: 249},   // 0.01494 rounds to 0.01
		{TradeState: "REFUND", RefundFee: 5000, OutRefundNo: "R-1"},  // -0.30
	} {
		if err := w.Write(row); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := w.Summary(), (Summary{Count: 5, SettlementFee: 5799, RefundFee: 5000, TotalFee: 5799, ServiceFee: 5}); got != want {
		t.Errorf("Summary = %+v, want %+v", got, want)
	}
	for _, fen := range []int64{0, 1, 83, 84, 9999, 10000, 123456789, 1 << 62, math.MaxInt64} {
		want := new(big.Int).Mul(big.NewInt(fen), big.NewInt(feeRate))
		want.Add(want, big.NewInt(5000)).Div(want, big.NewInt(10000))
		if got := serviceFee(&Row{SettlementFee: fen}); got != want.Int64() {
			t.Errorf("fee of %d fen: %d, want %s", fen, got, want)
		}
		if got := serviceFee(&Row{TradeState: "REFUND", RefundFee: fen}); got != -want.Int64() {
			t.Errorf("fee given back on %d fen: %d, want -%s", fen, got, want)
		}
	}
}

// TestLyingSummary: a Writer makes the summary disagree, and the Reader
// refuses the bill.
func TestLyingSummary(t *testing.T) {
	for _, lie := range []func(*Summary){
		func(s *Summary) { s.Count++ },
		func(s *Summary) { s.SettlementFee-- },
		func(s *Summary) { s.RefundFee += 100 },
		func(s *Summary) { s.TotalFee = -1 },
	} {
		var buf bytes.Buffer
		w := NewWriter(&buf, Current)
		for _, row := range currentRows {
			if err := w.Write(row); err != nil {
				t.Fatal(err)
			}
		}
		s := w.Summary()
		lie(&s)
		if err := w.Finish(s); err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := readAll(buf.String()); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "line 8: ") {
			t.Errorf("%+v: %v", s, err)
		}
	}
}

func TestWriterRefuses(t *testing.T) {
	for _, row := range []Row{
		{OutTradeNo: "a\nb"}, {RefundState: "x,`y"}, {Body: "年卡,`两人"}, {Attach: "{\n}"}, {TotalFee: -1}, {RefundFee: -1},
		{SettlementFee: -1}, {TotalFee: 1 << 62, SettlementFee: 1 << 62, TradeState: "SUCCESS"},
	} {
		w := NewWriter(io.Discard, Current)
		err := w.Write(row)
		if err == nil && row.TotalFee == 1<<62 {
			err = w.Write(row) // the second one overflows the totals
		}
		if err == nil {
			t.Errorf("%+v written", row)
		}
	}
}

func TestEmptyEncode(t *testing.T) {
	for _, l := range []Layout{Current, Older} {
		var buf bytes.Buffer
		if err := Encode(&buf, l, nil); err != nil {
			t.Fatal(err)
		}
		layout, rows, s, err := readAll(buf.String())
		if err != nil || layout != l || len(rows) != 0 || s != (Summary{}) {
			t.Errorf("%v: %v %v %d %+v", l, err, layout, len(rows), s)
		}
	}
}

type failingWriter struct{ err error }

func (f failingWriter) Write([]byte) (int, error) { return 0, f.err }

func TestWriterError(t *testing.T) {
	broken := errors.New("disk full")
	if err := Encode(failingWriter{broken}, Current, currentRows); !errors.Is(err, broken) {
		t.Fatalf("%v", err)
	}
}
