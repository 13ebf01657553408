package trade

import (
	"slices"
	"testing"
)

// checkTransitions checks every pair of states against the allowed moves.
func checkTransitions[S interface {
	~string
	CanBecome(S) bool
}](t *testing.T, all []S, allowed map[S][]S) {
	t.Helper()
	for _, from := range all {
		for _, to := range all {
			if got, want := from.CanBecome(to), slices.Contains(allowed[from], to); got != want {
				t.Errorf("%s → %s: %v, want %v", from, to, got, want)
			}
		}
	}
}

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
	checkTransitions(t, all, allowed)
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

// Only an unpaid order changes with an event. An unpaid order has no
// refunds, so the store builds the event without reading them.
func TestOrderEventsLeaveUnpaidStates(t *testing.T) {
	all := []State{NotPay, UserPaying, Success, Refunded, Closed, Revoked, PayError}
	for _, from := range all {
		for _, to := range all {
			if from.CanBecome(to) && OrderEventType(to) != "" && from.Paid() {
				t.Errorf("%s → %s records %s from a paid state", from, to, OrderEventType(to))
			}
		}
	}
}

func TestRefundTransitions(t *testing.T) {
	all := []RefundState{RefundProcessing, RefundSuccess, RefundClosed, RefundAbnormal, RefundFailed}
	allowed := map[RefundState][]RefundState{
		RefundProcessing: {RefundSuccess, RefundClosed, RefundAbnormal, RefundFailed},
		RefundAbnormal:   {RefundSuccess, RefundClosed},
		RefundFailed:     {RefundSuccess, RefundAbnormal},
	}
	checkTransitions(t, all, allowed)
	for _, from := range all {
		for _, to := range all {
			want := from == RefundFailed && (to == RefundSuccess || to == RefundAbnormal)
			if RefundedAfterFailure(from, to) != want {
				t.Errorf("%s → %s refunded after failure: %v", from, to, !want)
			}
		}
	}
	for s, want := range map[RefundState]bool{RefundClosed: true, RefundFailed: true, RefundAbnormal: false, RefundSuccess: false, RefundProcessing: false} {
		if s.Releases() != want {
			t.Errorf("%s releases: %v", s, !want)
		}
	}
}
