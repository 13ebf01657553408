package wxpaytest

import (
	"maps"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/outbound"
	"github.com/wxpay-scf/wxpay-scf/pkg/trade"
	"github.com/wxpay-scf/wxpay-scf/pkg/wxpay"
)

// answer is a v2 answer under construction: a refusal of the request
// (return_code FAIL), signed business fields, or a file.
type answer struct {
	fields    wxpay.Params
	fail      string // return_msg of a return_code FAIL answer
	errorCode string // error_code of a FAIL answer, when WeChat Pay sends one
	signType  wxpay.SignType
	file      []byte // a file sent as it is, unsigned (downloadbill's bill)
}

func refuse(msg string) answer { return answer{fail: msg} }

func bizFail(code, des string) answer {
	return answer{fields: wxpay.Params{"result_code": "FAIL", "err_code": code, "err_code_des": des}}
}

// v2 wraps an API handler with what every merchant API endpoint does: read a
// bounded XML body, record it, play a queued fault, check the merchant's
// identity and signature, and sign the answer with the request's sign type.
func (s *Sim) v2(api func(wxpay.Params) answer) http.HandlerFunc { return s.v2cert(api, false) }

// v2cert is v2 for the APIs that also require the merchant's client
// certificate (the /secapi/ paths).
func (s *Sim) v2cert(api func(wxpay.Params) answer, needCert bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		raw, _ := outbound.ReadBody(r.Body, r.ContentLength, wxpay.MaxBodySize)
		p, err := wxpay.DecodeXML(raw)
		s.record(r.URL.Path, p)
		fault, faulty := s.nextFault(r.URL.Path)
		if s.playNetworkFault(w, r, fault) {
			return
		}
		var a answer
		switch {
		case r.Method != http.MethodPost:
			a = refuse("请使用post方法")
		case err != nil:
			a = refuse("XML格式错误")
		case faulty && fault.Kind == ReturnFail:
			a = refuse(fault.Msg)
		case needCert && !s.presentsMerchantCert(r):
			a = refuse("请求未携带有效的商户API证书")
		default:
			a = s.authenticate(p)
			if a.fail == "" && a.fields == nil {
				if faulty && fault.Kind == ResultFail {
					a = bizFail(fault.Code, fault.Msg)
				} else {
					a = api(p)
				}
				a.signType, _ = wxpay.ParseSignType(p["sign_type"])
			}
		}
		if a.file != nil {
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Write(a.file)
			return
		}
		body := s.encode(a, fault.Kind)
		w.Header().Set("Content-Type", "text/xml; charset=utf-8")
		w.Write(body)
	}
}

// authenticate applies the checks every v2 request must pass; it returns a
// zero answer when the request may proceed.
func (s *Sim) authenticate(p wxpay.Params) answer {
	st, err := wxpay.ParseSignType(p["sign_type"])
	switch {
	case p["appid"] == "" || p["mch_id"] == "" || p["nonce_str"] == "" || p["sign"] == "":
		return refuse("缺少参数")
	case p["appid"] != s.cfg.AppID:
		return refuse("appid不存在")
	case p["mch_id"] != s.cfg.MchID:
		return refuse("商户号mch_id与appid不匹配")
	case len(p["nonce_str"]) > 32:
		return refuse("nonce_str参数长度有误")
	case err != nil:
		return refuse("sign_type参数格式错误")
	}
	if wxpay.Verify(p, s.cfg.Key, st) != nil {
		return refuse("签名错误")
	}
	return answer{}
}

func (s *Sim) encode(a answer, fault FaultKind) []byte {
	if a.fail != "" {
		f := wxpay.Params{"return_code": "FAIL", "return_msg": a.fail}
		if a.errorCode != "" {
			f["error_code"] = a.errorCode
		}
		body, _ := wxpay.EncodeXML(f)
		return body
	}
	out := make(wxpay.Params, len(a.fields)+8)
	maps.Copy(out, a.fields)
	out["return_code"] = "SUCCESS"
	out["return_msg"] = "OK"
	out["appid"] = s.cfg.AppID
	out["mch_id"] = s.cfg.MchID
	out["nonce_str"] = randomHex(32)
	if out["result_code"] == "" {
		out["result_code"] = "SUCCESS"
	}
	key := s.cfg.Key
	if fault == BadSignature {
		key = "0123456789abcdef0123456789abcdef"
	}
	if fault == NoSignature {
		body, _ := wxpay.EncodeXML(out)
		return body
	}
	body, _ := wxpay.EncodeSigned(out, key, a.signType)
	return body
}

// unifiedOrder plays https://pay.weixin.qq.com/wiki/doc/api/wxa/wxa_api.php?chapter=9_1
func (s *Sim) unifiedOrder(p wxpay.Params) answer {
	for _, f := range []string{"body", "out_trade_no", "total_fee", "spbill_create_ip", "notify_url", "trade_type"} {
		if p[f] == "" {
			return refuse("缺少参数" + f)
		}
	}
	if msg := checkOrderFields(p); msg != "" {
		return refuse(msg)
	}
	if p["trade_type"] != wxpay.TradeTypeJSAPI {
		return bizFail("PARAM_ERROR", "trade_type参数错误")
	}
	expires, ok := timeExpire(p["time_expire"])
	if !ok {
		return bizFail("PARAM_ERROR", "time_expire参数格式错误")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if p["openid"] == "" {
		return bizFail("PARAM_ERROR", "JSAPI支付必须传openid")
	}
	if !s.users[p["openid"]] {
		return bizFail("PARAM_ERROR", "appid和openid不匹配")
	}
	fingerprint := businessFields(p)
	no := p["out_trade_no"]
	o, ok := s.orders[no]
	if ok && o.fields != fingerprint {
		return bizFail("OUT_TRADE_NO_USED", "商户订单号重复")
	}
	if ok && o.state == "CLOSED" {
		return bizFail("ORDERCLOSED", "订单已关闭")
	}
	if ok && o.state != "NOTPAY" {
		return bizFail("ORDERPAID", "商户订单已支付")
	}
	if !ok {
		st, _ := wxpay.ParseSignType(p["sign_type"])
		fee, _ := strconv.ParseInt(p["total_fee"], 10, 64)
		o = &order{
			fields: fingerprint, prepayID: "wx" + s.now().Format("20060102150405") + randomHex(20),
			signType: st, openid: p["openid"], totalFee: fee, body: p["body"], attach: p["attach"], state: "NOTPAY",
			created: s.now(), expires: expires,
		}
		s.orders[no] = o
	}
	return answer{fields: wxpay.Params{"prepay_id": o.prepayID, "trade_type": wxpay.TradeTypeJSAPI}}
}

// timeExpire reads an optional time_expire: yyyyMMddHHmmss in China time.
// A changed time_expire on re-entry changes the business fields, so it is
// refused as OUT_TRADE_NO_USED, as WeChat refuses to change it.
func timeExpire(v string) (t time.Time, ok bool) {
	if v == "" {
		return time.Time{}, true
	}
	if len(v) != len("20060102150405") || strings.Trim(v, "0123456789") != "" {
		return time.Time{}, false
	}
	t, err := time.ParseInLocation("20060102150405", v, trade.ChinaTime)
	return t, err == nil
}

// businessFields writes the fields that define an order (all but the
// merchant's identity, nonce and signature) as one sorted string.
func businessFields(p wxpay.Params) string {
	keys := make([]string, 0, len(p))
	for k := range p {
		switch k {
		case "appid", "mch_id", "nonce_str", "sign", "sign_type":
		default:
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(p[k])
		b.WriteByte(0) // decoded values never hold NUL
	}
	return b.String()
}

// checkOrderFields applies the unified order's format rules; it returns the
// return_msg of the refusal, or "".
func checkOrderFields(p wxpay.Params) string {
	if len(p["body"]) > wxpay.MaxBodyBytes {
		return "body参数长度有误"
	}
	if len(p["attach"]) > wxpay.MaxAttachBytes {
		return "attach参数长度有误"
	}
	if !wxpay.ValidOutTradeNo(p["out_trade_no"]) {
		return "out_trade_no参数格式错误"
	}
	fee, err := strconv.ParseInt(p["total_fee"], 10, 64)
	if err != nil || fee < 1 || fee > wxpay.MaxTotalFee || strconv.FormatInt(fee, 10) != p["total_fee"] {
		return "total_fee参数格式错误"
	}
	if _, err := netip.ParseAddr(p["spbill_create_ip"]); err != nil {
		return "spbill_create_ip参数格式错误"
	}
	u, err := url.Parse(p["notify_url"])
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" {
		return "notify_url参数格式错误"
	}
	return ""
}
