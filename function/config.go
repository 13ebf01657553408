package main

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/miniprogram"
	"github.com/wxpay-scf/wxpay-scf/pkg/payinput"
	"github.com/wxpay-scf/wxpay-scf/pkg/payment"
	"github.com/wxpay-scf/wxpay-scf/pkg/scfinvoke"
	"github.com/wxpay-scf/wxpay-scf/pkg/store"
	"github.com/wxpay-scf/wxpay-scf/pkg/webhook"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpay"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpayv3"
)

// config is the function's environment, read once and validated.
type config struct {
	appID        string
	mchID        string
	key          string // API v2 key
	v3           bool   // WXPAY_API_VERSION=v3
	apiV3Key     []byte
	mchSerial    string
	mchKey       *rsa.PrivateKey
	publicKey    *rsa.PublicKey // WeChat Pay public key; nil in certificate mode
	publicKeyID  string
	notifyURL    string
	signType     wxpay.SignType
	body         string
	appSecret    string
	openidHeader string // lower-case header name, or ""
	maxTotalFee  int64
	apiBase      string
	loginAPIBase string

	// Feature settings: each is checked when its feature is built, and a
	// problem disables only that feature.
	storeDSN      string
	sessionSecret string
	clientCert    string // PEM
	clientKey     string // PEM
	onSCF         bool   // running on Tencent Cloud SCF
	orderTTL      time.Duration
	orderTTLRaw   string
	pricesRaw     string // WXPAY_PRICES, checked in setup
	// The events target: a webhook or another SCF function (checked in
	// setupEvents; a problem disables delivery only).
	eventsURL, eventsSecret, eventsFunction string
	region                                  string // TENCENTCLOUD_REGION, this function's own
	tencentCloudAPIBase                     string
	// unresolved holds the feature variables left as unresolved
	// deployment variables, which their features refuse.
	unresolved map[string]bool
}

// unresolved reports a value left as a deployment variable (${env:…}),
// which the deploy tool fills in only when the deploying shell sets it.
func unresolved(v string) bool { return strings.HasPrefix(v, "${") }

// configError names a variable that is missing or invalid, and why; never its value.
type configError struct {
	Var    string
	Reason string
}

func (e *configError) Error() string { return e.Var + ": " + e.Reason }

// defaultBody is the goods description when neither the request nor WXPAY_BODY gives one.
const defaultBody = "商品"

// loadConfig reads every variable and returns all the problems it finds.
func loadConfig(lookup func(string) string) (*config, []*configError) {
	var errs []*configError
	bad := func(name, reason string) { errs = append(errs, &configError{name, reason}) }
	getenv := func(name string) string {
		v := lookup(name)
		if unresolved(v) {
			bad(name, "holds an unresolved deployment variable; set it in the deploying shell")
			return ""
		}
		return v
	}
	required := func(name string) string {
		v := strings.TrimSpace(getenv(name))
		if v == "" && !unresolved(lookup(name)) {
			bad(name, "is required and not set")
		}
		return v
	}
	c := &config{
		appID:        required("WXPAY_APPID"),
		mchID:        required("WXPAY_MCHID"),
		notifyURL:    required("WXPAY_NOTIFY_URL"),
		appSecret:    strings.TrimSpace(getenv("WXPAY_APPSECRET")),
		openidHeader: strings.ToLower(strings.TrimSpace(getenv("WXPAY_OPENID_HEADER"))),
		maxTotalFee:  wxpay.MaxTotalFee,
		body:         defaultBody,
	}
	if c.mchID != "" && strings.Trim(c.mchID, "0123456789") != "" {
		bad("WXPAY_MCHID", "must be the merchant number, digits only")
	}
	switch v := getenv("WXPAY_API_VERSION"); v {
	case "", "v2":
		c.key = getenv("WXPAY_KEY")
		if c.key == "" {
			bad("WXPAY_KEY", "is required with API v2 and not set")
		} else if len(c.key) != 32 {
			bad("WXPAY_KEY", "must be exactly 32 characters")
		}
	case "v3":
		c.v3 = true
		loadV3(c, getenv, required, bad)
	default:
		bad("WXPAY_API_VERSION", "must be v2 or v3")
	}
	if c.notifyURL != "" {
		u, err := url.Parse(c.notifyURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			bad("WXPAY_NOTIFY_URL", "must be an absolute http(s) URL of …/notify without a query string")
		}
	}
	st, err := wxpay.ParseSignType(getenv("WXPAY_SIGN_TYPE"))
	if err != nil {
		bad("WXPAY_SIGN_TYPE", "must be MD5 or HMAC-SHA256")
	}
	c.signType = st
	if v := getenv("WXPAY_BODY"); v != "" {
		c.body = v
		if problem := payinput.CheckText(v, wxpay.MaxBodyBytes); problem != "" {
			bad("WXPAY_BODY", problem)
		}
	}
	if v := getenv("WXPAY_MAX_TOTAL_FEE"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 || n > wxpay.MaxTotalFee {
			bad("WXPAY_MAX_TOTAL_FEE", fmt.Sprintf("must be a whole number of fen from 1 to %d", wxpay.MaxTotalFee))
		}
		c.maxTotalFee = n
	}
	c.storeDSN = getenv("WXPAY_STORE")
	switch {
	case c.storeDSN == "":
		c.storeDSN = store.DefaultDSN
	case !strings.HasPrefix(c.storeDSN, "sqlite:") && !strings.HasPrefix(c.storeDSN, "mysql://"):
		bad("WXPAY_STORE", `must be sqlite:PATH or mysql://user:pass@host:3306/db`)
	}
	// An optional feature's variable is read as it is: an unresolved one
	// is noted, and the feature refuses it, which turns off that feature
	// alone (or, for WXPAY_ORDER_TTL, applies the default).
	c.unresolved = map[string]bool{}
	feature := func(name string) string {
		v := lookup(name)
		c.unresolved[name] = unresolved(v)
		return v
	}
	c.sessionSecret = feature("WXPAY_SESSION_SECRET")
	c.clientCert = pemValue(feature("WXPAY_CLIENT_CERT"))
	c.clientKey = pemValue(feature("WXPAY_CLIENT_KEY"))
	c.onSCF = lookup("TENCENTCLOUD_RUNENV") == "SCF"
	c.eventsURL, c.eventsSecret = feature("WXPAY_EVENTS_URL"), feature("WXPAY_EVENTS_SECRET")
	c.eventsFunction, c.region = feature("WXPAY_EVENTS_FUNCTION"), lookup("TENCENTCLOUD_REGION")
	c.tencentCloudAPIBase = feature("WXPAY_TENCENTCLOUD_API_BASE")
	c.orderTTLRaw = feature("WXPAY_ORDER_TTL")
	c.pricesRaw = strings.TrimSpace(feature("WXPAY_PRICES"))
	c.apiBase = baseURL(getenv, "WXPAY_API_BASE", wxpay.DefaultBaseURL, bad)
	c.loginAPIBase = baseURL(getenv, "WXPAY_LOGIN_API_BASE", miniprogram.DefaultBaseURL, bad)
	return c, errs
}

// loadV3 reads the API v3 credentials. Keys are parsed here, once.
func loadV3(c *config, getenv, required func(string) string, bad func(string, string)) {
	c.apiV3Key = []byte(getenv("WXPAY_APIV3_KEY"))
	if len(c.apiV3Key) != wxpayv3.APIv3KeyLen {
		bad("WXPAY_APIV3_KEY", "is required with API v3 and must be exactly 32 bytes")
	}
	c.mchSerial = required("WXPAY_MCH_SERIAL")
	if pemKey := pemValue(getenv("WXPAY_MCH_PRIVATE_KEY")); pemKey == "" {
		bad("WXPAY_MCH_PRIVATE_KEY", "is required with API v3 and not set")
	} else if k, err := wxpayv3.ParsePrivateKey([]byte(pemKey)); err != nil {
		bad("WXPAY_MCH_PRIVATE_KEY", "must be the merchant's RSA private key in PEM (PKCS#8 or PKCS#1)")
	} else {
		c.mchKey = k
	}
	pub, id := pemValue(getenv("WXPAY_PUBLIC_KEY")), getenv("WXPAY_PUBLIC_KEY_ID")
	switch {
	case pub == "" && id == "": // certificate mode
	case pub == "":
		bad("WXPAY_PUBLIC_KEY", "must be set with WXPAY_PUBLIC_KEY_ID")
	case id == "":
		bad("WXPAY_PUBLIC_KEY_ID", "is required when WXPAY_PUBLIC_KEY is set")
	default:
		k, err := wxpayv3.ParsePublicKey([]byte(pub))
		if err != nil {
			bad("WXPAY_PUBLIC_KEY", "must be the WeChat Pay public key in PEM")
		}
		c.publicKey, c.publicKeyID = k, id
	}
}

// Bounds of WXPAY_ORDER_TTL.
const (
	minOrderTTL = time.Minute
	maxOrderTTL = 168 * time.Hour
)

// parseOrderTTL reads WXPAY_ORDER_TTL, a Go duration from 1m to 168h. A
// bad value is reported and the default applies: a typo must never stop
// payments.
func parseOrderTTL(v string) (time.Duration, string) {
	if v == "" {
		return payment.DefaultOrderTTL, ""
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < minOrderTTL || d > maxOrderTTL {
		return payment.DefaultOrderTTL, "must be a duration from 1m to 168h, such as 2h or 30m"
	}
	return d, ""
}

// pemValue accepts PEM pasted into a one-line variable with literal \n.
func pemValue(v string) string {
	if !strings.Contains(v, "\n") {
		return strings.ReplaceAll(v, `\n`, "\n")
	}
	return v
}

func baseURL(getenv func(string) string, name, def string, bad func(string, string)) string {
	v := getenv(name)
	if v == "" {
		return def
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" {
		bad(name, "must be an absolute http(s) URL")
		return def
	}
	return strings.TrimRight(v, "/")
}

// setupEvents builds the events target from WXPAY_EVENTS_URL and
// WXPAY_EVENTS_SECRET (a webhook) or WXPAY_EVENTS_FUNCTION (another SCF
// function). A problem is logged by variable at ERROR and disables
// delivery only: payments, notifications and the recording of events go on,
// and the pull API still lists every event.
func (a *app) setupEvents(cfg *config) {
	bad := func(variable, problem string) {
		a.featureProblem(cfg, variable, problem, "events are recorded but not delivered")
	}
	// Left as a deployment variable, a target's variable is named as
	// such, whichever target the others choose.
	for _, name := range []string{"WXPAY_EVENTS_URL", "WXPAY_EVENTS_SECRET", "WXPAY_EVENTS_FUNCTION"} {
		if cfg.unresolved[name] {
			bad(name, "")
			return
		}
	}
	switch {
	case cfg.eventsURL != "" && cfg.eventsFunction != "":
		bad("WXPAY_EVENTS_FUNCTION", "set either WXPAY_EVENTS_URL or WXPAY_EVENTS_FUNCTION, not both")
	case cfg.eventsFunction != "":
		if cfg.eventsSecret != "" {
			a.log.Warn("configuration", "variable", "WXPAY_EVENTS_SECRET", "problem", "is for a webhook and unused with WXPAY_EVENTS_FUNCTION")
		}
		fn, err := scfinvoke.ParseFunction(cfg.eventsFunction)
		if err != nil {
			bad("WXPAY_EVENTS_FUNCTION", "must be name, or namespace/name, optionally with :qualifier")
			return
		}
		inv := &scfinvoke.Invoker{Function: fn, Region: cfg.region, Endpoint: cfg.tencentCloudAPIBase, Transport: a.transport,
			// The execution role's temporary credentials, read at each call.
			Credentials: func() scfinvoke.Credentials {
				return scfinvoke.Credentials{SecretID: a.getenv("TENCENTCLOUD_SECRETID"), SecretKey: a.getenv("TENCENTCLOUD_SECRETKEY"), Token: a.getenv("TENCENTCLOUD_SESSIONTOKEN")}
			}}
		var field *scfinvoke.ConfigError
		if err := inv.Validate(); errors.As(err, &field) {
			bad(invokerVariable(field.Field), field.Problem)
			return
		}
		a.target = inv
	case cfg.eventsURL != "":
		if err := webhook.ValidURL(cfg.eventsURL); err != nil {
			bad("WXPAY_EVENTS_URL", "must be an absolute https URL (http only to a loopback host)")
			return
		}
		secret, err := webhook.ParseSecret(cfg.eventsSecret)
		if err != nil {
			bad("WXPAY_EVENTS_SECRET", "must be whsec_ followed by the base64 of 24 to 64 random bytes")
			return
		}
		a.target = &webhook.Sender{URL: cfg.eventsURL, Secret: secret, Transport: a.transport, Now: a.now}
	case cfg.eventsSecret != "":
		bad("WXPAY_EVENTS_URL", "is not set, but WXPAY_EVENTS_SECRET is")
	}
}

// invokerVariable is the variable behind a field of the SCF invoker.
func invokerVariable(field string) string {
	switch field {
	case "Region":
		return "TENCENTCLOUD_REGION"
	case "Endpoint":
		return "WXPAY_TENCENTCLOUD_API_BASE"
	}
	return "WXPAY_EVENTS_FUNCTION"
}
