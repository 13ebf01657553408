//go:build unix

package webhook_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/wxpay-scf/wxpay-scf/internal/benchcpu"
	"github.com/wxpay-scf/wxpay-scf/pkg/webhook"
)

// benchEvent is an order.paid event as the function delivers it.
var benchEvent = []byte(`{"id":"evt_019ad3f2a4c07f3a9b2c4d5e6f708192a3b4","type":"order.paid","created_at":"2026-11-30T17:00:42+08:00",` +
	`"data":{"out_trade_no":"20261130170000123456789012345678","state":"SUCCESS","total_fee":180,"description":"会员月卡",` +
	`"transaction_id":"4200002345202611301234567890","created_at":"2026-11-30T17:00:00+08:00","paid_at":"2026-11-30T17:00:42+08:00",` +
	`"refunds":[],"openid":"oUpF8uMuAJO_M2pxb1Q9zNjWeS6o","attach":"plan=monthly","request_id":"cart-7"}}`)

// receiverEnv makes the test binary BenchmarkSend's receiver instead of
// running tests (see TestMain).
const receiverEnv = "WEBHOOK_BENCH_RECEIVER"

// TestMain serves as the receiver when receiverEnv says so: "http" or
// "https" on a loopback port, answering 204 to everything until its stdin
// closes. It prints the URL, then the certificate (base64 DER) to trust.
func TestMain(m *testing.M) {
	mode := os.Getenv(receiverEnv)
	if mode == "" {
		os.Exit(m.Run())
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	if mode == "https" {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	cert := ""
	if srv.Certificate() != nil {
		cert = base64.StdEncoding.EncodeToString(srv.Certificate().Raw)
	}
	fmt.Printf("%s\n%s\n", srv.URL, cert)
	_, _ = io.Copy(io.Discard, os.Stdin)
	srv.Close()
	os.Exit(0)
}

// startReceiverProcess runs the receiver in a child process, so that the
// benchmark's CPU time is the sender's alone, and returns its URL and a
// transport that trusts it.
func startReceiverProcess(b *testing.B, mode string, keepAlive bool) (string, *http.Transport) {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), receiverEnv+"="+mode)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		stdin.Close()
		cmd.Wait()
	})
	out := bufio.NewReader(stdout)
	url, err := out.ReadString('\n')
	if err != nil {
		b.Fatal(err)
	}
	cert, err := out.ReadString('\n')
	if err != nil {
		b.Fatal(err)
	}
	// The transport a Sender uses by default, told to trust the receiver.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DisableKeepAlives = !keepAlive
	if der, _ := base64.StdEncoding.DecodeString(strings.TrimSpace(cert)); len(der) > 0 {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			b.Fatal(err)
		}
		roots := x509.NewCertPool()
		roots.AddCert(c)
		tr.TLSClientConfig = &tls.Config{RootCAs: roots}
	}
	b.Cleanup(tr.CloseIdleConnections)
	return strings.TrimSpace(url), tr
}

// BenchmarkSend measures one delivery attempt of an order.paid event to a
// local receiver (another process, which answers 204): signing, the POST
// and its answer. Over http and https on a kept-alive connection, as a
// warm instance's deliveries go, and over https on a new connection each
// time, which adds the TLS handshake (a cold instance's first delivery, or
// one after the connection idled out). The receiver's certificate is the
// httptest one, RSA 2048; verifying it is the sender's part.
func BenchmarkSend(b *testing.B) {
	secret, err := webhook.ParseSecret(secretOf(32, 's'))
	if err != nil {
		b.Fatal(err)
	}
	for _, tt := range []struct {
		name      string
		mode      string
		keepAlive bool
	}{
		{"http", "http", true},
		{"https", "https", true},
		{"https_new_connection", "https", false},
	} {
		b.Run(tt.name, func(b *testing.B) {
			url, tr := startReceiverProcess(b, tt.mode, tt.keepAlive)
			s := &webhook.Sender{URL: url + "/events", Secret: secret, Transport: tr}
			ctx := context.Background()
			b.ReportAllocs()
			stop := benchcpu.Start(b)
			for b.Loop() {
				if err := s.Send(ctx, "evt_019ad3f2a4c07f3a9b2c4d5e6f708192a3b4", benchEvent); err != nil {
					b.Fatal(err)
				}
			}
			stop()
		})
	}
}
