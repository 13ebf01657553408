// Package retry sends a request again, with the same parameters, while its
// failure says a retry may succeed and the context's deadline leaves room.
package retry

import (
	"context"
	"time"
)

// Policy bounds retries.
type Policy struct {
	Attempts int           // sends in all; 0 means 3
	Wait     time.Duration // pause before the first retry, doubled after; 0 means 50 ms
}

// Do calls f until it succeeds, fails with an error retryable rejects, the
// attempts run out, or the next pause would outlast ctx. It returns f's last
// error.
func (p Policy) Do(ctx context.Context, f func() error, retryable func(error) bool) error {
	attempts, wait := p.Attempts, p.Wait
	if attempts <= 0 {
		attempts = 3
	}
	if wait <= 0 {
		wait = 50 * time.Millisecond
	}
	var err error
	for i := 0; i < attempts; i++ {
		if i > 0 {
			if !sleep(ctx, wait) {
				break
			}
			wait *= 2
		}
		if err = f(); err == nil || !retryable(err) || ctx.Err() != nil {
			return err
		}
	}
	return err
}

// sleep waits d unless the context would end first.
func sleep(ctx context.Context, d time.Duration) bool {
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < d {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
