package wxpayv3test_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/bill"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpay/wxpaytest/billsim"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpayv3"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpayv3/wxpayv3test"
)

// billText is the bill of the day of the simulator's business clock, read
// once it is made.
func billText(t *testing.T, sim *wxpayv3test.Sim, c *wxpayv3.Client) string {
	t.Helper()
	day := time.Now()
	sim.Advance(billsim.MadeAt(day).Sub(day))
	var text []byte
	err := c.DownloadBill(context.Background(), day, func(r io.Reader) (err error) {
		text, err = io.ReadAll(r)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return string(text)
}

// The bill holds the day's payments, those of orders no merchant system
// created too, and its refunds with their status when it was made.
func TestBill(t *testing.T) {
	sim, c := newSim(t, wxpayv3test.Config{})
	const no = "20261126170000000001"
	prepay(t, c, no, "")
	sim.Pay(no)
	if _, err := c.CreateRefund(context.Background(), &wxpayv3.RefundRequest{OutTradeNo: no, OutRefundNo: "R-1", Refund: 60, Total: 180}); err != nil {
		t.Fatal(err)
	}
	sim.CompleteRefund("R-1", "ABNORMAL")
	if !sim.AddPaidOrder("FOREIGN-0001", 999) || sim.AddPaidOrder(no, 1) {
		t.Fatal("AddPaidOrder")
	}
	text := billText(t, sim, c)
	for _, want := range []string{
		",`" + no + ",`" + openID + ",`JSAPI,`SUCCESS,`OTHERS,`CNY,`1.80,`0.00,`0,`0,`0.00,`0.00,`,`,`会员充值,`,`0.01000,`0.60%,`1.80,`0.00,`\r\n",
		",`" + no + ",`" + openID + ",`JSAPI,`REFUND,`OTHERS,`CNY,`0.00,`0.00,`50",
		",`R-1,`0.60,`0.00,`ORIGINAL,`ABNORMAL,`会员充值,`,`0.00000,`0.60%,`0.00,`0.60,`\r\n",
		",`FOREIGN-0001,`o",
		"\r\n`3,`11.79,`0.60,`0.00,`0.07000,`11.79,`0.60\r\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("no %q in\n%s", want, text)
		}
	}
}

func TestBillOlderLayout(t *testing.T) {
	sim, c := newSim(t, wxpayv3test.Config{BillLayout: bill.Older})
	sim.AddPaidOrder("20261126170000000001", 180)
	if text := billText(t, sim, c); !strings.Contains(text, ",总金额,企业红包金额,") || !strings.HasSuffix(text, "\r\n`1,`1.80,`0.00,`0.00,`0.01000\r\n") {
		t.Errorf("%s", text)
	}
}

// The download_url serves the file unsigned to a signed request, for five
// minutes.
func TestBillFile(t *testing.T) {
	sim, c := newSim(t, wxpayv3test.Config{})
	sim.AddPaidOrder("20261126170000000001", 180)
	day := time.Now()
	sim.Advance(billsim.MadeAt(day).Sub(day))
	address := func(query string) string {
		var a struct {
			DownloadURL string `json:"download_url"`
		}
		if err := c.Do(context.Background(), "GET", "/v3/bill/tradebill?bill_date="+billsim.Key(day)+query, nil, &a); err != nil {
			t.Fatal(err)
		}
		return a.DownloadURL
	}
	fetch := func(address string, signed bool) (*http.Response, []byte) {
		u, _ := url.Parse(address)
		r, _ := http.NewRequest(http.MethodGet, address, nil)
		r.Header.Set("User-Agent", "test")
		r.Header.Set("Wechatpay-Serial", wxpayv3test.PublicKeyID)
		if signed {
			auth, _ := c.Signer.Authorization(http.MethodGet, u.RequestURI(), nil)
			r.Header.Set("Authorization", auth)
		}
		res, err := http.DefaultTransport.RoundTrip(r)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res, body
	}
	gz, plain := address("&bill_type=ALL&tar_type=GZIP"), address("")
	if res, body := fetch(gz, true); res.StatusCode != 200 || !bytes.HasPrefix(body, []byte{0x1f, 0x8b}) || res.Header.Get("Wechatpay-Signature") != "" {
		t.Errorf("gzip: %d %q %q", res.StatusCode, res.Header, body)
	}
	if res, body := fetch(plain, true); res.StatusCode != 200 || !bytes.HasPrefix(body, []byte("\uFEFF交易时间,")) {
		t.Errorf("plain: %d %q", res.StatusCode, body)
	}
	if res, _ := fetch(gz, false); res.StatusCode != 401 {
		t.Errorf("unsigned request: %d", res.StatusCode)
	}
	sim.Advance(5*time.Minute + time.Second)
	if res, body := fetch(gz, true); res.StatusCode != 404 || !bytes.Contains(body, []byte("RESOURCE_NOT_EXISTS")) {
		t.Errorf("after five minutes: %d %s", res.StatusCode, body)
	}
	for _, bad := range []string{"bill_date=" + billsim.Key(day) + "&bill_type=SUCCESS", "bill_date=" + billsim.Key(day) + "&tar_type=ZIP", "bill_date=" + day.Format("20060102"), ""} {
		var refusal *wxpayv3.Error
		err := c.Do(context.Background(), "GET", "/v3/bill/tradebill?"+bad, nil, nil)
		if !errors.As(err, &refusal) || refusal.Code != "PARAM_ERROR" {
			t.Errorf("%s: %v", bad, err)
		}
	}
}
