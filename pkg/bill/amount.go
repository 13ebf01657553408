package bill

import (
	"math"
	"strconv"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/trade"
)

// timeLayout is how the bill writes 交易时间.
const timeLayout = "2006-01-02 15:04:05"

// parseFen reads an amount the bill writes in yuan as an exact number of
// fen. Only the form WeChat Pay writes is accepted: digits without a sign or
// a needless leading zero, a dot, and exactly two decimals ("0.01",
// "180.00"). "1", "1.5", "1.234", "-1.00", "01.00" and anything beyond
// math.MaxInt64 fen are refused: an amount in another form means the bill is
// not what this package understands, and a reconciliation must not guess.
func parseFen(b []byte) (int64, bool) {
	n := len(b)
	if n < 4 || b[n-3] != '.' || (b[0] == '0' && n > 4) {
		return 0, false
	}
	yuan, ok := parseDigits(b[:n-3])
	if !ok {
		return 0, false
	}
	d1, d2 := b[n-2]-'0', b[n-1]-'0'
	if d1 > 9 || d2 > 9 {
		return 0, false
	}
	cents := int64(d1)*10 + int64(d2)
	if yuan > (math.MaxInt64-cents)/100 {
		return 0, false
	}
	return yuan*100 + cents, true
}

// parseCount reads a count such as 总交易单数: canonical decimal digits.
func parseCount(b []byte) (int64, bool) {
	if len(b) > 1 && b[0] == '0' {
		return 0, false
	}
	return parseDigits(b)
}

// parseDigits reads one or more decimal digits that fit an int64.
func parseDigits(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	var v int64
	for _, c := range b {
		d := int64(c - '0')
		if c < '0' || c > '9' || v > (math.MaxInt64-d)/10 {
			return 0, false
		}
		v = v*10 + d
	}
	return v, true
}

// appendYuan writes fen as yuan with two decimals, the form parseFen reads
// when fen is not negative. A negative amount gets a sign, so a Writer can
// make a summary lie that way too.
// Yuan writes fen as the bill does: yuan with two decimals.
func Yuan(fen int64) string { return string(appendYuan(nil, fen)) }

func appendYuan(dst []byte, fen int64) []byte {
	u := uint64(fen)
	if fen < 0 {
		dst = append(dst, '-')
		u = -u
	}
	dst = strconv.AppendUint(dst, u/100, 10)
	c := u % 100
	return append(dst, '.', byte('0'+c/10), byte('0'+c%10))
}

// parseTime reads 交易时间, "2026-11-29 10:00:03" in China time, refusing
// any other form and dates that do not exist. It parses by hand because
// time.ParseInLocation costs more than the rest of a row.
func parseTime(b []byte) (time.Time, bool) {
	if len(b) != len(timeLayout) || b[4] != '-' || b[7] != '-' || b[10] != ' ' || b[13] != ':' || b[16] != ':' {
		return time.Time{}, false
	}
	var v [6]int
	for i, at := range [6]int{0, 5, 8, 11, 14, 17} {
		end := at + 2
		if i == 0 {
			end = at + 4
		}
		for _, c := range b[at:end] {
			if c < '0' || c > '9' {
				return time.Time{}, false
			}
			v[i] = v[i]*10 + int(c-'0')
		}
	}
	if v[1] < 1 || v[1] > 12 || v[2] < 1 || v[3] > 23 || v[4] > 59 || v[5] > 59 {
		return time.Time{}, false
	}
	t := time.Date(v[0], time.Month(v[1]), v[2], v[3], v[4], v[5], 0, trade.ChinaTime)
	if t.Day() != v[2] { // time.Date moved a 30 February into March
		return time.Time{}, false
	}
	return t, true
}
