package wxpay

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/trade"
)

// OrderStatus is the verified state of an order as WeChat Pay reports it,
// from a query or a payment notification.
type OrderStatus struct {
	OutTradeNo    string
	TradeState    string // SUCCESS, REFUND, NOTPAY, CLOSED, REVOKED, USERPAYING, PAYERROR
	TransactionID string
	TotalFee      int64 // fen, 1..MaxTotalFee; 0 when an unpaid order's answer leaves it out
	OpenID        string
	Attach        string
	TimeEnd       time.Time // payment time; zero until paid
}

// OrderQuery asks WeChat Pay for an order's state. An order WeChat Pay never
// saw is an *Error with ErrCode ORDERNOTEXIST.
//
// https://pay.weixin.qq.com/wiki/doc/api/wxa/wxa_api.php?chapter=9_2
func (c *Client) OrderQuery(ctx context.Context, outTradeNo string) (*OrderStatus, error) {
	if !ValidOutTradeNo(outTradeNo) {
		return nil, fmt.Errorf("%w: out_trade_no", ErrInvalidField)
	}
	answer, err := c.Call(ctx, "/pay/orderquery", Params{"out_trade_no": outTradeNo})
	if err != nil {
		return nil, err
	}
	st, err := orderStatus(answer)
	if err != nil {
		return nil, err
	}
	if st.OutTradeNo != outTradeNo {
		return nil, fmt.Errorf("%w: the answer is about another order", ErrInvalidField)
	}
	return st, nil
}

// orderStatus reads the order fields shared by query answers and payment
// notifications (payment notifications carry no trade_state: they report a
// payment, so SUCCESS).
func orderStatus(p Params) (*OrderStatus, error) {
	st := &OrderStatus{
		OutTradeNo:    p["out_trade_no"],
		TradeState:    p["trade_state"],
		TransactionID: p["transaction_id"],
		OpenID:        p["openid"],
		Attach:        p["attach"],
	}
	if _, ok := p["trade_state"]; !ok {
		st.TradeState = "SUCCESS"
	}
	// A paid order's amount must be there; an unpaid one's may be left out.
	if fee, ok := p["total_fee"]; ok || st.TradeState == "SUCCESS" || st.TradeState == "REFUND" {
		var err error
		if st.TotalFee, err = parseFen(fee); err != nil {
			return nil, err
		}
	}
	if te := p["time_end"]; te != "" {
		t, err := time.ParseInLocation("20060102150405", te, trade.ChinaTime)
		if err != nil {
			return nil, fmt.Errorf("%w: time_end %q", ErrInvalidField, te)
		}
		st.TimeEnd = t
	}
	if st.OutTradeNo == "" || st.TradeState == "" {
		return nil, fmt.Errorf("%w: out_trade_no or trade_state missing", ErrInvalidField)
	}
	return st, nil
}

// CloseOrder closes an unpaid order; a paid one is refused with ErrCode
// ORDERPAID.
//
// https://pay.weixin.qq.com/wiki/doc/api/wxa/wxa_api.php?chapter=9_3
func (c *Client) CloseOrder(ctx context.Context, outTradeNo string) error {
	if !ValidOutTradeNo(outTradeNo) {
		return fmt.Errorf("%w: out_trade_no", ErrInvalidField)
	}
	_, err := c.Call(ctx, "/pay/closeorder", Params{"out_trade_no": outTradeNo})
	return err
}

// RefundRequest asks for part or all of a paid order back.
type RefundRequest struct {
	OutTradeNo  string
	OutRefundNo string // the merchant's refund number; a retry must reuse it
	TotalFee    int64  // the order's amount, fen
	RefundFee   int64  // fen, 1..TotalFee
	Reason      string // optional, shown to the payer
	NotifyURL   string // where the refund result is posted
}

// RefundResponse is the verified part of the refund answer. The refund is
// accepted, not done: its result comes by notification or query.
type RefundResponse struct {
	RefundID  string
	RefundFee int64
}

// Refund submits a refund over the merchant's client certificate, which
// CertTransport must present.
//
// https://pay.weixin.qq.com/wiki/doc/api/wxa/wxa_api.php?chapter=9_4
func (c *Client) Refund(ctx context.Context, r *RefundRequest) (*RefundResponse, error) {
	switch {
	case !ValidOutTradeNo(r.OutTradeNo):
		return nil, fmt.Errorf("%w: out_trade_no", ErrInvalidField)
	case !ValidOutRefundNo(r.OutRefundNo):
		return nil, fmt.Errorf("%w: out_refund_no", ErrInvalidField)
	case r.RefundFee < 1 || r.RefundFee > r.TotalFee || r.TotalFee > MaxTotalFee:
		return nil, fmt.Errorf("%w: refund_fee", ErrInvalidField)
	case len(r.Reason) > 80:
		return nil, fmt.Errorf("%w: refund_desc must be at most 80 bytes", ErrInvalidField)
	case c.CertTransport == nil:
		return nil, ErrNoClientCertificate
	}
	answer, err := c.call(ctx, c.CertTransport, "/secapi/pay/refund", Params{
		"out_trade_no":  r.OutTradeNo,
		"out_refund_no": r.OutRefundNo,
		"total_fee":     strconv.FormatInt(r.TotalFee, 10),
		"refund_fee":    strconv.FormatInt(r.RefundFee, 10),
		"refund_desc":   r.Reason,
		"notify_url":    r.NotifyURL,
	})
	if err != nil {
		return nil, err
	}
	if answer["out_refund_no"] != r.OutRefundNo || answer["refund_id"] == "" {
		return nil, fmt.Errorf("%w: the answer is about another refund", ErrInvalidField)
	}
	fee, err := parseFen(answer["refund_fee"])
	if err != nil {
		return nil, err
	}
	return &RefundResponse{RefundID: answer["refund_id"], RefundFee: fee}, nil
}

// ValidOutRefundNo reports whether s is a legal out_refund_no, whose rule
// is not out_trade_no's: 1 to 64 characters of 0-9 A-Z a-z _ - | * @ (a
// 36-character UUID is one).
//
// https://pay.weixin.qq.com/wiki/doc/api/wxa/wxa_api.php?chapter=9_4
func ValidOutRefundNo(s string) bool {
	if len(s) < 1 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' || c == '-' || c == '|' || c == '*' || c == '@') {
			return false
		}
	}
	return true
}

// MaxRefunds is how many refunds one order can have.
//
// https://pay.weixin.qq.com/wiki/doc/api/wxa/wxa_api.php?chapter=9_4
const MaxRefunds = 50

// RefundStatus is the verified state of one refund as refundquery reports
// it.
type RefundStatus struct {
	OutTradeNo    string
	TransactionID string
	OutRefundNo   string
	RefundID      string
	RefundFee     int64  // fen, 1..MaxTotalFee
	Status        string // refund_status: SUCCESS, REFUNDCLOSE, PROCESSING or CHANGE
}

// RefundQuery asks WeChat Pay for a refund's state by out_refund_no. A
// refund WeChat Pay does not know is an *Error with ErrCode REFUNDNOTEXIST.
// The answer lists refunds as fields numbered from 0 (out_refund_no_0,
// refund_status_0…); the one asked for is picked by its number, so an
// answer listing the order's other refunds too is read right.
//
// https://pay.weixin.qq.com/wiki/doc/api/wxa/wxa_api.php?chapter=9_5
func (c *Client) RefundQuery(ctx context.Context, outRefundNo string) (*RefundStatus, error) {
	if !ValidOutRefundNo(outRefundNo) {
		return nil, fmt.Errorf("%w: out_refund_no", ErrInvalidField)
	}
	answer, err := c.Call(ctx, "/pay/refundquery", Params{"out_refund_no": outRefundNo})
	if err != nil {
		return nil, err
	}
	count, err := strconv.Atoi(answer["refund_count"])
	if err != nil || count < 1 || count > MaxRefunds || strconv.Itoa(count) != answer["refund_count"] {
		return nil, fmt.Errorf("%w: refund_count %q", ErrInvalidField, answer["refund_count"])
	}
	for n := range count {
		i := "_" + strconv.Itoa(n)
		if answer["out_refund_no"+i] != outRefundNo {
			continue
		}
		r := &RefundStatus{
			OutTradeNo: answer["out_trade_no"], TransactionID: answer["transaction_id"], OutRefundNo: outRefundNo,
			RefundID: answer["refund_id"+i], Status: answer["refund_status"+i],
		}
		if r.RefundFee, err = parseFen(answer["refund_fee"+i]); err != nil {
			return nil, err
		}
		switch {
		case r.OutTradeNo == "" || r.RefundID == "":
			return nil, fmt.Errorf("%w: out_trade_no or refund_id%s missing", ErrInvalidField, i)
		case r.Status != "SUCCESS" && r.Status != "REFUNDCLOSE" && r.Status != "PROCESSING" && r.Status != "CHANGE":
			return nil, fmt.Errorf("%w: refund_status%s %q", ErrInvalidField, i, r.Status)
		}
		return r, nil
	}
	return nil, fmt.Errorf("%w: the answer is about other refunds", ErrInvalidField)
}
