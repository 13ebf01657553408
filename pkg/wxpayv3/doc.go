// Package wxpayv3 speaks WeChat Pay's merchant API v3: request signing
// (WECHATPAY2-SHA256-RSA2048), verification of every answer and notification
// over its raw bytes with the key its Wechatpay-Serial names (the WeChat Pay
// public key, or platform certificates that a Verifier downloads when it
// meets a serial it lacks, at most once a minute), AEAD_AES_256_GCM
// decryption of notification resources, the RSA paySign of
// wx.requestPayment, and the download of the daily trade bill, streamed and
// checked against its signed hash.
//
// Like package wxpay it reads no environment and holds no global state: keys,
// clock and random source are injected.
//
// https://pay.weixin.qq.com/doc/v3/merchant/4012365342
package wxpayv3
