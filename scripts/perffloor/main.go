// Command perffloor is the floor that make perf measures the function
// against: the least a Go function on SCF does for a payment, scf-go-lib,
// one unified order at WXPAY_API_BASE and the five pay parameters, with no
// store, no routing and no configuration checks. A direct invocation
// {"total_fee":180,"openid":"o…"} answers the parameters.
package main

import (
	"context"
	"crypto/rand"
	"os"
	"time"

	"github.com/tencentyun/scf-go-lib/cloudfunction"
	"github.com/wxpay-scf/wxpay-scf/pkg/outbound"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpay"
)

type payEvent struct {
	TotalFee int64  `json:"total_fee"`
	OpenID   string `json:"openid"`
}

func main() {
	wx := &wxpay.Client{
		AppID: os.Getenv("WXPAY_APPID"), MchID: os.Getenv("WXPAY_MCHID"), Key: os.Getenv("WXPAY_KEY"), Rand: rand.Reader,
		HTTP: outbound.Client{BaseURL: os.Getenv("WXPAY_API_BASE")},
	}
	notifyURL := os.Getenv("WXPAY_NOTIFY_URL")
	cloudfunction.Start(func(ctx context.Context, ev payEvent) (wxpay.PayParams, error) {
		no, err := wxpay.NewOutTradeNo(time.Now(), rand.Reader)
		if err != nil {
			return wxpay.PayParams{}, err
		}
		order, err := wx.UnifiedOrder(ctx, &wxpay.UnifiedOrderRequest{
			OutTradeNo: no, Body: "会员充值", TotalFee: ev.TotalFee, SpbillCreateIP: "127.0.0.1", NotifyURL: notifyURL, OpenID: ev.OpenID,
		})
		if err != nil {
			return wxpay.PayParams{}, err
		}
		return wx.JSAPIPayParams(order.PrepayID)
	})
}
