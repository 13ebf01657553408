// Package bill reads and writes WeChat Pay's trade bill of type ALL, the
// decompressed text that both API v2 (downloadbill) and API v3 (tradebill)
// deliver: a header line of column names, one line per payment or refund
// with every field prefixed by a backtick, then a summary header and a
// summary line.
//
// Columns are found by their names, never by their positions: two layouts
// are in use, and WeChat Pay adds columns. A [Reader] streams the bill line by
// line with a bounded line length, checks every amount it reads, and returns
// io.EOF only once the summary agrees with the rows, so a caller that reaches
// io.EOF has read a whole, consistent bill. A [Writer] produces real-looking
// bills for tests and simulators.
//
// The package does no I/O beyond the io.Reader and io.Writer it is given.
//
// WeChat Pay's pages:
//   - the format: https://pay.weixin.qq.com/docs/merchant/products/bill-download/format-trade.html
//   - v2 downloadbill: https://pay.weixin.qq.com/doc/v2/merchant/4011985040
//   - v3 tradebill: https://pay.weixin.qq.com/docs/merchant/apis/in-app-payment/get-trade-bill.html
//     (the same API serves mini-program merchants)
package bill
