package bill

import (
	"bytes"
	"errors"
	"io"
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

// TestEncodeLikeWeChat: the placeholders of a payment row and the zeros of a
// refund row are those of WeChat Pay's bills.
func TestEncodeLikeWeChat(t *testing.T) {
	var buf bytes.Buffer
	if err := Encode(&buf, Current, currentRows[1:3]); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"\r\n`2026-11-29 11:30:41,`wx2421b1c4370ec43b,`10000100,`0,`,`4200002360202611291150650780,`20261129113000b,`,`JSAPI,`SUCCESS,`OTHERS,`CNY,`170.00,`10.00,`0,`0,`0.00,`0.00,`,`,`,`,`0.00000,`0.60%,`180.00,`0.00,`\r\n",
		"\r\n`2026-11-29 15:20:00,`wx2421b1c4370ec43b,`10000100,`0,`,`4200002360202611291150650780,`20261129113000b,`,`JSAPI,`REFUND,`OTHERS,`CNY,`0.00,`0.00,`50302709992026112991956632208,`R20261129-1,`50.00,`0.00,`ORIGINAL,`SUCCESS,`,`,`0.00000,`0.60%,`0.00,`50.00,`\r\n",
		"\r\n总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额\r\n`2,`170.00,`50.00,`0.00,`0.00000,`180.00,`50.00\r\n",
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("no %q in\n%s", want, buf.String())
		}
	}
	buf.Reset()
	if err := Encode(&buf, Older, olderRows[:1]); err != nil {
		t.Fatal(err)
	}
	if want := "\r\n总交易单数,总交易额,总退款金额,总企业红包退款金额,手续费总金额\r\n`1,`0.12,`0.00,`0.00,`0.00000\r\n"; !strings.HasSuffix(buf.String(), want) {
		t.Errorf("no %q in\n%s", want, buf.String())
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
		{OutTradeNo: "a\nb"}, {RefundState: "x,`y"}, {TotalFee: -1}, {RefundFee: -1},
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
