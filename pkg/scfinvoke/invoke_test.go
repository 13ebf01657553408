package scfinvoke_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/scfinvoke"
	"github.com/wxpay-scf/wxpay-scf/pkg/scfinvoke/scfinvoketest"
)

const region = "ap-guangzhou"

// role is the execution role's temporary credentials the stand-in knows.
var role = scfinvoke.Credentials{
	SecretID:  "AKIDrole0123456789abcdefghijklmnop",
	SecretKey: "roleSecretKey0123456789abcdefghij",
	Token:     "roleSessionToken-0123456789-abcdefghijklmnopqrstuvwxyz",
}

const payload = `{"id":"evt_0123456789abcdef","type":"order.paid","created_at":"2026-11-26T17:00:42+08:00",` +
	`"data":{"out_trade_no":"T1","description":"会员 <月卡> & \"礼包\"","total_fee":180}}`

// fixture is a stand-in serving over loopback HTTP and an Invoker aimed at
// it.
type fixture struct {
	standIn *scfinvoketest.StandIn
	inv     *scfinvoke.Invoker
}

func newFixture(t *testing.T, target string) *fixture {
	t.Helper()
	fn, err := scfinvoke.ParseFunction(target)
	if err != nil {
		t.Fatal(err)
	}
	s := scfinvoketest.New(scfinvoketest.Config{
		Region:      region,
		Credentials: []scfinvoke.Credentials{role},
		Functions:   []scfinvoke.Function{fn},
	})
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	t.Cleanup(s.Close) // runs first: releases a hung request
	return &fixture{standIn: s, inv: &scfinvoke.Invoker{
		Function:    fn,
		Region:      region,
		Endpoint:    srv.URL,
		Credentials: func() scfinvoke.Credentials { return role },
	}}
}

// assertNoSecret fails if err's text holds any part of the credentials.
func assertNoSecret(t *testing.T, err error, creds ...scfinvoke.Credentials) {
	t.Helper()
	for _, c := range append(creds, role) {
		for _, secret := range []string{c.SecretKey, c.Token} {
			if secret != "" && strings.Contains(err.Error(), secret) {
				t.Errorf("error %q holds a secret", err)
			}
		}
	}
}

// TestSendSignedBySDKIsAccepted is the interoperability check: what the
// official SDK signs, the stand-in's own TC3 implementation accepts, for
// each form of target, with the event passed through intact.
func TestSendSignedBySDKIsAccepted(t *testing.T) {
	for _, target := range []string{"pay-events", "shop/fulfil:prod", "default/fulfil:3", "fulfil:$LATEST"} {
		t.Run(target, func(t *testing.T) {
			f := newFixture(t, target)
			if err := f.inv.Send(context.Background(), "evt_0123456789abcdef", []byte(payload)); err != nil {
				t.Fatal(err)
			}
			got := f.standIn.Invocations()
			if len(got) != 1 {
				t.Fatalf("%d invocations, want 1", len(got))
			}
			if got[0].Function != f.inv.Function || string(got[0].ClientContext) != payload ||
				got[0].SecretID != role.SecretID || got[0].RequestID != f.standIn.LastRequestID() {
				t.Errorf("invocation %+v", got[0])
			}
		})
	}
}

// TestSendAsksForCredentialsEachCall follows a rotation of the role's
// credentials between two calls.
func TestSendAsksForCredentialsEachCall(t *testing.T) {
	next := scfinvoke.Credentials{SecretID: "AKIDnext0123456789", SecretKey: "nextSecretKey0123456789", Token: "nextSessionToken-0123456789"}
	fn := scfinvoke.Function{Name: "pay-events"}
	s := scfinvoketest.New(scfinvoketest.Config{
		Region: region, Credentials: []scfinvoke.Credentials{role, next}, Functions: []scfinvoke.Function{fn},
	})
	srv := httptest.NewServer(s)
	defer srv.Close()
	var calls atomic.Int32
	inv := &scfinvoke.Invoker{Function: fn, Region: region, Endpoint: srv.URL, Credentials: func() scfinvoke.Credentials {
		if calls.Add(1) == 1 {
			return role
		}
		return next
	}}
	for range 2 {
		if err := inv.Send(context.Background(), "evt_1", []byte(payload)); err != nil {
			t.Fatal(err)
		}
	}
	if got := s.Invocations(); len(got) != 2 || got[0].SecretID != role.SecretID || got[1].SecretID != next.SecretID {
		t.Errorf("invocations %+v", got)
	}
}

// rewrite changes each request after the SDK signed it, as a man in the
// middle would.
type rewrite func(*http.Request)

func (f rewrite) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	f(r)
	return http.DefaultTransport.RoundTrip(r)
}

// TestSendRefused checks that the stand-in refuses what Tencent Cloud would,
// and that Send reports the API's code and RequestId, never a secret.
func TestSendRefused(t *testing.T) {
	wrongKey := role
	wrongKey.SecretKey = "notTheRoleSecretKey0123456789"
	wrongToken := role
	wrongToken.Token = "expiredSessionToken-0123456789"
	noToken := role
	noToken.Token = ""
	unknownID := role
	unknownID.SecretID = "AKIDunknown0123456789"
	for _, c := range []struct {
		name  string
		setup func(*fixture)
		code  string
	}{
		{"wrong SecretKey", func(f *fixture) {
			f.inv.Credentials = func() scfinvoke.Credentials { return wrongKey }
		}, "AuthFailure.SignatureFailure"},
		{"wrong token", func(f *fixture) {
			f.inv.Credentials = func() scfinvoke.Credentials { return wrongToken }
		}, "AuthFailure.TokenFailure"},
		{"no token", func(f *fixture) {
			f.inv.Credentials = func() scfinvoke.Credentials { return noToken }
		}, "AuthFailure.TokenFailure"},
		{"unknown SecretId", func(f *fixture) {
			f.inv.Credentials = func() scfinvoke.Credentials { return unknownID }
		}, "AuthFailure.SecretIdNotFound"},
		{"tampered body", func(f *fixture) {
			f.inv.Transport = rewrite(func(r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				body = bytes.Replace(body, []byte("order.paid"), []byte("order.shut"), 1)
				r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
			})
		}, "AuthFailure.SignatureFailure"},
		{"tampered host", func(f *fixture) {
			f.inv.Transport = rewrite(func(r *http.Request) { r.Host = "scf.ap-shanghai.tencentcloudapi.com" })
		}, "AuthFailure.SignatureFailure"},
		// X-TC-Region is not signed: another region finds no function.
		{"wrong region", func(f *fixture) { f.inv.Region = "ap-shanghai" }, "ResourceNotFound.Function"},
		{"unknown function", func(f *fixture) { f.inv.Function.Qualifier = "7" }, "ResourceNotFound.Function"},
		{"refusal echoing the secrets", func(f *fixture) {
			f.standIn.Inject(scfinvoketest.Fault{
				Kind: scfinvoketest.Refuse, Code: "FailedOperation.InvokeFunction",
				Message: "echo: X-TC-Token " + role.Token + " key " + role.SecretKey,
			})
		}, "FailedOperation.InvokeFunction"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, "pay-events")
			c.setup(f)
			err := f.inv.Send(context.Background(), "evt_1", []byte(payload))
			var apiErr *scfinvoke.Error
			if !errors.As(err, &apiErr) || apiErr.Code != c.code {
				t.Fatalf("Send = %v, want code %s", err, c.code)
			}
			if id := f.standIn.LastRequestID(); apiErr.RequestID != id || !strings.Contains(err.Error(), id) {
				t.Errorf("error %q lacks RequestId %s", err, id)
			}
			assertNoSecret(t, err, wrongKey, wrongToken)
			if n := len(f.standIn.Invocations()); n != 0 {
				t.Errorf("%d invocations recorded", n)
			}
		})
	}
}

// TestSendClockSkew checks the five-minute window, with the stand-in's
// clock ahead of ours.
func TestSendClockSkew(t *testing.T) {
	fn := scfinvoke.Function{Name: "pay-events"}
	s := scfinvoketest.New(scfinvoketest.Config{
		Region: region, Credentials: []scfinvoke.Credentials{role}, Functions: []scfinvoke.Function{fn},
		Now: func() time.Time { return time.Now().Add(6 * time.Minute) },
	})
	srv := httptest.NewServer(s)
	defer srv.Close()
	inv := &scfinvoke.Invoker{Function: fn, Region: region, Endpoint: srv.URL, Credentials: func() scfinvoke.Credentials { return role }}
	var apiErr *scfinvoke.Error
	if err := inv.Send(context.Background(), "evt_1", []byte(payload)); !errors.As(err, &apiErr) || apiErr.Code != "AuthFailure.SignatureExpire" {
		t.Fatalf("Send = %v", err)
	}
}

// TestSendUnexpectedAnswers covers answers that are not the API's.
func TestSendUnexpectedAnswers(t *testing.T) {
	var followed atomic.Int32
	elsewhere := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { followed.Add(1) }))
	defer elsewhere.Close()
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()

	for _, c := range []struct {
		name    string
		handler http.HandlerFunc // nil: the stand-in with an HTTP 500 fault
		check   func(error) bool
	}{
		{"HTTP 500", nil, func(err error) bool {
			var h *scfinvoke.HTTPError
			return errors.As(err, &h) && h.StatusCode == 500
		}},
		{"redirect", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, elsewhere.URL, http.StatusTemporaryRedirect)
		}, func(err error) bool {
			var h *scfinvoke.HTTPError
			return errors.As(err, &h) && h.StatusCode == 307 && followed.Load() == 0
		}},
		{"not JSON", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "<html>gateway</html>") },
			func(err error) bool { return errors.Is(err, scfinvoke.ErrMalformedAnswer) }},
		{"no RequestId", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"Response":{}}`) },
			func(err error) bool { return errors.Is(err, scfinvoke.ErrMalformedAnswer) }},
		{"endless answer", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, `{"Response":{"RequestId":"`+strings.Repeat("x", 1<<20)+`"}}`)
		}, func(err error) bool { return errors.Is(err, scfinvoke.ErrMalformedAnswer) }},
		{"connection refused", func(http.ResponseWriter, *http.Request) {},
			func(err error) bool { return errors.Is(err, scfinvoke.ErrTransport) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, "pay-events")
			switch {
			case c.handler == nil:
				f.standIn.Inject(scfinvoketest.Fault{Kind: scfinvoketest.HTTP500})
			case c.name == "connection refused":
				f.inv.Endpoint = gone.URL
			default:
				srv := httptest.NewServer(c.handler)
				defer srv.Close()
				f.inv.Endpoint = srv.URL
			}
			err := f.inv.Send(context.Background(), "evt_1", []byte(payload))
			if err == nil || !c.check(err) {
				t.Fatalf("Send = %v", err)
			}
			assertNoSecret(t, err)
		})
	}
}

// TestSendEndsByDeadline holds the call at a hung endpoint: it must end at
// the context's deadline, or at Timeout when the context has none.
func TestSendEndsByDeadline(t *testing.T) {
	const limit = 150 * time.Millisecond
	for _, c := range []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		to   time.Duration
	}{
		{"context deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), limit)
		}, time.Minute},
		{"Timeout", func() (context.Context, context.CancelFunc) {
			return context.WithCancel(context.Background())
		}, limit},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, "pay-events")
			f.inv.Timeout = c.to
			f.standIn.Inject(scfinvoketest.Fault{Kind: scfinvoketest.Hang})
			ctx, cancel := c.ctx()
			defer cancel()
			start := time.Now()
			err := f.inv.Send(ctx, "evt_1", []byte(payload))
			if elapsed := time.Since(start); elapsed > limit+time.Second {
				t.Errorf("Send took %v", elapsed)
			}
			if !errors.Is(err, scfinvoke.ErrTransport) || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Send = %v", err)
			}
			assertNoSecret(t, err)
		})
	}
}

// TestSendRefusesBeforeCalling covers what Send refuses without a request.
func TestSendRefusesBeforeCalling(t *testing.T) {
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { requests.Add(1) }))
	defer srv.Close()
	valid := func() *scfinvoke.Invoker {
		return &scfinvoke.Invoker{
			Function: scfinvoke.Function{Name: "pay-events"}, Region: region, Endpoint: srv.URL,
			Credentials: func() scfinvoke.Credentials { return role },
		}
	}
	for _, c := range []struct {
		name    string
		change  func(*scfinvoke.Invoker)
		payload string
		want    error
		says    string
	}{
		{"no function", func(i *scfinvoke.Invoker) { i.Function = scfinvoke.Function{} }, payload, scfinvoke.ErrConfig, "Function"},
		{"bad function", func(i *scfinvoke.Invoker) { i.Function.Name = "pay events" }, payload, scfinvoke.ErrConfig, "Function"},
		{"no region", func(i *scfinvoke.Invoker) { i.Region = "" }, payload, scfinvoke.ErrConfig, "Region"},
		{"bad region", func(i *scfinvoke.Invoker) { i.Region = "Guangzhou" }, payload, scfinvoke.ErrConfig, "Region"},
		{"no credentials source", func(i *scfinvoke.Invoker) { i.Credentials = nil }, payload, scfinvoke.ErrConfig, "Credentials"},
		{"http to another host", func(i *scfinvoke.Invoker) { i.Endpoint = "http://scf.tencentcloudapi.com" }, payload, scfinvoke.ErrConfig, "https"},
		{"endpoint with a password", func(i *scfinvoke.Invoker) { i.Endpoint = "https://user:hunter2@scf.tencentcloudapi.com" }, payload, scfinvoke.ErrConfig, "user information"},
		{"endpoint with a path", func(i *scfinvoke.Invoker) { i.Endpoint = srv.URL + "/api" }, payload, scfinvoke.ErrConfig, "origin"},
		{"relative endpoint", func(i *scfinvoke.Invoker) { i.Endpoint = "scf.tencentcloudapi.com" }, payload, scfinvoke.ErrConfig, "absolute"},
		{"no role", func(i *scfinvoke.Invoker) {
			i.Credentials = func() scfinvoke.Credentials { return scfinvoke.Credentials{} }
		}, payload, scfinvoke.ErrNoCredentials, ""},
		{"payload not JSON", nil, `{"id":`, scfinvoke.ErrPayload, ""},
		{"payload not an object", nil, `["evt_1"]`, scfinvoke.ErrPayload, ""},
		{"payload over 128 KB", nil, `{"x":"` + strings.Repeat("x", scfinvoke.MaxPayloadSize) + `"}`, scfinvoke.ErrPayload, "bytes"},
	} {
		t.Run(c.name, func(t *testing.T) {
			inv := valid()
			if c.change != nil {
				c.change(inv)
			}
			err := inv.Send(context.Background(), "evt_1", []byte(c.payload))
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.says) {
				t.Fatalf("Send = %v, want %v saying %q", err, c.want, c.says)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q quotes the endpoint's password", err)
			}
			if errors.Is(err, scfinvoke.ErrConfig) && inv.Validate() == nil {
				t.Error("Validate accepts what Send refuses")
			}
		})
	}
	if n := requests.Load(); n != 0 {
		t.Errorf("%d requests sent", n)
	}
	if err := valid().Validate(); err != nil {
		t.Errorf("Validate = %v", err)
	}
}

func TestCredentialsPrintRedacted(t *testing.T) {
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		if s := fmt.Sprintf(verb, role); strings.Contains(s, role.SecretKey) || strings.Contains(s, role.Token) {
			t.Errorf("%s prints %q", verb, s)
		}
	}
}
