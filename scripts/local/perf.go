package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// perfOpenID is the payer of every measured payment.
const perfOpenID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"

// perfPayEvent is a direct pay invocation, which the floor takes too.
var perfPayEvent = `{"total_fee":180,"spbill_create_ip":"1.2.3.4","openid":"` + perfOpenID + `"}`

// errOutOfTime ends a measurement that has run past its -max-time.
var errOutOfTime = errors.New("out of time (-max-time)")

// perfRig is a test merchant on API v2 with its simulator, and the
// binaries' environment for both.
type perfRig struct {
	sim    *localSim
	m      testMerchant
	env    []string
	wechat demoWeChat
}

func startPerfRig() (*perfRig, error) {
	sim, m, env, err := startTestMerchant(false, false, "https://pay.example.com/notify")
	if err != nil {
		return nil, err
	}
	sim.login(perfOpenID)
	return &perfRig{sim: sim, m: m, env: env, wechat: newDemoWeChat(sim, m)}, nil
}

func (r *perfRig) Close() {
	r.sim.Close()
	os.RemoveAll(r.m.dir)
}

// start runs binary against the rig's simulator; its log is dropped.
func (r *perfRig) start(binary string) (*demoRun, error) {
	fn, err := startFunction(binary, r.env, io.Discard)
	if err != nil {
		return nil, err
	}
	return &demoRun{fn: fn, sim: r.sim}, nil
}

// pay makes one direct payment and returns its out_trade_no ("" from the
// floor, which keeps none) and its wall time.
func pay(d *demoRun) (string, time.Duration, error) {
	start := time.Now()
	out, err := d.direct(perfPayEvent, "perf-pay")
	took := time.Since(start)
	if err != nil {
		return "", took, err
	}
	var res struct {
		OutTradeNo string `json:"out_trade_no"`
		Data       struct {
			Package string `json:"package"`
		} `json:"data"`
		Package string `json:"package"` // the floor's answer is the parameters alone
	}
	if json.Unmarshal(out, &res) != nil || !strings.HasPrefix(res.Data.Package+res.Package, "prepay_id=") {
		return "", took, fmt.Errorf("pay answered %.200s", out)
	}
	return res.OutTradeNo, took, nil
}

// notify plays the user paying order no and delivers WeChat Pay's signed
// notification to the function's …/notify; the wall time is the delivery's.
func (r *perfRig) notify(d *demoRun, no string) (time.Duration, error) {
	note, ok := r.wechat.pay(no)
	if !ok {
		return 0, fmt.Errorf("order %s cannot be paid at the simulator", no)
	}
	start := time.Now()
	status, body, err := d.call("POST", "/release/notify", string(note.body), note.headers)
	took := time.Since(start)
	if err == nil && !r.wechat.accepted(status, body) {
		err = fmt.Errorf("the notification of %s got HTTP %d %.200s", no, status, body)
	}
	return took, err
}

// batch runs call n times in a row and returns the function's CPU time per
// call and each call's wall time.
func batch(d *demoRun, n int, deadline time.Time, call func(i int) (time.Duration, error)) (time.Duration, []time.Duration, error) {
	before, err := procCPU(d.fn.PID())
	if err != nil {
		return 0, nil, err
	}
	lat := make([]time.Duration, 0, n)
	for i := 0; i < n; i++ {
		if time.Now().After(deadline) {
			return 0, nil, errOutOfTime
		}
		took, err := call(i)
		if err != nil {
			return 0, nil, err
		}
		lat = append(lat, took)
	}
	after, err := procCPU(d.fn.PID())
	if err != nil {
		return 0, nil, err
	}
	return (after - before) / time.Duration(n), lat, nil
}

// perfFigures are what perf measures of one binary.
type perfFigures struct {
	cpu           []time.Duration // per call, one figure per batch
	lat           []time.Duration // every call's
	starts        []time.Duration
	rssKB, hwmKB  int
	anonKB        int // of rssKB, anonymous memory (heap, SQLite's cache…)
	fileKB        int // of rssKB, the binary's own pages and other files
	binary, zip   int64
	notifyCPU     []time.Duration
	notifyLat     []time.Duration
	walBytes      int64
	calls         int
	rounds, batch int
}

// perf measures the built function against the floor, the least a Go
// function on SCF does for a payment, over the SCF protocol against the
// simulator, the two interleaved so that the machine's noise falls on both.
func perf(args []string) error {
	fs := flag.NewFlagSet("perf", flag.ExitOnError)
	binary := fs.String("binary", "build/main", "the built function")
	floor := fs.String("floor", "build/perffloor", "the built floor (scripts/perffloor)")
	rounds := fs.Int("rounds", 10, "batches of each binary, interleaved")
	size := fs.Int("batch", 2000, "calls in a batch (CPU is read in 10 ms ticks: 5 µs a call)")
	starts := fs.Int("starts", 30, "cold starts of each binary")
	calls := fs.Int("calls", 20000, "invocations of each binary before its resident memory is read")
	maxTime := fs.Duration("max-time", 15*time.Minute, "the whole run's bound")
	fs.Parse(args)
	deadline := time.Now().Add(*maxTime)
	rig, err := startPerfRig()
	if err != nil {
		return err
	}
	defer rig.Close()
	prod, flo := &perfFigures{rounds: *rounds, batch: *size}, &perfFigures{rounds: *rounds, batch: *size}
	for name, f := range map[string]*perfFigures{*binary: prod, *floor: flo} {
		info, err := os.Stat(name)
		if err != nil {
			return err
		}
		f.binary = info.Size()
		if f.zip, err = writeZip(name, filepath.Join(rig.m.dir, filepath.Base(name)+".zip")); err != nil {
			return err
		}
	}
	for i := 0; i < *starts; i++ {
		for _, b := range []struct {
			name string
			f    *perfFigures
		}{{*binary, prod}, {*floor, flo}} {
			if time.Now().After(deadline) {
				return errOutOfTime
			}
			d, err := rig.start(b.name)
			if err != nil {
				return err
			}
			b.f.starts = append(b.f.starts, d.fn.Started)
			d.fn.Close()
			d.fn.Wait()
		}
	}
	p, err := rig.start(*binary)
	if err != nil {
		return err
	}
	defer p.fn.Close()
	fl, err := rig.start(*floor)
	if err != nil {
		return err
	}
	defer fl.fn.Close()
	for r := 0; r < *rounds; r++ {
		nos := make([]string, *size)
		cpu, lat, err := batch(p, *size, deadline, func(i int) (time.Duration, error) {
			var took time.Duration
			var err error
			nos[i], took, err = pay(p)
			return took, err
		})
		if err != nil {
			return err
		}
		prod.cpu, prod.lat = append(prod.cpu, cpu), append(prod.lat, lat...)
		if cpu, lat, err = batch(fl, *size, deadline, func(int) (time.Duration, error) { _, took, err := pay(fl); return took, err }); err != nil {
			return err
		}
		flo.cpu, flo.lat = append(flo.cpu, cpu), append(flo.lat, lat...)
		if cpu, lat, err = batch(p, *size, deadline, func(i int) (time.Duration, error) { return rig.notify(p, nos[i]) }); err != nil {
			return err
		}
		prod.notifyCPU, prod.notifyLat = append(prod.notifyCPU, cpu), append(prod.notifyLat, lat...)
	}
	prod.calls, flo.calls = 2**rounds**size, *rounds**size
	for _, b := range []struct {
		d *demoRun
		f *perfFigures
	}{{p, prod}, {fl, flo}} {
		for ; b.f.calls < *calls; b.f.calls++ {
			if time.Now().After(deadline) {
				return errOutOfTime
			}
			if _, _, err := pay(b.d); err != nil {
				return err
			}
		}
		if b.f.rssKB, err = procStatus(b.d.fn.PID(), "VmRSS"); err != nil {
			return err
		}
		if b.f.hwmKB, err = vmHWM(b.d.fn.PID()); err != nil {
			return err
		}
		if b.f.anonKB, err = procStatus(b.d.fn.PID(), "RssAnon"); err != nil {
			return err
		}
		if b.f.fileKB, err = procStatus(b.d.fn.PID(), "RssFile"); err != nil {
			return err
		}
	}
	if info, err := os.Stat(filepath.Join(rig.m.dir, "wxpay.db-wal")); err == nil {
		prod.walBytes = info.Size()
	}
	printPerf(prod, flo)
	return nil
}

func printPerf(prod, flo *perfFigures) {
	us := func(d time.Duration) string { return fmt.Sprintf("%.0f µs", float64(d)/1e3) }
	ms := func(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/1e6) }
	mb := func(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }
	mib := func(kB int) string { return fmt.Sprintf("%.1f MiB", float64(kB)/1024) }
	line := func(what, a, b string, ratio float64) {
		fmt.Printf("%-44s %12s %12s %7.2f×\n", what, a, b, ratio)
	}
	fmt.Printf("%-44s %12s %12s %8s\n", "", "function", "floor", "ratio")
	cpuP, cpuF := median(prod.cpu), median(flo.cpu)
	line(fmt.Sprintf("CPU per /pay (median of %d batches of %d)", prod.rounds, prod.batch), us(cpuP), us(cpuF), ratio(cpuP, cpuF))
	lp, lf := slices.Sorted(slices.Values(prod.lat)), slices.Sorted(slices.Values(flo.lat))
	line("/pay latency, median", ms(pct(lp, 50)), ms(pct(lf, 50)), ratio(pct(lp, 50), pct(lf, 50)))
	line("/pay latency, p99", ms(pct(lp, 99)), ms(pct(lf, 99)), ratio(pct(lp, 99), pct(lf, 99)))
	sp, sf := median(prod.starts), median(flo.starts)
	line(fmt.Sprintf("cold start, exec → Ping (median of %d)", len(prod.starts)), ms(sp), ms(sf), ratio(sp, sf))
	line(fmt.Sprintf("VmRSS after %d calls", prod.calls), mib(prod.rssKB), mib(flo.rssKB), float64(prod.rssKB)/float64(flo.rssKB))
	line("VmHWM (peak) after them", mib(prod.hwmKB), mib(flo.hwmKB), float64(prod.hwmKB)/float64(flo.hwmKB))
	line("  of VmRSS, anonymous (RssAnon)", mib(prod.anonKB), mib(flo.anonKB), float64(prod.anonKB)/float64(flo.anonKB))
	line("  of VmRSS, files: the binary (RssFile)", mib(prod.fileKB), mib(flo.fileKB), float64(prod.fileKB)/float64(flo.fileKB))
	line("binary", mb(prod.binary), mb(flo.binary), float64(prod.binary)/float64(flo.binary))
	line("zip", mb(prod.zip), mb(flo.zip), float64(prod.zip)/float64(flo.zip))
	cpuN := median(prod.notifyCPU)
	ln := slices.Sorted(slices.Values(prod.notifyLat))
	fmt.Printf("notification CPU per call (median of %d batches): %s, %.2f× the function's /pay (target ≤ 1.5×)\n", prod.rounds, us(cpuN), ratio(cpuN, cpuP))
	fmt.Printf("notification latency: median %s, p99 %s\n", ms(pct(ln, 50)), ms(pct(ln, 99)))
	fmt.Printf("SQLite WAL after %d calls: %.1f MB (the floor keeps no store)\n", prod.calls, float64(prod.walBytes)/1e6)
	fmt.Println("CPU is utime+stime of all the binary's threads (/proc/<pid>/stat, 10 ms ticks) over a batch, divided by its calls")
}

func ratio(a, b time.Duration) float64 { return float64(a) / float64(b) }

func median(ds []time.Duration) time.Duration { return pct(slices.Sorted(slices.Values(ds)), 50) }

// pct is the p-th percentile of sorted, by nearest rank.
func pct(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p + 99) / 100
	return sorted[max(i-1, 0)]
}

// procCPU is the CPU time that process pid and all its threads have spent
// so far, user and system, from /proc/<pid>/stat.
func procCPU(pid int) (time.Duration, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The fields after the command's closing parenthesis start at field 3;
	// utime and stime are fields 14 and 15, in ticks of USER_HZ (100 on Linux).
	i := strings.LastIndex(string(stat), ") ")
	f := strings.Fields(string(stat)[i+2:])
	if i < 0 || len(f) < 13 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat: %.100s", pid, stat)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}

// procSnapshot is what grows if an instance leaks: resident memory, open
// files and threads.
type procSnapshot struct{ rssKB, fds, threads int }

func snapshot(pid int) (procSnapshot, error) {
	var s procSnapshot
	var err1, err2, err3 error
	s.rssKB, err1 = procStatus(pid, "VmRSS")
	s.threads, err2 = procStatus(pid, "Threads")
	fds, err3 := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	s.fds = len(fds)
	return s, errors.Join(err1, err2, err3)
}

func (s procSnapshot) String() string {
	return fmt.Sprintf("VmRSS %.1f MiB, %d open fds, %d threads", float64(s.rssKB)/1024, s.fds, s.threads)
}

// loadCheck runs one warm instance through n mixed invocations in a row,
// 60% pay, 20% payment notification, 15% order read and 5% sweep, and
// prints the latency of each block and the instance's memory, files and
// threads at the start and the end: nothing should grow. Threads stand in
// for goroutines, which the binary does not expose.
func loadCheck(args []string) error {
	fs := flag.NewFlagSet("loadcheck", flag.ExitOnError)
	binary := fs.String("binary", "build/main", "the built function")
	n := fs.Int("n", 20000, "invocations")
	block := fs.Int("block", 2000, "invocations per latency line")
	maxTime := fs.Duration("max-time", 10*time.Minute, "the run's bound")
	seed := fs.Uint64("seed", 1, "the mix's random seed")
	fs.Parse(args)
	deadline := time.Now().Add(*maxTime)
	rig, err := startPerfRig()
	if err != nil {
		return err
	}
	defer rig.Close()
	d, err := rig.start(*binary)
	if err != nil {
		return err
	}
	defer d.fn.Close()
	var all, unpaid []string
	for i := 0; i < 20; i++ { // warm: the store open, connections made
		no, _, err := pay(d)
		if err != nil {
			return err
		}
		all, unpaid = append(all, no), append(unpaid, no)
	}
	start, err := snapshot(d.fn.PID())
	if err != nil {
		return err
	}
	fmt.Printf("start (after 20 warm-up payments): %v\n", start)
	rnd := rand.New(rand.NewPCG(*seed, 0))
	began := time.Now()
	var lat []time.Duration
	var kinds [4]int // pay, notify, read, sweep
	for i := 0; i < *n; i++ {
		if time.Now().After(deadline) {
			return fmt.Errorf("after %d invocations: %w", i, errOutOfTime)
		}
		var took time.Duration
		switch k := rnd.IntN(100); {
		case k < 60 || k < 80 && len(unpaid) == 0:
			var no string
			no, took, err = pay(d)
			all, unpaid = append(all, no), append(unpaid, no)
			kinds[0]++
		case k < 80:
			no := unpaid[len(unpaid)-1]
			unpaid = unpaid[:len(unpaid)-1]
			took, err = rig.notify(d, no)
			kinds[1]++
		case k < 95:
			no := all[rnd.IntN(len(all))]
			t := time.Now()
			_, err = d.direct(`{"action":"query","out_trade_no":"`+no+`"}`, "loadcheck-read")
			took = time.Since(t)
			kinds[2]++
		default:
			t := time.Now()
			_, err = d.direct(`{"action":"sweep"}`, "loadcheck-sweep")
			took = time.Since(t)
			kinds[3]++
		}
		if err != nil {
			return fmt.Errorf("invocation %d: %w", i+1, err)
		}
		lat = append(lat, took)
		if len(lat) == *block || i == *n-1 {
			s := slices.Sorted(slices.Values(lat))
			fmt.Printf("calls %6d–%6d: p50 %6.2f ms  p90 %6.2f ms  p99 %6.2f ms  max %7.2f ms\n",
				i+2-len(lat), i+1, float64(pct(s, 50))/1e6, float64(pct(s, 90))/1e6, float64(pct(s, 99))/1e6, float64(s[len(s)-1])/1e6)
			lat = lat[:0]
		}
	}
	end, err := snapshot(d.fn.PID())
	if err != nil {
		return err
	}
	fmt.Printf("end (after %d invocations in %v: %d pay, %d notify, %d order read, %d sweep): %v\n",
		*n, time.Since(began).Round(time.Second), kinds[0], kinds[1], kinds[2], kinds[3], end)
	return nil
}
