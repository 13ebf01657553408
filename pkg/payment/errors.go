package payment

import (
	"context"
	"errors"

	"github.com/wxpay-scf/wxpay-scf/pkg/miniprogram"
)

// Kind classifies a failure; the edge maps each kind to one HTTP status.
type Kind int

// The kinds of failure.
const (
	Internal        Kind = iota // a fault of this function
	Invalid                     // bad input; the code names the field
	Unauthenticated             // no identity, or one that fails verification
	Conflict                    // WeChat Pay refused because of the order's state
	Upstream                    // WeChat refused otherwise, or answered wrongly
	Timeout                     // WeChat did not answer in time
	Config                      // a required setting is missing or invalid
	NotFound                    // no such order, or not the caller's
	Unavailable                 // the order store cannot be reached
)

// Kinds lists every kind, so the edge can be checked to answer each.
var Kinds = []Kind{Internal, Invalid, Unauthenticated, Conflict, Upstream, Timeout, Config, NotFound, Unavailable}

// Error is a failure with a stable upper-case code and a message for people.
// Messages never carry secrets.
type Error struct {
	Kind    Kind
	Code    string
	Message string
	Err     error // the cause, for logs; may be nil
	// WeChatRequestID is WeChat Pay's Request-ID of the answer that caused
	// the failure (v3), which WeChat's support asks for first; "" if none.
	WeChatRequestID string
	cond            error // ErrOrderPaid and the like, for errors.Is; may be nil
}

// Error is "CODE: message", the form direct invocations report.
func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Unwrap returns the cause and the refusal's conditions.
func (e *Error) Unwrap() []error { return []error{e.Err, e.cond} }

func invalid(code, msg string) *Error { return &Error{Kind: Invalid, Code: code, Message: msg} }

// conflictCodes are the refusal codes that describe the order's state
// (v2 err_code and v3 code).
var conflictCodes = map[string]bool{
	"ORDERPAID": true, "ORDERCLOSED": true, "ORDER_CLOSED": true, "OUT_TRADE_NO_USED": true,
}

// conditions are what the use cases act on, by refusal code.
var conditions = map[string]error{
	"ORDERPAID": ErrOrderPaid, "ORDERCLOSED": ErrOrderClosed, "ORDER_CLOSED": ErrOrderClosed,
	"ORDERNOTEXIST": ErrOrderNotExist, "ORDER_NOT_EXIST": ErrOrderNotExist,
}

// refusal classifies a definite refusal with WeChat's code.
func refusal(code, message string, retryable bool, cause error) *Error {
	kind := Upstream
	if conflictCodes[code] {
		kind = Conflict
	}
	e := &Error{Kind: kind, Code: code, Message: message, Err: cause, cond: conditions[code]}
	if !retryable {
		e.cond = errors.Join(e.cond, ErrRefused)
	}
	return e
}

// fromStore classifies a failure of the order store.
func fromStore(err error) *Error {
	if errors.Is(err, context.DeadlineExceeded) {
		return &Error{Kind: Timeout, Code: "STORE_TIMEOUT", Message: "the order store did not answer in time", Err: err}
	}
	return &Error{Kind: Unavailable, Code: "STORE_UNAVAILABLE", Message: "the order store is unavailable; try again", Err: err}
}

// ErrAmountMismatch marks a verified report of another amount than the
// order's: money moved that does not match the record, which operators must
// see.
var ErrAmountMismatch = errors.New("payment: WeChat Pay reports another amount for this order")

func amountMismatch(cause error) *Error {
	return &Error{Kind: Upstream, Code: "WXPAY_AMOUNT_MISMATCH", Message: "WeChat Pay reports another amount for this order", Err: cause, cond: ErrAmountMismatch}
}

// refundMismatch is a verified report of a refund of another amount or
// order than the one reserved under its out_refund_no.
func refundMismatch() *Error {
	return &Error{Kind: Upstream, Code: "WXPAY_AMOUNT_MISMATCH", Message: "WeChat Pay reports another refund for this out_refund_no", cond: ErrAmountMismatch}
}

func orderNotFound() *Error {
	return &Error{Kind: NotFound, Code: "ORDER_NOT_FOUND", Message: "no such order"}
}

// fromLogin classifies a failure of the code exchange.
func fromLogin(err error) *Error {
	var refusal *miniprogram.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return &Error{Kind: Timeout, Code: "LOGIN_TIMEOUT", Message: "the WeChat login API did not answer in time", Err: err}
	case errors.As(err, &refusal):
		switch refusal.Code {
		case miniprogram.ErrCodeInvalidCode, miniprogram.ErrCodeCodeUsed:
			return &Error{Kind: Unauthenticated, Code: "INVALID_LOGIN_CODE", Message: "the wx.login code is invalid, expired or already used; call wx.login again", Err: err}
		case miniprogram.ErrCodeHighRiskUser:
			return &Error{Kind: Unauthenticated, Code: "LOGIN_BLOCKED", Message: "WeChat blocked this user's login", Err: err}
		case miniprogram.ErrCodeRateLimited:
			return &Error{Kind: Upstream, Code: "LOGIN_RATE_LIMITED", Message: "the mini-program's login quota is spent; try again in a minute", Err: err}
		case miniprogram.ErrCodeBusy:
			return &Error{Kind: Upstream, Code: "LOGIN_BUSY", Message: "the WeChat login API is busy; try again", Err: err}
		case 40013, 40125:
			return &Error{Kind: Config, Code: "CONFIG_ERROR", Message: "the login API refused the mini-program's AppID or AppSecret", Err: err}
		}
		return &Error{Kind: Upstream, Code: "LOGIN_FAILED", Message: "the WeChat login API refused the code: " + refusal.Msg, Err: err}
	}
	return &Error{Kind: Upstream, Code: "LOGIN_UNAVAILABLE", Message: "the WeChat login API could not be reached", Err: err}
}
