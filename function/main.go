// Command main is the SCF function: it turns HTTP and direct-invocation
// events into calls of the payment service and maps the outcome back to the
// integrated response, or to a function error for direct callers.
package main

import (
	"crypto/rand"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/tencentyun/scf-go-lib/cloudfunction"
)

func main() {
	a := &app{
		getenv:    os.Getenv,
		log:       slog.New(slog.NewJSONHandler(os.Stdout, nil)),
		transport: http.DefaultTransport,
		now:       time.Now,
		rand:      rand.Reader,
	}
	cloudfunction.Start(a.invoke)
}
