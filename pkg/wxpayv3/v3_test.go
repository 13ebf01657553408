package wxpayv3

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/outbound"
)

type vectors struct {
	RSA []struct {
		Message   string `json:"message"`
		Signature string `json:"signature"`
	} `json:"v3_rsa_sha256_pkcs1v15_with_test_key"`
	GCM []struct {
		Key            string `json:"key"`
		Nonce          string `json:"nonce"`
		AssociatedData string `json:"associated_data"`
		Plaintext      string `json:"plaintext"`
		Ciphertext     string `json:"ciphertext_base64"`
	} `json:"v3_aead_aes_256_gcm"`
}

func loadVectors(t *testing.T) vectors {
	t.Helper()
	raw, err := os.ReadFile("../wxpay/testdata/vectors.json") // one copy, beside the v2 vectors
	if err != nil {
		t.Fatal(err)
	}
	var v vectors
	if err := json.Unmarshal(raw, &v); err != nil || len(v.RSA) < 3 || len(v.GCM) < 1 {
		t.Fatalf("vectors: %v", err)
	}
	return v
}

// testKey is the RSA key published as test material with the official
// SDK's tests; its PEM label is TESTING KEY so that it is never mistaken
// for a real one.
func testKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	raw, err := os.ReadFile("testdata/v3-test-key.pem")
	if err != nil {
		t.Fatal(err)
	}
	k, err := ParsePrivateKey(bytes.ReplaceAll(raw, []byte("TESTING KEY"), []byte("PRIVATE KEY")))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestRSAVectors(t *testing.T) {
	key := testKey(t)
	for _, v := range loadVectors(t).RSA {
		got, err := sign(key, v.Message)
		if err != nil || got != v.Signature {
			t.Errorf("%q: got %s, %v", v.Message, got, err)
		}
	}
}

func TestPayParams(t *testing.T) {
	key := testKey(t)
	s := &Signer{MchID: "1900000109", Serial: "S", Key: key, Rand: rand.Reader, Now: func() time.Time { return time.Unix(1414561699, 0) }}
	p, err := s.PayParams("wx8888888888888888", "wx201410272009395522657a690389285100")
	if err != nil || p.SignType != "RSA" || p.TimeStamp != "1414561699" || p.Package != "prepay_id=wx201410272009395522657a690389285100" || len(p.NonceStr) != 32 {
		t.Fatalf("%+v %v", p, err)
	}
	sig, _ := base64.StdEncoding.DecodeString(p.PaySign)
	if err := verifyMessage(&key.PublicKey, "wx8888888888888888\n1414561699\n"+p.NonceStr+"\nprepay_id=wx201410272009395522657a690389285100\n", sig); err != nil {
		t.Fatal(err)
	}
	// The published paySign vector, with its nonce.
	want := loadVectors(t).RSA[2]
	if got, _ := sign(key, want.Message); got != want.Signature {
		t.Fatal("paySign vector")
	}
}

func TestAuthorization(t *testing.T) {
	key := testKey(t)
	now := time.Unix(1554208460, 0)
	s := &Signer{MchID: "1900009191", Serial: "1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C", Key: key, Rand: rand.Reader, Now: func() time.Time { return now }}
	h, err := s.Authorization("POST", "/v3/pay/transactions/jsapi", []byte(`{"a":1}`))
	if err != nil {
		t.Fatal(err)
	}
	fields := map[string]string{}
	rest, ok := strings.CutPrefix(h, Scheme+" ")
	if !ok {
		t.Fatalf("%s", h)
	}
	for _, kv := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(kv, "=")
		fields[k] = strings.Trim(v, `"`)
	}
	if fields["mchid"] != "1900009191" || fields["timestamp"] != "1554208460" || fields["serial_no"] != s.Serial || len(fields["nonce_str"]) != 32 {
		t.Fatalf("%q", fields)
	}
	sig, _ := base64.StdEncoding.DecodeString(fields["signature"])
	if err := verifyMessage(&key.PublicKey, Message("POST", "/v3/pay/transactions/jsapi", "1554208460", fields["nonce_str"], []byte(`{"a":1}`)), sig); err != nil {
		t.Fatal(err)
	}
	if h2, _ := s.Authorization("POST", "/v3/pay/transactions/jsapi", []byte(`{"a":1}`)); h2 == h {
		t.Fatal("nonce reused")
	}
	// The published request vector.
	v := loadVectors(t).RSA[1]
	if Message("GET", "/v3/certificates", "1554208460", "593BEC0C930BF1AFEB40B4A08C8FB242", nil) != v.Message {
		t.Fatal("message layout")
	}
}

func verifyMessage(pub *rsa.PublicKey, msg string, sig []byte) error {
	sum := sha256.Sum256([]byte(msg))
	return rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig)
}

func TestVerify(t *testing.T) {
	key := testKey(t)
	keys := PublicKeys{"PUB_KEY_ID_0114232134912410000000000000": &key.PublicKey}
	now := time.Unix(1790000000, 0)
	body := []byte(`{"prepay_id":"wx26112221580621e9b071c00d9e093b0000"}`)
	signed := func(ts time.Time, nonce string, b []byte) Signed {
		s := Signed{Timestamp: strconv.FormatInt(ts.Unix(), 10), Nonce: nonce, Serial: "PUB_KEY_ID_0114232134912410000000000000"}
		s.Signature, _ = sign(key, s.Timestamp+"\n"+nonce+"\n"+string(b)+"\n")
		return s
	}
	good := signed(now, "abc", body)
	if err := Verify(keys, good, body, now.Add(4*time.Minute)); err != nil {
		t.Fatal(err)
	}
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	cases := map[string]struct {
		s    Signed
		body []byte
		now  time.Time
		want error
	}{
		"tampered body":  {good, []byte(`{"prepay_id":"wx0"}`), now, ErrInvalidSignature},
		"trailing space": {good, append(body, ' '), now, ErrInvalidSignature},
		"stale":          {good, body, now.Add(6 * time.Minute), ErrStaleTimestamp},
		"future":         {good, body, now.Add(-6 * time.Minute), ErrStaleTimestamp},
		"unknown serial": {Signed{good.Timestamp, good.Nonce, good.Signature, "PUB_KEY_ID_other"}, body, now, ErrUnknownSerial},
		"no signature":   {Signed{good.Timestamp, good.Nonce, "", good.Serial}, body, now, ErrMissingSignature},
		"no serial":      {Signed{good.Timestamp, good.Nonce, good.Signature, ""}, body, now, ErrMissingSignature},
		"probe":          {Signed{good.Timestamp, good.Nonce, "WECHATPAY/SIGNTEST/" + good.Signature, good.Serial}, body, now, ErrProbe},
		"not base64":     {Signed{good.Timestamp, good.Nonce, "!!", good.Serial}, body, now, ErrInvalidSignature},
		"other nonce":    {Signed{good.Timestamp, "abd", good.Signature, good.Serial}, body, now, ErrInvalidSignature},
		"bad timestamp":  {Signed{"x", good.Nonce, good.Signature, good.Serial}, body, now, ErrInvalidSignature},
		"another key's": {func() Signed {
			s := good
			s.Signature, _ = sign(other, s.Timestamp+"\n"+s.Nonce+"\n"+string(body)+"\n")
			return s
		}(), body, now, ErrInvalidSignature},
	}
	for name, c := range cases {
		if err := Verify(keys, c.s, c.body, c.now); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", name, err, c.want)
		}
	}
	if !errors.Is(ErrProbe, ErrInvalidSignature) {
		t.Fatal("a probe must be an invalid signature")
	}
}

func TestAEADVector(t *testing.T) {
	v := loadVectors(t).GCM[0]
	r := Resource{Algorithm: AEADAlgorithm, Ciphertext: v.Ciphertext, AssociatedData: v.AssociatedData, Nonce: v.Nonce}
	pt, err := Decrypt([]byte(v.Key), r)
	if err != nil || string(pt) != v.Plaintext {
		t.Fatalf("%q %v", pt, err)
	}
	enc, err := Encrypt([]byte(v.Key), v.Nonce, v.AssociatedData, []byte(v.Plaintext))
	if err != nil || enc.Ciphertext != v.Ciphertext {
		t.Fatalf("encrypt: %+v %v", enc, err)
	}
	for name, mut := range map[string]func(*Resource, *[]byte){
		"wrong key":       func(_ *Resource, k *[]byte) { *k = []byte(strings.Repeat("k", 32)) },
		"short key":       func(_ *Resource, k *[]byte) { *k = []byte("0123456789ABCDEF") },
		"other ad":        func(r *Resource, _ *[]byte) { r.AssociatedData = "certificate" },
		"other nonce":     func(r *Resource, _ *[]byte) { r.Nonce = "fixedNonce13" },
		"short nonce":     func(r *Resource, _ *[]byte) { r.Nonce = "short" },
		"flipped byte":    func(r *Resource, _ *[]byte) { r.Ciphertext = "A" + r.Ciphertext[1:] },
		"not base64":      func(r *Resource, _ *[]byte) { r.Ciphertext = "!!" },
		"other algorithm": func(r *Resource, _ *[]byte) { r.Algorithm = "AEAD_AES_128_GCM" },
	} {
		rr, key := r, []byte(v.Key)
		mut(&rr, &key)
		if _, err := Decrypt(key, rr); err == nil {
			t.Errorf("%s: decrypted", name)
		}
	}
}

func TestParseKeys(t *testing.T) {
	rsaKey := testKey(t)
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)})
	if k, err := ParsePrivateKey(pkcs1); err != nil || !k.Equal(rsaKey) {
		t.Fatalf("PKCS#1: %v", err)
	}
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKCS8PrivateKey(ec)
	for name, p := range map[string][]byte{
		"EC key":     pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER}),
		"not PEM":    []byte("MIIEvg..."),
		"garbage":    pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("x")}),
		"a cert":     pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("x")}),
		"test label": func() []byte { b, _ := os.ReadFile("testdata/v3-test-key.pem"); return b }(),
	} {
		if _, err := ParsePrivateKey(p); !errors.Is(err, ErrKey) {
			t.Errorf("%s: %v", name, err)
		}
	}
	pubDER, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	if k, err := ParsePublicKey(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})); err != nil || !k.Equal(&rsaKey.PublicKey) {
		t.Fatalf("public key: %v", err)
	}
	ecPub, _ := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	if _, err := ParsePublicKey(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: ecPub})); !errors.Is(err, ErrKey) {
		t.Fatalf("EC public key: %v", err)
	}
}

func TestVerifierDownloads(t *testing.T) {
	a, b := testKey(t), mustKey(t)
	keyOf := map[string]*rsa.PrivateKey{"A": a, "B": b, "PUB": b} // any other serial is forged, signed by a
	certs := func(serials ...string) PublicKeys {
		k := PublicKeys{}
		for _, s := range serials {
			k[s] = &keyOf[s].PublicKey
		}
		return k
	}
	errDown := errors.New("HTTP 500")
	type step struct {
		at        time.Duration // since the start
		serial    string
		want      error
		downloads int // in all, after the step
	}
	cases := []struct {
		name  string
		pub   bool                            // the WeChat Pay public key is configured, as PUB
		serve func(n int) (PublicKeys, error) // the nth download, from 1
		steps []step
	}{
		{"a failed first download heals a minute later", false,
			func(n int) (PublicKeys, error) {
				if n == 1 {
					return nil, errDown
				}
				return certs("A"), nil
			},
			[]step{{0, "A", ErrUnknownSerial, 1}, {30 * time.Second, "A", ErrUnknownSerial, 1}, {61 * time.Second, "A", nil, 2}, {62 * time.Second, "A", nil, 2}}},
		{"a rotation heals", false,
			func(n int) (PublicKeys, error) {
				if n == 1 {
					return certs("A"), nil
				}
				return certs("A", "B"), nil
			},
			[]step{{0, "A", nil, 1}, {10 * time.Second, "B", ErrUnknownSerial, 1}, {11 * time.Second, "A", nil, 1}, {70 * time.Second, "B", nil, 2}, {71 * time.Second, "A", nil, 2}}},
		{"forged serials download once a minute", false,
			func(int) (PublicKeys, error) { return certs("A"), nil },
			[]step{{0, "X1", ErrUnknownSerial, 1}, {time.Second, "X2", ErrUnknownSerial, 1}, {59 * time.Second, "X3", ErrUnknownSerial, 1},
				{60 * time.Second, "X4", ErrUnknownSerial, 2}, {61 * time.Second, "A", nil, 2}}},
		{"mixed mode verifies both kinds", true,
			func(int) (PublicKeys, error) { return certs("A"), nil },
			[]step{{0, "PUB", nil, 0}, {0, "A", nil, 1}, {time.Second, "PUB", nil, 1}, {2 * time.Second, "X", ErrUnknownSerial, 1}}},
		{"a public key without certificates", true,
			func(int) (PublicKeys, error) { return nil, errDown },
			[]step{{0, "PUB", nil, 0}, {0, "X", ErrUnknownSerial, 1}, {30 * time.Second, "X", ErrUnknownSerial, 1}, {31 * time.Second, "PUB", nil, 1}}},
	}
	start := time.Unix(1790000000, 0)
	body := []byte(`{"id":"EV-1"}`)
	for _, c := range cases {
		now, downloads := start, 0
		v := &Verifier{Now: func() time.Time { return now }, Download: func(context.Context) (PublicKeys, error) {
			downloads++
			return c.serve(downloads)
		}}
		if c.pub {
			v.PublicKeyID, v.PublicKey = "PUB", &keyOf["PUB"].PublicKey
		}
		for i, s := range c.steps {
			now = start.Add(s.at)
			key := keyOf[s.serial]
			if key == nil {
				key = a
			}
			err := v.Verify(context.Background(), signedNow(t, key, s.serial, now, body), body)
			if !errors.Is(err, s.want) || (s.want == nil) != (err == nil) || downloads != s.downloads {
				t.Errorf("%s, step %d: %v after %d downloads", c.name, i, err, downloads)
			}
		}
	}
}

// Stale and probing messages never cost a download, and a flood of forged
// serials at once costs one.
func TestVerifierDownloadLimit(t *testing.T) {
	key := testKey(t)
	now := time.Unix(1790000000, 0)
	var mu sync.Mutex
	downloads := 0
	v := &Verifier{Now: func() time.Time { return now }, Download: func(context.Context) (PublicKeys, error) {
		mu.Lock()
		downloads++
		mu.Unlock()
		time.Sleep(10 * time.Millisecond) // the others arrive meanwhile
		return PublicKeys{"A": &key.PublicKey}, nil
	}}
	body := []byte(`{}`)
	stale := signedNow(t, key, "X", now.Add(-6*time.Minute), body)
	probe := signedNow(t, key, "X", now, body)
	probe.Signature = "WECHATPAY/SIGNTEST/" + probe.Signature
	if err := v.Verify(context.Background(), stale, body); !errors.Is(err, ErrStaleTimestamp) {
		t.Fatal(err)
	}
	if err := v.Verify(context.Background(), probe, body); !errors.Is(err, ErrProbe) || downloads != 0 {
		t.Fatalf("%v after %d downloads", err, downloads)
	}
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			forged := signedNow(t, key, "FORGED"+strconv.Itoa(i), now, body)
			if err := v.Verify(context.Background(), forged, body); !errors.Is(err, ErrUnknownSerial) {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if downloads != 1 {
		t.Fatalf("%d downloads", downloads)
	}
}

func mustKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// signedNow signs body at now with key, naming serial.
func signedNow(t testing.TB, key *rsa.PrivateKey, serial string, now time.Time, body []byte) Signed {
	s := Signed{Timestamp: strconv.FormatInt(now.Unix(), 10), Nonce: "N" + strconv.FormatInt(now.UnixNano(), 36), Serial: serial}
	var err error
	if s.Signature, err = sign(key, s.Timestamp+"\n"+s.Nonce+"\n"+string(body)+"\n"); err != nil {
		t.Error(err)
	}
	return s
}

// answering is a client of a server that answers every request with body,
// signed with key under the public key id "PUB".
func answering(t *testing.T, key *rsa.PrivateKey, body []byte) *Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { writeSigned(t, w, key, body) }))
	t.Cleanup(srv.Close)
	return clientOf(key, srv.URL)
}

// writeSigned answers body signed with key under the public key id "PUB".
func writeSigned(t testing.TB, w http.ResponseWriter, key *rsa.PrivateKey, body []byte) {
	s := signedNow(t, key, "PUB", time.Now(), body)
	w.Header().Set("Wechatpay-Timestamp", s.Timestamp)
	w.Header().Set("Wechatpay-Nonce", s.Nonce)
	w.Header().Set("Wechatpay-Signature", s.Signature)
	w.Header().Set("Wechatpay-Serial", s.Serial)
	w.Write(body)
}

// clientOf is a client of the server at base that signs with key and
// trusts key's public half as the WeChat Pay public key "PUB".
func clientOf(key *rsa.PrivateKey, base string) *Client {
	return &Client{
		AppID:    "wxd678efh567hg6787",
		Signer:   &Signer{MchID: "1900000109", Serial: "S", Key: key, Rand: rand.Reader},
		Verifier: &Verifier{PublicKeyID: "PUB", PublicKey: &key.PublicKey},
		HTTP:     outbound.Client{BaseURL: base},
	}
}

// A refund query's answer is read as strictly as a notification: the refund
// asked for, a known status, real amounts.
func TestRefundAnswersAreChecked(t *testing.T) {
	key := testKey(t)
	for _, c := range []struct {
		name, answer string
		ok           bool
	}{
		{"processing", `{"out_refund_no":"R-1","refund_id":"50","out_trade_no":"T1","status":"PROCESSING","amount":{"refund":60,"total":180}}`, true},
		{"abnormal", `{"out_refund_no":"R-1","refund_id":"50","out_trade_no":"T1","status":"ABNORMAL","amount":{"refund":2147483647,"total":2147483647}}`, true},
		{"another refund", `{"out_refund_no":"R-2","refund_id":"50","out_trade_no":"T1","status":"SUCCESS","amount":{"refund":60,"total":180}}`, false},
		{"v2 status", `{"out_refund_no":"R-1","refund_id":"50","out_trade_no":"T1","status":"REFUNDCLOSE","amount":{"refund":60,"total":180}}`, false},
		{"no status", `{"out_refund_no":"R-1","refund_id":"50","out_trade_no":"T1","amount":{"refund":60,"total":180}}`, false},
		{"no refund_id", `{"out_refund_no":"R-1","out_trade_no":"T1","status":"SUCCESS","amount":{"refund":60,"total":180}}`, false},
		{"no amount", `{"out_refund_no":"R-1","refund_id":"50","out_trade_no":"T1","status":"SUCCESS"}`, false},
		{"zero refund", `{"out_refund_no":"R-1","refund_id":"50","out_trade_no":"T1","status":"SUCCESS","amount":{"refund":0,"total":180}}`, false},
		{"negative refund", `{"out_refund_no":"R-1","refund_id":"50","out_trade_no":"T1","status":"SUCCESS","amount":{"refund":-60,"total":180}}`, false},
		{"over the total", `{"out_refund_no":"R-1","refund_id":"50","out_trade_no":"T1","status":"SUCCESS","amount":{"refund":181,"total":180}}`, false},
		{"over int32", `{"out_refund_no":"R-1","refund_id":"50","out_trade_no":"T1","status":"SUCCESS","amount":{"refund":60,"total":2147483648}}`, false},
		{"fractional", `{"out_refund_no":"R-1","refund_id":"50","out_trade_no":"T1","status":"SUCCESS","amount":{"refund":0.6,"total":180}}`, false},
	} {
		r, err := answering(t, key, []byte(c.answer)).QueryRefund(context.Background(), "R-1")
		if c.ok != (err == nil) || !c.ok && !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %+v %v", c.name, r, err)
		}
	}
}

// An authentic notification or query answer is still refused when its
// amount is not one WeChat Pay could have taken.
func TestAmountsFromWeChatAreChecked(t *testing.T) {
	key := testKey(t)
	cases := []struct {
		state, total string // total "" leaves the amount out
		ok           bool
	}{
		{"SUCCESS", "180", true},
		{"SUCCESS", "2147483647", true},
		{"SUCCESS", "0", false},
		{"SUCCESS", "-5", false},
		{"SUCCESS", "2147483648", false},
		{"SUCCESS", "", false},
		{"REFUND", "", false},
		{"NOTPAY", "", true}, // an unpaid order's answer may leave it out
		{"NOTPAY", "180", true},
		{"NOTPAY", "-1", false},
	}
	for _, c := range cases {
		amount := ""
		if c.total != "" {
			amount = `,"amount":{"total":` + c.total + `,"currency":"CNY"}`
		}
		tx := []byte(`{"appid":"wxd678efh567hg6787","mchid":"1900000109","out_trade_no":"20261126170000000001","trade_state":"` + c.state + `"` + amount + `}`)
		_, err := answering(t, key, tx).QueryOrder(context.Background(), "20261126170000000001")
		if c.ok != (err == nil) || !c.ok && !errors.Is(err, ErrMalformed) {
			t.Errorf("query, %s %q: %v", c.state, c.total, err)
		}
		if c.state != "SUCCESS" {
			continue
		}
		n := &Notification{EventType: "TRANSACTION.SUCCESS", Plaintext: tx}
		if _, err := n.Transaction(); c.ok != (err == nil) || !c.ok && !errors.Is(err, ErrMalformed) {
			t.Errorf("notification, %q: %v", c.total, err)
		}
	}
}

func TestRefundNotice(t *testing.T) {
	cases := []struct {
		event, status string
		refund, total int64
		ok            bool
	}{
		{"REFUND.SUCCESS", "SUCCESS", 100, 180, true},
		{"REFUND.CLOSED", "CLOSED", 100, 180, true},
		{"REFUND.ABNORMAL", "ABNORMAL", 180, 180, true},
		{"REFUND.SUCCESS", "PROCESSING", 100, 180, false},
		{"REFUND.SUCCESS", "", 100, 180, false},
		{"TRANSACTION.SUCCESS", "SUCCESS", 100, 180, false},
		{"REFUND.SUCCESS", "SUCCESS", 0, 180, false},
		{"REFUND.SUCCESS", "SUCCESS", -5, 180, false},
		{"REFUND.SUCCESS", "SUCCESS", 181, 180, false},
		{"REFUND.SUCCESS", "SUCCESS", 100, MaxAmount + 1, false},
	}
	for _, c := range cases {
		pt, _ := json.Marshal(map[string]any{
			"mchid": "1900000109", "out_trade_no": "20261126170000000001", "out_refund_no": "R-1", "refund_id": "50000000382019052709732678859",
			"refund_status": c.status, "amount": map[string]int64{"refund": c.refund, "total": c.total},
		})
		r, err := (&Notification{EventType: c.event, Plaintext: pt}).Refund()
		if c.ok != (err == nil) || !c.ok && !errors.Is(err, ErrMalformed) || c.ok && r.Amount.Refund != c.refund {
			t.Errorf("%s %s %d of %d: %+v %v", c.event, c.status, c.refund, c.total, r, err)
		}
	}
}
