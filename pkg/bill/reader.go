package bill

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"time"
	"unicode/utf8"
)

// ErrInvalid is a bill this package refuses: not UTF-8, an unknown or
// incomplete header, a line that is not a row, an amount that is not yuan
// with two decimals, a summary missing or disagreeing with the rows. The
// error wrapping it says what and on which line.
var ErrInvalid = errors.New("bill: invalid trade bill")

// MaxLineBytes bounds a line, its line ending included, so memory stays
// bounded whatever is read. A row of an ALL bill is a few hundred bytes;
// 商品名称 and 商户数据包 are at most 128 characters each.
const MaxLineBytes = 64 << 10

// refundState is the 交易状态 of a refund row.
const refundState = "REFUND"

// Row is one line of the bill: a payment (交易状态 SUCCESS, or another trade
// state such as REVOKED) or a refund (交易状态 REFUND), which repeats its
// order's identifiers.
type Row struct {
	TradeTime     time.Time // 交易时间: paid, or refund accepted; China time
	AppID         string    // 公众账号ID
	MchID         string    // 商户号
	TransactionID string    // 微信订单号
	OutTradeNo    string    // 商户订单号
	TradeState    string    // 交易状态
	// TotalFee is the order's amount in fen, the one to compare with
	// total_fee: 订单金额, or 总金额 in the older layout. WeChat Pay writes
	// 0.00 on a refund row.
	TotalFee int64
	// SettlementFee is 应结订单金额 in fen, the order's amount less
	// no-recharge coupons (总金额 in the older layout). WeChat Pay writes 0.00
	// on a refund row; the summary adds it over every row.
	SettlementFee int64
	// RefundID and OutRefundNo are 微信退款单号 and 商户退款单号. On a
	// payment row WeChat Pay writes 0 in both, which is read as "".
	RefundID    string
	OutRefundNo string
	RefundFee   int64  // 退款金额 in fen: the refund less no-recharge coupons; WeChat Pay writes 0.00 on a payment row
	RefundState string // 退款状态 when the bill was made (SUCCESS, PROCESSING…); empty on a payment row

	// OpenID, Body and Attach are 用户标识, 商品名称 and 商户数据包, which a
	// Writer writes. A Reader leaves them empty: reconciliation has no use
	// for them, and a caller keeping rows keeps no more than it uses.
	OpenID string
	Body   string
	Attach string
}

// IsRefund reports whether r is a refund row.
func (r Row) IsRefund() bool { return r.TradeState == refundState }

// Summary is the bill's last line, or what it must say about the rows.
type Summary struct {
	Count         int64 // 总交易单数: every row, payments and refunds
	SettlementFee int64 // 应结订单总金额 (older: 总交易额), fen
	RefundFee     int64 // 退款总金额 (older: 总退款金额), fen
	// TotalFee is 订单总金额 in fen; the older layout has none, and there
	// it equals SettlementFee, as 总金额 is both amounts.
	TotalFee int64
	// ServiceFee is 手续费总金额 in fen, the sum of the 手续费 a Writer
	// works out. A Reader leaves it 0: it checks the amounts reconciliation
	// compares, and no fee is one of them.
	ServiceFee int64
}

// add counts row into s, refusing a total beyond int64.
func (s *Summary) add(row *Row) bool {
	s.Count++
	var ok1, ok2, ok3 bool
	s.SettlementFee, ok1 = sum(s.SettlementFee, row.SettlementFee)
	s.RefundFee, ok2 = sum(s.RefundFee, row.RefundFee)
	s.TotalFee, ok3 = sum(s.TotalFee, row.TotalFee)
	return ok1 && ok2 && ok3
}

func sum(a, b int64) (int64, bool) {
	if a > math.MaxInt64-b {
		return 0, false
	}
	return a + b, true
}

// Reader reads a decompressed trade bill of type ALL line by line, holding
// one line at a time.
type Reader struct {
	br      *bufio.Reader
	line    int // number of the line last read, from 1
	layout  Layout
	cols    columns
	fields  [][]byte // the current line's fields, reused
	scratch []byte   // the current row's strings, before their one allocation
	seen    Summary  // what the rows read so far add up to
	summary Summary
	err     error // sticky: io.EOF once the summary is checked, or the failure
}

// NewReader reads the bill's header line from r and returns a Reader of its
// rows. A bill may start with a UTF-8 byte order mark and end its lines with
// LF or CRLF. An error wraps ErrInvalid, or is r's own read error.
func NewReader(r io.Reader) (*Reader, error) {
	rd := &Reader{br: bufio.NewReaderSize(r, MaxLineBytes)}
	line, err := rd.next()
	if err == io.EOF {
		return nil, rd.invalid("no header: the bill is empty")
	}
	if err != nil {
		return nil, err
	}
	line = bytes.TrimPrefix(line, []byte("\uFEFF"))
	if rd.layout, rd.cols, err = parseHeader(string(line)); err != nil {
		return nil, rd.invalid("header: %v", err)
	}
	return rd, nil
}

// Layout reports which of the two layouts the bill's header has.
func (r *Reader) Layout() Layout { return r.layout }

// Next returns the next row. After the last row it reads the summary and
// checks it against the rows: io.EOF means the whole bill was read and
// agrees with its summary. Any other error wraps ErrInvalid, saying what and
// on which line, or is the underlying reader's error; once Next has returned
// an error it returns the same one again.
func (r *Reader) Next() (Row, error) {
	if r.err != nil {
		return Row{}, r.err
	}
	line, err := r.next()
	switch {
	case err == io.EOF:
		return Row{}, r.fail(r.invalid("truncated: no summary after the last row"))
	case err != nil:
		return Row{}, r.fail(err)
	case len(line) == 0 || line[0] != '`':
		return Row{}, r.fail(r.readSummary(line))
	}
	row, err := r.row(line)
	if err != nil {
		return Row{}, r.fail(err)
	}
	if !r.seen.add(&row) {
		return Row{}, r.fail(r.invalid("the amounts add up beyond int64"))
	}
	return row, nil
}

// Summary returns the bill's summary once Next has returned io.EOF, and
// false before.
func (r *Reader) Summary() (Summary, bool) {
	if r.err != io.EOF {
		return Summary{}, false
	}
	return r.summary, true
}

func (r *Reader) fail(err error) error {
	r.err = err
	return err
}

// invalid describes a refusal at the current line.
func (r *Reader) invalid(format string, args ...any) error {
	return fmt.Errorf("%w: line %d: %s", ErrInvalid, r.line, fmt.Sprintf(format, args...))
}

// next returns the next line without its line ending, valid until the next
// call; io.EOF at the end of the input. A read error is returned as soon as
// it happens, never after a row made of the part of a line read before it.
func (r *Reader) next() ([]byte, error) {
	line, err := r.br.ReadSlice('\n')
	r.line++
	switch {
	case err == bufio.ErrBufferFull:
		return nil, r.invalid("longer than %d bytes", MaxLineBytes)
	case err == io.EOF && len(line) == 0:
		return nil, io.EOF
	case err != nil && err != io.EOF:
		return nil, fmt.Errorf("bill: line %d: %w", r.line, err)
	}
	line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
	if !utf8.Valid(line) {
		return nil, r.invalid("not UTF-8")
	}
	return line, nil
}

// split cuts a row or summary line into the fields it must have, each
// without its backtick. Fields are separated by ",`" rather than by "," so
// that a comma inside 商品名称 or 商户数据包 does not shift the columns.
func (r *Reader) split(line []byte, want int) error {
	if len(line) == 0 || line[0] != '`' {
		return r.invalid("a field does not start with a backtick")
	}
	r.fields = r.fields[:0]
	rest := line[1:]
	for {
		i := bytes.Index(rest, []byte(",`"))
		if i < 0 {
			r.fields = append(r.fields, rest)
			break
		}
		r.fields = append(r.fields, rest[:i])
		rest = rest[i+2:]
	}
	if len(r.fields) != want {
		return r.invalid("%d fields where the header names %d", len(r.fields), want)
	}
	return nil
}

// row reads one row line.
func (r *Reader) row(line []byte) (Row, error) {
	c := &r.cols
	if err := r.split(line, len(c.names)); err != nil {
		return Row{}, err
	}
	f := r.fields
	var row Row
	var ok bool
	if row.TradeTime, ok = parseTime(f[c.tradeTime]); !ok {
		return Row{}, r.invalid("%s %q is not a time like 2026-11-29 10:00:03", colTradeTime, short(f[c.tradeTime]))
	}
	// In the older layout total and settlement are one column, read twice.
	for _, a := range [...]struct {
		at  int
		dst *int64
	}{{c.settlement, &row.SettlementFee}, {c.total, &row.TotalFee}, {c.refundFee, &row.RefundFee}} {
		if *a.dst, ok = parseFen(f[a.at]); !ok {
			return Row{}, r.invalid("%s %q is not yuan with two decimals", c.names[a.at], short(f[a.at]))
		}
	}
	for _, at := range [...]int{c.appID, c.mchID, c.transactionID, c.outTradeNo, c.state} {
		if len(f[at]) == 0 {
			return Row{}, r.invalid("%s is empty", c.names[at])
		}
	}
	refundID, outRefundNo := f[c.refundID], f[c.outRefundNo]
	if string(f[c.state]) == refundState {
		if len(outRefundNo) == 0 || len(f[c.refundState]) == 0 {
			return Row{}, r.invalid("a refund row without %s or %s", colOutRefundNo, colRefundState)
		}
	} else {
		refundID, outRefundNo = placeholder(refundID), placeholder(outRefundNo)
	}
	// One allocation holds every string of the row, and only the fields
	// read, so a caller keeping rows keeps no more than it uses.
	s := r.scratch[:0]
	var end [8]int
	for i, b := range [8][]byte{f[c.appID], f[c.mchID], f[c.transactionID], f[c.outTradeNo], f[c.state], refundID, outRefundNo, f[c.refundState]} {
		s = append(s, b...)
		end[i] = len(s)
	}
	r.scratch = s
	all := string(s)
	row.AppID, row.MchID, row.TransactionID = all[:end[0]], all[end[0]:end[1]], all[end[1]:end[2]]
	row.OutTradeNo, row.TradeState = all[end[2]:end[3]], all[end[3]:end[4]]
	row.RefundID, row.OutRefundNo, row.RefundState = all[end[4]:end[5]], all[end[5]:end[6]], all[end[6]:end[7]]
	return row, nil
}

// placeholder drops the 0 that a payment row has for a refund number.
func placeholder(b []byte) []byte {
	if len(b) == 1 && b[0] == '0' {
		return nil
	}
	return b
}

// readSummary reads the summary header (line), the summary line after it and
// the end of the bill, and checks the summary against the rows. It returns
// io.EOF when all agree.
func (r *Reader) readSummary(line []byte) error {
	sc, err := parseSummaryHeader(string(line), r.layout)
	if err != nil {
		return r.invalid("neither a row nor the summary header: %v", err)
	}
	if line, err = r.next(); err == io.EOF {
		return r.invalid("truncated: no summary line after its header")
	} else if err != nil {
		return err
	}
	if err := r.split(line, len(sc.names)); err != nil {
		return err
	}
	f := r.fields
	var s Summary
	var ok bool
	if s.Count, ok = parseCount(f[sc.count]); !ok {
		return r.invalid("%s %q is not a count", sumCount, short(f[sc.count]))
	}
	for _, t := range [...]struct {
		at  int
		dst *int64
	}{{sc.settlement, &s.SettlementFee}, {sc.refund, &s.RefundFee}, {sc.total, &s.TotalFee}} {
		if t.at < 0 { // the older layout has no 订单总金额
			s.TotalFee = s.SettlementFee
			continue
		}
		if *t.dst, ok = parseFen(f[t.at]); !ok {
			return r.invalid("%s %q is not yuan with two decimals", sc.names[t.at], short(f[t.at]))
		}
	}
	summaryLine := r.line
	for {
		line, err := r.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if len(line) != 0 {
			return r.invalid("text after the summary")
		}
	}
	r.line = summaryLine
	if s.Count != r.seen.Count {
		return r.invalid("%s says %d, the bill has %d rows", sumCount, s.Count, r.seen.Count)
	}
	for _, d := range [...]struct {
		at         int
		bill, rows int64
	}{
		{sc.settlement, s.SettlementFee, r.seen.SettlementFee},
		{sc.refund, s.RefundFee, r.seen.RefundFee},
		{sc.total, s.TotalFee, r.seen.TotalFee},
	} {
		if d.at >= 0 && d.bill != d.rows {
			return r.invalid("%s says %s, the rows add up to %s", sc.names[d.at], appendYuan(nil, d.bill), appendYuan(nil, d.rows))
		}
	}
	r.summary = s
	return io.EOF
}

// short keeps an error message short whatever a field holds.
func short(b []byte) []byte {
	if len(b) > 40 {
		return b[:40]
	}
	return b
}
