package retry

import (
	"context"
	"errors"
	"testing"
	"time"
)

var errAgain, errFinal = errors.New("again"), errors.New("final")

func isAgain(err error) bool { return errors.Is(err, errAgain) }

func TestDo(t *testing.T) {
	p := Policy{Attempts: 3, Wait: time.Millisecond}
	calls := 0
	if err := p.Do(context.Background(), func() error { calls++; return nil }, isAgain); err != nil || calls != 1 {
		t.Fatalf("success: %v after %d", err, calls)
	}
	calls = 0
	err := p.Do(context.Background(), func() error {
		calls++
		if calls < 3 {
			return errAgain
		}
		return nil
	}, isAgain)
	if err != nil || calls != 3 {
		t.Fatalf("third time: %v after %d", err, calls)
	}
	calls = 0
	if err := p.Do(context.Background(), func() error { calls++; return errAgain }, isAgain); !errors.Is(err, errAgain) || calls != 3 {
		t.Fatalf("exhausted: %v after %d", err, calls)
	}
	calls = 0
	if err := p.Do(context.Background(), func() error { calls++; return errFinal }, isAgain); !errors.Is(err, errFinal) || calls != 1 {
		t.Fatalf("final: %v after %d", err, calls)
	}
	// No retry when the pause would outlast the deadline.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	calls = 0
	if err := (Policy{Attempts: 5, Wait: time.Second}).Do(ctx, func() error { calls++; return errAgain }, isAgain); !errors.Is(err, errAgain) || calls != 1 {
		t.Fatalf("deadline: %v after %d", err, calls)
	}
}
