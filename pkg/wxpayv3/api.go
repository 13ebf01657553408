package wxpayv3

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/trade"
)

// MaxAmount is the largest amount the API carries (an int32), in fen.
const MaxAmount = 1<<31 - 1

// Amount is an order's amount in fen.
type Amount struct {
	Total    int64  `json:"total"`
	Currency string `json:"currency,omitempty"`
}

// PrepayRequest is a new JSAPI order.
type PrepayRequest struct {
	OutTradeNo  string
	Description string
	Attach      string
	NotifyURL   string
	Total       int64 // fen
	OpenID      string
	ClientIP    string // the payer's IP, sent when known
	// TimeExpire, when not zero, is sent as time_expire (RFC 3339, China
	// time), after which WeChat Pay refuses to take the payment; it cannot
	// change on re-entry.
	TimeExpire time.Time
}

// Prepay creates a JSAPI order and returns its prepay_id.
//
// https://pay.weixin.qq.com/doc/v3/merchant/4012791856
func (c *Client) Prepay(ctx context.Context, r *PrepayRequest) (string, error) {
	type payer struct {
		OpenID string `json:"openid"`
	}
	type scene struct {
		PayerClientIP string `json:"payer_client_ip"`
	}
	body := struct {
		AppID       string `json:"appid"`
		MchID       string `json:"mchid"`
		Description string `json:"description"`
		OutTradeNo  string `json:"out_trade_no"`
		TimeExpire  string `json:"time_expire,omitempty"`
		Attach      string `json:"attach,omitempty"`
		NotifyURL   string `json:"notify_url"`
		Amount      Amount `json:"amount"`
		Payer       payer  `json:"payer"`
		SceneInfo   *scene `json:"scene_info,omitempty"`
	}{
		AppID: c.AppID, MchID: c.Signer.MchID, Description: r.Description, OutTradeNo: r.OutTradeNo,
		Attach: r.Attach, NotifyURL: r.NotifyURL, Amount: Amount{Total: r.Total, Currency: "CNY"}, Payer: payer{r.OpenID},
	}
	if r.ClientIP != "" {
		body.SceneInfo = &scene{r.ClientIP}
	}
	if !r.TimeExpire.IsZero() {
		body.TimeExpire = r.TimeExpire.In(trade.ChinaTime).Format(time.RFC3339)
	}
	var out struct {
		PrepayID string `json:"prepay_id"`
	}
	err := c.do(ctx, "POST", "/v3/pay/transactions/jsapi", body, &out, func() error {
		if out.PrepayID == "" {
			return fmt.Errorf("%w: no prepay_id", ErrMalformed)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return out.PrepayID, nil
}

// Transaction is an order as WeChat Pay reports it, in a query answer or a
// payment notification.
type Transaction struct {
	AppID         string `json:"appid"`
	MchID         string `json:"mchid"`
	OutTradeNo    string `json:"out_trade_no"`
	TransactionID string `json:"transaction_id"`
	TradeState    string `json:"trade_state"`
	Attach        string `json:"attach"`
	SuccessTime   string `json:"success_time"`
	Amount        Amount `json:"amount"` // Total is 0 when an unpaid order's answer leaves it out
	Payer         struct {
		OpenID string `json:"openid"`
	} `json:"payer"`
}

// check applies what every report of an order must satisfy, its amount
// checked as strictly as one from anyone: 1 to MaxAmount fen, or 0 (left
// out) only while the order is unpaid.
func (t *Transaction) check() error {
	paid := t.TradeState == "SUCCESS" || t.TradeState == "REFUND"
	switch {
	case t.OutTradeNo == "" || t.TradeState == "":
		return fmt.Errorf("%w: out_trade_no or trade_state missing", ErrMalformed)
	case t.Amount.Total < 0 || t.Amount.Total > MaxAmount || paid && t.Amount.Total == 0:
		return fmt.Errorf("%w: amount.total %d", ErrMalformed, t.Amount.Total)
	}
	return nil
}

// PaidAt is SuccessTime parsed, or zero.
func (t *Transaction) PaidAt() time.Time {
	at, _ := time.Parse(time.RFC3339, t.SuccessTime)
	return at
}

// QueryOrder asks for an order by out_trade_no. An unknown order is an
// *Error with Code ORDER_NOT_EXIST.
//
// https://pay.weixin.qq.com/doc/v3/merchant/4012791858
func (c *Client) QueryOrder(ctx context.Context, outTradeNo string) (*Transaction, error) {
	var t Transaction
	path := "/v3/pay/transactions/out-trade-no/" + url.PathEscape(outTradeNo) + "?mchid=" + url.QueryEscape(c.Signer.MchID)
	err := c.do(ctx, "GET", path, nil, &t, func() error {
		if t.OutTradeNo != outTradeNo || t.MchID != c.Signer.MchID {
			return fmt.Errorf("%w: the answer is about another order", ErrMalformed)
		}
		return t.check()
	})
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// CloseOrder closes an unpaid order; WeChat answers 204.
//
// https://pay.weixin.qq.com/doc/v3/merchant/4012791860
func (c *Client) CloseOrder(ctx context.Context, outTradeNo string) error {
	body := struct {
		MchID string `json:"mchid"`
	}{c.Signer.MchID}
	return c.Do(ctx, "POST", "/v3/pay/transactions/out-trade-no/"+url.PathEscape(outTradeNo)+"/close", body, nil)
}

// RefundRequest asks for part or all of a paid order back.
type RefundRequest struct {
	OutTradeNo  string
	OutRefundNo string // a retry must reuse it
	Reason      string
	NotifyURL   string
	Refund      int64 // fen
	Total       int64 // the order's amount, fen
}

// Refund is a refund as WeChat Pay reports it.
type Refund struct {
	RefundID    string       `json:"refund_id"`
	OutRefundNo string       `json:"out_refund_no"`
	OutTradeNo  string       `json:"out_trade_no"`
	Status      string       `json:"status"` // SUCCESS, CLOSED, PROCESSING, ABNORMAL
	Amount      RefundAmount `json:"amount"`
}

// check applies what every report of a refund must satisfy, read as
// strictly as anything from anyone.
func (r *Refund) check(outRefundNo string) error {
	switch {
	case r.OutRefundNo != outRefundNo:
		return fmt.Errorf("%w: the answer is about another refund", ErrMalformed)
	case r.RefundID == "" || r.OutTradeNo == "":
		return fmt.Errorf("%w: refund_id or out_trade_no missing", ErrMalformed)
	case r.Status != "SUCCESS" && r.Status != "CLOSED" && r.Status != "PROCESSING" && r.Status != "ABNORMAL":
		return fmt.Errorf("%w: status %q", ErrMalformed, r.Status)
	}
	return r.Amount.check()
}

// RefundAmount is a refund's amount and its order's, in fen.
type RefundAmount struct {
	Refund int64 `json:"refund"`
	Total  int64 `json:"total"`
}

// check requires amounts of 1 to MaxAmount fen, the refund within the
// order's total.
func (a RefundAmount) check() error {
	if a.Total < 1 || a.Total > MaxAmount || a.Refund < 1 || a.Refund > a.Total {
		return fmt.Errorf("%w: amount refund %d of total %d", ErrMalformed, a.Refund, a.Total)
	}
	return nil
}

// CreateRefund submits a refund (no client certificate in v3).
//
// https://pay.weixin.qq.com/doc/v3/merchant/4012791862
func (c *Client) CreateRefund(ctx context.Context, r *RefundRequest) (*Refund, error) {
	type amount struct {
		Refund   int64  `json:"refund"`
		Total    int64  `json:"total"`
		Currency string `json:"currency"`
	}
	body := struct {
		OutTradeNo  string `json:"out_trade_no"`
		OutRefundNo string `json:"out_refund_no"`
		Reason      string `json:"reason,omitempty"`
		NotifyURL   string `json:"notify_url,omitempty"`
		Amount      amount `json:"amount"`
	}{r.OutTradeNo, r.OutRefundNo, r.Reason, r.NotifyURL, amount{r.Refund, r.Total, "CNY"}}
	var out Refund
	err := c.do(ctx, "POST", "/v3/refund/domestic/refunds", body, &out, func() error { return out.check(r.OutRefundNo) })
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// QueryRefund asks for a refund by out_refund_no. A refund WeChat Pay does
// not know is an *Error with Code RESOURCE_NOT_EXISTS (HTTP 404).
//
// https://pay.weixin.qq.com/doc/v3/merchant/4012791863
func (c *Client) QueryRefund(ctx context.Context, outRefundNo string) (*Refund, error) {
	var out Refund
	err := c.do(ctx, "GET", "/v3/refund/domestic/refunds/"+url.PathEscape(outRefundNo), nil, &out, func() error { return out.check(outRefundNo) })
	if err != nil {
		return nil, err
	}
	return &out, nil
}
