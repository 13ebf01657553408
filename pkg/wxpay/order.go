package wxpay

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/trade"
)

// Field limits of the v2 unified order.
const (
	MaxBodyBytes   = 127
	MaxAttachBytes = 127
	// MaxTotalFee is the largest amount the protocol's int32 field carries, in fen.
	MaxTotalFee = 2147483647
)

// TradeTypeJSAPI is the trade type of mini-program payments.
const TradeTypeJSAPI = "JSAPI"

// UnifiedOrderRequest is what the merchant decides about a new JSAPI order.
type UnifiedOrderRequest struct {
	OutTradeNo     string
	Body           string // goods description, at most MaxBodyBytes bytes
	Attach         string // optional, echoed back by WeChat, at most MaxAttachBytes bytes
	TotalFee       int64  // fen, 1..MaxTotalFee
	SpbillCreateIP string // the payer's IP
	NotifyURL      string
	OpenID         string // the payer, required for JSAPI
	// TimeExpire, when not zero, is sent as time_expire, after which
	// WeChat Pay refuses to take the payment; it cannot change on re-entry.
	TimeExpire time.Time
}

// UnifiedOrderResponse is the verified part of WeChat Pay's answer.
type UnifiedOrderResponse struct {
	PrepayID  string
	TradeType string
}

// Validate applies the protocol's field rules, so that a bad order is
// refused here rather than by WeChat Pay.
func (r *UnifiedOrderRequest) Validate() error {
	switch {
	case !ValidOutTradeNo(r.OutTradeNo):
		return fmt.Errorf("%w: out_trade_no", ErrInvalidField)
	case r.Body == "" || len(r.Body) > MaxBodyBytes:
		return fmt.Errorf("%w: body must be 1 to %d bytes", ErrInvalidField, MaxBodyBytes)
	case len(r.Attach) > MaxAttachBytes:
		return fmt.Errorf("%w: attach must be at most %d bytes", ErrInvalidField, MaxAttachBytes)
	case r.TotalFee < 1 || r.TotalFee > MaxTotalFee:
		return fmt.Errorf("%w: total_fee", ErrInvalidField)
	case r.OpenID == "":
		return fmt.Errorf("%w: JSAPI needs openid", ErrInvalidField)
	case r.NotifyURL == "":
		return fmt.Errorf("%w: notify_url", ErrInvalidField)
	}
	if _, err := netip.ParseAddr(r.SpbillCreateIP); err != nil {
		return fmt.Errorf("%w: spbill_create_ip", ErrInvalidField)
	}
	return nil
}

// formatTimeExpire writes t as time_expire, yyyyMMddHHmmss in China time,
// and the zero time as "", which is not sent.
func formatTimeExpire(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(trade.ChinaTime).Format("20060102150405")
}

// UnifiedOrder creates (or, for the same out_trade_no and the same
// parameters, finds again) a JSAPI order and returns its prepay_id, which is
// valid for two hours.
//
// https://pay.weixin.qq.com/wiki/doc/api/wxa/wxa_api.php?chapter=9_1
func (c *Client) UnifiedOrder(ctx context.Context, r *UnifiedOrderRequest) (*UnifiedOrderResponse, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	answer, err := c.Call(ctx, "/pay/unifiedorder", Params{
		"body":             r.Body,
		"attach":           r.Attach,
		"out_trade_no":     r.OutTradeNo,
		"total_fee":        strconv.FormatInt(r.TotalFee, 10),
		"spbill_create_ip": r.SpbillCreateIP,
		"notify_url":       r.NotifyURL,
		"trade_type":       TradeTypeJSAPI,
		"openid":           r.OpenID,
		"time_expire":      formatTimeExpire(r.TimeExpire),
	})
	if err != nil {
		return nil, err
	}
	if answer["prepay_id"] == "" {
		return nil, fmt.Errorf("%w: verified answer has no prepay_id", ErrInvalidField)
	}
	return &UnifiedOrderResponse{PrepayID: answer["prepay_id"], TradeType: answer["trade_type"]}, nil
}

// MinCloseAge is how old an order must be before closeorder accepts it:
// "订单生成后不能马上调用关单接口，最短调用时间间隔为5分钟".
//
// https://pay.weixin.qq.com/wiki/doc/api/wxa/wxa_api.php?chapter=9_3
const MinCloseAge = 5 * time.Minute
