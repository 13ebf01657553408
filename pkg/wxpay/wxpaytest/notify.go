package wxpaytest

import (
	"context"
	"sync"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/wxpay"
)

// RetrySchedule is when WeChat Pay posts a notification: at once, then after
// each of these waits until the merchant answers SUCCESS (24h4m in all).
var RetrySchedule = []time.Duration{
	0, 15 * time.Second, 15 * time.Second, 30 * time.Second, 3 * time.Minute, 10 * time.Minute,
	20 * time.Minute, 30 * time.Minute, 30 * time.Minute, 30 * time.Minute, 60 * time.Minute,
	3 * time.Hour, 3 * time.Hour, 3 * time.Hour, 6 * time.Hour, 6 * time.Hour,
}

// Deliver posts one notification body to the merchant and returns the reply.
type Deliver func(ctx context.Context, body []byte) (reply []byte, err error)

// NotifyOptions shape a delivery.
type NotifyOptions struct {
	// TimeScale compresses RetrySchedule: 1e-4 turns 24 hours into under
	// 9 seconds. 0 means no waiting at all.
	TimeScale float64
	// Copies is how many identical posts each attempt makes at once, as
	// WeChat Pay sometimes does; 0 means 1.
	Copies int
	// Body, when set, gives the body of each attempt (attempt counts from
	// 0), so retries can carry a fresh signature; otherwise every attempt
	// posts the same body.
	Body func(attempt int) []byte
}

// NotifyResult says how a delivery went.
type NotifyResult struct {
	Attempts  int  // scheduled attempts made
	Posts     int  // posts made, copies included
	Delivered bool // a reply was SUCCESS
}

// Notify delivers body on WeChat Pay's retry schedule until the merchant
// answers SUCCESS, the schedule runs out, or ctx ends.
func Notify(ctx context.Context, deliver Deliver, body []byte, opt NotifyOptions) NotifyResult {
	copies := max(opt.Copies, 1)
	var res NotifyResult
	for attempt, wait := range RetrySchedule {
		if d := time.Duration(float64(wait) * opt.TimeScale); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return res
			}
		}
		b := body
		if opt.Body != nil {
			b = opt.Body(attempt)
		}
		res.Attempts++
		var wg sync.WaitGroup
		var mu sync.Mutex
		for i := 0; i < copies; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				reply, err := deliver(ctx, b)
				ok := err == nil && IsSuccessReply(reply)
				mu.Lock()
				res.Posts++
				res.Delivered = res.Delivered || ok
				mu.Unlock()
			}()
		}
		wg.Wait()
		if res.Delivered || ctx.Err() != nil {
			return res
		}
	}
	return res
}

// IsSuccessReply reports whether a merchant's reply to a notification is the
// SUCCESS document.
func IsSuccessReply(reply []byte) bool {
	p, err := wxpay.DecodeXML(reply)
	return err == nil && p["return_code"] == "SUCCESS"
}
