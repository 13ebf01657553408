package outbound

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// server answers with the handlers in turn (the last one repeats) and
// records what each request carried.
type server struct {
	*httptest.Server
	mu     sync.Mutex
	bodies []string
	auths  []string
}

func newServer(t *testing.T, handlers ...http.HandlerFunc) *server {
	t.Helper()
	s := &server{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		n := len(s.bodies)
		s.bodies = append(s.bodies, string(b))
		s.auths = append(s.auths, r.Header.Get("Authorization"))
		s.mu.Unlock()
		handlers[min(n, len(handlers)-1)](w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) hits() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.bodies)
}

func status(code int) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(code) }
}

func text(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Request-ID", "08F4A1B2C3-0001")
		io.WriteString(w, body)
	}
}

// hang holds the request until the client gives up.
func hang(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }

var errAgain = errors.New("again")

// okOr200 is a Check that accepts 200 and turns anything else into an
// error, and "again" bodies into a retryable one.
func okOr200(r *Response) error {
	switch {
	case string(r.Body) == "again":
		return errAgain
	case r.StatusCode != 200:
		return errors.New("HTTP " + strconv.Itoa(r.StatusCode))
	}
	return nil
}

func TestDo(t *testing.T) {
	cases := []struct {
		name     string
		main     []http.HandlerFunc
		backup   []http.HandlerFunc // nil: no failover URL
		want     func(*Response, error) bool
		mainHits int
		backHits int
	}{
		{"first time", []http.HandlerFunc{text("ok")}, nil,
			func(r *Response, err error) bool {
				return err == nil && string(r.Body) == "ok" && r.RequestID == "08F4A1B2C3-0001"
			}, 1, 0},
		{"5xx is retried with the same bytes", []http.HandlerFunc{status(502), text("ok")}, nil,
			func(r *Response, err error) bool { return err == nil && string(r.Body) == "ok" }, 2, 0},
		{"5xx fails over", []http.HandlerFunc{status(503)}, []http.HandlerFunc{text("ok")},
			func(r *Response, err error) bool { return err == nil && string(r.Body) == "ok" }, 1, 1},
		{"a retryable refusal stays on the main host", []http.HandlerFunc{text("again"), text("ok")}, []http.HandlerFunc{text("backup")},
			func(r *Response, err error) bool { return err == nil && string(r.Body) == "ok" }, 2, 0},
		{"a final refusal is not retried", []http.HandlerFunc{status(400)}, []http.HandlerFunc{text("backup")},
			func(r *Response, err error) bool { return err != nil && r.StatusCode == 400 }, 1, 0},
		{"attempts run out", []http.HandlerFunc{status(500)}, nil,
			func(r *Response, err error) bool { return err != nil && r.StatusCode == 500 }, 3, 0},
		{"a redirect is an answer, not followed", []http.HandlerFunc{func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		}}, nil, func(r *Response, err error) bool { return err != nil && r.StatusCode == 302 }, 1, 0},
		{"an answer over the bound", []http.HandlerFunc{text(strings.Repeat("x", 65))}, nil,
			func(r *Response, err error) bool { return errors.Is(err, ErrTooLarge) }, 1, 0},
		{"an answer of exactly the bound", []http.HandlerFunc{text(strings.Repeat("x", 64))}, nil,
			func(r *Response, err error) bool { return err == nil && len(r.Body) == 64 }, 1, 0},
		{"a hung attempt is timed out and retried", []http.HandlerFunc{hang, text("ok")}, nil,
			func(r *Response, err error) bool { return err == nil && string(r.Body) == "ok" }, 2, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			main := newServer(t, c.main...)
			cl := Client{BaseURL: main.URL, RetryWait: time.Millisecond, AttemptTimeout: 200 * time.Millisecond, MaxBodySize: 64}
			backHits := func() int { return 0 }
			if c.backup != nil {
				backup := newServer(t, c.backup...)
				cl.FailoverURL, backHits = backup.URL, backup.hits
			}
			signs := 0
			r, err := cl.Do(context.Background(), &Request{
				Method: "POST", Path: "/pay", Body: []byte("<xml>same</xml>"),
				Prepare:   func(r *http.Request) error { signs++; r.Header.Set("Authorization", strconv.Itoa(signs)); return nil },
				Check:     okOr200,
				Retryable: func(err error) bool { return errors.Is(err, errAgain) },
			})
			if !c.want(r, err) {
				t.Fatalf("got %+v, %v", r, err)
			}
			if main.hits() != c.mainHits || backHits() != c.backHits {
				t.Fatalf("main %d, backup %d", main.hits(), backHits())
			}
			for i, b := range main.bodies {
				if b != "<xml>same</xml>" || main.auths[i] != strconv.Itoa(i+1) {
					t.Fatalf("attempt %d sent %q, prepared %q", i, b, main.auths[i])
				}
			}
		})
	}
}

func TestDoNetworkFailureFailsOver(t *testing.T) {
	backup := newServer(t, text("ok"))
	cl := Client{BaseURL: "http://127.0.0.1:1", FailoverURL: backup.URL, RetryWait: time.Millisecond}
	if r, err := cl.Do(context.Background(), &Request{Method: "GET", Path: "/"}); err != nil || string(r.Body) != "ok" {
		t.Fatalf("%+v %v", r, err)
	}
}

func TestErrorsCarryNoURL(t *testing.T) {
	const secret = "s3cr3t-AppSecret"
	hung := newServer(t, hang)
	cases := []struct {
		name string
		cl   Client
		path string
		ctx  time.Duration
		is   []error
	}{
		{"refused connection", Client{BaseURL: "http://127.0.0.1:1", MaxAttempts: 1}, "/sns/jscode2session?secret=" + secret, time.Second, []error{ErrTransport}},
		{"deadline", Client{BaseURL: hung.URL, RetryWait: time.Millisecond}, "/sns/jscode2session?secret=" + secret, 50 * time.Millisecond, []error{ErrTransport, context.DeadlineExceeded}},
		{"attempt timeout", Client{BaseURL: hung.URL, AttemptTimeout: 20 * time.Millisecond, MaxAttempts: 2, RetryWait: time.Millisecond}, "/x?secret=" + secret, time.Second, []error{ErrTransport, context.DeadlineExceeded}},
		{"unparsable URL", Client{BaseURL: "http://[::1"}, "/x?secret=" + secret, time.Second, nil},
	}
	for _, c := range cases {
		ctx, cancel := context.WithTimeout(context.Background(), c.ctx)
		_, err := c.cl.Do(ctx, &Request{Method: "GET", Path: c.path})
		cancel()
		if err == nil || strings.Contains(err.Error(), secret) {
			t.Errorf("%s: %v", c.name, err)
		}
		for _, want := range c.is {
			if !errors.Is(err, want) {
				t.Errorf("%s: %v is not %v", c.name, err, want)
			}
		}
	}
}

func TestReadBody(t *testing.T) {
	cases := []struct {
		body   string
		length int64
		want   string
		err    bool
	}{
		{"abc", 3, "abc", false},
		{"abc", -1, "abc", false},
		{"abcd", -1, "", true}, // over the bound of 3
		{"abcd", 3, "", true},  // longer than its Content-Length
		{"ab", 3, "", true},    // shorter
	}
	for _, c := range cases {
		got, err := ReadBody(strings.NewReader(c.body), c.length, 3)
		if string(got) != c.want || (err != nil) != c.err {
			t.Errorf("%q (length %d): %q %v", c.body, c.length, got, err)
		}
	}
	if _, err := ReadBody(strings.NewReader("abcd"), -1, 3); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("over the bound: %v", err)
	}
}

// bill streams n bytes in chunks, as a bill download arrives.
func bill(n int) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		chunk := bytes.Repeat([]byte("`2026-11-29 10:00:00,`wxd678efh567hg6787\n"), 1000)
		for n > 0 {
			k := min(n, len(chunk))
			w.Write(chunk[:k])
			n -= k
		}
	}
}

func TestDownload(t *testing.T) {
	const size = 5 << 20 // many times the answer bound
	want := sha256.New()
	bill(size)(&hashWriter{want}, nil)
	cases := []struct {
		name     string
		handlers []http.HandlerFunc
		cl       Client
		check    func(n int64, sum []byte, readErr, err error) bool
		hits     int
	}{
		{"a file over the answer bound streams", []http.HandlerFunc{bill(size)}, Client{},
			func(n int64, sum []byte, _, err error) bool {
				return err == nil && n == size && bytes.Equal(sum, want.Sum(nil))
			}, 1},
		{"a 5xx before the body is retried", []http.HandlerFunc{status(503), bill(size)}, Client{},
			func(n int64, _ []byte, _, err error) bool { return err == nil && n == size }, 2},
		{"the download bound holds", []http.HandlerFunc{bill(size)}, Client{MaxDownloadSize: size - 1},
			func(n int64, _ []byte, readErr, err error) bool {
				return errors.Is(err, ErrTooLarge) && errors.Is(readErr, ErrTooLarge) && n == size-1
			}, 1},
		{"the attempt's timeout covers the read, and a begun read is not retried", []http.HandlerFunc{func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "`part of a bill\n")
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		}}, Client{DownloadTimeout: 100 * time.Millisecond},
			func(n int64, _ []byte, readErr, err error) bool {
				return n > 0 && errors.Is(err, context.DeadlineExceeded) && errors.Is(readErr, ErrTransport)
			}, 1},
		{"a refusal is judged by Check", []http.HandlerFunc{status(404)}, Client{},
			func(n int64, _ []byte, _, err error) bool { return err != nil && n == 0 }, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := newServer(t, c.handlers...)
			cl := c.cl
			cl.BaseURL, cl.RetryWait, cl.MaxBodySize = srv.URL, time.Millisecond, 1024
			var n int64
			var readErr error
			h := sha256.New()
			err := cl.Download(context.Background(), &Request{Method: "GET", Path: "/bill", Check: func(r *Response) error {
				if r.StatusCode != 200 {
					return errors.New("HTTP " + strconv.Itoa(r.StatusCode))
				}
				return nil
			}}, func(_ *Response, body io.Reader) error {
				n, readErr = io.Copy(h, body)
				return readErr
			})
			if !c.check(n, h.Sum(nil), readErr, err) {
				t.Fatalf("read %d bytes (%v), got %v", n, readErr, err)
			}
			if srv.hits() != c.hits {
				t.Fatalf("%d requests", srv.hits())
			}
		})
	}
}

// hashWriter lets a handler write into a hash, to know what a bill sums to.
type hashWriter struct{ io.Writer }

func (h *hashWriter) Header() http.Header { return http.Header{} }
func (h *hashWriter) WriteHeader(int)     {}
