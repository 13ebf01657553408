// Package wxpay speaks WeChat Pay's merchant API v2 for JSAPI (mini-program)
// payments: parameter signing (MD5 and HMAC-SHA256), the flat XML codec, a
// client for the merchant API that checks every answer before using it, the
// five parameters wx.requestPayment needs, and the download of the daily
// trade bill, streamed.
//
// The package never reads the environment and holds no global state: the HTTP
// client, base URL, clock and random source are injected through [Client].
//
// Protocol reference: https://pay.weixin.qq.com/wiki/doc/api/wxa/wxa_api.php?chapter=4_3
package wxpay
