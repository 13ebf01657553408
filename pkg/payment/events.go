package payment

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/trade"
)

// Sender delivers one event to the merchant's target: a webhook
// (pkg/webhook) or another SCF function (pkg/scfinvoke). A nil error means
// the target accepted it.
type Sender interface {
	Send(ctx context.Context, id string, payload []byte) error
}

// Delivery policy (DESIGN: "After the payment").
const (
	// firstAttemptBudget bounds the attempt made inside the invocation that
	// made the change, so a notification is still answered in time.
	firstAttemptBudget = 2 * time.Second
	// eventLease is how long a claim keeps other deliveries off an event;
	// longer than any attempt (a webhook has 5 s).
	eventLease = time.Minute
	// deliveryWindow is how long after the event it is retried.
	deliveryWindow = 72 * time.Hour
	retryEvery     = 12 * time.Hour
	// recordReserve is kept back from an attempt's time to record its
	// outcome: a target that hangs until the context ends must still leave
	// its attempt, error and next time in the store.
	recordReserve = 250 * time.Millisecond
)

// retryDelays are the waits after the first failed attempts; every
// 12 hours after that.
var retryDelays = []time.Duration{time.Minute, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 6 * time.Hour}

// nextAttempt is when an event that has failed attempts times is tried
// again, or false when that would be past its delivery window.
func nextAttempt(created time.Time, attempts int, now time.Time) (time.Time, bool) {
	wait := retryEvery
	if attempts-1 < len(retryDelays) {
		wait = retryDelays[attempts-1]
	}
	next := now.Add(wait)
	return next, next.Before(created.Add(deliveryWindow))
}

// roomToDeliver reports whether ctx leaves time for an attempt and its record.
func roomToDeliver(ctx context.Context) bool {
	deadline, ok := ctx.Deadline()
	return !ok || time.Until(deadline) > 2*recordReserve
}

// deliver makes one attempt on a claimed event and records its outcome.
// The attempt ends recordReserve before ctx does, so that its outcome is
// recorded even when the target never answers. It reports whether the
// target accepted it.
func (s *Service) deliver(ctx context.Context, e trade.Event) (bool, error) {
	d := e.Delivery
	d.Attempts++
	sendCtx, cancel := ctx, context.CancelFunc(func() {})
	if deadline, ok := ctx.Deadline(); ok {
		sendCtx, cancel = context.WithDeadline(ctx, deadline.Add(-recordReserve))
	}
	err := s.Target.Send(sendCtx, e.ID, e.Payload())
	cancel()
	now := s.now()
	switch {
	case err == nil:
		d.State, d.LastError, d.DeliveredAt = trade.DeliveryDelivered, "", now
	case d.State == trade.DeliveryDelivered:
		// An operator's redelivery of a delivered event failed: the
		// receiver had it, so it stays delivered and holds nothing back.
		d.LastError = err.Error()
	default:
		d.LastError = err.Error() // the store bounds it
		next, ok := nextAttempt(e.CreatedAt, d.Attempts, now)
		if ok {
			d.State, d.NextAttemptAt = trade.DeliveryPending, next
			s.log().LogAttrs(ctx, slog.LevelWarn, "event_attempt_failed", slog.String("event_id", e.ID),
				slog.String("type", string(e.Type)), slog.Int("attempts", d.Attempts), slog.String("cause", d.LastError))
		} else {
			d.State = trade.DeliveryFailed
			s.log().LogAttrs(ctx, slog.LevelError, "event_failed", slog.String("event_id", e.ID),
				slog.String("type", string(e.Type)), slog.Int("attempts", d.Attempts), slog.String("cause", d.LastError))
		}
	}
	// Should this write fail, the lease runs out and the event is tried again.
	if serr := s.Store.SetDelivery(ctx, e.ID, d); serr != nil {
		return err == nil, fromStore(serr)
	}
	return err == nil, nil
}

// deliverFirst makes the first attempt at the events a change of order no
// has just recorded, inside the invocation that made it and bounded by
// firstAttemptBudget; what fails or does not fit is the sweep's. Failures
// here are logged, never the caller's.
func (s *Service) deliverFirst(ctx context.Context, no string) {
	if s.Target == nil || no == "" {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, firstAttemptBudget)
	defer cancel()
	if !roomToDeliver(ctx) {
		return // nothing claimed: the sweep takes it at once
	}
	events, err := s.Store.ClaimEvents(ctx, s.now(), eventLease, no, 10)
	if err != nil {
		s.log().WarnContext(ctx, "event_claim_failed", "out_trade_no", no, "cause", err.Error())
		return
	}
	for _, e := range events {
		if !roomToDeliver(ctx) {
			return // the rest are the sweep's once their lease runs out
		}
		if _, err := s.deliver(ctx, e); err != nil {
			s.log().WarnContext(ctx, "event_record_failed", "event_id", e.ID, "cause", err.Error())
			return
		}
	}
}

// EventView is an event as the pull API lists it: the payload as
// delivered, and where its delivery stands.
type EventView struct {
	ID        string          `json:"id"`
	Type      trade.EventType `json:"type"`
	CreatedAt string          `json:"created_at"`
	Data      json.RawMessage `json:"data"`
	Delivery  DeliveryView    `json:"delivery"`
}

// DeliveryView is an event's delivery state.
type DeliveryView struct {
	State     trade.DeliveryState `json:"state"`
	Attempts  int                 `json:"attempts"`
	LastError string              `json:"last_error"`
}

func viewEvent(e trade.Event) EventView {
	return EventView{ID: e.ID, Type: e.Type, CreatedAt: e.CreatedAt.In(trade.ChinaTime).Format(time.RFC3339), Data: e.Data,
		Delivery: DeliveryView{State: e.Delivery.State, Attempts: e.Delivery.Attempts, LastError: e.Delivery.LastError}}
}

// EventList is a page of the pull API.
type EventList struct {
	Events  []EventView `json:"events"`
	HasMore bool        `json:"has_more"`
}

// MaxEventsPage bounds one page of the pull API.
const MaxEventsPage = 1000

// Events lists up to limit events recorded after the one with id after
// ("" from the first), in the order they were recorded: the pull API, for
// a merchant backend that polls instead of receiving.
func (s *Service) Events(ctx context.Context, after string, limit int) (*EventList, error) {
	if limit < 1 || limit > MaxEventsPage {
		return nil, invalid("INVALID_LIMIT", "limit must be a whole number from 1 to 1000")
	}
	events, err := s.Store.Events(ctx, after, limit+1)
	switch {
	case errors.Is(err, trade.ErrNotFound):
		return nil, &Error{Kind: NotFound, Code: "EVENT_NOT_FOUND", Message: "after names no event"}
	case err != nil:
		return nil, fromStore(err)
	}
	list := &EventList{Events: make([]EventView, 0, min(len(events), limit)), HasMore: len(events) > limit}
	for _, e := range events[:min(len(events), limit)] {
		list.Events = append(list.Events, viewEvent(e))
	}
	return list, nil
}

// Redeliver delivers one event again now, whatever its delivery state (an
// operator's action), and answers it as it then stands. A failed event
// that fails again stays failed: its delivery window has passed.
func (s *Service) Redeliver(ctx context.Context, id string) (*EventView, error) {
	if s.Target == nil {
		return nil, &Error{Kind: Config, Code: "CONFIG_ERROR", Message: "no events target is configured: set WXPAY_EVENTS_URL and WXPAY_EVENTS_SECRET, or WXPAY_EVENTS_FUNCTION"}
	}
	e, ok, err := s.Store.ClaimEvent(ctx, id, s.now(), eventLease)
	switch {
	case errors.Is(err, trade.ErrNotFound):
		return nil, &Error{Kind: NotFound, Code: "EVENT_NOT_FOUND", Message: "no such event"}
	case err != nil:
		return nil, fromStore(err)
	case !ok:
		return nil, &Error{Kind: Conflict, Code: "EVENT_BUSY", Message: "another delivery of this event is under way; try again in a minute"}
	}
	if _, err := s.deliver(ctx, e); err != nil {
		return nil, err
	}
	got, err := s.Store.Event(ctx, id)
	if err != nil {
		return nil, fromStore(err)
	}
	v := viewEvent(got)
	return &v, nil
}
