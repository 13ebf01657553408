package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/wxpay-scf/wxpay-scf/pkg/scflocal"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpay"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpay/wxpaytest"
)

func startFunction(binary string, env []string, out io.Writer) (*scflocal.Process, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return scflocal.Start(ctx, binary, env, out)
}

// printResult prints an invocation's answer: a function error, or the
// payload with an integrated response's body unpacked.
func printResult(w io.Writer, r *scflocal.Result) {
	if r.Error != nil {
		fmt.Fprintf(w, "function error (%s): %s\n", r.Error.Type, r.Error.Message)
		return
	}
	var resp struct {
		StatusCode *int              `json:"statusCode"`
		Headers    map[string]string `json:"headers"`
		Body       string            `json:"body"`
	}
	if json.Unmarshal(r.Payload, &resp) == nil && resp.StatusCode != nil {
		fmt.Fprintf(w, "HTTP %d %s\n", *resp.StatusCode, resp.Headers["Content-Type"])
		fmt.Fprintln(w, indent([]byte(resp.Body)))
		return
	}
	fmt.Fprintln(w, indent(r.Payload))
}

func indent(b []byte) string {
	var out bytes.Buffer
	if json.Indent(&out, b, "  ", "  ") != nil {
		return "  " + string(b)
	}
	return "  " + out.String()
}

func invoke(args []string) error {
	fs := flag.NewFlagSet("invoke", flag.ExitOnError)
	binary := fs.String("binary", "build/main", "the built function")
	eventFile := fs.String("event", "scripts/events/function_url.json", "event file")
	useSim := fs.Bool("sim", false, "run against a simulated WeChat Pay with a generated test merchant")
	v3 := fs.Bool("v3", false, "with -sim, a merchant on API v3")
	timeout := fs.Duration("timeout", 3*time.Second, "the invocation's timeout, as configured on SCF")
	fs.Parse(args)
	event, err := os.ReadFile(*eventFile)
	if err != nil {
		return err
	}
	var env []string
	if *useSim {
		sim, _, simEnv, err := startTestMerchant(*v3, false, "http://127.0.0.1:9000/release/notify")
		if err != nil {
			return err
		}
		defer sim.Close()
		env = simEnv
		event = fill(event, sim)
	}
	fn, err := startFunction(*binary, env, os.Stderr)
	if err != nil {
		return err
	}
	defer fn.Close()
	r, err := fn.Invoke(event, *timeout, "local-"+randomHex(8))
	if err != nil {
		return err
	}
	printResult(os.Stdout, r)
	return nil
}

func runSim(args []string) error {
	fs := flag.NewFlagSet("sim", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:9100", "listen address (loopback)")
	fs.Parse(args)
	m, err := newTestMerchant(false)
	if err != nil {
		return err
	}
	sim, err := startSim(m, *addr, true)
	if err != nil {
		return err
	}
	defer sim.Close()
	fmt.Printf("simulated WeChat Pay at %s (any wx.login code is accepted once). Point the function at it with:\n", sim.URL)
	for _, kv := range m.env(sim, "http://127.0.0.1:9000/release/notify") {
		name, value, _ := strings.Cut(kv, "=")
		if strings.Contains(value, "\n") { // PEM: written to a file, exported from it
			file := filepath.Join(m.dir, strings.ToLower(name)+".pem")
			if err := os.WriteFile(file, []byte(value), 0o600); err != nil {
				return err
			}
			fmt.Printf("  export %s=\"$(cat %s)\"\n", name, file)
			continue
		}
		fmt.Printf("  export %s=%s\n", name, value)
	}
	waitForInterrupt()
	return nil
}

func waitForInterrupt() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, os.Interrupt)
	<-c
}

// serve turns real HTTP requests into Function URL events, so curl or WeChat
// DevTools can call the function on localhost.
func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	binary := fs.String("binary", "build/main", "the built function")
	addr := fs.String("addr", "127.0.0.1:9000", "listen address (loopback)")
	useSim := fs.Bool("sim", false, "run against a simulated WeChat Pay that accepts any wx.login code once")
	v3 := fs.Bool("v3", false, "with -sim, a merchant on API v3")
	timeout := fs.Duration("timeout", 10*time.Second, "each invocation's timeout")
	fs.Parse(args)
	var env []string
	var sim *localSim
	var m testMerchant
	if *useSim {
		var err error
		if sim, m, env, err = startTestMerchant(*v3, true, "http://"+*addr+"/notify"); err != nil {
			return err
		}
		defer sim.Close()
		fmt.Printf("simulated WeChat Pay at %s\n", sim.URL)
	}
	fn, err := startFunction(*binary, env, os.Stderr)
	if err != nil {
		return err
	}
	defer fn.Close()
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { proxy(w, r, fn, *timeout) })
	if sim != nil {
		// Play the user paying (WeChat DevTools cannot): the order is paid
		// at the simulator and its notification delivered to …/notify.
		wechat := newDemoWeChat(sim, m)
		mux.HandleFunc("POST /_sim/pay/{no}", func(w http.ResponseWriter, r *http.Request) {
			note, ok := wechat.pay(r.PathValue("no"))
			if !ok {
				http.Error(w, "no unpaid order with that number at the simulator", http.StatusNotFound)
				return
			}
			res := wxpaytest.Notify(r.Context(), func(ctx context.Context, _ []byte) ([]byte, error) {
				req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/notify", bytes.NewReader(note.body))
				for k, v := range note.headers {
					req.Header.Set(k, v.(string))
				}
				rec := httptest.NewRecorder()
				proxy(rec, req, fn, *timeout)
				if !wechat.accepted(rec.Code, rec.Body.Bytes()) {
					return rec.Body.Bytes(), nil
				}
				return wxpay.NotifyReply(true), nil // delivered, in the retry loop's terms
			}, nil, wxpaytest.NotifyOptions{TimeScale: 1e-4})
			fmt.Fprintf(w, "paid; notification delivered=%v after %d attempt(s)\n", res.Delivered, res.Attempts)
		})
	}
	srv := &http.Server{Addr: *addr, Handler: mux}
	fmt.Printf("function serving on http://%s (started in %v); try:\n  curl -s -X POST http://%s/pay -d '{\"total_fee\":1,\"code\":\"any-code\"}'\n", *addr, fn.Started.Round(time.Microsecond), *addr)
	if sim != nil {
		fmt.Printf("  curl -s -X POST http://%s/_sim/pay/<out_trade_no>     # the user pays; the notification follows\n", *addr)
	}
	go srv.ListenAndServe()
	waitForInterrupt()
	return srv.Close()
}

func proxy(w http.ResponseWriter, r *http.Request, fn *scflocal.Process, timeout time.Duration) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 6<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	headers := map[string]any{}
	for k, vs := range r.Header {
		if len(vs) == 1 {
			headers[strings.ToLower(k)] = vs[0]
		} else {
			headers[strings.ToLower(k)] = vs
		}
	}
	headers["x-scf-remote-addr"] = r.RemoteAddr // the platform's word, never a client header
	query := map[string]any{}
	for k, vs := range r.URL.Query() {
		query[k] = vs[0]
		if len(vs) > 1 {
			query[k] = vs
		}
	}
	ev := map[string]any{"httpMethod": r.Method, "path": r.URL.Path, "headers": headers, "queryString": query, "body": string(body)}
	if !utf8.Valid(body) {
		ev["body"], ev["isBase64Encoded"] = base64.StdEncoding.EncodeToString(body), true
	}
	event, _ := json.Marshal(ev)
	res, err := fn.Invoke(event, timeout, "local-"+randomHex(8))
	if err != nil || res.Error != nil {
		w.WriteHeader(http.StatusBadGateway)
		if err == nil {
			fmt.Fprintf(w, "function error: %s\n", res.Error.Message)
		}
		return
	}
	var resp struct {
		IsBase64Encoded bool              `json:"isBase64Encoded"`
		StatusCode      int               `json:"statusCode"`
		Headers         map[string]string `json:"headers"`
		Body            string            `json:"body"`
	}
	if err := json.Unmarshal(res.Payload, &resp); err != nil || resp.StatusCode == 0 {
		w.Header().Set("Content-Type", "application/json")
		w.Write(res.Payload)
		return
	}
	for k, v := range resp.Headers {
		w.Header().Set(k, v)
	}
	w.WriteHeader(resp.StatusCode)
	out := []byte(resp.Body)
	if resp.IsBase64Encoded {
		out, _ = base64.StdEncoding.DecodeString(resp.Body)
	}
	w.Write(out)
}

// coldStart measures exec → first Function.Ping answered, n times.
func coldStart(args []string) error {
	fs := flag.NewFlagSet("coldstart", flag.ExitOnError)
	binary := fs.String("binary", "build/main", "the built function")
	n := fs.Int("n", 30, "starts to measure")
	payments := fs.Int("payments", 1000, "payments to run when measuring memory")
	fs.Parse(args)
	info, err := os.Stat(*binary)
	if err != nil {
		return err
	}
	var times []time.Duration
	for i := 0; i < *n; i++ {
		fn, err := startFunction(*binary, nil, io.Discard)
		if err != nil {
			return err
		}
		times = append(times, fn.Started)
		fn.Close()
	}
	slices.Sort(times)
	fmt.Printf("binary %s: %.1f MB\ncold start (exec → first Function.Ping answered), %d runs: min %v, median %v, p90 %v, max %v\n",
		*binary, float64(info.Size())/1e6, *n,
		times[0].Round(10*time.Microsecond), times[len(times)/2].Round(10*time.Microsecond),
		times[len(times)*9/10].Round(10*time.Microsecond), times[len(times)-1].Round(10*time.Microsecond))
	return peakMemory(*binary, *payments)
}

// peakMemory runs payments against a simulator and reports the binary's
// peak resident memory, the figure SCF's memory tier must hold.
func peakMemory(binary string, payments int) error {
	sim, _, env, err := startTestMerchant(false, false, "https://pay.example.com/notify")
	if err != nil {
		return err
	}
	defer sim.Close()
	fn, err := startFunction(binary, env, io.Discard)
	if err != nil {
		return err
	}
	defer fn.Close()
	event, err := os.ReadFile("scripts/events/function_url.json")
	if err != nil {
		return err
	}
	var worst time.Duration
	for i := 0; i < payments; i++ {
		start := time.Now()
		r, err := fn.Invoke(fill(event, sim), 3*time.Second, "measure")
		if err != nil || r.Error != nil || !bytes.Contains(r.Payload, []byte(`"statusCode":200`)) {
			return fmt.Errorf("payment %d failed: %v %+v", i, err, r)
		}
		worst = max(worst, time.Since(start))
	}
	peak, err := vmHWM(fn.PID())
	if err != nil {
		return err
	}
	fmt.Printf("peak resident memory after %d payments over the SCF protocol: %d kB (slowest invocation %v)\n",
		payments, peak, worst.Round(10*time.Microsecond))
	return nil
}

// vmHWM is the peak resident memory of process pid so far, in kB, as
// Linux counts it.
func vmHWM(pid int) (int, error) { return procStatus(pid, "VmHWM") }

// procStatus is the number of field (VmRSS, Threads…) in
// /proc/<pid>/status, without its unit.
func procStatus(pid int, field string) (int, error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}
