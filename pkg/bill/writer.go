package bill

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/wxpay-scf/wxpay-scf/pkg/trade"
)

// Writer writes a trade bill of type ALL the way WeChat Pay serves it
// decompressed: a byte order mark, CRLF line endings, every column of the
// layout, backticks before every field of the rows and of the summary. It is
// for tests and simulators; columns that Row does not carry get the values
// of a plain JSAPI payment (交易类型 JSAPI, 货币种类 CNY, 费率 0.60%…), and
// 手续费 is worked out at that rate (see Write).
type Writer struct {
	w       *bufio.Writer
	layout  Layout
	started bool
	sum     Summary
	line    []byte
	err     error
}

// NewWriter returns a Writer of a bill of layout l to w. Nothing is written
// before the first Write or Finish.
func NewWriter(w io.Writer, l Layout) *Writer {
	return &Writer{w: bufio.NewWriter(w), layout: l}
}

// Encode writes a whole bill of rows with a summary that agrees with them.
func Encode(w io.Writer, l Layout, rows []Row) error {
	bw := NewWriter(w, l)
	for _, row := range rows {
		if err := bw.Write(row); err != nil {
			return err
		}
	}
	return bw.Finish(bw.Summary())
}

// Write writes one row as WeChat Pay would: a payment row gets 0 for its
// refund numbers when they are empty, and a refund row should carry the
// order's identifiers, 交易状态 REFUND, 0 in TotalFee and SettlementFee
// (as WeChat Pay writes them), and its refund's fields. In the older layout
// 总金额 is TotalFee, and SettlementFee is taken to be TotalFee in the fee
// and the summary. 手续费 is 0.60% of the settlement amount, rounded half up
// to the fen and written with five decimals as WeChat Pay does; a refund
// gives back 0.60% of its amount, a negative fee. Strings holding a line
// feed or ",`", which would break the line into other fields, and negative
// amounts are refused.
func (w *Writer) Write(row Row) error {
	if w.layout == Older {
		row.SettlementFee = row.TotalFee
	}
	for _, s := range [...]string{row.AppID, row.MchID, row.TransactionID, row.OutTradeNo, row.TradeState, row.RefundID, row.OutRefundNo, row.RefundState,
		row.OpenID, row.Body, row.Attach} {
		if strings.Contains(s, "\n") || strings.Contains(s, ",`") {
			return fmt.Errorf("bill: cannot write %q in a field", s)
		}
	}
	if row.TotalFee < 0 || row.SettlementFee < 0 || row.RefundFee < 0 {
		return fmt.Errorf("bill: cannot write a negative amount")
	}
	if !w.sum.add(&row) {
		return fmt.Errorf("bill: the amounts add up beyond int64")
	}
	// No fee is more than its amount, so this stays between the refunds'
	// total, negated, and the settlement total, both int64.
	w.sum.ServiceFee += serviceFee(&row)
	w.header()
	w.line = w.line[:0]
	for i, name := range w.columns() {
		if i > 0 {
			w.line = append(w.line, ',')
		}
		w.line = w.value(append(w.line, '`'), name, &row)
	}
	return w.writeLine(w.line)
}

// Summary returns the summary that agrees with the rows written so far.
func (w *Writer) Summary() Summary { return w.sum }

// Finish writes the summary header and a summary line saying s, and flushes.
// Pass Summary() for a true bill, or change it to make the bill lie. In the
// older layout s.TotalFee is not written.
func (w *Writer) Finish(s Summary) error {
	w.header()
	names := currentSummary
	if w.layout == Older {
		names = olderSummary
	}
	w.line = w.line[:0]
	for i, name := range names {
		if i > 0 {
			w.line = append(w.line, ',')
		}
		w.line = append(w.line, name...)
	}
	w.writeLine(w.line)
	w.line = w.line[:0]
	for i, name := range names {
		if i > 0 {
			w.line = append(w.line, ',')
		}
		w.line = append(w.line, '`')
		switch name {
		case sumCount:
			w.line = strconv.AppendInt(w.line, s.Count, 10)
		case sumSettlement, sumSettlementOlder:
			w.line = appendYuan(w.line, s.SettlementFee)
		case sumRefund, sumRefundOlder, "申请退款总金额":
			w.line = appendYuan(w.line, s.RefundFee)
		case sumTotal:
			w.line = appendYuan(w.line, s.TotalFee)
		case "手续费总金额":
			w.line = append(appendYuan(w.line, s.ServiceFee), "000"...)
		default: // 充值券退款总金额, 总企业红包退款金额
			w.line = append(w.line, "0.00"...)
		}
	}
	w.writeLine(w.line)
	if w.err == nil {
		w.err = w.w.Flush()
	}
	return w.err
}

func (w *Writer) columns() []string {
	if w.layout == Older {
		return olderColumns
	}
	return currentColumns
}

// header writes the header line once, after the byte order mark.
func (w *Writer) header() {
	if w.started {
		return
	}
	w.started = true
	line := []byte("\uFEFF")
	for i, name := range w.columns() {
		if i > 0 {
			line = append(line, ',')
		}
		line = append(line, name...)
	}
	w.writeLine(line)
}

func (w *Writer) writeLine(line []byte) error {
	if w.err == nil {
		w.w.Write(line)
		_, w.err = w.w.WriteString("\r\n") // bufio.Writer keeps the first error
	}
	return w.err
}

// value appends the field of column name for row.
func (w *Writer) value(dst []byte, name string, row *Row) []byte {
	refund := row.IsRefund()
	switch name {
	case colTradeTime:
		return row.TradeTime.In(trade.ChinaTime).AppendFormat(dst, timeLayout)
	case colAppID:
		return append(dst, row.AppID...)
	case colMchID:
		return append(dst, row.MchID...)
	case colTransactionID:
		return append(dst, row.TransactionID...)
	case colOutTradeNo:
		return append(dst, row.OutTradeNo...)
	case colTradeState:
		return append(dst, row.TradeState...)
	case colSettlement:
		return appendYuan(dst, row.SettlementFee)
	case colTotal, colTotalOlder:
		return appendYuan(dst, row.TotalFee)
	case colRefundID, colOutRefundNo:
		id := row.RefundID
		if name == colOutRefundNo {
			id = row.OutRefundNo
		}
		if id == "" && !refund {
			id = "0"
		}
		return append(dst, id...)
	case colRefundFee, "申请退款金额":
		return appendYuan(dst, row.RefundFee)
	case colRefundState:
		return append(dst, row.RefundState...)
	case "代金券金额":
		return appendYuan(dst, max(0, row.TotalFee-row.SettlementFee))
	case "特约商户号", "子商户号":
		return append(dst, '0')
	case "交易类型":
		return append(dst, "JSAPI"...)
	case "付款银行":
		return append(dst, "OTHERS"...)
	case "货币种类":
		return append(dst, "CNY"...)
	case "退款类型":
		if refund {
			return append(dst, "ORIGINAL"...)
		}
	case "用户标识":
		return append(dst, row.OpenID...)
	case "商品名称":
		return append(dst, row.Body...)
	case "商户数据包":
		return append(dst, row.Attach...)
	case "手续费":
		return append(appendYuan(dst, serviceFee(row)), "000"...)
	case "费率":
		return append(dst, "0.60%"...) // feeRate
	case "充值券退款金额", "企业红包金额", "企业红包退款金额":
		return append(dst, "0.00"...)
	}
	return dst // 设备号, 费率备注: empty
}

// feeRate is the 费率 a Writer writes, in ten-thousandths: 0.60%, WeChat
// Pay's usual rate for mini-programs.
const feeRate = 60

// serviceFee is row's 手续费 in fen: feeRate of its settlement amount,
// rounded half up, or on a refund feeRate of the refund given back. It
// splits the amount at 10000 fen so that no amount Write accepts overflows.
func serviceFee(row *Row) int64 {
	fee := func(fen int64) int64 { return fen/10000*feeRate + (fen%10000*feeRate+5000)/10000 }
	if row.IsRefund() {
		return -fee(row.RefundFee)
	}
	return fee(row.SettlementFee)
}
