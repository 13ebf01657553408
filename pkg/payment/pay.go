// Package payment is the pay use case: from a validated request and a
// verified identity to a WeChat Pay order and the five parameters of
// wx.requestPayment. Failures are *Error values with stable codes.
package payment

import (
	"context"

	"github.com/wxpay-scf/wxpay-scf/pkg/miniprogram"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpay"
)

// Service creates payments for one merchant and mini-program.
type Service struct {
	WxPay       *wxpay.Client
	Login       *miniprogram.Client // nil when no AppSecret is configured
	NotifyURL   string
	DefaultBody string
}

// Result is the answer to the mini-program: the order number and exactly
// the five wx.requestPayment parameters.
type Result struct {
	OutTradeNo string          `json:"out_trade_no"`
	Data       wxpay.PayParams `json:"data"`
}

// Pay resolves the payer, creates the order with a fresh out_trade_no, and
// signs the pay parameters from WeChat Pay's verified answer.
func (s *Service) Pay(ctx context.Context, r Request) (*Result, error) {
	openid := r.OpenID
	if openid == "" {
		if r.Code == "" {
			return nil, &Error{Kind: Unauthenticated, Code: "UNAUTHENTICATED", Message: "no identity: send a fresh wx.login code"}
		}
		if s.Login == nil {
			return nil, &Error{Kind: Config, Code: "CONFIG_ERROR", Message: "WXPAY_APPSECRET is not set, so login codes cannot be exchanged"}
		}
		sess, err := s.Login.Code2Session(ctx, r.Code)
		if err != nil {
			return nil, fromLogin(err)
		}
		openid = sess.OpenID
	}
	no, err := s.WxPay.NewOutTradeNo()
	if err != nil {
		return nil, &Error{Kind: Internal, Code: "INTERNAL", Message: "internal error", Err: err}
	}
	body := r.Description
	if body == "" {
		body = s.DefaultBody
	}
	order, err := s.WxPay.UnifiedOrder(ctx, &wxpay.UnifiedOrderRequest{
		OutTradeNo:     no,
		Body:           body,
		Attach:         r.Attach,
		TotalFee:       r.TotalFee,
		SpbillCreateIP: r.ClientIP,
		NotifyURL:      s.NotifyURL,
		OpenID:         openid,
	})
	if err != nil {
		return nil, fromWxPay(err)
	}
	params, err := s.WxPay.JSAPIPayParams(order.PrepayID)
	if err != nil {
		return nil, &Error{Kind: Internal, Code: "INTERNAL", Message: "internal error", Err: err}
	}
	return &Result{OutTradeNo: no, Data: params}, nil
}
