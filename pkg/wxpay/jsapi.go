package wxpay

import (
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/trade"
)

// PayParams are the five parameters of wx.requestPayment, exactly as the
// mini-program passes them on.
//
// https://developers.weixin.qq.com/miniprogram/dev/api/payment/wx.requestPayment.html
type PayParams struct {
	TimeStamp string `json:"timeStamp"` // seconds since the epoch, as a string
	NonceStr  string `json:"nonceStr"`
	Package   string `json:"package"` // "prepay_id=…"
	SignType  string `json:"signType"`
	PaySign   string `json:"paySign"`
}

// JSAPIPayParams signs the parameters for prepayID, which must come from a
// verified unified-order answer. The signature covers appId, nonceStr,
// package, signType and timeStamp with the client's sign type.
//
// https://pay.weixin.qq.com/wiki/doc/api/wxa/wxa_api.php?chapter=7_7
func (c *Client) JSAPIPayParams(prepayID string) (PayParams, error) {
	nonce, err := NewNonce(c.Rand)
	if err != nil {
		return PayParams{}, err
	}
	p := PayParams{
		TimeStamp: strconv.FormatInt(c.now().Unix(), 10),
		NonceStr:  nonce,
		Package:   "prepay_id=" + prepayID,
		SignType:  string(c.signType()),
	}
	// The five signed fields, already in ASCII order.
	p.PaySign, err = signFields([]field{
		{"appId", c.AppID},
		{"nonceStr", p.NonceStr},
		{"package", p.Package},
		{"signType", p.SignType},
		{"timeStamp", p.TimeStamp},
	}, c.Key, c.signType())
	return p, err
}

// NewNonce returns 32 hex characters (128 bits) read from rand, which must be
// a cryptographic source.
func NewNonce(rand io.Reader) (string, error) {
	var b [16]byte
	if rand == nil {
		return "", fmt.Errorf("wxpay: no random source")
	}
	if _, err := io.ReadFull(rand, b[:]); err != nil {
		return "", fmt.Errorf("wxpay: reading randomness: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// NewOutTradeNo returns a fresh order number from the client's clock and
// random source; see the function NewOutTradeNo.
func (c *Client) NewOutTradeNo() (string, error) { return NewOutTradeNo(c.now(), c.Rand) }

// NewOutTradeNo returns a fresh merchant order number: the time in China to
// the second (14 digits) followed by 18 random hex characters, 32 in all,
// so numbers sort by creation time and never collide in practice.
func NewOutTradeNo(now time.Time, rand io.Reader) (string, error) {
	var b [9]byte
	if rand == nil {
		return "", fmt.Errorf("wxpay: no random source")
	}
	if _, err := io.ReadFull(rand, b[:]); err != nil {
		return "", fmt.Errorf("wxpay: reading randomness: %w", err)
	}
	return now.In(trade.ChinaTime).Format("20060102150405") + hex.EncodeToString(b[:]), nil
}

// ValidOutTradeNo reports whether s is a legal out_trade_no: 6 to 32
// characters of 0-9 A-Z a-z _ - | *.
func ValidOutTradeNo(s string) bool {
	if len(s) < 6 || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' || c == '-' || c == '|' || c == '*') {
			return false
		}
	}
	return true
}
