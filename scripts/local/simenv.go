package main

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/http"
	"strings"

	"github.com/wxpay-scf/wxpay-scf/pkg/wxpay/wxpaytest"
)

// testMerchant is a merchant made up for one run; its key and AppSecret are
// random, so nothing here is a real credential.
type testMerchant struct {
	appID, mchID, key, appSecret string
}

func newTestMerchant() testMerchant {
	return testMerchant{appID: "wx" + randomHex(16), mchID: "1900000109", key: randomHex(32), appSecret: randomHex(32)}
}

func randomHex(n int) string {
	b := make([]byte, n/2)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// localSim is a simulator served on loopback.
type localSim struct {
	*wxpaytest.Sim
	URL string
	srv *http.Server
}

func startSim(m testMerchant, addr string, anyCode bool) (*localSim, error) {
	sim := wxpaytest.New(wxpaytest.Config{AppID: m.appID, MchID: m.mchID, Key: m.key, AppSecret: m.appSecret, AnyCode: anyCode})
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: sim}
	go srv.Serve(l)
	return &localSim{Sim: sim, URL: "http://" + l.Addr().String(), srv: srv}, nil
}

func (s *localSim) Close() { s.Sim.Close(); s.srv.Close() }

// startTestMerchant makes up a merchant, serves a simulator for it on a
// free loopback port, and returns the function's environment for both.
func startTestMerchant(anyCode bool, notifyURL string) (*localSim, testMerchant, []string, error) {
	m := newTestMerchant()
	sim, err := startSim(m, "127.0.0.1:0", anyCode)
	if err != nil {
		return nil, m, nil, err
	}
	return sim, m, m.env(sim.URL, notifyURL), nil
}

// env is the function's environment for the test merchant and simulator.
func (m testMerchant) env(simURL, notifyURL string) []string {
	return []string{
		"WXPAY_APPID=" + m.appID,
		"WXPAY_MCHID=" + m.mchID,
		"WXPAY_KEY=" + m.key,
		"WXPAY_APPSECRET=" + m.appSecret,
		"WXPAY_NOTIFY_URL=" + notifyURL,
		"WXPAY_API_BASE=" + simURL,
		"WXPAY_LOGIN_API_BASE=" + simURL,
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
