package bill

import (
	"fmt"
	"strings"
)

// Layout is the set of columns a bill has. WeChat Pay serves two: merchants
// with no-recharge coupons enabled (the default for those who joined since
// 2018) get Current, and a few older merchants still get Older.
type Layout int

// The layouts.
const (
	// Current has 应结订单金额 (settlement amount, after no-recharge coupons)
	// and, near the end, 订单金额 (the order's amount), 申请退款金额 and 费率备注.
	Current Layout = iota
	// Older has 总金额 (the order's amount) where Current has 应结订单金额,
	// and no 订单金额.
	Older
)

// String names the layout by its distinctive column.
func (l Layout) String() string {
	switch l {
	case Current:
		return "current (应结订单金额)"
	case Older:
		return "older (总金额)"
	}
	return fmt.Sprintf("Layout(%d)", int(l))
}

// The names of the columns read, as WeChat Pay writes them in the header.
const (
	colTradeTime     = "交易时间"
	colAppID         = "公众账号ID"
	colMchID         = "商户号"
	colTransactionID = "微信订单号"
	colOutTradeNo    = "商户订单号"
	colTradeState    = "交易状态"
	colSettlement    = "应结订单金额" // Current
	colTotalOlder    = "总金额"    // Older: the order's amount, also its settlement
	colTotal         = "订单金额"   // Current
	colRefundID      = "微信退款单号"
	colOutRefundNo   = "商户退款单号"
	colRefundFee     = "退款金额"
	colRefundState   = "退款状态"

	sumCount           = "总交易单数"
	sumSettlement      = "应结订单总金额" // Current
	sumSettlementOlder = "总交易额"    // Older
	sumRefund          = "退款总金额"   // Current
	sumRefundOlder     = "总退款金额"   // Older
	sumTotal           = "订单总金额"   // Current
)

// The full headers the Writer produces, as the format page lists them for an
// ALL bill (Current) and as older merchants' bills still read (Older).
var (
	currentColumns = []string{
		colTradeTime, colAppID, colMchID, "特约商户号", "设备号", colTransactionID, colOutTradeNo,
		"用户标识", "交易类型", colTradeState, "付款银行", "货币种类", colSettlement, "代金券金额",
		colRefundID, colOutRefundNo, colRefundFee, "充值券退款金额", "退款类型", colRefundState,
		"商品名称", "商户数据包", "手续费", "费率", colTotal, "申请退款金额", "费率备注",
	}
	olderColumns = []string{
		colTradeTime, colAppID, colMchID, "子商户号", "设备号", colTransactionID, colOutTradeNo,
		"用户标识", "交易类型", colTradeState, "付款银行", "货币种类", colTotalOlder, "企业红包金额",
		colRefundID, colOutRefundNo, colRefundFee, "企业红包退款金额", "退款类型", colRefundState,
		"商品名称", "商户数据包", "手续费", "费率",
	}
	currentSummary = []string{sumCount, sumSettlement, sumRefund, "充值券退款总金额", "手续费总金额", sumTotal, "申请退款总金额"}
	olderSummary   = []string{sumCount, sumSettlementOlder, sumRefundOlder, "总企业红包退款金额", "手续费总金额"}
)

// columns are the positions, found by name, of the fields a row is read from.
type columns struct {
	names                                                     []string // the header, for messages
	tradeTime, appID, mchID, transactionID, outTradeNo, state int
	settlement, total                                         int // the same column in Older
	refundID, outRefundNo, refundFee, refundState             int
}

// summaryColumns are the positions of the summary fields that are checked.
type summaryColumns struct {
	names                            []string
	count, settlement, refund, total int // total is -1 in Older
}

// index maps each name of a header line to its position, refusing an empty
// header and a name given twice (which column would be meant?).
func index(line string) ([]string, map[string]int, error) {
	if line == "" {
		return nil, nil, fmt.Errorf("empty header")
	}
	names := strings.Split(line, ",")
	pos := make(map[string]int, len(names))
	for i, name := range names {
		if _, dup := pos[name]; dup {
			return nil, nil, fmt.Errorf("column %q named twice", name)
		}
		pos[name] = i
	}
	return names, pos, nil
}

// find returns the positions of names in pos, or an error naming the first
// one missing.
func find(pos map[string]int, names ...string) ([]int, error) {
	at := make([]int, len(names))
	for i, name := range names {
		p, ok := pos[name]
		if !ok {
			return nil, fmt.Errorf("no column %s", name)
		}
		at[i] = p
	}
	return at, nil
}

// parseHeader finds the layout and the columns read in the header line.
func parseHeader(line string) (Layout, columns, error) {
	names, pos, err := index(line)
	if err != nil {
		return 0, columns{}, err
	}
	_, settlement := pos[colSettlement]
	_, total := pos[colTotal]
	_, older := pos[colTotalOlder]
	var l Layout
	switch {
	case settlement && total && !older:
		l = Current
	case older && !settlement && !total:
		l = Older
	default:
		return 0, columns{}, fmt.Errorf("unknown layout: want %s and %s, or %s alone", colSettlement, colTotal, colTotalOlder)
	}
	amounts := []string{colSettlement, colTotal}
	if l == Older {
		amounts = []string{colTotalOlder, colTotalOlder}
	}
	at, err := find(pos, append([]string{colTradeTime, colAppID, colMchID, colTransactionID, colOutTradeNo,
		colTradeState, colRefundID, colOutRefundNo, colRefundFee, colRefundState}, amounts...)...)
	if err != nil {
		return 0, columns{}, err
	}
	return l, columns{
		names: names, tradeTime: at[0], appID: at[1], mchID: at[2], transactionID: at[3], outTradeNo: at[4],
		state: at[5], refundID: at[6], outRefundNo: at[7], refundFee: at[8], refundState: at[9],
		settlement: at[10], total: at[11],
	}, nil
}

// parseSummaryHeader finds the summary fields checked for a bill of layout l.
func parseSummaryHeader(line string, l Layout) (summaryColumns, error) {
	names, pos, err := index(line)
	if err != nil {
		return summaryColumns{}, err
	}
	if l == Older {
		at, err := find(pos, sumCount, sumSettlementOlder, sumRefundOlder)
		if err != nil {
			return summaryColumns{}, err
		}
		return summaryColumns{names: names, count: at[0], settlement: at[1], refund: at[2], total: -1}, nil
	}
	at, err := find(pos, sumCount, sumSettlement, sumRefund, sumTotal)
	if err != nil {
		return summaryColumns{}, err
	}
	return summaryColumns{names: names, count: at[0], settlement: at[1], refund: at[2], total: at[3]}, nil
}
