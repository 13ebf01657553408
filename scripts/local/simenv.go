package main

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"

	"github.com/wxpay-scf/wxpay-scf/pkg/wxpay/wxpaytest"
)

// testMerchant is a merchant made up for one run: its key, AppSecret,
// session secret and client certificate are generated, so nothing here is a
// real credential. Its files (store, certificates) live in dir.
type testMerchant struct {
	appID, mchID, key, appSecret, sessionSecret string
	certPEM, keyPEM                             []byte
	cert                                        *x509.Certificate
	dir                                         string
}

func newTestMerchant() (testMerchant, error) {
	m := testMerchant{appID: "wx" + randomHex(16), mchID: "1900000109", key: randomHex(32), appSecret: randomHex(32), sessionSecret: randomHex(64)}
	var err error
	if m.certPEM, m.keyPEM, m.cert, err = wxpaytest.NewMerchantCert(m.mchID); err != nil {
		return m, err
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
	*wxpaytest.Sim
	URL    string
	CAFile string // the server certificate, for SSL_CERT_FILE
	srv    *httptest.Server
}

func startSim(m testMerchant, addr string, anyCode bool) (*localSim, error) {
	sim := wxpaytest.New(wxpaytest.Config{AppID: m.appID, MchID: m.mchID, Key: m.key, AppSecret: m.appSecret, AnyCode: anyCode, MerchantCert: m.cert})
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	srv := httptest.NewUnstartedServer(sim)
	srv.Listener.Close()
	srv.Listener = l
	srv.TLS = sim.TLSConfig()
	srv.StartTLS()
	ca := filepath.Join(m.dir, "simulator-ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		srv.Close()
		return nil, err
	}
	return &localSim{Sim: sim, URL: srv.URL, CAFile: ca, srv: srv}, nil
}

func (s *localSim) Close() { s.Sim.Close(); s.srv.Close() }

// startTestMerchant makes up a merchant, serves a simulator for it on a
// free loopback port, and returns the function's environment for both.
func startTestMerchant(anyCode bool, notifyURL string) (*localSim, testMerchant, []string, error) {
	m, err := newTestMerchant()
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
	return []string{
		"WXPAY_APPID=" + m.appID,
		"WXPAY_MCHID=" + m.mchID,
		"WXPAY_KEY=" + m.key,
		"WXPAY_APPSECRET=" + m.appSecret,
		"WXPAY_NOTIFY_URL=" + notifyURL,
		"WXPAY_API_BASE=" + sim.URL,
		"WXPAY_LOGIN_API_BASE=" + sim.URL,
		"WXPAY_SESSION_SECRET=" + m.sessionSecret,
		"WXPAY_CLIENT_CERT=" + string(m.certPEM),
		"WXPAY_CLIENT_KEY=" + string(m.keyPEM),
		"WXPAY_STORE=sqlite:" + filepath.Join(m.dir, "wxpay.db"),
		"SSL_CERT_FILE=" + sim.CAFile, // trust the simulator's TLS certificate
	}
}

// fill replaces {{code}} with a fresh login code and {{openid}} with its user.
func fill(event []byte, sim *localSim) []byte {
	s := string(event)
	const openid = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
	sim.AddUser(openid)
	if strings.Contains(s, "{{code}}") {
		s = strings.ReplaceAll(s, "{{code}}", sim.LoginCode(openid))
	}
	return []byte(strings.ReplaceAll(s, "{{openid}}", openid))
}
