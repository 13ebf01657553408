package wxpayv3_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/wxpay"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpay/wxpaytest/billsim"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpayv3"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpayv3/wxpayv3test"
)

// billSetup is a setup whose simulator holds a payment of 180 fen made
// now, with its business clock at 10:00 the next day, when the bill of
// day, today, is made.
func billSetup(t *testing.T) (s setup, day time.Time) {
	t.Helper()
	s = newSetup(t, false)
	day = time.Now()
	if !s.sim.AddPaidOrder("20261126170000000001", 180) {
		t.Fatal("not paid")
	}
	s.sim.Advance(billsim.MadeAt(day).Sub(day))
	return s, day
}

var errStop = errors.New("the caller's own failure")

func TestDownloadBill(t *testing.T) {
	s, day := billSetup(t)
	readAll := func(text *[]byte) func(io.Reader) error {
		return func(r io.Reader) (err error) {
			*text, err = io.ReadAll(r)
			return err
		}
	}
	refusal := func(err error, code string, signed bool) bool {
		var e *wxpayv3.Error
		return errors.As(err, &e) && e.Code == code && e.Signed == signed && e.RequestID != ""
	}
	for _, c := range []struct {
		name     string
		days     int // after the day of the payment
		plan     wxpayv3test.BillPlan
		fault    wxpayv3test.FaultKind
		read     func(text *[]byte) func(io.Reader) error
		ok       func(error) bool
		download bool // the file was asked for
	}{
		{name: "the bill", ok: func(err error) bool { return err == nil }, download: true},
		{name: "not ready", plan: wxpayv3test.BillPlan{Plan: billsim.Plan{State: billsim.NotReady}}, ok: func(err error) bool {
			return errors.Is(err, wxpayv3.ErrBillNotReady) && refusal(err, "STATEMENT_CREATING", true)
		}},
		{name: "today", days: 1, ok: func(err error) bool { return errors.Is(err, wxpayv3.ErrBillNotReady) }},
		{name: "no bill", days: -1, ok: func(err error) bool {
			return errors.Is(err, wxpayv3.ErrNoBill) && errors.Is(err, wxpay.ErrNoBill) && refusal(err, "NO_STATEMENT_EXIST", true)
		}},
		{name: "no bill, unsigned", days: -1, fault: wxpayv3test.NoSignature, ok: func(err error) bool {
			return !errors.Is(err, wxpayv3.ErrNoBill) && refusal(err, "NO_STATEMENT_EXIST", false)
		}},
		{name: "the future", days: 2, ok: func(err error) bool {
			return refusal(err, "PARAM_ERROR", true) && !errors.Is(err, wxpayv3.ErrNoBill) && !errors.Is(err, wxpayv3.ErrBillNotReady)
		}},
		{name: "tampered answer", fault: wxpayv3test.BadSignature, ok: func(err error) bool { return errors.Is(err, wxpayv3.ErrInvalidSignature) }},
		{name: "wrong hash", plan: wxpayv3test.BillPlan{WrongHash: true}, download: true, ok: func(err error) bool {
			return errors.Is(err, wxpayv3.ErrBillHash)
		}},
		{name: "wrong hash, read stops at once", plan: wxpayv3test.BillPlan{WrongHash: true}, download: true,
			read: func(*[]byte) func(io.Reader) error { return func(io.Reader) error { return nil } },
			ok:   func(err error) bool { return errors.Is(err, wxpayv3.ErrBillHash) }},
		{name: "truncated", plan: wxpayv3test.BillPlan{Plan: billsim.Plan{Body: billsim.Truncated}}, download: true, ok: func(err error) bool {
			return errors.Is(err, wxpayv3.ErrMalformedBill) && !errors.Is(err, wxpayv3.ErrBillHash)
		}},
		{name: "not gzip", plan: wxpayv3test.BillPlan{Plan: billsim.Plan{Body: billsim.NotGzip}}, download: true, ok: func(err error) bool {
			return errors.Is(err, wxpayv3.ErrMalformedBill)
		}},
		{name: "read fails", download: true, read: func(*[]byte) func(io.Reader) error { return func(io.Reader) error { return errStop } },
			ok: func(err error) bool { return err == errStop }},
	} {
		t.Run(c.name, func(t *testing.T) {
			asked := len(s.sim.Requests())
			s.sim.SetBill(day, c.plan)
			if c.fault != 0 {
				s.sim.Inject(wxpayv3test.Fault{Kind: c.fault})
			}
			read := readAll
			if c.read != nil {
				read = c.read
			}
			var text []byte
			err := s.client.DownloadBill(context.Background(), day.AddDate(0, 0, c.days), read(&text))
			if !c.ok(err) {
				t.Fatalf("%v", err)
			}
			if err == nil && (!bytes.HasPrefix(text, []byte("\uFEFF交易时间,")) || !bytes.Contains(text, []byte(",`20261126170000000001,`")) ||
				!bytes.HasSuffix(text, []byte("\r\n`1,`1.80,`0.00,`0.00,`0.01000,`1.80,`0.00\r\n"))) {
				t.Errorf("bill:\n%s", text)
			}
			if c.plan.WrongHash && len(text) == 0 && c.read == nil {
				t.Error("a bill whose hash does not match was not read to its end")
			}
			if got := slices.Contains(s.sim.Requests()[asked:], "GET /v3/billdownload/file"); got != c.download {
				t.Errorf("the file asked for: %v", got)
			}
		})
	}
}

// inProcess serves requests with a handler, whatever their host, and
// records them.
type inProcess struct {
	h    http.Handler
	reqs []*http.Request
}

func (p *inProcess) RoundTrip(r *http.Request) (*http.Response, error) {
	p.reqs = append(p.reqs, r)
	w := httptest.NewRecorder()
	p.h.ServeHTTP(w, r)
	return w.Result(), nil
}

// The request to the download_url carries the merchant's signature, so it
// goes only to WeChat Pay's API hosts or the configured base URLs, and is
// sent exactly as signed.
func TestDownloadBillURL(t *testing.T) {
	s, day := billSetup(t)
	for _, c := range []struct {
		url  string
		host string // where the download went; "" for nowhere
	}{
		{"https://api.mch.weixin.qq.com/v3/billdownload/file?token=T&tartype=gzip", "api.mch.weixin.qq.com"},
		{"https://api2.mch.weixin.qq.com/v3/billdownload/file?token=T", "api2.mch.weixin.qq.com"},
		{"http://wxpay.sim/v3/billdownload/file?token=T", "wxpay.sim"},
		{"http://failover.sim/v3/billdownload/file?token=T", "failover.sim"},
		{"https://evil.example/v3/billdownload/file?token=T", ""},
		{"https://api.mch.weixin.qq.com.evil.example/v3/billdownload/file?token=T", ""},
		{"http://api.mch.weixin.qq.com/v3/billdownload/file?token=T", ""},
		{"https://api.mch.weixin.qq.com:8443/v3/billdownload/file?token=T", ""},
		{"https://user@api.mch.weixin.qq.com/v3/billdownload/file?token=T", ""},
		{"https://api.mch.weixin.qq.com/v3/billdownload/file?token=T#x", ""},
		{"https://api.mch.weixin.qq.com/v3/bill download?token=T", ""}, // not as it would be sent
		{"/v3/billdownload/file?token=T", ""},
	} {
		p := &inProcess{h: s.sim}
		s.client.HTTP.BaseURL, s.client.HTTP.FailoverURL, s.client.HTTP.Transport = "http://wxpay.sim", "http://failover.sim/", p
		s.sim.SetBill(day, wxpayv3test.BillPlan{DownloadURL: c.url})
		err := s.client.DownloadBill(context.Background(), day, func(io.Reader) error { return nil })
		last := p.reqs[len(p.reqs)-1]
		switch {
		case c.host == "" && (len(p.reqs) != 1 || !errors.Is(err, wxpayv3.ErrMalformed)):
			t.Errorf("%q: %v, sent to %s", c.url, err, last.URL)
		case c.host != "" && (len(p.reqs) != 2 || last.URL.String() != c.url || last.Header.Get("Accept") != ""):
			t.Errorf("%q: %v, sent to %s", c.url, err, last.URL)
		case c.host != "":
			// The simulator knows no token T, and says so having verified
			// the request's signature over the URL's path and query.
			var e *wxpayv3.Error
			if !errors.As(err, &e) || e.StatusCode != 404 {
				t.Errorf("%q: %v", c.url, err)
			}
		}
	}
}
