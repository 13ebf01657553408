package main

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/wxpay-scf/wxpay-scf/pkg/httpevent"
	"github.com/wxpay-scf/wxpay-scf/pkg/payinput"
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

// routeError is a failure of routing: 404, 405 or 501.
type routeError struct {
	status        int
	code, message string
}

func (e *routeError) Error() string { return e.code + ": " + e.message }

type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// errorResponse answers err as {"error":{"code","message"}} with its status.
// An error of unknown type is internal and its text is not shown.
func errorResponse(err error) *httpevent.Response {
	var b errorBody
	status := http.StatusInternalServerError
	var pe *payment.Error
	var ie *payinput.Error
	var re *routeError
	switch {
	case errors.As(err, &ie):
		status, b.Error.Code, b.Error.Message = http.StatusBadRequest, ie.Code, ie.Message
	case errors.As(err, &pe):
		status, b.Error.Code, b.Error.Message = statusOf[pe.Kind], pe.Code, pe.Message
	case errors.As(err, &re):
		status, b.Error.Code, b.Error.Message = re.status, re.code, re.message
	default:
		b.Error.Code, b.Error.Message = "INTERNAL", "internal error"
	}
	body, _ := json.Marshal(b)
	return httpevent.JSON(status, body)
}

func methodNotAllowed(allow string) *httpevent.Response {
	r := errorResponse(&routeError{http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "this route takes " + allow})
	r.Headers["Allow"] = allow
	return r
}
