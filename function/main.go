// Command main is the SCF function: it turns HTTP and direct-invocation
// events into calls of the payment service and maps the outcome back to the
// integrated response, or to a function error for direct callers.
package main

import (
	"crypto/rand"
	"crypto/tls"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"time"

	"github.com/tencentyun/scf-go-lib/cloudfunction"
	"github.com/wxpay-scf/wxpay-scf/pkg/store"
)

func main() {
	// An instance serves one invocation at a time: one P spares the
	// runtime the wake-ups of idle threads that a second one brings, a
	// sixth of the CPU of a payment. GOMAXPROCS in the environment wins.
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
	a := &app{
		getenv:    os.Getenv,
		log:       slog.New(slog.NewJSONHandler(os.Stdout, nil)),
		transport: http.DefaultTransport,
		certTransport: func(cert tls.Certificate) http.RoundTripper {
			t := http.DefaultTransport.(*http.Transport).Clone()
			t.TLSClientConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
			return t
		},
		now:       time.Now,
		rand:      rand.Reader,
		openStore: store.Open,
	}
	cloudfunction.Start(a.invoke)
}
