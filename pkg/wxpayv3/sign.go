package wxpayv3

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Scheme is the Authorization scheme of API v3 requests.
const Scheme = "WECHATPAY2-SHA256-RSA2048"

// Signer signs requests and paySigns with the merchant's private key.
type Signer struct {
	MchID  string          // merchant id
	Serial string          // serial number of the merchant API certificate
	Key    *rsa.PrivateKey // the merchant's private key; never logged
	Rand   io.Reader       // nonces; must be cryptographic
	Now    func() time.Time
}

// sign is SHA256-with-RSA (PKCS #1 v1.5) of message, base64.
func sign(key *rsa.PrivateKey, message string) (string, error) {
	sum := sha256.Sum256([]byte(message))
	sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, sum[:])
	if err != nil {
		return "", fmt.Errorf("wxpayv3: signing: %w", err)
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}

// Message is the string a request's signature covers:
// METHOD\nPATH?QUERY\nTIMESTAMP\nNONCE\nBODY\n.
func Message(method, pathQuery, timestamp, nonce string, body []byte) string {
	var b strings.Builder
	b.Grow(len(method) + len(pathQuery) + len(timestamp) + len(nonce) + len(body) + 5)
	b.WriteString(method)
	b.WriteByte('\n')
	b.WriteString(pathQuery)
	b.WriteByte('\n')
	b.WriteString(timestamp)
	b.WriteByte('\n')
	b.WriteString(nonce)
	b.WriteByte('\n')
	b.Write(body)
	b.WriteByte('\n')
	return b.String()
}

func (s *Signer) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Signer) nonce() (string, error) {
	var b [16]byte
	if s.Rand == nil {
		return "", fmt.Errorf("wxpayv3: no random source")
	}
	if _, err := io.ReadFull(s.Rand, b[:]); err != nil {
		return "", fmt.Errorf("wxpayv3: reading randomness: %w", err)
	}
	return strings.ToUpper(hex.EncodeToString(b[:])), nil
}

// Authorization returns the Authorization header for a request, with a
// fresh nonce and the current time.
//
// https://pay.weixin.qq.com/doc/v3/merchant/4012365336
func (s *Signer) Authorization(method, pathQuery string, body []byte) (string, error) {
	nonce, err := s.nonce()
	if err != nil {
		return "", err
	}
	ts := strconv.FormatInt(s.now().Unix(), 10)
	sig, err := sign(s.Key, Message(method, pathQuery, ts, nonce, body))
	if err != nil {
		return "", err
	}
	return fmt.Sprintf(`%s mchid="%s",nonce_str="%s",timestamp="%s",serial_no="%s",signature="%s"`,
		Scheme, s.MchID, nonce, ts, s.Serial, sig), nil
}

// PayParams are the five parameters of wx.requestPayment on API v3.
type PayParams struct {
	TimeStamp string `json:"timeStamp"`
	NonceStr  string `json:"nonceStr"`
	Package   string `json:"package"`
	SignType  string `json:"signType"` // always "RSA"
	PaySign   string `json:"paySign"`
}

// PayParams signs appId\ntimeStamp\nnonceStr\npackage\n for prepayID, which
// must come from a verified prepay answer.
//
// https://pay.weixin.qq.com/doc/v3/merchant/4012365341
func (s *Signer) PayParams(appID, prepayID string) (PayParams, error) {
	nonce, err := s.nonce()
	if err != nil {
		return PayParams{}, err
	}
	p := PayParams{
		TimeStamp: strconv.FormatInt(s.now().Unix(), 10),
		NonceStr:  nonce,
		Package:   "prepay_id=" + prepayID,
		SignType:  "RSA",
	}
	p.PaySign, err = sign(s.Key, appID+"\n"+p.TimeStamp+"\n"+p.NonceStr+"\n"+p.Package+"\n")
	return p, err
}
