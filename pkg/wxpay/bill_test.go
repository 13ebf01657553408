package wxpay_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/outbound"
	"github.com/wxpay-scf/wxpay-scf/pkg/trade"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpay"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpay/wxpaytest"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpay/wxpaytest/billsim"
)

// billDay is a day with one payment; the simulators' clock reads 10:00 the
// next day, when its bill is made.
var billDay = time.Date(2026, 11, 26, 0, 0, 0, 0, trade.ChinaTime)

// billSim is a simulator holding a payment of 180 fen on billDay, and a
// client calling it in process.
func billSim(t *testing.T) (*wxpaytest.Sim, *wxpay.Client) {
	t.Helper()
	at := billDay.Add(17 * time.Hour)
	sim := wxpaytest.New(wxpaytest.Config{AppID: testAppID, MchID: testMchID, Key: testKey, Now: func() time.Time { return at }})
	if !sim.AddPaidOrder("20261126170000000001", 180) {
		t.Fatal("not paid")
	}
	sim.Advance(17 * time.Hour)
	return sim, &wxpay.Client{
		AppID: testAppID, MchID: testMchID, Key: testKey, Rand: rand.Reader,
		HTTP: outbound.Client{BaseURL: "http://wxpay.sim", Transport: sim.Transport(), RetryWait: time.Millisecond},
	}
}

var errStop = errors.New("the caller's own failure")

func TestDownloadBill(t *testing.T) {
	readAll := func(text *[]byte) func(io.Reader) error {
		return func(r io.Reader) (err error) {
			*text, err = io.ReadAll(r)
			return err
		}
	}
	isRefusal := func(msg string) func(error) bool {
		return func(err error) bool {
			var e *wxpay.Error
			return errors.As(err, &e) && e.ReturnCode == "FAIL" && e.ReturnMsg == msg
		}
	}
	for _, c := range []struct {
		name    string
		day     time.Time
		plan    billsim.Plan
		fault   wxpaytest.FaultKind
		maxBill int64
		read    func(text *[]byte) func(io.Reader) error
		ok      func(error) bool
	}{
		{name: "the bill", ok: func(err error) bool { return err == nil }},
		{name: "the day in another zone", day: billDay.Add(time.Hour).UTC(), ok: func(err error) bool { return err == nil }},
		{name: "retried after HTTP 500", fault: wxpaytest.HTTP500, ok: func(err error) bool { return err == nil }},
		{name: "not ready", plan: billsim.Plan{State: billsim.NotReady}, ok: func(err error) bool {
			return errors.Is(err, wxpay.ErrBillNotReady) && !errors.Is(err, wxpay.ErrNoBill) && isRefusal("Bill Creating")(err)
		}},
		{name: "today", day: billDay.AddDate(0, 0, 1), ok: func(err error) bool { return errors.Is(err, wxpay.ErrBillNotReady) }},
		{name: "no bill", day: billDay.AddDate(0, 0, -1), ok: func(err error) bool {
			return errors.Is(err, wxpay.ErrNoBill) && !errors.Is(err, wxpay.ErrBillNotReady) && isRefusal("No Bill Exist")(err)
		}},
		{name: "the future", day: billDay.AddDate(0, 0, 2), ok: func(err error) bool {
			return isRefusal("invalid bill_date")(err) && !errors.Is(err, wxpay.ErrNoBill) && !errors.Is(err, wxpay.ErrBillNotReady)
		}},
		{name: "refused", fault: wxpaytest.ReturnFail, ok: isRefusal("simulated")},
		{name: "truncated", plan: billsim.Plan{Body: billsim.Truncated}, ok: func(err error) bool {
			return errors.Is(err, wxpay.ErrMalformedBill) && errors.Is(err, io.ErrUnexpectedEOF)
		}},
		{name: "truncated, read stops at once", plan: billsim.Plan{Body: billsim.Truncated},
			read: func(*[]byte) func(io.Reader) error { return func(io.Reader) error { return nil } },
			ok:   func(err error) bool { return errors.Is(err, wxpay.ErrMalformedBill) }},
		{name: "not gzip", plan: billsim.Plan{Body: billsim.NotGzip}, ok: func(err error) bool { return errors.Is(err, wxpay.ErrMalformedBill) }},
		{name: "garbage", fault: wxpaytest.Garbage, ok: func(err error) bool { return errors.Is(err, wxpay.ErrMalformedBill) }},
		{name: "over MaxBillSize", maxBill: 100, ok: func(err error) bool { return errors.Is(err, outbound.ErrTooLarge) }},
		{name: "read fails", read: func(*[]byte) func(io.Reader) error { return func(io.Reader) error { return errStop } },
			ok: func(err error) bool { return err == errStop }},
	} {
		t.Run(c.name, func(t *testing.T) {
			sim, client := billSim(t)
			client.MaxBillSize = c.maxBill
			sim.SetBill(billDay, c.plan)
			if c.fault != 0 {
				sim.Inject("/pay/downloadbill", wxpaytest.Fault{Kind: c.fault, Msg: "simulated"})
			}
			day := c.day
			if day.IsZero() {
				day = billDay
			}
			read := readAll
			if c.read != nil {
				read = c.read
			}
			var text []byte
			err := client.DownloadBill(context.Background(), day, read(&text))
			if !c.ok(err) {
				t.Fatalf("%v", err)
			}
			if err == nil && (!bytes.HasPrefix(text, []byte("\uFEFF交易时间,")) || !bytes.Contains(text, []byte(",`20261126170000000001,`")) ||
				!bytes.HasSuffix(text, []byte("\r\n`1,`1.80,`0.00,`0.00,`0.01000,`1.80,`0.00\r\n"))) {
				t.Errorf("bill:\n%s", text)
			}
			reqs := sim.Requests()
			if p := reqs[len(reqs)-1].Params; p["bill_date"] != day.In(trade.ChinaTime).Format("20060102") || p["bill_type"] != "ALL" || p["tar_type"] != "GZIP" {
				t.Errorf("asked for %q", p)
			}
		})
	}
}

// A bill of 20 MB streams through with little memory: it is never held
// whole, neither compressed nor decompressed.
func TestDownloadBillStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("writes and reads a 20 MB bill")
	}
	name, sum, err := billsim.LargeFile(t.TempDir(), billDay, 90000)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/plain") // not to be trusted
		http.ServeFile(w, r, name)
	}))
	defer srv.Close()
	client := newClient(srv, wxpay.SignMD5)

	n, got, alloc, err := billsim.Drain(func(read func(io.Reader) error) error {
		return client.DownloadBill(context.Background(), billDay, read)
	})
	if err != nil {
		t.Fatal(err)
	}
	info, _ := os.Stat(name)
	if n < 20<<20 || !bytes.Equal(got, sum) {
		t.Fatalf("read %d bytes (%d compressed), not the bill", n, info.Size())
	}
	if alloc > 2<<20 {
		t.Errorf("allocated %d bytes for a bill of %d (%d compressed)", alloc, n, info.Size())
	}
	t.Logf("%d bytes, %d compressed, %d allocated", n, info.Size(), alloc)
}

// The answer to downloadbill is unsigned either way, but a bill download
// still signs its request like every other.
func TestDownloadBillSignsRequest(t *testing.T) {
	sim, client := billSim(t)
	client.Key = strings.Repeat("x", 32)
	err := client.DownloadBill(context.Background(), billDay, func(io.Reader) error { return nil })
	var e *wxpay.Error
	if !errors.As(err, &e) || e.ReturnMsg != "签名错误" || len(sim.Requests()) != 1 {
		t.Fatalf("%v", err)
	}
}
