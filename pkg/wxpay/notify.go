package wxpay

import (
	"crypto/aes"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
)

// ErrUndecryptable is a refund notification whose req_info does not decrypt
// under the API key and parse.
var ErrUndecryptable = errors.New("wxpay: req_info does not decrypt")

// PaymentNotification verifies a payment result notification: the document
// is decoded, return_code checked, and the signature verified over every
// field received, with the notification's own sign_type (MD5 when absent),
// before anything is read. A probe with a deliberately wrong signature is
// ErrInvalidSignature like any other.
//
// https://pay.weixin.qq.com/wiki/doc/api/wxa/wxa_api.php?chapter=9_7
func PaymentNotification(body []byte, key string) (*OrderStatus, Params, error) {
	p, err := DecodeXML(body)
	if err != nil {
		return nil, nil, err
	}
	if p["return_code"] != "SUCCESS" {
		return nil, nil, &Error{ReturnCode: "FAIL", ReturnMsg: p["return_msg"]}
	}
	st, err := ParseSignType(p["sign_type"])
	if err != nil {
		return nil, nil, err
	}
	if err := Verify(p, key, st); err != nil {
		return nil, nil, err
	}
	if p["result_code"] != "SUCCESS" {
		return nil, p, &Error{ReturnCode: "SUCCESS", ResultCode: p["result_code"], ErrCode: p["err_code"], ErrCodeDes: p["err_code_des"]}
	}
	status, err := orderStatus(p)
	if err != nil {
		return nil, nil, err
	}
	return status, p, nil
}

// RefundResult is a decrypted refund notification.
type RefundResult struct {
	OutTradeNo    string
	OutRefundNo   string
	RefundID      string
	TransactionID string
	RefundFee     int64
	TotalFee      int64
	RefundStatus  string // SUCCESS, CHANGE or REFUNDCLOSE
}

// RefundNotification reads a refund result notification. It carries no
// sign: req_info is encrypted with AES-256-ECB under the lower-case hex MD5
// of the API key, so only a payload that decrypts and parses is authentic.
// The outer fields (appid, mch_id) are returned for the caller to check.
//
// https://pay.weixin.qq.com/wiki/doc/api/wxa/wxa_api.php?chapter=9_16
func RefundNotification(body []byte, key string) (*RefundResult, Params, error) {
	outer, err := DecodeXML(body)
	if err != nil {
		return nil, nil, err
	}
	if outer["return_code"] != "SUCCESS" {
		return nil, nil, &Error{ReturnCode: "FAIL", ReturnMsg: outer["return_msg"]}
	}
	inner, err := DecryptReqInfo(outer["req_info"], key)
	if err != nil {
		return nil, nil, err
	}
	r := &RefundResult{
		OutTradeNo:    inner["out_trade_no"],
		OutRefundNo:   inner["out_refund_no"],
		RefundID:      inner["refund_id"],
		TransactionID: inner["transaction_id"],
		RefundStatus:  inner["refund_status"],
	}
	var ferr error
	r.RefundFee, ferr = parseFen(inner["refund_fee"])
	if ferr == nil {
		r.TotalFee, ferr = parseFen(inner["total_fee"])
	}
	switch {
	case ferr != nil:
		return nil, nil, ferr
	case r.OutTradeNo == "" || r.OutRefundNo == "":
		return nil, nil, fmt.Errorf("%w: req_info lacks the order or refund number", ErrInvalidField)
	case r.RefundStatus != "SUCCESS" && r.RefundStatus != "CHANGE" && r.RefundStatus != "REFUNDCLOSE":
		return nil, nil, fmt.Errorf("%w: refund_status %q", ErrInvalidField, r.RefundStatus)
	}
	for k, v := range inner {
		outer["req_info."+k] = v
	}
	return r, outer, nil
}

// parseFen reads an amount from WeChat Pay as strictly as one from anyone
// else: canonical digits (no sign, no leading zero) of 1 to MaxTotalFee fen.
func parseFen(s string) (int64, error) {
	var n int64
	if s == "" || len(s) > 10 || s[0] == '0' {
		return 0, fmt.Errorf("%w: amount %q", ErrInvalidField, s)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("%w: amount %q", ErrInvalidField, s)
		}
		n = n*10 + int64(s[i]-'0')
	}
	if n > MaxTotalFee {
		return 0, fmt.Errorf("%w: amount %q", ErrInvalidField, s)
	}
	return n, nil
}

// refundKey is the AES key of req_info: the lower-case hex MD5 of the API
// key, used as 32 ASCII bytes.
func refundKey(key string) []byte {
	sum := md5.Sum([]byte(key))
	return []byte(hex.EncodeToString(sum[:]))
}

// DecryptReqInfo decrypts and parses a refund notification's req_info
// (base64, AES-256-ECB, PKCS#7, plaintext root <root>).
func DecryptReqInfo(reqInfo, key string) (Params, error) {
	ct, err := base64.StdEncoding.DecodeString(reqInfo)
	if err != nil || len(ct) == 0 || len(ct)%aes.BlockSize != 0 {
		return nil, ErrUndecryptable
	}
	block, err := aes.NewCipher(refundKey(key))
	if err != nil {
		return nil, err
	}
	pt := make([]byte, len(ct))
	for i := 0; i < len(ct); i += aes.BlockSize {
		block.Decrypt(pt[i:i+aes.BlockSize], ct[i:i+aes.BlockSize])
	}
	pad := int(pt[len(pt)-1])
	if pad < 1 || pad > aes.BlockSize {
		return nil, ErrUndecryptable
	}
	for _, b := range pt[len(pt)-pad:] {
		if int(b) != pad {
			return nil, ErrUndecryptable
		}
	}
	p, err := decodeFlat(pt[:len(pt)-pad], "root")
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUndecryptable, err)
	}
	return p, nil
}

// EncryptReqInfo is DecryptReqInfo's inverse, for simulators and tests that
// must produce refund notifications.
func EncryptReqInfo(p Params, key string) (string, error) {
	doc, err := EncodeXML(p)
	if err != nil {
		return "", err
	}
	// The same flat document under the root WeChat Pay uses.
	pt := append([]byte("<root>"), doc[len("<xml>"):len(doc)-len("</xml>")]...)
	pt = append(pt, "</root>"...)
	pad := aes.BlockSize - len(pt)%aes.BlockSize
	for i := 0; i < pad; i++ {
		pt = append(pt, byte(pad))
	}
	block, err := aes.NewCipher(refundKey(key))
	if err != nil {
		return "", err
	}
	ct := make([]byte, len(pt))
	for i := 0; i < len(pt); i += aes.BlockSize {
		block.Encrypt(ct[i:i+aes.BlockSize], pt[i:i+aes.BlockSize])
	}
	return base64.StdEncoding.EncodeToString(ct), nil
}

// NotifyReply is the answer WeChat Pay expects to a notification, sent with
// HTTP 200 and Content-Type text/xml: SUCCESS stops its retries, FAIL asks
// for them.
func NotifyReply(ok bool) []byte {
	if ok {
		return []byte("<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>")
	}
	return []byte("<xml><return_code><![CDATA[FAIL]]></return_code><return_msg><![CDATA[FAIL]]></return_msg></xml>")
}
