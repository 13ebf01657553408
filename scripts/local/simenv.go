package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"

	"github.com/wxpay-scf/wxpay-scf/pkg/wxpay/wxpaytest"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpayv3/wxpayv3test"
)

// testMerchant is a merchant made up for one run: its key, AppSecret,
// session secret and client certificate are generated, so nothing here is a
// real credential. Its files (store, certificates) live in dir.
type testMerchant struct {
	appID, mchID, key, appSecret, sessionSecret string
	certPEM, keyPEM                             []byte
	cert                                        *x509.Certificate
	dir                                         string
	// API v3: the merchant's RSA key and certificate serial, the APIv3 key.
	v3        bool
	rsaKey    *rsa.PrivateKey
	mchSerial string
	apiV3Key  string
}

func newTestMerchant(v3 bool) (testMerchant, error) {
	m := testMerchant{appID: "wx" + randomHex(16), mchID: "1900000109", key: randomHex(32), appSecret: randomHex(32), sessionSecret: randomHex(64)}
	var err error
	if m.certPEM, m.keyPEM, m.cert, err = wxpaytest.NewMerchantCert(m.mchID); err != nil {
		return m, err
	}
	if v3 {
		m.v3, m.mchSerial, m.apiV3Key = true, strings.ToUpper(randomHex(40)), randomHex(32)
		if m.rsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			return m, err
		}
	}
	m.dir, err = os.MkdirTemp("", "wxpay-local-")
	return m, err
}

func randomHex(n int) string {
	b := make([]byte, n/2)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// localSim is a simulator served over TLS on loopback, asking clients for
// their certificate as WeChat Pay's /secapi/ does.
type localSim struct {
	*wxpaytest.Sim                  // the login API, and the merchant API v2
	v3             *wxpayv3test.Sim // the merchant API v3, for a v3 merchant
	URL            string
	CAFile         string // the server certificate, for SSL_CERT_FILE
	srv            *httptest.Server
}

func startSim(m testMerchant, addr string, anyCode bool) (*localSim, error) {
	sim := wxpaytest.New(wxpaytest.Config{AppID: m.appID, MchID: m.mchID, Key: m.key, AppSecret: m.appSecret, AnyCode: anyCode, MerchantCert: m.cert})
	var handler http.Handler = sim
	var sim3 *wxpayv3test.Sim
	if m.v3 {
		var err error
		sim3, err = wxpayv3test.New(wxpayv3test.Config{
			AppID: m.appID, MchID: m.mchID, APIv3Key: []byte(m.apiV3Key), MerchantKey: &m.rsaKey.PublicKey, MerchantSerial: m.mchSerial,
			AnyPayer: anyCode,
		})
		if err != nil {
			return nil, err
		}
		mux := http.NewServeMux()
		mux.Handle("/sns/", sim)
		mux.Handle("/", sim3)
		handler = mux
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	srv := httptest.NewUnstartedServer(handler)
	srv.Listener.Close()
	srv.Listener = l
	srv.TLS = sim.TLSConfig()
	srv.StartTLS()
	ca := filepath.Join(m.dir, "simulator-ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		srv.Close()
		return nil, err
	}
	return &localSim{Sim: sim, v3: sim3, URL: srv.URL, CAFile: ca, srv: srv}, nil
}

// login issues a wx.login code for openid, who becomes a user of the
// mini-program at both simulators.
func (s *localSim) login(openid string) string {
	if s.v3 != nil {
		s.v3.AddUser(openid)
	}
	return s.LoginCode(openid)
}

func (s *localSim) Close() {
	s.Sim.Close()
	if s.v3 != nil {
		s.v3.Close()
	}
	s.srv.Close()
}

// startTestMerchant makes up a merchant, serves a simulator for it on a
// free loopback port, and returns the function's environment for both.
func startTestMerchant(v3, anyCode bool, notifyURL string) (*localSim, testMerchant, []string, error) {
	m, err := newTestMerchant(v3)
	if err != nil {
		return nil, m, nil, err
	}
	sim, err := startSim(m, "127.0.0.1:0", anyCode)
	if err != nil {
		return nil, m, nil, err
	}
	return sim, m, m.env(sim, notifyURL), nil
}

// env is the function's environment for the test merchant and simulator.
func (m testMerchant) env(sim *localSim, notifyURL string) []string {
	env := []string{
		"WXPAY_APPID=" + m.appID,
		"WXPAY_MCHID=" + m.mchID,
		"WXPAY_APPSECRET=" + m.appSecret,
		"WXPAY_NOTIFY_URL=" + notifyURL,
		"WXPAY_API_BASE=" + sim.URL,
		"WXPAY_LOGIN_API_BASE=" + sim.URL,
		"WXPAY_SESSION_SECRET=" + m.sessionSecret,
		"WXPAY_STORE=sqlite:" + filepath.Join(m.dir, "wxpay.db"),
		"SSL_CERT_FILE=" + sim.CAFile, // trust the simulator's TLS certificate
	}
	if !m.v3 {
		return append(env,
			"WXPAY_KEY="+m.key,
			"WXPAY_CLIENT_CERT="+string(m.certPEM),
			"WXPAY_CLIENT_KEY="+string(m.keyPEM))
	}
	der, _ := x509.MarshalPKCS8PrivateKey(m.rsaKey)
	return append(env,
		"WXPAY_API_VERSION=v3",
		"WXPAY_APIV3_KEY="+m.apiV3Key,
		"WXPAY_MCH_SERIAL="+m.mchSerial,
		"WXPAY_MCH_PRIVATE_KEY="+string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"WXPAY_PUBLIC_KEY="+string(sim.v3.PublicKeyPEM()),
		"WXPAY_PUBLIC_KEY_ID="+wxpayv3test.PublicKeyID)
}

// fill replaces {{code}} with a fresh login code and {{openid}} with its user.
func fill(event []byte, sim *localSim) []byte {
	s := string(event)
	const openid = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
	code := sim.login(openid)
	s = strings.ReplaceAll(s, "{{code}}", code)
	return []byte(strings.ReplaceAll(s, "{{openid}}", openid))
}
