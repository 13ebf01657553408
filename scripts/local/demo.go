package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/wxpay"
)

// lockedBuffer collects the function's output.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// demo runs one payment end to end: the real binary over the SCF protocol,
// a simulated WeChat Pay, and checks of everything the mini-program gets.
func demo(args []string) error {
	fs := flag.NewFlagSet("demo", flag.ExitOnError)
	binary := fs.String("binary", "build/main", "the built function")
	fs.Parse(args)

	sim, m, env, err := startTestMerchant(false, "https://pay.example.com/release/notify")
	if err != nil {
		return err
	}
	defer sim.Close()
	fmt.Printf("1. Simulated WeChat Pay and login API at %s\n   test merchant mch_id %s, AppID %s (key and AppSecret generated for this run)\n", sim.URL, m.mchID, m.appID)

	logs := &lockedBuffer{}
	fn, err := startFunction(*binary, env, logs)
	if err != nil {
		return err
	}
	defer fn.Close()
	fmt.Printf("2. Started %s as SCF does (_LAMBDA_SERVER_PORT, net/rpc); first Function.Ping answered after %v\n", *binary, fn.Started.Round(10*time.Microsecond))

	const openid = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
	code := sim.LoginCode(openid)
	fmt.Printf("3. The mini-program calls wx.login and gets code %s…\n", code[:6])

	body, _ := json.Marshal(map[string]any{"total_fee": 180, "code": code, "description": "会员充值"})
	event, _ := json.Marshal(map[string]any{
		"httpMethod": "POST", "path": "/release/pay", "body": string(body), "queryString": map[string]any{},
		"headers": map[string]any{"content-type": "application/json", "x-scf-remote-addr": "111.206.96.145:53412"},
	})
	fmt.Printf("4. wx.request POST /release/pay %s\n   → Function URL event → Function.Invoke (deadline now+3s)\n", body)
	start := time.Now()
	res, err := fn.Invoke(event, 3*time.Second, "demo-1")
	if err != nil {
		return err
	}
	fmt.Printf("   answered in %v:\n", time.Since(start).Round(10*time.Microsecond))
	printResult(os.Stdout, res)

	var resp struct {
		StatusCode int    `json:"statusCode"`
		Body       string `json:"body"`
	}
	var ans struct {
		OutTradeNo string          `json:"out_trade_no"`
		Data       wxpay.PayParams `json:"data"`
	}
	if res.Error != nil || json.Unmarshal(res.Payload, &resp) != nil || resp.StatusCode != 200 || json.Unmarshal([]byte(resp.Body), &ans) != nil {
		return fmt.Errorf("the payment did not succeed")
	}

	order := sim.Order(ans.OutTradeNo)
	if order == nil {
		return fmt.Errorf("WeChat Pay has no order %s", ans.OutTradeNo)
	}
	fmt.Println("5. What WeChat Pay received (POST /pay/unifiedorder, signature verified by the simulator):")
	for _, r := range sim.Requests() {
		if r.Path != "/pay/unifiedorder" {
			continue
		}
		keys := make([]string, 0, len(r.Params))
		for k := range r.Params {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			fmt.Printf("   %-17s %s\n", k, r.Params[k])
		}
	}
	d := ans.Data
	signed := wxpay.Params{"appId": m.appID, "timeStamp": d.TimeStamp, "nonceStr": d.NonceStr, "package": d.Package, "signType": d.SignType, "sign": d.PaySign}
	if err := wxpay.Verify(signed, m.key, wxpay.SignType(d.SignType)); err != nil || d.Package != "prepay_id="+order.PrepayID {
		return fmt.Errorf("the pay parameters do not check out: %v", err)
	}
	fmt.Printf("6. Checked: package names WeChat's prepay_id %s, paySign verifies with the merchant key,\n   timeStamp %s is seconds. The mini-program now calls wx.requestPayment({...res.data.data}).\n", order.PrepayID, d.TimeStamp)

	sent := len(sim.Requests())
	bad := strings.Replace(string(event), `"total_fee\":180`, `"total_fee\":\"0180\"`, 1)
	res, err = fn.Invoke([]byte(bad), 3*time.Second, "demo-2")
	if err != nil {
		return err
	}
	fmt.Println(`7. The same request with "total_fee":"0180" is refused, and nothing reaches WeChat:`)
	printResult(os.Stdout, res)
	if len(sim.Requests()) != sent {
		return fmt.Errorf("a refused request reached WeChat")
	}

	time.Sleep(20 * time.Millisecond) // let the last log line arrive
	fmt.Println("8. The function's log (one JSON line per invocation, as CLS indexes it; no key, AppSecret or code):")
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		fmt.Println("   " + line)
		if strings.Contains(line, m.key) || strings.Contains(line, m.appSecret) || strings.Contains(line, code) {
			return fmt.Errorf("a secret reached the log")
		}
	}
	return nil
}
