package scfinvoke

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	tcerr "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/errors"
	tchttp "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/http"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/profile"
	"github.com/wxpay-scf/wxpay-scf/pkg/outbound"
)

// Defaults and limits.
const (
	// DefaultEndpoint is the SCF API endpoint; the region goes in a header.
	DefaultEndpoint = "https://scf.tencentcloudapi.com"
	// DefaultTimeout bounds a call whose Invoker sets no Timeout.
	DefaultTimeout = 5 * time.Second
	// MaxPayloadSize is the largest ClientContext SCF takes for an
	// asynchronous invocation (128 KB, says the Invoke page).
	MaxPayloadSize = 128 << 10

	apiVersion = "2018-04-16"
	// maxAnswerSize bounds the answer read: an accepted asynchronous Invoke
	// answers a few hundred bytes.
	maxAnswerSize = 64 << 10
)

// Credentials sign a call: on SCF, the execution role's temporary
// credentials.
type Credentials struct {
	SecretID  string
	SecretKey string
	Token     string // session token of temporary credentials; "" with a permanent key
}

// String hides the credentials, so that a stray %v never logs them.
func (Credentials) String() string { return "scfinvoke.Credentials{redacted}" }

// GoString hides the credentials from %#v too.
func (c Credentials) GoString() string { return c.String() }

// Invoker delivers events to one SCF function. Its fields are read on every
// call and never changed by it, so one Invoker serves concurrent calls.
type Invoker struct {
	Function Function
	Region   string // the region of the target, such as ap-guangzhou
	// Endpoint is the API's origin; "" means DefaultEndpoint. http is
	// accepted only for a loopback host (a local stand-in), since the
	// session token travels in a header.
	Endpoint string
	// Credentials is asked on every call, since a role's temporary
	// credentials rotate while an instance lives.
	Credentials func() Credentials
	// Transport sends the request; nil means http.DefaultTransport.
	Transport http.RoundTripper
	// Timeout bounds each call within its context; 0 means DefaultTimeout.
	Timeout time.Duration
}

// Validate checks the fields a call needs, so that configuration can be
// refused before any event waits on it. Its error names the field.
func (inv *Invoker) Validate() error {
	_, _, err := inv.check()
	return err
}

// check validates inv and returns the SDK's scheme and host for its
// endpoint.
func (inv *Invoker) check() (scheme, host string, err error) {
	if err := inv.Function.check(); err != nil {
		return "", "", &ConfigError{"Function", err.Error()}
	}
	if !isRegion(inv.Region) {
		return "", "", &ConfigError{"Region", fmt.Sprintf("%q is not a region name such as ap-guangzhou", inv.Region)}
	}
	if inv.Credentials == nil {
		return "", "", &ConfigError{"Credentials", "no source is set"}
	}
	endpoint := inv.Endpoint
	if endpoint == "" {
		endpoint = DefaultEndpoint
	}
	// The endpoint is never quoted back: it could carry a password.
	u, err := url.Parse(endpoint)
	switch {
	case err != nil || u.Host == "" || u.Opaque != "":
		return "", "", &ConfigError{"Endpoint", "is not an absolute URL"}
	case u.User != nil:
		return "", "", &ConfigError{"Endpoint", "must not carry user information"}
	case u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		// The SDK signs the path as "/" whatever it sends.
		return "", "", &ConfigError{"Endpoint", "must be an origin, with no path, query or fragment"}
	case u.Scheme == "https":
		return "HTTPS", u.Host, nil
	case u.Scheme == "http" && outbound.IsLoopback(u.Hostname()):
		return "HTTP", u.Host, nil
	default:
		return "", "", &ConfigError{"Endpoint", "must be https (http only for a loopback host)"}
	}
}

// ConfigError is an Invoker field that cannot work; it matches ErrConfig.
type ConfigError struct {
	Field   string // Function, Region, Credentials or Endpoint
	Problem string
}

func (e *ConfigError) Error() string { return "scfinvoke: " + e.Field + ": " + e.Problem }

// Unwrap makes a ConfigError match ErrConfig.
func (e *ConfigError) Unwrap() error { return ErrConfig }

// Send delivers one event: it calls Invoke asynchronously with payload (the
// event JSON) as ClientContext, once, within ctx and inv.Timeout. A nil
// error means SCF accepted the invocation; SCF then retries the target's
// own failures. An error is one of: ErrConfig, ErrNoCredentials,
// ErrPayload, an *Error (Tencent Cloud's refusal, with its code and
// RequestId), ErrTransport, an *HTTPError or ErrMalformedAnswer, wrapped
// with the event id and the target. No error carries a credential.
//
// https://cloud.tencent.com/document/api/583/17243
func (inv *Invoker) Send(ctx context.Context, id string, payload []byte) error {
	if err := inv.send(ctx, payload); err != nil {
		return fmt.Errorf("scfinvoke: event %s to %s: %w", id, inv.Function, err)
	}
	return nil
}

func (inv *Invoker) send(ctx context.Context, payload []byte) error {
	scheme, host, err := inv.check()
	if err != nil {
		return err
	}
	if err := checkPayload(payload); err != nil {
		return err
	}
	creds := inv.Credentials()
	if creds.SecretID == "" || creds.SecretKey == "" {
		return ErrNoCredentials
	}
	timeout := inv.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	cpf := profile.NewClientProfile()
	cpf.HttpProfile.Scheme = scheme
	cpf.HttpProfile.Endpoint = host
	cpf.HttpProfile.ReqMethod = "POST"
	cpf.HttpProfile.ReqTimeout = 0 // the context bounds the call
	cpf.Language = "en-US"         // the API's messages, in the logs' language
	// One attempt per call, in this region: the caller retries delivery
	// on its own schedule, and the breaker would fail over to another
	// region's endpoint.
	cpf.NetworkFailureMaxRetries = 0
	cpf.RateLimitExceededMaxRetries = 0
	cpf.DisableRegionBreaker = true
	x := &exchange{next: inv.Transport}
	if x.next == nil {
		x.next = http.DefaultTransport
	}
	client := common.NewCommonClient(common.NewTokenCredential(creds.SecretID, creds.SecretKey, creds.Token), inv.Region, cpf).
		WithHttpTransport(x)

	req := tchttp.NewCommonRequest("scf", apiVersion, "Invoke")
	req.SetContext(ctx)
	params := map[string]interface{}{
		"FunctionName":   inv.Function.Name,
		"InvocationType": "Event",
		"ClientContext":  string(payload),
	}
	if inv.Function.Namespace != "" {
		params["Namespace"] = inv.Function.Namespace
	}
	if inv.Function.Qualifier != "" {
		params["Qualifier"] = inv.Function.Qualifier
	}
	if err := req.SetActionParameters(params); err != nil {
		return err
	}
	resp := tchttp.NewCommonResponse()
	return outcome(ctx, client.Send(req, resp), x, resp, creds)
}

// outcome classifies what the SDK's Send returned, with what the exchange
// saw and the SDK does not report.
func outcome(ctx context.Context, err error, x *exchange, resp *tchttp.CommonResponse, creds Credentials) error {
	if err == nil {
		var answer struct{ Response struct{ RequestId string } }
		if json.Unmarshal(resp.GetBody(), &answer) != nil || answer.Response.RequestId == "" {
			return ErrMalformedAnswer
		}
		return nil
	}
	// The SDK's own failures have codes in ClientError; any other code is
	// the API's.
	var sdkErr *tcerr.TencentCloudSDKError
	if errors.As(err, &sdkErr) && !strings.HasPrefix(sdkErr.Code, "ClientError") {
		return &Error{Code: sdkErr.Code, Message: redact(sdkErr.Message, creds), RequestID: sdkErr.RequestId}
	}
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("%w: %w", ErrTransport, ctx.Err())
	case x.err != nil:
		return fmt.Errorf("%w: %w", ErrTransport, x.err)
	case x.status == 0:
		return err // the SDK failed before sending, and says why
	case x.status != http.StatusOK:
		return &HTTPError{StatusCode: x.status}
	default:
		// The SDK's message quotes the body, which is not ours to log.
		return ErrMalformedAnswer
	}
}

// exchange watches the one HTTP exchange of a call, which the SDK reduces
// to an error with the body quoted in it: it keeps the status and any
// network error, bounds the body, and stops redirects.
type exchange struct {
	next   http.RoundTripper
	status int
	err    error // of the round trip, or of reading the body
}

// RoundTrip sends r and watches the answer.
func (x *exchange) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := x.next.RoundTrip(r)
	if err != nil {
		x.err = err
		return nil, err
	}
	x.status = resp.StatusCode
	// Without a Location the client returns a redirect as is: following it
	// would hand X-TC-Token to whatever host it names.
	resp.Header.Del("Location")
	resp.Body = &watchedBody{x: x, r: io.LimitReader(resp.Body, maxAnswerSize), c: resp.Body}
	return resp, nil
}

// watchedBody records a failed read; a body cut at its bound reads as
// malformed JSON.
type watchedBody struct {
	x *exchange
	r io.Reader
	c io.Closer
}

func (b *watchedBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF {
		b.x.err = err
	}
	return n, err
}

func (b *watchedBody) Close() error { return b.c.Close() }

// checkPayload accepts what SCF takes as an asynchronous event.
func checkPayload(p []byte) error {
	if len(p) > MaxPayloadSize {
		return fmt.Errorf("%w: %d bytes, over %d", ErrPayload, len(p), MaxPayloadSize)
	}
	if t := bytes.TrimLeft(p, " \t\r\n"); len(t) == 0 || t[0] != '{' || !json.Valid(p) {
		return ErrPayload
	}
	return nil
}

// redact removes the credentials from text that came over the network, in
// case a server or a proxy echoes the request's headers.
func redact(s string, c Credentials) string {
	for _, secret := range []string{c.SecretKey, c.Token, c.SecretID} {
		if secret != "" {
			s = strings.ReplaceAll(s, secret, "[redacted]")
		}
	}
	return s
}

// isRegion accepts the shape of Tencent Cloud region names (ap-guangzhou,
// ap-shanghai-fsi, na-siliconvalley); the API refuses unknown ones.
func isRegion(s string) bool {
	parts := strings.Split(s, "-")
	if len(parts) < 2 || len(s) > 40 {
		return false
	}
	for _, p := range parts {
		if p == "" {
			return false
		}
		for i := 0; i < len(p); i++ {
			if !('a' <= p[i] && p[i] <= 'z') && !isDigit(p[i]) {
				return false
			}
		}
	}
	return true
}
