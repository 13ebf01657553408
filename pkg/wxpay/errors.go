package wxpay

import (
	"errors"
	"fmt"

	"github.com/wxpay-scf/wxpay-scf/pkg/outbound"
)

// Sentinel errors for the ways a v2 message can fail the protocol. They are
// wrapped with detail; match them with errors.Is.
var (
	ErrMissingSignature    = errors.New("wxpay: answer carries no sign")
	ErrInvalidSignature    = errors.New("wxpay: signature does not verify")
	ErrUnsupportedSignType = errors.New("wxpay: unsupported sign type")
	ErrMalformedXML        = errors.New("wxpay: malformed XML")
	ErrTooLarge            = errors.New("wxpay: document too large")
	ErrInvalidField        = errors.New("wxpay: invalid field")
	// ErrTransport is a request that got no complete answer; it is
	// outbound.ErrTransport, so either name matches.
	ErrTransport           = outbound.ErrTransport
	ErrNoClientCertificate = errors.New("wxpay: no client certificate for this API")
)

// Error is a refusal by WeChat Pay: either return_code FAIL (the request
// itself was refused; ReturnMsg says why) or, in a verified answer,
// result_code FAIL with err_code and err_code_des.
type Error struct {
	ReturnCode string // "FAIL", or "SUCCESS" when the business result failed
	ReturnMsg  string
	ResultCode string
	ErrCode    string
	ErrCodeDes string
}

// Error describes the refusal without any secret: WeChat's own words.
func (e *Error) Error() string {
	if e.ReturnCode != "SUCCESS" {
		return fmt.Sprintf("wxpay: return_code %s: %s", e.ReturnCode, e.ReturnMsg)
	}
	return fmt.Sprintf("wxpay: %s: %s", e.ErrCode, e.ErrCodeDes)
}

// Retryable reports whether WeChat asks for the same request to be sent again
// with the same parameters.
func (e *Error) Retryable() bool {
	return e.ErrCode == "SYSTEMERROR" || e.ErrCode == "BIZERR_NEED_RETRY"
}

// HTTPError is an answer with an HTTP status other than 200.
type HTTPError struct {
	StatusCode int
}

// Error names the status.
func (e *HTTPError) Error() string {
	return fmt.Sprintf("wxpay: HTTP status %d", e.StatusCode)
}
