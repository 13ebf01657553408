package wxpay

import (
	"crypto/rand"
	"testing"
)

// BenchmarkUnifiedOrderRoundTrip measures the in-process protocol work of one
// unified order: sign and encode the request, then decode and verify the
// answer and check its result, as Client.Call does around the network.
func BenchmarkUnifiedOrderRoundTrip(b *testing.B) {
	const key = "192006250b4c09247ec02edce69f6a2d"
	answer := Params{
		"return_code": "SUCCESS", "return_msg": "OK", "appid": "wxd930ea5d5a258f4f", "mch_id": "10000100",
		"nonce_str": "IITRi8Iabbblz1Jc", "result_code": "SUCCESS",
		"prepay_id": "wx201411101639507cbf6ffd8b0779950874", "trade_type": "JSAPI",
	}
	answer["sign"], _ = Sign(answer, key, SignMD5)
	raw := cdataXML(answer)
	c := &Client{AppID: "wxd930ea5d5a258f4f", MchID: "10000100", Key: key, Rand: rand.Reader}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.encodeRequest(Params{
			"body": "腾讯充值中心-QQ会员充值", "out_trade_no": "20150806125346", "total_fee": "88",
			"spbill_create_ip": "123.12.12.123", "notify_url": "https://example.com/wxpay/notify",
			"trade_type": "JSAPI", "openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
		}); err != nil {
			b.Fatal(err)
		}
		got, err := c.checkAnswer(raw)
		if err != nil || got["prepay_id"] == "" {
			b.Fatal(err)
		}
	}
}

// cdataXML writes p the way WeChat Pay writes its answers: every value in CDATA.
func cdataXML(p Params) []byte {
	out := []byte("<xml>")
	for k, v := range p {
		out = append(out, "<"+k+"><![CDATA["+v+"]]></"+k+">"...)
	}
	return append(out, "</xml>"...)
}

func BenchmarkDecodeXML(b *testing.B) {
	raw := []byte(`<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg><appid><![CDATA[wx2421b1c4370ec43b]]></appid><mch_id><![CDATA[10000100]]></mch_id><nonce_str><![CDATA[IITRi8Iabbblz1Jc]]></nonce_str><sign><![CDATA[7921E432F65EB8ED0CE9755F0E86D72F]]></sign><result_code><![CDATA[SUCCESS]]></result_code><prepay_id><![CDATA[wx201411101639507cbf6ffd8b0779950874]]></prepay_id><trade_type><![CDATA[JSAPI]]></trade_type></xml>`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeXML(raw); err != nil {
			b.Fatal(err)
		}
	}
}
