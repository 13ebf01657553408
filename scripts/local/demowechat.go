package main

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"slices"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/wxpay"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpay/wxpaytest"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpayv3/wxpayv3test"
)

// demoNotice is a notification as WeChat Pay posts it.
type demoNotice struct {
	body    []byte
	headers map[string]any
}

// demoWeChat is what the demo does with the simulated merchant API, on v2
// or v3.
type demoWeChat interface {
	name() string
	checkPay(no string, p wxpay.PayParams) error // the pay parameters are WeChat's and verify
	received() []string                          // what WeChat Pay received
	pay(no string) (demoNotice, bool)            // the user pays
	probe(no string) demoNotice                  // a probe with a wrong signature
	completeRefund(outRefundNo string) (demoNotice, bool)
	accepted(status int, reply []byte) bool // the function's reply means success
	calls() []string                        // each request WeChat Pay received, in one line
	advance(d time.Duration)                // moves WeChat Pay's business clock
	addPaidOrder(no string, fee int64) bool // a payment another system of the merchant took
}

func newDemoWeChat(sim *localSim, m testMerchant) demoWeChat {
	if m.v3 {
		return v3Demo{sim: sim.v3, m: m}
	}
	return v2Demo{sim: sim, m: m}
}

type v2Demo struct {
	sim *localSim
	m   testMerchant
}

func (d v2Demo) name() string { return "API v2" }

func (d v2Demo) checkPay(no string, p wxpay.PayParams) error {
	order := d.sim.Order(no)
	signed := wxpay.Params{"appId": d.m.appID, "timeStamp": p.TimeStamp, "nonceStr": p.NonceStr, "package": p.Package, "signType": p.SignType, "sign": p.PaySign}
	if order == nil || wxpay.Verify(signed, d.m.key, wxpay.SignType(p.SignType)) != nil || p.Package != "prepay_id="+order.PrepayID {
		return fmt.Errorf("the pay parameters do not check out")
	}
	return nil
}

func (d v2Demo) received() []string {
	var lines []string
	for _, r := range d.sim.Requests() {
		if r.Path != "/pay/unifiedorder" {
			continue
		}
		keys := make([]string, 0, len(r.Params))
		for k := range r.Params {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		lines = append(lines, "POST /pay/unifiedorder (XML, signature verified):")
		for _, k := range keys {
			lines = append(lines, fmt.Sprintf("  %-17s %s", k, r.Params[k]))
		}
		break
	}
	return lines
}

func xmlNotice(body []byte) demoNotice {
	return demoNotice{body: body, headers: map[string]any{"content-type": "text/xml"}}
}

func (d v2Demo) pay(no string) (demoNotice, bool) {
	n, ok := d.sim.Pay(no)
	return xmlNotice(n), ok
}

func (d v2Demo) probe(no string) demoNotice { return xmlNotice(d.sim.PaymentNotification(no, true)) }

func (d v2Demo) completeRefund(no string) (demoNotice, bool) {
	n, ok := d.sim.CompleteRefund(no, "SUCCESS")
	return xmlNotice(n), ok
}

func (d v2Demo) accepted(status int, reply []byte) bool {
	return status == 200 && wxpaytest.IsSuccessReply(reply)
}

func (d v2Demo) calls() []string {
	var lines []string
	for _, r := range d.sim.Requests() {
		line := r.Path
		for _, k := range []string{"out_trade_no", "bill_date"} {
			if v := r.Params[k]; v != "" {
				line += " " + k + "=" + v
			}
		}
		lines = append(lines, line)
	}
	return lines
}

func (d v2Demo) advance(dur time.Duration) { d.sim.Advance(dur) }

func (d v2Demo) addPaidOrder(no string, fee int64) bool { return d.sim.AddPaidOrder(no, fee) }

type v3Demo struct {
	sim *wxpayv3test.Sim
	m   testMerchant
}

func (d v3Demo) name() string { return "API v3, public-key mode" }

func (d v3Demo) checkPay(_ string, p wxpay.PayParams) error {
	sig, _ := base64.StdEncoding.DecodeString(p.PaySign)
	sum := sha256.Sum256([]byte(d.m.appID + "\n" + p.TimeStamp + "\n" + p.NonceStr + "\n" + p.Package + "\n"))
	if p.SignType != "RSA" || rsa.VerifyPKCS1v15(&d.m.rsaKey.PublicKey, crypto.SHA256, sum[:], sig) != nil {
		return fmt.Errorf("the RSA paySign does not verify")
	}
	return nil
}

func (d v3Demo) received() []string {
	return append([]string{"(each request's WECHATPAY2-SHA256-RSA2048 Authorization verified with the merchant's key):"}, d.sim.Requests()...)
}

func jsonNotice(n wxpayv3test.Notice) demoNotice {
	return demoNotice{body: n.Body, headers: map[string]any{
		"content-type": "application/json", "wechatpay-timestamp": n.Signed.Timestamp, "wechatpay-nonce": n.Signed.Nonce,
		"wechatpay-signature": n.Signed.Signature, "wechatpay-serial": n.Signed.Serial,
	}}
}

func (d v3Demo) pay(no string) (demoNotice, bool) {
	n, ok := d.sim.Pay(no)
	return jsonNotice(n), ok
}

func (d v3Demo) probe(no string) demoNotice {
	n, _ := d.sim.PaymentNotice(no, true)
	return jsonNotice(n)
}

func (d v3Demo) completeRefund(no string) (demoNotice, bool) {
	n, ok := d.sim.CompleteRefund(no, "SUCCESS")
	return jsonNotice(n), ok
}

func (d v3Demo) accepted(status int, _ []byte) bool { return status == 204 || status == 200 }

func (d v3Demo) calls() []string { return d.sim.Requests() }

func (d v3Demo) advance(dur time.Duration) { d.sim.Advance(dur) }

func (d v3Demo) addPaidOrder(no string, fee int64) bool { return d.sim.AddPaidOrder(no, fee) }
