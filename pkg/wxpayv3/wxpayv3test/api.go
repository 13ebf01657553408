package wxpayv3test

import (
	"cmp"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/wxpay-scf/wxpay-scf/pkg/outbound"
	"github.com/wxpay-scf/wxpay-scf/pkg/trade"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpay"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpayv3"
)

func (s *Sim) routes() {
	s.mux.HandleFunc("POST /v3/pay/transactions/jsapi", s.api(s.prepay))
	s.mux.HandleFunc("GET /v3/pay/transactions/out-trade-no/{no}", s.api(s.query))
	s.mux.HandleFunc("POST /v3/pay/transactions/out-trade-no/{no}/close", s.api(s.closeOrder))
	s.mux.HandleFunc("POST /v3/refund/domestic/refunds", s.api(s.refund))
	s.mux.HandleFunc("GET /v3/refund/domestic/refunds/{no}", s.api(s.queryRefund))
	s.mux.HandleFunc("GET /v3/certificates", s.api(s.certificates))
	s.mux.HandleFunc("GET /v3/bill/tradebill", s.api(s.tradeBill))
	s.mux.HandleFunc("GET /v3/billdownload/file", s.handle(s.billFile, false))
}

// reply is an API answer before it is signed.
type reply struct {
	status int
	body   any // marshalled as JSON, or a file; nil for none
}

// file is a reply's body sent as it is, unsigned.
type file []byte

func fail(status int, code, msg string) reply {
	return reply{status, map[string]string{"code": code, "message": msg}}
}

// api wraps a handler with what every v3 endpoint does: record, play a
// fault, authenticate the request, and sign the answer.
func (s *Sim) api(h func(*http.Request, []byte) reply) http.HandlerFunc { return s.handle(h, true) }

// handle is api, for an endpoint of the JSON API or, when jsonAPI is false,
// of a file download, which needs no JSON Accept header.
func (s *Sim) handle(h func(*http.Request, []byte) reply, jsonAPI bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, _ := outbound.ReadBody(r.Body, r.ContentLength, wxpayv3.MaxBodySize)
		// Every answer, a failure too, carries the id WeChat's support asks for.
		id := randomHex(32)
		w.Header().Set("Request-ID", id)
		s.mu.Lock()
		s.requests = append(s.requests, r.Method+" "+r.URL.Path)
		s.lastRequestID = id
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
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		rep := s.authenticate(r, body, jsonAPI)
		if rep.status == 0 {
			if f.Kind == Refuse {
				rep = fail(f.Status, f.Code, "simulated refusal")
			} else {
				rep = h(r, body)
			}
		}
		s.write(w, rep, f.Kind)
	}
}

// authenticate checks the Authorization header the way WeChat Pay does,
// and the Accept header of the JSON API when jsonAPI is set; a zero reply
// lets the request through.
func (s *Sim) authenticate(r *http.Request, body []byte, jsonAPI bool) reply {
	auth, ok := strings.CutPrefix(r.Header.Get("Authorization"), wxpayv3.Scheme+" ")
	if !ok {
		return fail(401, "SIGN_ERROR", "Authorization 缺失或认证类型错误")
	}
	f := map[string]string{}
	for _, kv := range strings.Split(auth, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		f[k] = strings.Trim(v, `"`)
	}
	ts, err := strconv.ParseInt(f["timestamp"], 10, 64)
	switch {
	case f["mchid"] != s.cfg.MchID:
		return fail(401, "SIGN_ERROR", "mchid 与商户号不符")
	case f["serial_no"] != s.cfg.MerchantSerial:
		return fail(401, "SIGN_ERROR", "商户证书序列号有误")
	case f["nonce_str"] == "" || err != nil || s.wireNow().Sub(time.Unix(ts, 0)).Abs() > 5*time.Minute:
		return fail(401, "SIGN_ERROR", "nonce_str 缺失或 timestamp 过期")
	case !s.cfg.Certificates && r.Header.Get("Wechatpay-Serial") != PublicKeyID:
		return fail(400, "PARAM_ERROR", "Wechatpay-Serial 须为微信支付公钥ID")
	case jsonAPI && r.Header.Get("Accept") != "application/json" || r.Header.Get("User-Agent") == "":
		return fail(400, "PARAM_ERROR", "需要 Accept: application/json 与 User-Agent")
	case len(body) > 0 && !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json"):
		return fail(400, "PARAM_ERROR", "需要 Content-Type: application/json")
	}
	sig, err := base64.StdEncoding.DecodeString(f["signature"])
	msg := wxpayv3.Message(r.Method, r.URL.RequestURI(), f["timestamp"], f["nonce_str"], body)
	sum := sha256.Sum256([]byte(msg))
	if err != nil || rsa.VerifyPKCS1v15(s.cfg.MerchantKey, crypto.SHA256, sum[:], sig) != nil {
		return fail(401, "SIGN_ERROR", "签名错误")
	}
	if len(body) > 0 {
		var v any
		if json.Unmarshal(body, &v) != nil || hasNull(v) {
			return fail(400, "PARAM_ERROR", "请求体不是合法 JSON，或含有 null")
		}
	}
	return reply{}
}

// write signs and sends an answer, playing signature faults; a file goes
// unsigned, as WeChat Pay sends bills.
func (s *Sim) write(w http.ResponseWriter, rep reply, fault FaultKind) {
	if f, ok := rep.body.(file); ok {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.WriteHeader(rep.status)
		w.Write(f)
		return
	}
	var raw []byte
	if rep.body != nil {
		raw, _ = json.Marshal(rep.body)
		w.Header().Set("Content-Type", "application/json")
	}
	if fault != NoSignature {
		now := s.wireNow()
		if fault == StaleTimestamp {
			now = now.Add(-6 * time.Minute)
		}
		ts, nonce := strconv.FormatInt(now.Unix(), 10), strings.ToUpper(randomHex(32))
		signed := string(raw)
		if fault == BadSignature {
			signed += " "
		}
		sig, serial := s.sign(ts + "\n" + nonce + "\n" + signed + "\n")
		if fault == Probe {
			sig = "WECHATPAY/SIGNTEST/" + sig
		}
		if fault == UnknownSerial {
			serial = "PUB_KEY_ID_UNKNOWN"
		}
		w.Header().Set("Wechatpay-Timestamp", ts)
		w.Header().Set("Wechatpay-Nonce", nonce)
		w.Header().Set("Wechatpay-Signature", sig)
		w.Header().Set("Wechatpay-Serial", serial)
	}
	w.WriteHeader(rep.status)
	w.Write(raw)
}

// sign signs msg with the key in use and returns the signature and the
// serial it names.
func (s *Sim) sign(msg string) (signature, serial string) {
	k := s.signing.Load()
	sum := sha256.Sum256([]byte(msg))
	sig, _ := rsa.SignPKCS1v15(nil, k.key, crypto.SHA256, sum[:])
	return base64.StdEncoding.EncodeToString(sig), k.serial
}

func (s *Sim) prepay(_ *http.Request, body []byte) reply {
	var req struct {
		AppID       string `json:"appid"`
		MchID       string `json:"mchid"`
		Description string `json:"description"`
		OutTradeNo  string `json:"out_trade_no"`
		TimeExpire  string `json:"time_expire"`
		Attach      string `json:"attach"`
		NotifyURL   string `json:"notify_url"`
		Amount      struct {
			Total    int64  `json:"total"`
			Currency string `json:"currency"`
		} `json:"amount"`
		Payer struct {
			OpenID string `json:"openid"`
		} `json:"payer"`
	}
	if json.Unmarshal(body, &req) != nil {
		return fail(400, "PARAM_ERROR", "请求体格式错误")
	}
	switch {
	case req.AppID != s.cfg.AppID || req.MchID != s.cfg.MchID:
		return fail(400, "PARAM_ERROR", "appid 或 mchid 不匹配")
	case req.Description == "" || len(req.Description) > 127 || !bmp(req.Description):
		return fail(400, "PARAM_ERROR", "description 长度或字符不合法")
	case !wxpay.ValidOutTradeNo(req.OutTradeNo):
		return fail(400, "PARAM_ERROR", "out_trade_no 不合法")
	case !strings.HasPrefix(req.NotifyURL, "https://") && !strings.HasPrefix(req.NotifyURL, "http://"):
		return fail(400, "PARAM_ERROR", "notify_url 不合法")
	case req.Amount.Total < 1 || req.Amount.Currency != "CNY" && req.Amount.Currency != "":
		return fail(400, "PARAM_ERROR", "amount 不合法")
	}
	var expires time.Time
	if req.TimeExpire != "" {
		t, err := time.Parse(time.RFC3339, req.TimeExpire)
		if err != nil {
			return fail(400, "PARAM_ERROR", "time_expire 须为 rfc3339 格式")
		}
		expires = t
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.users[req.Payer.OpenID] && !s.cfg.AnyPayer {
		return fail(400, "PARAM_ERROR", "appid 和 openid 不匹配")
	}
	// time_expire is part of the order: changing it on re-entry is refused.
	fields := req.Description + "\x00" + req.Attach + "\x00" + req.NotifyURL + "\x00" + strconv.FormatInt(req.Amount.Total, 10) +
		"\x00" + req.Payer.OpenID + "\x00" + req.TimeExpire
	o, ok := s.orders[req.OutTradeNo]
	switch {
	case ok && o.fields != fields:
		return fail(403, "OUT_TRADE_NO_USED", "商户订单号重复")
	case ok && o.state == "CLOSED":
		return fail(400, "ORDER_CLOSED", "订单已关闭")
	case ok && o.state != "NOTPAY":
		return fail(403, "ORDERPAID", "订单已支付")
	case !ok:
		o = &order{fields: fields, prepayID: "wx" + s.now().Format("20060102150405") + randomHex(20),
			openid: req.Payer.OpenID, total: req.Amount.Total, description: req.Description, attach: req.Attach, state: "NOTPAY",
			expires: payableUntil(s.now(), expires)}
		s.orders[req.OutTradeNo] = o
	}
	return reply{200, map[string]string{"prepay_id": o.prepayID}}
}

// payableUntil is when an order created at created stops taking payment,
// given its time_expire (zero when none was sent): seven days without one;
// otherwise time_expire, moved to one minute after the order when earlier
// and to 90 days after it when later, as WeChat does rather than refuse.
//
// https://pay.weixin.qq.com/doc/v3/merchant/4012791856
func payableUntil(created, timeExpire time.Time) time.Time {
	switch {
	case timeExpire.IsZero():
		return created.Add(7 * 24 * time.Hour)
	case timeExpire.Before(created.Add(time.Minute)):
		return created.Add(time.Minute)
	case timeExpire.After(created.Add(90 * 24 * time.Hour)):
		return created.Add(90 * 24 * time.Hour)
	}
	return timeExpire
}

// hasNull reports whether a decoded JSON value holds null anywhere.
func hasNull(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case map[string]any:
		for _, e := range v {
			if hasNull(e) {
				return true
			}
		}
	case []any:
		for _, e := range v {
			if hasNull(e) {
				return true
			}
		}
	}
	return false
}

// bmp reports valid UTF-8 within the Basic Multilingual Plane.
func bmp(s string) bool {
	for _, r := range s {
		if r == utf8.RuneError || r > 0xFFFF {
			return false
		}
	}
	return true
}

// transaction is an order as the API shows it.
func (s *Sim) transaction(no string, o *order) map[string]any {
	t := map[string]any{
		"appid": s.cfg.AppID, "mchid": s.cfg.MchID, "out_trade_no": no, "trade_state": o.state,
		"trade_type": "JSAPI", "attach": o.attach, "payer": map[string]string{"openid": o.openid},
		"amount": map[string]any{"total": o.total, "payer_total": o.total, "currency": "CNY", "payer_currency": "CNY"},
	}
	if o.transactionID != "" {
		t["transaction_id"] = o.transactionID
		t["success_time"] = o.paidAt.Format(time.RFC3339)
		t["bank_type"] = "OTHERS"
	}
	return t
}

func (s *Sim) query(r *http.Request, _ []byte) reply {
	if r.URL.Query().Get("mchid") != s.cfg.MchID {
		return fail(400, "PARAM_ERROR", "mchid 不合法")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settleRefunds()
	o, ok := s.orders[r.PathValue("no")]
	if !ok {
		return fail(404, "ORDER_NOT_EXIST", "订单不存在")
	}
	return reply{200, s.transaction(r.PathValue("no"), o)}
}

func (s *Sim) closeOrder(r *http.Request, body []byte) reply {
	var req struct {
		MchID string `json:"mchid"`
	}
	if json.Unmarshal(body, &req) != nil || req.MchID != s.cfg.MchID {
		return fail(400, "PARAM_ERROR", "mchid 不合法")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orders[r.PathValue("no")]
	switch {
	case !ok:
		return fail(404, "ORDER_NOT_EXIST", "订单不存在")
	case o.state == "SUCCESS" || o.state == "REFUND":
		return fail(400, "ORDERPAID", "订单已支付")
	}
	o.state = "CLOSED"
	return reply{status: 204}
}

func (s *Sim) refund(_ *http.Request, body []byte) reply {
	var req struct {
		OutTradeNo  string `json:"out_trade_no"`
		OutRefundNo string `json:"out_refund_no"`
		Amount      struct {
			Refund int64 `json:"refund"`
			Total  int64 `json:"total"`
		} `json:"amount"`
	}
	if json.Unmarshal(body, &req) != nil || req.OutRefundNo == "" || req.Amount.Refund < 1 {
		return fail(400, "PARAM_ERROR", "参数错误")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settleRefunds()
	o, ok := s.orders[req.OutTradeNo]
	switch {
	case !ok:
		return fail(404, "RESOURCE_NOT_EXISTS", "订单不存在")
	case o.state != "SUCCESS" && o.state != "REFUND":
		return fail(403, "TRADE_STATE_ERROR", "订单状态错误")
	case req.Amount.Total != o.total:
		return fail(400, "PARAM_ERROR", "订单金额不一致")
	}
	if r, dup := s.refunds[req.OutRefundNo]; dup {
		if r.outTradeNo != req.OutTradeNo || r.amount != req.Amount.Refund {
			return fail(400, "INVALID_REQUEST", "退款单号已用于其他退款")
		}
		return reply{200, s.refundView(req.OutRefundNo, r, o)}
	}
	if o.refunded+req.Amount.Refund > o.total {
		return fail(403, "NOT_ENOUGH", "可退金额不足")
	}
	r := &refund{outTradeNo: req.OutTradeNo, refundID: "50" + randomHex(28), status: "PROCESSING", amount: req.Amount.Refund, accepted: s.now()}
	s.refunds[req.OutRefundNo] = r
	o.refunded += r.amount
	return reply{200, s.refundView(req.OutRefundNo, r, o)}
}

func (s *Sim) refundView(no string, r *refund, o *order) map[string]any {
	v := map[string]any{
		"refund_id": r.refundID, "out_refund_no": no, "out_trade_no": r.outTradeNo, "transaction_id": o.transactionID,
		"channel": "ORIGINAL", "user_received_account": userReceivedAccount, "create_time": r.accepted.In(trade.ChinaTime).Format(time.RFC3339),
		"status": r.status, "amount": map[string]any{"refund": r.amount, "total": o.total, "currency": "CNY"},
	}
	if r.status == "SUCCESS" {
		v["success_time"] = r.finished.In(trade.ChinaTime).Format(time.RFC3339)
	}
	return v
}

// userReceivedAccount is where the simulated refunds go.
const userReceivedAccount = "支付用户零钱"

// settleRefunds finishes the refunds whose Config.RefundDelay has passed,
// with Config.RefundStatus, as WeChat Pay does on its own: nothing is
// posted, only queries and bills see it. Each finished when its delay
// ended, whenever it is settled, so that a bill made in between shows it
// as it was. Callers hold s.mu.
func (s *Sim) settleRefunds() {
	if s.cfg.RefundDelay <= 0 {
		return
	}
	now := s.now()
	for _, r := range s.refunds {
		if r.status == "PROCESSING" && !now.Before(r.accepted.Add(s.cfg.RefundDelay)) {
			s.finishRefund(r, cmp.Or(s.cfg.RefundStatus, "SUCCESS"), r.accepted.Add(s.cfg.RefundDelay))
		}
	}
}

// finishRefund moves a PROCESSING refund to its final status: SUCCESS makes
// the order REFUND; CLOSED gives the amount back (the money never left);
// ABNORMAL keeps it taken, since the merchant finishes that payout by hand.
// It finished at at. Callers hold s.mu.
func (s *Sim) finishRefund(r *refund, status string, at time.Time) {
	o := s.orders[r.outTradeNo]
	r.status, r.finished = status, at
	switch status {
	case "SUCCESS":
		o.state = "REFUND"
	case "CLOSED":
		o.refunded -= r.amount
	}
}

// queryRefund plays https://pay.weixin.qq.com/doc/v3/merchant/4012791863
func (s *Sim) queryRefund(r *http.Request, _ []byte) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settleRefunds()
	rf, ok := s.refunds[r.PathValue("no")]
	if !ok {
		return fail(404, "RESOURCE_NOT_EXISTS", "退款单不存在")
	}
	return reply{200, s.refundView(r.PathValue("no"), rf, s.orders[rf.outTradeNo])}
}

func (s *Sim) certificates(_ *http.Request, _ []byte) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.certs) == 0 {
		return fail(404, "RESOURCE_NOT_EXISTS", "商户已切换为微信支付公钥模式，无平台证书")
	}
	var data []map[string]any
	for _, c := range s.certs {
		res, _ := wxpayv3.Encrypt(s.cfg.APIv3Key, randomHex(12), "certificate", c.pem)
		data = append(data, map[string]any{
			"serial_no": c.serial, "effective_time": s.wireNow().Add(-time.Hour).Format(time.RFC3339),
			"expire_time": s.wireNow().Add(24 * time.Hour).Format(time.RFC3339), "encrypt_certificate": res,
		})
	}
	return reply{200, map[string]any{"data": data}}
}
