// Package httpevent turns the events SCF delivers for HTTP requests into one
// request type, and builds the integrated response SCF turns back into HTTP.
//
// Two shapes arrive: the Function URL event (the API gateway shape without
// requestContext, with the client IP in the x-scf-remote-addr header) and
// the API gateway event (legacy and gateway-compatible triggers, client IP in
// requestContext.sourceIp). Header and query values may be a string, an
// array of strings (repeated keys) or true (a key with no value). An event
// without httpMethod is a direct invocation.
//
// https://cloud.tencent.com/document/product/583/96099
package httpevent

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/tidwall/gjson"
)

// Kind tells which caller produced an event.
type Kind int

// The kinds of event.
const (
	// Direct is an invocation through the SCF API or another backend: the
	// event is the caller's own JSON.
	Direct Kind = iota
	// FunctionURL is an HTTP request through the function's URL.
	FunctionURL
	// APIGateway is an HTTP request through an API gateway trigger.
	APIGateway
	// Timer is a timer trigger's tick: {"Type":"Timer","TriggerName":…,
	// "Time":…,"Message":…} (scf-go-lib's events.TimerEvent). It is told
	// apart before anything else, so a tick is never read as a payment.
	Timer
)

// String names the kind for logs.
func (k Kind) String() string {
	switch k {
	case FunctionURL:
		return "function_url"
	case APIGateway:
		return "api_gateway"
	case Timer:
		return "timer"
	}
	return "direct"
}

// ErrMalformed is an event that is not a JSON object, or whose HTTP fields
// have the wrong types.
var ErrMalformed = errors.New("httpevent: malformed event")

// Values maps lower-case names to their values, in order of arrival.
type Values map[string][]string

// Get returns the first value of name, or "".
func (v Values) Get(name string) string {
	if vs := v[name]; len(vs) > 0 {
		return vs[0]
	}
	return ""
}

// Request is one event. For Direct and Timer, only Kind, Body (the whole
// event) and, for Timer, TriggerName are set.
type Request struct {
	Kind   Kind
	Method string
	Path   string
	Header Values // names lower-cased
	Query  Values
	Body   []byte
	// SourceIP is the client's address as the platform saw it (never a
	// client-supplied header such as X-Forwarded-For), or "" when the event
	// carries none.
	SourceIP string
	// TriggerName names the timer trigger of a Timer event.
	TriggerName string
}

// Parse reads an SCF event.
func Parse(event []byte) (*Request, error) {
	if err := CheckDepth(event); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if !gjson.ValidBytes(event) {
		return nil, fmt.Errorf("%w: not JSON", ErrMalformed)
	}
	root := gjson.ParseBytes(event)
	if !root.IsObject() {
		return nil, fmt.Errorf("%w: not a JSON object", ErrMalformed)
	}
	// One pass over the top-level keys; the first of a repeated key wins.
	var method, path, headers, query, body, base64Flag, rc, typ, trigger gjson.Result
	root.ForEach(func(k, v gjson.Result) bool {
		var slot *gjson.Result
		switch k.Str {
		case "httpMethod":
			slot = &method
		case "path":
			slot = &path
		case "headers":
			slot = &headers
		case "queryString":
			slot = &query
		case "body":
			slot = &body
		case "isBase64Encoded":
			slot = &base64Flag
		case "requestContext":
			slot = &rc
		case "Type":
			slot = &typ
		case "TriggerName":
			slot = &trigger
		default:
			return true
		}
		if !slot.Exists() {
			*slot = v
		}
		return true
	})
	if typ.Type == gjson.String && typ.Str == "Timer" && !method.Exists() {
		return &Request{Kind: Timer, Body: event, TriggerName: trigger.String()}, nil
	}
	if !method.Exists() {
		return &Request{Kind: Direct, Body: event}, nil
	}
	if method.Type != gjson.String || method.Str == "" {
		return nil, fmt.Errorf("%w: httpMethod", ErrMalformed)
	}
	r := &Request{Kind: FunctionURL, Method: strings.ToUpper(method.Str)}
	if path.Type != gjson.String && path.Exists() {
		return nil, fmt.Errorf("%w: path", ErrMalformed)
	}
	r.Path = path.Str
	var err error
	if r.Header, err = values(headers, true); err != nil {
		return nil, fmt.Errorf("%w: headers: %w", ErrMalformed, err)
	}
	if r.Query, err = values(query, false); err != nil {
		return nil, fmt.Errorf("%w: queryString: %w", ErrMalformed, err)
	}
	switch body.Type {
	case gjson.String:
		r.Body = []byte(body.Str)
	case gjson.Null:
	default:
		return nil, fmt.Errorf("%w: body is not a string", ErrMalformed)
	}
	if base64Flag.Type == gjson.True {
		dec, err := base64.StdEncoding.DecodeString(body.Str)
		if err != nil {
			return nil, fmt.Errorf("%w: body is not base64", ErrMalformed)
		}
		r.Body = dec
	}
	if rc.Exists() {
		r.Kind = APIGateway
		r.SourceIP = clientIP(rc.Get("sourceIp").String())
	} else if addrs := r.Header["x-scf-remote-addr"]; len(addrs) == 1 {
		r.SourceIP = clientIP(addrs[0])
	}
	return r, nil
}

// values reads a map whose values are strings, arrays of strings, or true.
func values(obj gjson.Result, lower bool) (Values, error) {
	out := Values{}
	if !obj.Exists() || obj.Type == gjson.Null {
		return out, nil
	}
	if !obj.IsObject() {
		return nil, errors.New("not an object")
	}
	var err error
	obj.ForEach(func(k, v gjson.Result) bool {
		name := k.String()
		if lower {
			name = strings.ToLower(name)
		}
		switch {
		case v.Type == gjson.String:
			out[name] = append(out[name], v.Str)
		case v.Type == gjson.True:
			out[name] = append(out[name], "")
		case v.IsArray():
			v.ForEach(func(_, e gjson.Result) bool {
				if e.Type != gjson.String {
					err = fmt.Errorf("%s holds a non-string", name)
					return false
				}
				out[name] = append(out[name], e.Str)
				return true
			})
		case v.Type == gjson.Number:
			out[name] = append(out[name], v.Raw)
		default:
			err = fmt.Errorf("%s has an unsupported value", name)
		}
		return err == nil
	})
	return out, err
}

// clientIP normalises "ip" or "ip:port" (IPv6 as "[ip]:port"), or returns "".
func clientIP(s string) string {
	s = strings.TrimSpace(s)
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().String()
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().String()
	}
	return ""
}
