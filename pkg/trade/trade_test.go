package trade

import "testing"

func TestOrderTransitions(t *testing.T) {
	all := []State{NotPay, UserPaying, Success, Refunded, Closed, Revoked, PayError}
	allowed := map[State][]State{
		NotPay:     {UserPaying, Success, Closed, Revoked, PayError},
		UserPaying: {Success, Closed, Revoked, PayError},
		Success:    {Refunded},
		Closed:     {Success},
		Revoked:    {Success},
		PayError:   {Success},
	}
	for _, from := range all {
		for _, to := range all {
			want := false
			for _, a := range allowed[from] {
				want = want || a == to
			}
			if got := from.CanBecome(to); got != want {
				t.Errorf("%s → %s: %v, want %v", from, to, got, want)
			}
		}
	}
	if !PaidAfterClose(Closed, Success) || PaidAfterClose(NotPay, Success) || PaidAfterClose(Success, Refunded) {
		t.Fatal("PaidAfterClose")
	}
	for _, s := range all {
		if got, ok := ParseState(string(s)); !ok || got != s {
			t.Fatalf("ParseState(%s)", s)
		}
	}
	if _, ok := ParseState("REFUNDCLOSE"); ok {
		t.Fatal("an unknown state parsed")
	}
}

func TestRefundTransitions(t *testing.T) {
	all := []RefundState{RefundProcessing, RefundSuccess, RefundClosed, RefundAbnormal, RefundFailed}
	allowed := map[RefundState][]RefundState{
		RefundProcessing: {RefundSuccess, RefundClosed, RefundAbnormal, RefundFailed},
		RefundAbnormal:   {RefundSuccess, RefundClosed},
	}
	for _, from := range all {
		for _, to := range all {
			want := false
			for _, a := range allowed[from] {
				want = want || a == to
			}
			if got := from.CanBecome(to); got != want {
				t.Errorf("%s → %s: %v, want %v", from, to, got, want)
			}
		}
	}
	for s, want := range map[RefundState]bool{RefundClosed: true, RefundFailed: true, RefundAbnormal: false, RefundSuccess: false, RefundProcessing: false} {
		if s.Releases() != want {
			t.Errorf("%s releases: %v", s, !want)
		}
	}
}
