package miniprogram_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/miniprogram"
	"github.com/wxpay-scf/wxpay-scf/pkg/outbound"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpay/wxpaytest"
)

const secret = "TEST-appsecret-0123456789abcdef"

func setup(t *testing.T) (*wxpaytest.Sim, *miniprogram.Client) {
	t.Helper()
	sim := wxpaytest.New(wxpaytest.Config{AppID: "wxapp", MchID: "1", Key: "k", AppSecret: secret})
	srv := httptest.NewServer(sim)
	t.Cleanup(func() { sim.Close(); srv.Close() })
	return sim, &miniprogram.Client{AppID: "wxapp", AppSecret: secret,
		HTTP: outbound.Client{BaseURL: srv.URL, Transport: srv.Client().Transport, RetryWait: time.Millisecond}}
}

func TestCode2SessionOnce(t *testing.T) {
	sim, c := setup(t)
	code := sim.LoginCode("openid-1")
	s, err := c.Code2Session(context.Background(), code)
	if err != nil || s.OpenID != "openid-1" {
		t.Fatalf("%+v %v", s, err)
	}
	_, err = c.Code2Session(context.Background(), code)
	var e *miniprogram.Error
	if !errors.As(err, &e) || e.Code != miniprogram.ErrCodeCodeUsed {
		t.Fatalf("second use: %v", err)
	}
	_, err = c.Code2Session(context.Background(), "never-issued")
	if !errors.As(err, &e) || e.Code != miniprogram.ErrCodeInvalidCode {
		t.Fatalf("unknown code: %v", err)
	}
	for _, r := range sim.Requests() {
		if strings.Contains(r.Params["secret"], secret) {
			t.Fatal("simulator recorded the secret")
		}
	}
}

func TestCode2SessionErrors(t *testing.T) {
	for _, code := range []int{miniprogram.ErrCodeRateLimited, miniprogram.ErrCodeHighRiskUser, miniprogram.ErrCodeInvalidCode} {
		sim, c := setup(t)
		sim.Inject("/sns/jscode2session", wxpaytest.Fault{Kind: wxpaytest.ResultFail, Code: strconv.Itoa(code), Msg: "x"})
		_, err := c.Code2Session(context.Background(), sim.LoginCode("o"))
		var e *miniprogram.Error
		if !errors.As(err, &e) || e.Code != code {
			t.Errorf("%d: got %v", code, err)
		}
	}
	// Busy is asked once more, with the same code, which still works.
	sim, c := setup(t)
	sim.Inject("/sns/jscode2session", wxpaytest.Fault{Kind: wxpaytest.ResultFail, Code: "-1", Msg: "system error"})
	if s, err := c.Code2Session(context.Background(), sim.LoginCode("o2")); err != nil || s.OpenID != "o2" {
		t.Fatalf("busy then success: %+v %v", s, err)
	}
	// A 500 is asked again; three in a row, or garbage, fail.
	for _, c := range []struct {
		faults []wxpaytest.FaultKind
		want   error
	}{
		{[]wxpaytest.FaultKind{wxpaytest.HTTP500}, nil},
		{[]wxpaytest.FaultKind{wxpaytest.HTTP500, wxpaytest.HTTP500, wxpaytest.HTTP500}, miniprogram.ErrTransport},
		{[]wxpaytest.FaultKind{wxpaytest.Garbage}, miniprogram.ErrMalformed},
	} {
		sim, cl := setup(t)
		for _, f := range c.faults {
			sim.Inject("/sns/jscode2session", wxpaytest.Fault{Kind: f})
		}
		if _, err := cl.Code2Session(context.Background(), sim.LoginCode("o")); !errors.Is(err, c.want) {
			t.Errorf("faults %v: got %v", c.faults, err)
		}
	}
}

func TestCode2SessionTimeoutHidesSecret(t *testing.T) {
	sim, c := setup(t)
	sim.Inject("/sns/jscode2session", wxpaytest.Fault{Kind: wxpaytest.Hang})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := c.Code2Session(ctx, sim.LoginCode("o"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v", err)
	}
	if strings.Contains(err.Error(), secret) {
		t.Fatalf("error carries the AppSecret: %v", err)
	}
}

func TestCode2SessionWrongSecret(t *testing.T) {
	sim, c := setup(t)
	c.AppSecret = "wrong"
	_, err := c.Code2Session(context.Background(), sim.LoginCode("o"))
	var e *miniprogram.Error
	if !errors.As(err, &e) || e.Code != 40125 {
		t.Fatalf("got %v", err)
	}
}
