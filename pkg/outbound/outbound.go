// Package outbound is the one path by which this module's clients call an
// HTTP API (the merchant APIs v2 and v3, the mini-program login API). Every
// request gets a timeout per attempt within the caller's context, is sent
// again with the same bytes while its failure says a retry may succeed,
// moves to a backup host after a network failure or an HTTP 5xx, never
// follows a redirect, reads a bounded answer and keeps its Request-ID. Its
// errors carry no URL, because a query can hold a secret (the login API's
// AppSecret). A download mode streams large files, such as bills, under a
// bound of their own.
package outbound

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/retry"
)

// Default bounds of an answer's body.
const (
	DefaultMaxBodySize     = 1 << 20  // an API answer
	DefaultMaxDownloadSize = 64 << 20 // a downloaded file, compressed as sent
)

// Sentinel errors of the exchange; clients re-export them so that callers
// match either name with errors.Is.
var (
	// ErrTransport is a request that got no complete answer: the network
	// failed, or the attempt's time ran out (then the error also matches
	// context.DeadlineExceeded).
	ErrTransport = errors.New("outbound: request did not complete")
	// ErrTooLarge is an answer longer than its bound.
	ErrTooLarge = errors.New("outbound: answer over its size bound")
)

// Client sends requests to one API. Its zero value sends to BaseURL "" (so
// Request.Path must then be absolute) through http.DefaultTransport, three
// attempts at most. A Client is a value: callers copy it to change a field
// for one call (another transport, another base URL).
type Client struct {
	BaseURL string // the API's origin, prepended to every Request.Path
	// FailoverURL, when set, receives the attempts that follow a network
	// failure or an HTTP 5xx (WeChat Pay's backup host); the request is the
	// same bytes.
	FailoverURL string
	// Transport sends requests; nil means http.DefaultTransport. Requests
	// go to it directly, so a redirect is an answer like any other and is
	// never followed.
	Transport http.RoundTripper

	MaxAttempts int // sends of one request in all; 0 means 3
	// AttemptTimeout bounds each attempt within the caller's context; 0
	// means only the context's deadline applies.
	AttemptTimeout time.Duration
	RetryWait      time.Duration // pause before the first retry, doubled after; 0 means 50 ms

	MaxBodySize int64 // bound of an answer read whole; 0 means DefaultMaxBodySize
	// MaxDownloadSize bounds a body that Download streams; 0 means
	// DefaultMaxDownloadSize.
	MaxDownloadSize int64
	// DownloadTimeout bounds each Download attempt, reading the whole body
	// included; 0 means AttemptTimeout.
	DownloadTimeout time.Duration
}

// Request is one call, sent the same on every attempt.
type Request struct {
	Method string
	Path   string // appended to the base URL, query included
	Header http.Header
	Body   []byte // nil for none
	// Prepare, when set, completes each attempt's request before it is sent;
	// API v3 signs there, so that every attempt carries a fresh nonce over
	// the same body.
	Prepare func(*http.Request) error
	// Check judges each answer; a nil error accepts it. nil accepts every
	// answer.
	Check func(*Response) error
	// Retryable reports whether an error of Check asks for the same request
	// again (WeChat's SYSTEMERROR). Network failures and 5xx answers are
	// retried whatever it says.
	Retryable func(error) bool
}

// Response is an answer as Check sees it.
type Response struct {
	StatusCode int
	Header     http.Header
	// Body is the whole body, at most MaxBodySize bytes. In Download it is
	// nil for a 2xx answer, whose body goes to the reader instead.
	Body []byte
	// RequestID is the answer's Request-ID header, which WeChat's support
	// asks for first; "" when absent.
	RequestID string
}

// Do sends req until an answer passes req.Check, an error is final, the
// attempts run out, or ctx ends, and returns the last answer with the last
// error. The error of an attempt that got no answer wraps ErrTransport.
func (c *Client) Do(ctx context.Context, req *Request) (*Response, error) {
	return c.run(ctx, req, c.AttemptTimeout, func(ctx context.Context, hr *http.Response, r *Response) (bool, error) {
		var err error
		if r.Body, err = ReadBody(hr.Body, hr.ContentLength, orDefault(c.MaxBodySize, DefaultMaxBodySize)); err != nil {
			return false, bodyError(ctx, err)
		}
		return false, check(req, r)
	})
}

// Download sends req like Do, but streams the body of an accepted answer to
// read instead of holding it: a file of many megabytes (a bill) is read as
// it arrives, at most MaxDownloadSize bytes (past that, reads fail with
// ErrTooLarge). Check still judges every answer first; it sees the bounded
// body of a non-2xx answer, and an accepted one is then read from memory.
// The attempt's timeout, DownloadTimeout, covers read until it returns.
// Once read has begun nothing is retried, since it has consumed part of
// the body; read's error is returned as is, and its reads fail with
// ErrTransport when the network does.
func (c *Client) Download(ctx context.Context, req *Request, read func(*Response, io.Reader) error) error {
	timeout := c.DownloadTimeout
	if timeout == 0 {
		timeout = c.AttemptTimeout
	}
	_, err := c.run(ctx, req, timeout, func(ctx context.Context, hr *http.Response, r *Response) (bool, error) {
		if r.StatusCode/100 == 2 {
			if err := check(req, r); err != nil {
				return false, err
			}
			limit := orDefault(c.MaxDownloadSize, DefaultMaxDownloadSize)
			return true, read(r, &bounded{r: hr.Body, limit: limit, left: limit, ctx: ctx})
		}
		var err error
		if r.Body, err = ReadBody(hr.Body, hr.ContentLength, orDefault(c.MaxBodySize, DefaultMaxBodySize)); err != nil {
			return false, bodyError(ctx, err)
		}
		if err := check(req, r); err != nil {
			return false, err
		}
		return true, read(r, bytes.NewReader(r.Body))
	})
	return err
}

func check(req *Request, r *Response) error {
	if req.Check == nil {
		return nil
	}
	return req.Check(r)
}

func orDefault(n, def int64) int64 {
	if n > 0 {
		return n
	}
	return def
}

// answer reads and judges one answer's body within the attempt's context.
// final reports that the attempt must not be repeated, whatever its error:
// its body was handed on.
type answer func(ctx context.Context, hr *http.Response, r *Response) (final bool, err error)

// run is the retry loop shared by Do and Download.
func (c *Client) run(ctx context.Context, req *Request, timeout time.Duration, handle answer) (*Response, error) {
	var (
		resp       *Response
		hostFailed bool // the last attempt's host failed: no answer, or a 5xx
		again      bool // the last attempt's error may be retried
	)
	err := retry.Policy{Attempts: c.MaxAttempts, Wait: c.RetryWait}.Do(ctx, func() error {
		base := c.BaseURL
		if hostFailed && c.FailoverURL != "" {
			base = c.FailoverURL
		}
		var final bool
		var err error
		resp, final, err = c.attempt(ctx, base, req, timeout, handle)
		hostFailed = !final && (errors.Is(err, ErrTransport) || resp != nil && resp.StatusCode >= 500)
		again = hostFailed || !final && err != nil && req.Retryable != nil && req.Retryable(err)
		return err
	}, func(error) bool { return again })
	return resp, err
}

// attempt makes one exchange under its own timeout. final reports an
// attempt that must not be repeated: a request that cannot be built, or an
// answer already handed on.
func (c *Client) attempt(ctx context.Context, base string, req *Request, timeout time.Duration, handle answer) (*Response, bool, error) {
	if deadline, ok := ctx.Deadline(); timeout > 0 && (!ok || time.Until(deadline) > timeout) {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	hr, err := http.NewRequestWithContext(ctx, req.Method, base+req.Path, bytes.NewReader(req.Body))
	if err != nil {
		// net/url's message quotes the URL, and with it any secret.
		return nil, true, errors.New("outbound: the request URL does not parse")
	}
	if req.Header != nil {
		hr.Header = req.Header.Clone()
	}
	if req.Prepare != nil {
		if err := req.Prepare(hr); err != nil {
			return nil, true, err
		}
	}
	rt := c.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	res, err := rt.RoundTrip(hr)
	if err != nil {
		return nil, false, transportError(ctx, err)
	}
	defer res.Body.Close()
	r := &Response{StatusCode: res.StatusCode, Header: res.Header, RequestID: res.Header.Get("Request-ID")}
	final, err := handle(ctx, res, r)
	return r, final, err
}

// transportError drops the URL that net/http puts in its errors and keeps
// the cause, adding the context's own error when the cause hides it, so
// that errors.Is(err, context.DeadlineExceeded) holds after a timeout.
func transportError(ctx context.Context, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("%w: %w (%w)", ErrTransport, err, cerr)
	}
	return fmt.Errorf("%w: %w", ErrTransport, err)
}

// bodyError is transportError for a failed read, except that an answer
// over its bound is not the network's fault.
func bodyError(ctx context.Context, err error) error {
	if errors.Is(err, ErrTooLarge) {
		return err
	}
	return transportError(ctx, err)
}

// ReadBody reads a whole body of at most limit bytes, sized by its
// Content-Length when one is known; a longer body is ErrTooLarge. Servers
// use it too, for the requests they accept.
func ReadBody(r io.Reader, contentLength, limit int64) ([]byte, error) {
	if contentLength < 0 || contentLength > limit {
		b, err := io.ReadAll(io.LimitReader(r, limit+1))
		if err == nil && int64(len(b)) > limit {
			return nil, fmt.Errorf("%w: over %d bytes", ErrTooLarge, limit)
		}
		return b, err
	}
	buf := make([]byte, contentLength, contentLength+1)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, err
	}
	// Anything past the declared length means the length lied.
	if n, _ := r.Read(buf[len(buf):cap(buf)]); n > 0 {
		return nil, errors.New("body longer than its Content-Length")
	}
	return buf, nil
}

// bounded streams a download's body: at most left more bytes, and the
// network's errors as transport errors without the URL.
type bounded struct {
	r     io.Reader
	limit int64 // the bound
	left  int64 // bytes still allowed
	ctx   context.Context
	err   error // sticky, once the bound is passed
}

func (b *bounded) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	// One byte past the bound tells a body of exactly the bound from a
	// longer one.
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.r.Read(p)
	if int64(n) > b.left {
		n, b.left = int(b.left), 0
		b.err = fmt.Errorf("%w: over %d bytes", ErrTooLarge, b.limit)
		return n, b.err
	}
	b.left -= int64(n)
	if err != nil && err != io.EOF {
		err = transportError(b.ctx, err)
	}
	return n, err
}

// IsLoopback reports whether host (a name or an IP, without a port) is
// this machine: localhost or a loopback address. Local runs may use plain
// HTTP to such a host, and nothing else.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
