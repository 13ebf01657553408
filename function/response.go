package main

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/wxpay-scf/wxpay-scf/pkg/httpevent"
	"github.com/wxpay-scf/wxpay-scf/pkg/payment"
)

// statusOf is the one table from kinds of failure to HTTP statuses.
var statusOf = map[payment.Kind]int{
	payment.Invalid:         http.StatusBadRequest,
	payment.Unauthenticated: http.StatusUnauthorized,
	payment.Conflict:        http.StatusConflict,
	payment.Upstream:        http.StatusBadGateway,
	payment.Timeout:         http.StatusGatewayTimeout,
	payment.Config:          http.StatusInternalServerError,
	payment.Internal:        http.StatusInternalServerError,
	payment.NotFound:        http.StatusNotFound,
	payment.Unavailable:     http.StatusServiceUnavailable,
}

// routeError is a failure of routing: 404 or 405.
type routeError struct {
	status        int
	code, message string
}

func (e *routeError) Error() string { return e.code + ": " + e.message }

// outcome is how a failure is answered and logged: the answer and the log
// line both come from it, so they cannot disagree.
type outcome struct {
	status        int
	code, message string
	level         slog.Level
	cause         string // for operators; never shown to clients
	wechatRequest string // WeChat Pay's Request-ID, when an answer of its caused the failure
}

// classify is the one classification of failures. Our own faults and
// WeChat's (5xx), and a verified amount that is not the order's, are ERROR;
// refused notifications WARN; bad input and the like INFO. An error of
// unknown type is internal and its text is not shown.
func classify(err error) outcome {
	var pe *payment.Error
	var re *routeError
	o := outcome{status: http.StatusInternalServerError, code: "INTERNAL", message: "internal error", level: slog.LevelInfo}
	switch {
	case err == nil:
		return outcome{status: http.StatusOK, level: slog.LevelInfo}
	case errors.As(err, &pe):
		o.status, o.code, o.message, o.wechatRequest = statusOf[pe.Kind], pe.Code, pe.Message, pe.WeChatRequestID
		if pe.Err != nil {
			o.cause = pe.Err.Error()
		}
	case errors.As(err, &re):
		o.status, o.code, o.message = re.status, re.code, re.message
	default:
		o.cause = err.Error()
	}
	switch {
	case o.status >= 500, errors.Is(err, payment.ErrAmountMismatch):
		o.level = slog.LevelError
	case pe != nil && pe.Code == "NOTIFICATION_REFUSED":
		o.level = slog.LevelWarn
	}
	return o
}

type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// errorResponse answers err as {"error":{"code","message"}} with its status.
func errorResponse(err error) *httpevent.Response {
	o := classify(err)
	var b errorBody
	b.Error.Code, b.Error.Message = o.code, o.message
	body, _ := json.Marshal(b)
	return httpevent.JSON(o.status, body)
}

func methodNotAllowed(allow string) *httpevent.Response {
	r := errorResponse(&routeError{http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "this route takes " + allow})
	r.Headers["Allow"] = allow
	return r
}
