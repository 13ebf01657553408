// Package scfinvoketest is a local stand-in for the Tencent Cloud API
// endpoint of SCF, for tests and local runs. It checks each request as
// Tencent Cloud would: the TC3-HMAC-SHA256 signature (recomputed here from
// the published algorithm, independently of the SDK), the timestamp's
// window, the SecretId and session token, the action, version and region
// headers, and the Invoke parameters. It answers in the API's response
// shape, records the asynchronous invocations it accepted, and can
// misbehave.
package scfinvoketest

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"sync"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/scfinvoke"
)

// maxBody bounds a request: a payload at SCF's limit, JSON-escaped.
const maxBody = 1 << 20

// Config is the account and the functions the stand-in serves.
type Config struct {
	Region string // the region the functions live in
	// Credentials are the keys the account knows, temporary ones with their
	// token.
	Credentials []scfinvoke.Credentials
	// Functions can be invoked; a Namespace "" is "default" and a
	// Qualifier "" is scfinvoke.Latest.
	Functions []scfinvoke.Function
	Now       func() time.Time
}

// FaultKind is a way to misbehave, once, on the next request.
type FaultKind int

// The faults.
const (
	// Hang answers nothing until the request's context ends or Close.
	Hang FaultKind = iota + 1
	// HTTP500 answers HTTP 500 with a body that is not the API's.
	HTTP500
	// Refuse answers Fault.Code and Fault.Message in the API's error shape,
	// once the request has passed authentication.
	Refuse
)

// Fault is one misbehaviour.
type Fault struct {
	Kind    FaultKind
	Code    string
	Message string
}

// Invocation is an Invoke the stand-in accepted.
type Invocation struct {
	Function scfinvoke.Function // as the request named it
	// ClientContext is the event, decoded from the ClientContext string.
	ClientContext json.RawMessage
	SecretID      string // the key that signed the request
	RequestID     string
}

// StandIn is the stand-in endpoint; serve it with httptest or net/http.
type StandIn struct {
	cfg     Config
	closing chan struct{}

	mu            sync.Mutex
	faults        []Fault
	invocations   []Invocation
	lastRequestID string
	closed        bool
}

// New returns a stand-in serving cfg.
func New(cfg Config) *StandIn {
	return &StandIn{cfg: cfg, closing: make(chan struct{})}
}

// Inject queues faults for the next requests, one each.
func (s *StandIn) Inject(f ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, f...)
}

// Invocations returns the invocations accepted so far, in order.
func (s *StandIn) Invocations() []Invocation {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Invocation(nil), s.invocations...)
}

// LastRequestID is the RequestId of the last answer in the API's shape.
func (s *StandIn) LastRequestID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastRequestID
}

// Close releases requests held by Hang faults.
func (s *StandIn) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.closing)
	}
}

// ServeHTTP answers one API request.
func (s *StandIn) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	var f Fault
	if len(s.faults) > 0 {
		f, s.faults = s.faults[0], s.faults[1:]
	}
	s.mu.Unlock()
	switch f.Kind {
	case Hang:
		select {
		case <-r.Context().Done():
		case <-s.closing:
		}
		return
	case HTTP500:
		http.Error(w, "upstream failed", http.StatusInternalServerError)
		return
	}
	requestID := newUUID()
	inv, e := s.invoke(r, requestID)
	if e == nil && f.Kind == Refuse {
		e = &apiError{f.Code, f.Message}
	}
	s.mu.Lock()
	s.lastRequestID = requestID
	if e == nil {
		s.invocations = append(s.invocations, inv)
	}
	s.mu.Unlock()

	// API 3.0 answers its errors with HTTP 200 too; the body tells.
	response := map[string]any{"RequestId": requestID}
	if e != nil {
		response["Error"] = map[string]string{"Code": e.code, "Message": e.message}
	} else {
		// An asynchronous invocation's Result holds only its id.
		response["Result"] = map[string]any{
			"FunctionRequestId": newUUID(), "Log": "", "RetMsg": "", "ErrMsg": "",
			"MemUsage": 0, "Duration": 0, "BillDuration": 0, "InvokeResult": 0,
		}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"Response": response})
}

// invoke checks r in the order the API does (protocol, action, signature,
// region, parameters) and returns the invocation it asks for.
func (s *StandIn) invoke(r *http.Request, requestID string) (Invocation, *apiError) {
	if r.Method != http.MethodPost || r.URL.Path != "/" {
		return Invocation{}, &apiError{"UnsupportedProtocol", "The stand-in takes POST / only, as the SDK sends it."}
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		return Invocation{}, &apiError{"UnsupportedProtocol", "The stand-in takes application/json only."}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return Invocation{}, &apiError{"InvalidRequest", "The body could not be read."}
	}
	if len(body) > maxBody {
		return Invocation{}, &apiError{"RequestSizeLimitExceeded", "The request is too large."}
	}
	if a := r.Header.Get("X-TC-Action"); a != "Invoke" {
		return Invocation{}, &apiError{"InvalidAction", fmt.Sprintf("The action %q is not served here.", a)}
	}
	if v := r.Header.Get("X-TC-Version"); v != "2018-04-16" {
		return Invocation{}, &apiError{"NoSuchVersion", fmt.Sprintf("The version %q does not exist for scf.", v)}
	}
	creds, e := verifier{service: "scf", now: s.now(), lookup: s.lookup}.verify(r, body)
	if e != nil {
		return Invocation{}, e
	}
	// The region is not signed: a call to another region is authentic and
	// finds no function there.
	region := r.Header.Get("X-TC-Region")
	if region == "" {
		return Invocation{}, &apiError{"MissingParameter", "The request is missing X-TC-Region."}
	}
	fn, event, e := parseInvoke(body)
	if e != nil {
		return Invocation{}, e
	}
	if region != s.cfg.Region || !s.exists(fn) {
		return Invocation{}, &apiError{"ResourceNotFound.Function", fmt.Sprintf("The function %s does not exist in %s.", fn, region)}
	}
	return Invocation{Function: fn, ClientContext: event, SecretID: creds.SecretID, RequestID: requestID}, nil
}

// parseInvoke reads the Invoke parameters, refusing unknown ones as the API
// does, and anything but an asynchronous invocation.
func parseInvoke(body []byte) (scfinvoke.Function, json.RawMessage, *apiError) {
	var params map[string]json.RawMessage
	if err := json.Unmarshal(body, &params); err != nil {
		return scfinvoke.Function{}, nil, &apiError{"InvalidParameter", "The body is not a JSON object."}
	}
	values := map[string]string{}
	for k, raw := range params {
		switch k {
		case "FunctionName", "InvocationType", "Qualifier", "ClientContext", "LogType", "Namespace", "RoutingKey":
		default:
			return scfinvoke.Function{}, nil, &apiError{"UnknownParameter", fmt.Sprintf("The parameter %s is not recognized.", k)}
		}
		var v string
		if err := json.Unmarshal(raw, &v); err != nil {
			return scfinvoke.Function{}, nil, &apiError{"InvalidParameter", fmt.Sprintf("The parameter %s must be a string.", k)}
		}
		values[k] = v
	}
	fn := scfinvoke.Function{Namespace: values["Namespace"], Name: values["FunctionName"], Qualifier: values["Qualifier"]}
	if fn.Name == "" {
		return fn, nil, &apiError{"MissingParameter", "The request is missing FunctionName."}
	}
	if values["InvocationType"] != "Event" {
		return fn, nil, &apiError{"InvalidParameterValue", "The stand-in serves asynchronous invocations only (InvocationType Event)."}
	}
	var event json.RawMessage
	if cc, ok := values["ClientContext"]; ok {
		if len(cc) > scfinvoke.MaxPayloadSize || !json.Valid([]byte(cc)) {
			return fn, nil, &apiError{"InvalidParameterValue.ClientContext", "ClientContext must be JSON of at most 128 KB."}
		}
		event = json.RawMessage(cc)
	}
	return fn, event, nil
}

// exists reports whether fn is one of the configured functions.
func (s *StandIn) exists(fn scfinvoke.Function) bool {
	for _, f := range s.cfg.Functions {
		if withDefaults(f) == withDefaults(fn) {
			return true
		}
	}
	return false
}

func withDefaults(f scfinvoke.Function) scfinvoke.Function {
	if f.Namespace == "" {
		f.Namespace = "default"
	}
	if f.Qualifier == "" {
		f.Qualifier = scfinvoke.Latest
	}
	return f
}

func (s *StandIn) lookup(secretID string) (scfinvoke.Credentials, bool) {
	for _, c := range s.cfg.Credentials {
		if c.SecretID == secretID {
			return c, true
		}
	}
	return scfinvoke.Credentials{}, false
}

func (s *StandIn) now() time.Time {
	if s.cfg.Now != nil {
		return s.cfg.Now()
	}
	return time.Now()
}

// newUUID returns a random UUID, the form of the API's RequestIds.
func newUUID() string {
	b := make([]byte, 16)
	rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
