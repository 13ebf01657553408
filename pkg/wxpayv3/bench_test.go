package wxpayv3

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"testing"
	"time"
)

// BenchmarkPrepayCrypto is the cryptography of one v3 prepay: sign the
// request, verify the answer, sign paySign. Two RSA signatures and one
// verification dominate; the rest is the non-RSA overhead.
func BenchmarkPrepayCrypto(b *testing.B) {
	key := testKey(b)
	s := &Signer{MchID: "1900000109", Serial: "S", Key: key, Rand: rand.Reader}
	keys := PublicKeys{"PUB_KEY_ID_1": &key.PublicKey}
	body := []byte(`{"prepay_id":"wx26112221580621e9b071c00d9e093b0000"}`)
	now := time.Now()
	ans := Signed{Timestamp: strconv.FormatInt(now.Unix(), 10), Nonce: "n", Serial: "PUB_KEY_ID_1"}
	ans.Signature, _ = sign(key, ans.Timestamp+"\nn\n"+string(body)+"\n")
	req := []byte(`{"appid":"wxd678efh567hg6787","mchid":"1900000109","description":"x","out_trade_no":"20261126170000abcdef","notify_url":"https://e.com/n","amount":{"total":180},"payer":{"openid":"o"}}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Authorization("POST", "/v3/pay/transactions/jsapi", req); err != nil {
			b.Fatal(err)
		}
		if err := Verify(keys, ans, body, now); err != nil {
			b.Fatal(err)
		}
		if _, err := s.PayParams("wxd678efh567hg6787", "wx26112221580621e9b071c00d9e093b0000"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNotificationCrypto is one v3 notification: verify, then decrypt.
func BenchmarkNotificationCrypto(b *testing.B) {
	key := testKey(b)
	keys := PublicKeys{"PUB_KEY_ID_1": &key.PublicKey}
	apiKey := []byte("0123456789ABCDEF0123456789abcdef")
	res, _ := Encrypt(apiKey, "fixedNonce12", "transaction", []byte(`{"out_trade_no":"x","trade_state":"SUCCESS","amount":{"total":100}}`))
	body := []byte(`{"id":"1","event_type":"TRANSACTION.SUCCESS","resource":{"ciphertext":"` + res.Ciphertext + `"}}`)
	now := time.Now()
	s := Signed{Timestamp: strconv.FormatInt(now.Unix(), 10), Nonce: "n", Serial: "PUB_KEY_ID_1"}
	s.Signature, _ = sign(key, s.Timestamp+"\nn\n"+string(body)+"\n")
	b.ReportAllocs()
	for b.Loop() {
		if err := Verify(keys, s, body, now); err != nil {
			b.Fatal(err)
		}
		if _, err := Decrypt(apiKey, res); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRSASign and BenchmarkRSAVerify are the RSA operations alone, so
// that the overhead of the benchmarks above can be told apart from them.
func BenchmarkRSASign(b *testing.B) {
	key := testKey(b)
	for b.Loop() {
		if _, err := sign(key, "wx8888888888888888\n1414561699\n5K8264ILTKCH16CQ2502SI8ZNMTM67VS\nprepay_id=wx201410272009395522657a690389285100\n"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRSAVerify(b *testing.B) {
	key := testKey(b)
	msg := "1554208460\nn\n{}\n"
	sig, _ := sign(key, msg)
	raw, _ := base64.StdEncoding.DecodeString(sig)
	sum := sha256.Sum256([]byte(msg))
	for b.Loop() {
		if err := rsa.VerifyPKCS1v15(&key.PublicKey, crypto.SHA256, sum[:], raw); err != nil {
			b.Fatal(err)
		}
	}
}
