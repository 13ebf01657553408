package wxpaytest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/http"
	"time"
)

// NewMerchantCert generates a merchant API client certificate for tests
// (WeChat Pay issues real ones with the merchant id as common name). It
// returns the certificate and key as PEM, as WXPAY_CLIENT_CERT and
// WXPAY_CLIENT_KEY hold them, and the parsed certificate for
// Config.MerchantCert.
func NewMerchantCert(mchID string) (certPEM, keyPEM []byte, cert *x509.Certificate, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: mchID, Organization: []string{"TEST merchant certificate"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, nil, err
	}
	cert, err = x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), cert, nil
}

// presentsMerchantCert reports whether the request came over TLS with the
// merchant's client certificate.
func (s *Sim) presentsMerchantCert(r *http.Request) bool {
	want := s.cfg.MerchantCert
	return want != nil && r.TLS != nil && len(r.TLS.PeerCertificates) > 0 &&
		bytes.Equal(r.TLS.PeerCertificates[0].Raw, want.Raw)
}

// TLSConfig is the server side of mutual TLS for a simulator served with
// httptest.NewUnstartedServer: it asks every client for its certificate,
// and the /secapi/ handlers check it is the merchant's.
func (s *Sim) TLSConfig() *tls.Config {
	return &tls.Config{ClientAuth: tls.RequestClientCert, MinVersion: tls.VersionTLS12}
}

// CertTransport calls the simulator in process as a client presenting cert,
// as if over mutual TLS.
func (s *Sim) CertTransport(cert tls.Certificate) http.RoundTripper {
	leaf := cert.Leaf
	if leaf == nil && len(cert.Certificate) > 0 {
		leaf, _ = x509.ParseCertificate(cert.Certificate[0])
	}
	return certTransport{s: s, leaf: leaf}
}

type certTransport struct {
	s    *Sim
	leaf *x509.Certificate
}

func (t certTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.TLS = &tls.ConnectionState{HandshakeComplete: true}
	if t.leaf != nil {
		r.TLS.PeerCertificates = []*x509.Certificate{t.leaf}
	}
	return transport{t.s}.RoundTrip(r)
}
