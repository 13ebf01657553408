package payment

import (
	"context"
	"errors"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/trade"
)

// SweepSummary is what a sweep did.
type SweepSummary struct {
	Queried         int  `json:"queried"`          // orders and refunds asked about
	Paid            int  `json:"paid"`             // orders found paid
	Closed          int  `json:"closed"`           // expired orders closed
	RefundsFinished int  `json:"refunds_finished"` // refunds that reached SUCCESS, CLOSED, ABNORMAL or FAILED
	EventsDelivered int  `json:"events_delivered"`
	EventsFailed    int  `json:"events_failed"` // attempts of this run that failed
	More            bool `json:"more"`          // work was left for the next run
}

// Sweep tuning.
const (
	// DefaultSweepMinAge leaves orders younger than this to the payment
	// flow itself.
	DefaultSweepMinAge = trade.FirstQueryAfter
	sweepBatch         = 50
	// sweepItemReserve is the least time left in which the sweep starts
	// another item (its WeChat Pay calls, each ending sweepWriteReserve
	// before the deadline, and its writes), so it ends before the
	// invocation's deadline with nothing half done.
	sweepItemReserve = 1500 * time.Millisecond
	// sweepCallTimeout bounds one WeChat Pay call of the sweep: room for
	// two attempts of the function's 4 s (the primary host's, then the
	// backup's) and a margin, so that a few calls that hang leave the later
	// steps, events among them, their turn; the order or refund is asked
	// about again on a later run.
	sweepCallTimeout = 9 * time.Second
	// sweepWriteReserve is kept from an item's WeChat Pay call for
	// recording what came of it, its next query at least.
	sweepWriteReserve = 500 * time.Millisecond
	// refundUnknownAfter: a PROCESSING refund WeChat Pay still does not
	// know this long after it was reserved never reached it (the function
	// failed between reserving and sending).
	refundUnknownAfter = 10 * time.Minute
	abnormalRequery    = time.Hour
	// reconcileReserve is the least time left in which the sweep starts a
	// day's reconciliation, which reads a whole bill.
	reconcileReserve = 5 * time.Second
)

// Sweep keeps the store true without anyone opening a page (DESIGN: "The
// sweep"), in this order, while the budget of ctx lasts: unpaid orders at
// least minAge old are asked about when due and recorded as a notification
// would be; expired ones are closed at WeChat Pay; PROCESSING and ABNORMAL
// refunds are asked about; due events are delivered. Every change is
// conditional and recorded once, so overlapping sweeps are safe.
func (s *Service) Sweep(ctx context.Context, minAge time.Duration) (*SweepSummary, error) {
	sum := &SweepSummary{}
	for _, step := range []func(context.Context, time.Duration, *SweepSummary) (bool, error){s.sweepOrders, s.sweepRefunds, s.sweepEvents, s.sweepReconcile} {
		if ctx.Err() != nil {
			sum.More = true // the budget is spent: the rest is the next run's
			break
		}
		done, err := step(ctx, minAge, sum)
		if err != nil {
			return sum, err
		}
		if !done {
			sum.More = true
			break
		}
	}
	return sum, nil
}

// sweepReconcile reconciles, once a day after 10:00 China time, the day
// before; and tries again a day whose bill was not ready (30 minutes later)
// or invalid (the next day).
func (s *Service) sweepReconcile(ctx context.Context, _ time.Duration, _ *SweepSummary) (bool, error) {
	now := s.now()
	today := ChinaDay(now)
	if now.Sub(today) < ReconcileAfter {
		return true, nil
	}
	for i, day := range []time.Time{today.AddDate(0, 0, -1), today.AddDate(0, 0, -2)} {
		rec, err := s.Store.Reconciliation(ctx, day.Format(time.DateOnly))
		switch {
		case errors.Is(err, trade.ErrNotFound) && i == 0: // yesterday, not yet done
		case err != nil && !errors.Is(err, trade.ErrNotFound):
			return false, fromStore(err)
		case err != nil, rec.RetryAt.IsZero(), now.Before(rec.RetryAt):
			continue
		}
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < reconcileReserve {
			return false, nil // left for a run with time to read a whole bill
		}
		if _, err := s.Reconcile(ctx, day); err != nil {
			// Left as it was: the next run tries again.
			s.log().WarnContext(ctx, "reconciliation_failed", "date", day.Format(time.DateOnly), "cause", err.Error())
		}
	}
	return true, nil
}

// roomFor reports whether ctx leaves time for one more item.
func roomFor(ctx context.Context) bool {
	deadline, ok := ctx.Deadline()
	return !ok || time.Until(deadline) > sweepItemReserve
}

// sweepCall is the context of one WeChat Pay call of a sweep item: at most
// sweepCallTimeout, and ending sweepWriteReserve before ctx does.
func sweepCall(ctx context.Context) (context.Context, context.CancelFunc) {
	end := time.Now().Add(sweepCallTimeout)
	if deadline, ok := ctx.Deadline(); ok && deadline.Add(-sweepWriteReserve).Before(end) {
		end = deadline.Add(-sweepWriteReserve)
	}
	return context.WithDeadline(ctx, end)
}

// sweepQuery is orderquery within a sweep item.
func (s *Service) sweepQuery(ctx context.Context, outTradeNo string) (*Status, error) {
	ctx, cancel := sweepCall(ctx)
	defer cancel()
	return s.WeChat.Query(ctx, outTradeNo)
}

// sweepOrders handles due unpaid orders. It reports whether it finished.
func (s *Service) sweepOrders(ctx context.Context, minAge time.Duration, sum *SweepSummary) (bool, error) {
	// Batch after batch while the budget lasts: every order asked about
	// gets its next query (failures included), so it leaves the due ones
	// and a few stuck orders never hold the later steps back.
	for {
		now := s.now()
		orders, err := s.Store.DueOrders(ctx, now, now.Add(-minAge), sweepBatch)
		if err != nil {
			return false, fromStore(err)
		}
		if done := s.sweepOrderBatch(ctx, orders, sum); !done || len(orders) < sweepBatch {
			return done, nil
		}
	}
}

// sweepOrderBatch handles a batch of due orders; it reports false when the
// budget ran out first.
func (s *Service) sweepOrderBatch(ctx context.Context, orders []trade.Order, sum *SweepSummary) bool {
	for _, o := range orders {
		if !roomFor(ctx) {
			return false
		}
		sum.Queried++
		moved, err := s.sweepOrder(ctx, o)
		if err != nil {
			s.log().WarnContext(ctx, "sweep_order", "out_trade_no", o.OutTradeNo, "cause", err.Error())
			continue // asked again on the next run
		}
		// Counted only by the sweep that made the change: overlapping
		// sweeps together report each order once.
		switch moved {
		case trade.Success:
			sum.Paid++
		case trade.Closed:
			sum.Closed++
		}
	}
	return true
}

// sweepOrder asks WeChat Pay about one unpaid order and records what it
// says; an expired order that is still unpaid is closed there, then here.
// It returns the state this call moved the order to, or "" when it moved
// none (another sweep, a notification or a read may have been first).
func (s *Service) sweepOrder(ctx context.Context, o trade.Order) (trade.State, error) {
	now := s.now()
	st, err := s.sweepQuery(ctx, o.OutTradeNo)
	notExist := errors.Is(err, ErrOrderNotExist)
	if err != nil && !notExist {
		return "", s.later(ctx, o, now, err)
	}
	var moved trade.State
	if !notExist {
		var changed bool
		if o, changed, err = s.record(ctx, o, st); err != nil {
			return "", s.later(ctx, o, now, err)
		}
		if changed {
			moved = o.State
		}
	}
	if o.State.Final() {
		return moved, nil
	}
	if !o.Expired(now) || o.State == trade.UserPaying || now.Sub(o.CreatedAt) < s.MinCloseAge {
		// Not over yet: the user may be paying; WeChat may not close it yet.
		return moved, s.later(ctx, o, now, nil)
	}
	// Closed here only on closeorder's own word: done, already closed, or
	// (verified) never known there, which past its expiry it never will be.
	callCtx, cancel := sweepCall(ctx)
	err = s.WeChat.Close(callCtx, o.OutTradeNo)
	cancel()
	switch {
	case err == nil, errors.Is(err, ErrOrderClosed), errors.Is(err, ErrOrderNotExist):
		return movedTo(s.transition(ctx, o, trade.Closed, "", time.Time{}))
	case errors.Is(err, ErrOrderPaid):
		// Paid after all: its own query says how, and is recorded.
		if st, err = s.sweepQuery(ctx, o.OutTradeNo); err != nil {
			return "", s.later(ctx, o, now, err)
		}
		paid, changed, err := s.record(ctx, o, st)
		if err != nil || !paid.State.Final() {
			return "", s.later(ctx, o, now, err)
		}
		return movedTo(paid, changed, nil)
	}
	return moved, s.later(ctx, o, now, err)
}

// movedTo is the state a change left its order in, or "" for no change.
func movedTo(o trade.Order, changed bool, err error) (trade.State, error) {
	if !changed {
		return "", err
	}
	return o.State, err
}

// later schedules the order's next query and returns cause.
func (s *Service) later(ctx context.Context, o trade.Order, now time.Time, cause error) error {
	if err := s.Store.SetOrderNextQuery(ctx, o.OutTradeNo, orderNextQuery(o, now)); err != nil && cause == nil {
		return fromStore(err)
	}
	return cause
}

// sweepRefunds handles due PROCESSING and ABNORMAL refunds, batch after
// batch while the budget lasts; refunds_finished counts the changes this
// run made.
func (s *Service) sweepRefunds(ctx context.Context, minAge time.Duration, sum *SweepSummary) (bool, error) {
	for {
		now := s.now()
		refunds, err := s.Store.DueRefunds(ctx, now, now.Add(-minAge), sweepBatch)
		if err != nil {
			return false, fromStore(err)
		}
		for _, r := range refunds {
			if !roomFor(ctx) {
				return false, nil
			}
			sum.Queried++
			finished, err := s.sweepRefund(ctx, r)
			if err != nil {
				s.log().WarnContext(ctx, "sweep_refund", "out_refund_no", r.OutRefundNo, "cause", err.Error())
				continue
			}
			if finished {
				sum.RefundsFinished++
			}
		}
		if len(refunds) < sweepBatch {
			return true, nil
		}
	}
}

// sweepRefund asks WeChat Pay about one refund and records its state. A
// refund WeChat Pay still does not know 10 minutes after it was reserved
// never reached it: FAILED, which releases its amount. The sweep never
// submits a refund. Whatever happens, the refund gets its next query, so
// one that keeps failing never holds the others back.
func (s *Service) sweepRefund(ctx context.Context, r trade.Refund) (changed bool, err error) {
	now := s.now()
	next := nextQuery(r.CreatedAt, now)
	defer func() {
		// Harmless on a refund that is now final: only unfinished ones are due.
		if serr := s.Store.SetRefundNextQuery(ctx, r.OutRefundNo, next); serr != nil && err == nil {
			err = fromStore(serr)
		}
	}()
	callCtx, cancel := sweepCall(ctx)
	st, err := s.WeChat.QueryRefund(callCtx, r.OutRefundNo)
	cancel()
	var to trade.RefundState
	switch {
	case errors.Is(err, ErrRefundNotExist) && r.State == trade.RefundProcessing && now.Sub(r.CreatedAt) >= refundUnknownAfter:
		to = trade.RefundFailed
	case errors.Is(err, ErrRefundNotExist):
		return false, nil
	case err != nil:
		return false, err
	case st.RefundFee != r.RefundFee || st.OutTradeNo != r.OutTradeNo:
		return false, refundMismatch()
	default:
		to = st.State
		if !r.Accepted {
			_ = s.Store.AcceptRefund(ctx, r.OutRefundNo) // WeChat has it; a retry need not send it
		}
	}
	if to == trade.RefundAbnormal {
		next = now.Add(abnormalRequery) // finished by hand in the merchant platform, some day
	}
	if to == r.State || !r.State.CanBecome(to) {
		return false, nil
	}
	refundID := ""
	if st != nil {
		refundID = st.RefundID
	}
	if changed, err = s.changeRefund(ctx, r.OutRefundNo, to, refundID); changed {
		s.deliverFirst(ctx, r.OutTradeNo)
	}
	return changed, err
}

// changeRefund records a refund's new state and, for a success, its
// order's REFUND; it reports whether this call changed the refund. A
// refund this store never saw stays in the record of notifications only.
func (s *Service) changeRefund(ctx context.Context, outRefundNo string, to trade.RefundState, refundID string) (bool, error) {
	from, changed, err := s.Store.FinishRefund(ctx, outRefundNo, to, refundID)
	switch {
	case errors.Is(err, trade.ErrNotFound):
		return false, nil
	case err != nil:
		return false, fromStore(err)
	}
	if changed && s.RefundChanged != nil {
		s.RefundChanged(ctx, outRefundNo, from, to)
	}
	if to != trade.RefundSuccess {
		return changed, nil
	}
	// The order reads REFUND once a refund has succeeded: applied whether
	// or not this call moved the refund, so a retry heals an order whose
	// own change failed after the refund's was committed.
	r, err := s.Store.Refund(ctx, outRefundNo)
	if err != nil {
		return changed, fromStore(err)
	}
	if r.State != trade.RefundSuccess {
		return changed, nil
	}
	o, err := s.Store.Order(ctx, r.OutTradeNo)
	switch {
	case errors.Is(err, trade.ErrNotFound):
		return changed, nil
	case err != nil:
		return changed, fromStore(err)
	}
	_, _, err = s.transition(ctx, o, trade.Refunded, "", time.Time{})
	return changed, err
}

// sweepEvents delivers the events whose next attempt is due.
func (s *Service) sweepEvents(ctx context.Context, _ time.Duration, sum *SweepSummary) (bool, error) {
	if s.Target == nil {
		return true, nil
	}
	for {
		if !roomFor(ctx) {
			return false, nil
		}
		events, err := s.Store.ClaimEvents(ctx, s.now(), eventLease, "", 10)
		if err != nil {
			return false, fromStore(err)
		}
		if len(events) == 0 {
			return true, nil
		}
		for _, e := range events {
			// A claimed event left for lack of time is claimed again once
			// its lease runs out.
			if !roomFor(ctx) {
				return false, nil
			}
			ok, err := s.deliver(ctx, e)
			if err != nil {
				return false, err
			}
			if ok {
				sum.EventsDelivered++
			} else {
				sum.EventsFailed++
			}
		}
	}
}
