package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/outbound"
)

// DeliveryTimeout bounds one attempt: a 2xx answer later than this is not a
// delivery.
const DeliveryTimeout = 5 * time.Second

// Bounds of what Send reads of an answer: enough of a refusal to say why,
// and enough of an accepted answer to let its connection be reused.
const (
	maxRefusalExcerpt = 256
	maxDrain          = 4 << 10
)

// Errors of sending. Their messages hold neither the URL (its query may
// carry a token) nor the secret.
var (
	// ErrInvalidURL is a target that is neither an absolute https URL nor
	// an http URL of a loopback host.
	ErrInvalidURL = errors.New("webhook: invalid target URL")
	// ErrInvalidID is an event id that is empty or holds a '.', a space, a
	// control or a non-ASCII character: the id is signed between dots and
	// travels in a header.
	ErrInvalidID = errors.New("webhook: invalid event id")
	// ErrNoAnswer is an attempt that got no answer: the network failed, TLS
	// was refused (the error also matches the certificate's error with
	// errors.As), or time ran out (it also matches the context's error).
	ErrNoAnswer = errors.New("webhook: no answer")
	// ErrRefused is an answer other than 2xx; the message gives its status
	// and the beginning of its body. Redirects are refused, never followed.
	ErrRefused = errors.New("webhook: not delivered")
)

// Sender delivers events to one webhook target. It holds no connection
// state of its own, so a zero Transport and a Sender per invocation are
// fine.
type Sender struct {
	URL    string // validated by ValidURL on every Send
	Secret Secret
	// Transport sends the request; nil means http.DefaultTransport. The
	// request goes to it directly, so a redirect is an answer like any
	// other.
	Transport http.RoundTripper
	Now       func() time.Time // the attempt's timestamp; nil means time.Now
}

// Send makes one delivery attempt of payload, the event's JSON, as event
// id: a POST signed with this attempt's timestamp, which counts as
// delivered only on a 2xx answer within DeliveryTimeout (and ctx). It
// returns nil for a delivery; retrying is the caller's part.
func (s *Sender) Send(ctx context.Context, id string, payload []byte) error {
	if err := ValidURL(s.URL); err != nil {
		return err
	}
	if !s.Secret.valid() {
		return ErrInvalidSecret
	}
	if !validID(id) {
		return ErrInvalidID
	}
	ctx, cancel := context.WithTimeout(ctx, DeliveryTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL, bytes.NewReader(payload))
	if err != nil {
		// ValidURL let it through, so this is not expected; err would
		// quote the URL.
		return ErrInvalidURL
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	req.Header = SignedHeaders(s.Secret, id, now(), payload)
	req.Header.Set("Content-Type", "application/json")
	rt := s.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	start := time.Now()
	res, err := rt.RoundTrip(req)
	if err != nil {
		return noAnswer(ctx, err, time.Since(start))
	}
	defer res.Body.Close()
	if res.StatusCode/100 != 2 {
		return refused(res)
	}
	// The answer's status is the delivery; its body is read, boundedly and
	// ignoring failures, only so that the connection can serve the next one.
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, maxDrain))
	return nil
}

// noAnswer builds ErrNoAnswer from a transport's error, dropping any URL a
// RoundTripper quoted. When the attempt's time ran out it says after how
// long, and matches the context's error even if the cause hides it.
func noAnswer(ctx context.Context, err error, took time.Duration) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	cerr := ctx.Err()
	if cerr == nil {
		return fmt.Errorf("%w: %w", ErrNoAnswer, err)
	}
	if !errors.Is(err, cerr) {
		err = fmt.Errorf("%w (%w)", err, cerr)
	}
	return fmt.Errorf("%w after %s: %w", ErrNoAnswer, took.Round(time.Millisecond), err)
}

// refused builds ErrRefused from an answer, with the beginning of its body,
// where receivers usually say why.
func refused(res *http.Response) error {
	err := fmt.Errorf("%w: answered %d %s", ErrRefused, res.StatusCode, http.StatusText(res.StatusCode))
	excerpt, _ := io.ReadAll(io.LimitReader(res.Body, maxRefusalExcerpt))
	if text := strings.TrimSpace(strings.ToValidUTF8(string(excerpt), "\uFFFD")); text != "" {
		err = fmt.Errorf("%w: %q", err, text)
	}
	return err
}

func validID(id string) bool {
	return id != "" && !strings.ContainsFunc(id, func(r rune) bool { return r == '.' || r <= ' ' || r >= 0x7f })
}

// ValidURL checks a webhook target: an absolute https URL, or an http URL
// whose host is loopback (127.0.0.0/8, localhost, [::1]) for local runs.
// Its errors wrap ErrInvalidURL and never quote the URL.
func ValidURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		// url.Parse's message quotes the URL, and with it any token.
		return fmt.Errorf("%w: it does not parse", ErrInvalidURL)
	case u.Hostname() == "" || u.Opaque != "":
		return fmt.Errorf("%w: not an absolute URL with a host", ErrInvalidURL)
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && outbound.IsLoopback(u.Hostname()):
		return nil
	case u.Scheme == "http":
		return fmt.Errorf("%w: http is for a loopback host only; use https", ErrInvalidURL)
	}
	return fmt.Errorf("%w: the scheme is not https", ErrInvalidURL)
}
