package scfinvoke

import (
	"errors"
	"fmt"

	"github.com/wxpay-scf/wxpay-scf/pkg/outbound"
)

// Sentinel errors of a call. Send and Validate wrap them with the package
// name and detail, so their own text has neither; match them with
// errors.Is.
var (
	// ErrConfig is an Invoker whose fields cannot make a call; the wrapping
	// error names the field.
	ErrConfig = errors.New("invalid configuration")
	// ErrNoCredentials is a credentials source that gave no SecretId or no
	// SecretKey: on SCF, a function with no execution role.
	ErrNoCredentials = errors.New("no credentials")
	// ErrPayload is a payload that SCF would not take as an asynchronous
	// event: not a JSON object, or over MaxPayloadSize.
	ErrPayload = errors.New("payload is not a JSON object within the size limit")
	// ErrTransport is a call that got no complete answer: the network
	// failed, or the time ran out (then the error also matches
	// context.DeadlineExceeded). It is outbound.ErrTransport, so either
	// name matches.
	ErrTransport = outbound.ErrTransport
	// ErrMalformedAnswer is an HTTP 200 answer that is not a Tencent Cloud
	// API response (no Response.RequestId, not JSON, or over its bound).
	ErrMalformedAnswer = errors.New("answer is not a Tencent Cloud API response")
)

// Error is Tencent Cloud's refusal of an Invoke, as its answer's
// Response.Error and Response.RequestId carry it; the RequestId is what
// Tencent Cloud's support asks for first. The Invoke page lists its codes.
type Error struct {
	Code      string // such as AuthFailure.SignatureFailure or ResourceNotFound.Function
	Message   string // Tencent Cloud's words, with any credential removed
	RequestID string
}

// Error gives the code, the message and the RequestId.
func (e *Error) Error() string {
	return fmt.Sprintf("%s: %s (RequestId %s)", e.Code, e.Message, e.RequestID)
}

// HTTPError is an answer with an HTTP status other than 200 that carries no
// API error: a gateway in the way, a redirect (never followed, since the
// session token would go with it), or a server failure.
type HTTPError struct {
	StatusCode int
}

// Error names the status.
func (e *HTTPError) Error() string {
	return fmt.Sprintf("HTTP status %d", e.StatusCode)
}
