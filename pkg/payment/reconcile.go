package payment

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/wxpay-scf/wxpay-scf/pkg/bill"
	"github.com/wxpay-scf/wxpay-scf/pkg/trade"
)

// Reconciliation policy (DESIGN: "Reconciliation with WeChat Pay's bills").
const (
	billRetry = 30 * time.Minute // a bill still being made
	// ReconcileAfter is the China time of day after which the sweep
	// reconciles the day before.
	ReconcileAfter = 10 * time.Hour
	// MaxReconcileAge is how far back an operator may reconcile.
	MaxReconcileAge = 90 * 24 * time.Hour
	lookupBatch     = 1000
	// maxDiscrepancies bounds a report (and its ERROR lines): a day where
	// everything differs is one problem, not 100,000; the summary line
	// keeps the full count.
	maxDiscrepancies = 1000
)

// ChinaDay is the China calendar day of t, at 00:00 +08:00.
func ChinaDay(t time.Time) time.Time {
	y, m, d := t.In(trade.ChinaTime).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, trade.ChinaTime)
}

// Reconcile compares WeChat Pay's trade bill of day (a China day) with the
// store, fixes what a verified query confirms (a payment or refund the
// store missed), reports every difference, stores the report and, when it
// changed, sends it as the bill.reconciled event. Nothing changes on the
// bill's word alone, and nothing changes at all from a bill that turns out
// invalid: fixes are made only once the whole bill has been read and its
// summary checked. Running a day again changes nothing twice and gives the
// same report.
func (s *Service) Reconcile(ctx context.Context, day time.Time) (*trade.Report, error) {
	day = ChinaDay(day)
	r := &reconciliation{s: s, ctx: ctx, day: day, date: day.Format(time.DateOnly)}
	r.report.Date, r.report.Discrepancies = r.date, []trade.Discrepancy{}
	retryAt := time.Time{}
	err := s.WeChat.Bill(ctx, day, r.read)
	switch {
	case errors.Is(err, ErrBillNotReady):
		r.report.Status, retryAt = trade.ReconcilePending, s.now().Add(billRetry)
	case errors.Is(err, ErrNoBill):
		if err := r.missingInBill(ctx); err != nil {
			return nil, err
		}
		r.report.Status = trade.ReconcileNoBill
		if len(r.report.Discrepancies) > 0 {
			r.report.Status = trade.ReconcileDiscrepancies
		}
	case errors.Is(err, ErrBillInvalid):
		// Reported, nothing changed; the sweep tries the day again tomorrow.
		r.report = trade.Report{Date: r.date, Status: trade.ReconcileBillInvalid,
			Discrepancies: []trade.Discrepancy{{Kind: trade.BillInvalid, Bill: truncate(err.Error(), 255)}}}
		if now := s.now(); now.Before(day.Add(48 * time.Hour)) {
			retryAt = now.Add(24 * time.Hour) // once, the next day; then it stays reported
		}
	case err != nil:
		return nil, err
	default:
		if err := r.fix(ctx); err != nil {
			return nil, err
		}
		if err := r.missingInBill(ctx); err != nil {
			return nil, err
		}
		r.report.Status = trade.ReconcileMatched
		if len(r.report.Discrepancies) > 0 {
			r.report.Status = trade.ReconcileDiscrepancies
		}
	}
	// In a stable order, so that a rerun stores the same report.
	slices.SortStableFunc(r.report.Discrepancies, func(a, b trade.Discrepancy) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.OutTradeNo, b.OutTradeNo), cmp.Compare(a.OutRefundNo, b.OutRefundNo))
	})
	if err := s.saveReport(ctx, r.report, retryAt, max(r.found, len(r.report.Discrepancies))); err != nil {
		return nil, err
	}
	return &r.report, nil
}

// saveReport stores the report, logs it, and sends bill.reconciled when a
// finished report changed.
func (s *Service) saveReport(ctx context.Context, rep trade.Report, retryAt time.Time, found int) error {
	var event *trade.Event
	if rep.Status != trade.ReconcilePending {
		e, err := trade.NewReconciledEvent(rep, s.now())
		if err != nil {
			return &Error{Kind: Internal, Code: "INTERNAL", Message: "internal error", Err: err}
		}
		event = &e
	}
	changed, err := s.Store.SaveReconciliation(ctx, trade.Reconciliation{Report: rep, RetryAt: retryAt}, event)
	if err != nil {
		return fromStore(err)
	}
	for _, d := range rep.Discrepancies {
		s.log().LogAttrs(ctx, slog.LevelError, "discrepancy", slog.String("date", rep.Date), slog.String("kind", string(d.Kind)),
			slog.String("out_trade_no", d.OutTradeNo), slog.String("out_refund_no", d.OutRefundNo),
			slog.String("bill", d.Bill), slog.String("store", d.Store), slog.Bool("fixed", d.Fixed))
	}
	s.log().LogAttrs(ctx, slog.LevelInfo, "reconciliation", slog.String("event", "reconciliation"), slog.String("date", rep.Date),
		slog.String("status", string(rep.Status)), slog.Int("payments", rep.Payments.Count), slog.Int64("total_fee", rep.Payments.TotalFee),
		slog.Int("refunds", rep.Refunds.Count), slog.Int64("refund_fee", rep.Refunds.RefundFee),
		slog.Int("discrepancies", found), slog.Bool("changed", changed))
	if changed && event != nil && s.Target != nil {
		if e, ok, err := s.Store.ClaimEvent(ctx, event.ID, s.now(), eventLease); err == nil && ok {
			s.deliver(ctx, e) // failures are the sweep's to retry
		}
	}
	return nil
}

// Reconciliation returns a day's stored report.
func (s *Service) Reconciliation(ctx context.Context, day time.Time) (*trade.Report, error) {
	rec, err := s.Store.Reconciliation(ctx, ChinaDay(day).Format(time.DateOnly))
	switch {
	case errors.Is(err, trade.ErrNotFound):
		return nil, &Error{Kind: NotFound, Code: "NOT_FOUND", Message: "that day has not been reconciled"}
	case err != nil:
		return nil, fromStore(err)
	}
	return &rec.Report, nil
}

// reconciliation is one run over one day's bill.
type reconciliation struct {
	s      *Service
	ctx    context.Context // the run's, for the store lookups made while the bill streams
	day    time.Time
	date   string
	report trade.Report
	// billed is the out_trade_no of the bill's payments of this app, copied
	// and sorted once the bill is read. A row's strings share one
	// allocation, which a map keyed by them kept whole: for a day of
	// 100,000 payments that map held ~12 MB, twice that in heap the GC let
	// grow, and the binary peaked near 60 MB. Copies in a sorted slice hold
	// ~5 MB.
	billed []string
	found  int // discrepancies found, listed or not
	batch  []bill.Row
	// fixes are the differences a verified query may fix, made only once
	// the whole bill has been read and checked.
	fixes []fix
}

// fix is a discrepancy the run may fix once the bill is known to be whole.
type fix struct {
	at    int // index in report.Discrepancies
	order trade.Order
	row   bill.Row
}

// read streams the bill: rows of this app are compared with the store in
// batches, and nothing is changed before the summary has been checked.
func (r *reconciliation) read(body io.Reader) error {
	br, err := bill.NewReader(body)
	if err != nil {
		return billError(err)
	}
	for {
		row, err := br.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return billError(err)
		}
		if row.AppID != r.s.AppID || row.MchID != r.s.MchID {
			continue // another app of the same merchant: not ours to judge
		}
		if row.IsRefund() {
			r.report.Refunds.Count++
			r.report.Refunds.RefundFee += row.RefundFee
		} else {
			r.report.Payments.Count++
			r.report.Payments.TotalFee += row.TotalFee
			r.billed = append(r.billed, strings.Clone(row.OutTradeNo))
		}
		if r.batch = append(r.batch, row); len(r.batch) == lookupBatch {
			if err := r.compare(); err != nil {
				return err
			}
		}
	}
	slices.Sort(r.billed)
	return r.compare()
}

// billError marks what the bill says wrongly as ErrBillInvalid; a read
// that failed (the network, the deadline) is not the bill's fault and
// stays as it is, so the day is tried again rather than reported invalid.
func billError(err error) error {
	if errors.Is(err, bill.ErrInvalid) {
		return fmt.Errorf("%w: %w", ErrBillInvalid, err)
	}
	return err
}

// compare judges a batch of rows against the store.
func (r *reconciliation) compare() error {
	if len(r.batch) == 0 {
		return nil
	}
	ctx := r.ctx
	var orderNos, refundNos []string
	for _, row := range r.batch {
		orderNos = append(orderNos, row.OutTradeNo)
		if row.IsRefund() {
			refundNos = append(refundNos, row.OutRefundNo)
		}
	}
	orders, err := r.s.Store.OrdersByNo(ctx, orderNos)
	if err != nil {
		return fromStore(err)
	}
	refunds := map[string]trade.Refund{}
	if len(refundNos) > 0 {
		if refunds, err = r.s.Store.RefundsByNo(ctx, refundNos); err != nil {
			return fromStore(err)
		}
	}
	for _, row := range r.batch {
		if row.IsRefund() {
			r.compareRefund(row, refunds)
		} else {
			r.comparePayment(row, orders)
		}
	}
	r.batch = r.batch[:0]
	return nil
}

// add lists a discrepancy and returns its index, or -1 past the bound.
func (r *reconciliation) add(d trade.Discrepancy) int {
	r.found++
	if len(r.report.Discrepancies) >= maxDiscrepancies {
		return -1
	}
	r.report.Discrepancies = append(r.report.Discrepancies, d)
	return len(r.report.Discrepancies) - 1
}

func (r *reconciliation) comparePayment(row bill.Row, orders map[string]trade.Order) {
	o, ok := orders[row.OutTradeNo]
	billSays := row.TradeState + " " + bill.Yuan(row.TotalFee)
	switch {
	case !ok:
		r.add(trade.Discrepancy{Kind: trade.UnknownOrder, OutTradeNo: row.OutTradeNo, Bill: billSays})
	case o.TotalFee != row.TotalFee:
		r.add(trade.Discrepancy{Kind: trade.AmountMismatch, OutTradeNo: row.OutTradeNo, Bill: billSays, Store: string(o.State) + " " + bill.Yuan(o.TotalFee)})
	case row.TradeState != string(trade.Success):
	case !o.State.Paid():
		at := r.add(trade.Discrepancy{Kind: trade.MissedPayment, OutTradeNo: row.OutTradeNo, Bill: billSays, Store: "not paid " + bill.Yuan(o.TotalFee)})
		r.fixes = append(r.fixes, fix{at: at, order: o, row: row}) // fixed even when not listed
	case o.FixedOn == r.date:
		// Fixed by an earlier run of this day: reported again as fixed, the
		// same way, so that a rerun gives the same report.
		r.add(trade.Discrepancy{Kind: trade.MissedPayment, OutTradeNo: row.OutTradeNo, Bill: billSays, Store: "not paid " + bill.Yuan(o.TotalFee), Fixed: true})
	}
}

func (r *reconciliation) compareRefund(row bill.Row, refunds map[string]trade.Refund) {
	rf, ok := refunds[row.OutRefundNo]
	billSays := row.RefundState + " " + bill.Yuan(row.RefundFee)
	switch {
	case !ok:
		r.add(trade.Discrepancy{Kind: trade.UnknownRefund, OutTradeNo: row.OutTradeNo, OutRefundNo: row.OutRefundNo, Bill: billSays})
	case rf.RefundFee != row.RefundFee:
		r.add(trade.Discrepancy{Kind: trade.RefundAmountMismatch, OutTradeNo: row.OutTradeNo, OutRefundNo: row.OutRefundNo, Bill: billSays, Store: string(rf.State) + " " + bill.Yuan(rf.RefundFee)})
	case row.RefundState != string(trade.RefundSuccess):
	case rf.State == trade.RefundProcessing || rf.State == trade.RefundAbnormal || rf.State == trade.RefundFailed:
		// FAILED too: taken by WeChat Pay after all (trade.RefundedAfterFailure).
		at := r.add(trade.Discrepancy{Kind: trade.MissedRefund, OutTradeNo: row.OutTradeNo, OutRefundNo: row.OutRefundNo, Bill: billSays, Store: "not refunded " + bill.Yuan(rf.RefundFee)})
		r.fixes = append(r.fixes, fix{at: at, row: row})
	case rf.FixedOn == r.date:
		r.add(trade.Discrepancy{Kind: trade.MissedRefund, OutTradeNo: row.OutTradeNo, OutRefundNo: row.OutRefundNo, Bill: billSays, Store: "not refunded " + bill.Yuan(rf.RefundFee), Fixed: true})
	}
}

// fix makes each fixable difference good, each only after a verified query
// confirms it: the bill is unsigned on v2, so its word alone changes nothing.
func (r *reconciliation) fix(ctx context.Context) error {
	for _, f := range r.fixes {
		// Marked as this day's fix once WeChat Pay confirmed it, before the
		// change is recorded: should the change fail, a rerun finds the order
		// still unpaid and fixes it; should it succeed, a rerun reports it
		// again as fixed, even if this run failed before saving its report.
		if f.row.IsRefund() {
			st, err := r.s.WeChat.QueryRefund(ctx, f.row.OutRefundNo)
			if err != nil || st.State != trade.RefundSuccess || st.RefundFee != f.row.RefundFee {
				continue // not confirmed: reported, unfixed
			}
			if err := r.s.Store.MarkFixed(ctx, r.date, f.row.OutTradeNo, f.row.OutRefundNo); err != nil {
				return fromStore(err)
			}
			changed, err := r.s.changeRefund(ctx, f.row.OutRefundNo, trade.RefundSuccess, st.RefundID)
			if err != nil {
				return err
			}
			if changed {
				r.s.deliverFirst(ctx, f.row.OutTradeNo)
			}
		} else {
			st, err := r.s.WeChat.Query(ctx, f.row.OutTradeNo)
			if err != nil || !trade.State(st.TradeState).Paid() || st.TotalFee != f.order.TotalFee {
				continue
			}
			if err := r.s.Store.MarkFixed(ctx, r.date, f.row.OutTradeNo, ""); err != nil {
				return fromStore(err)
			}
			o, changed, err := r.s.record(ctx, f.order, st)
			if err != nil {
				return err
			}
			if !o.State.Paid() {
				continue
			}
			if changed {
				r.s.deliverFirst(ctx, o.OutTradeNo)
			}
		}
		if f.at >= 0 {
			r.report.Discrepancies[f.at].Fixed = true
		}
	}
	return nil
}

// missingInBill reports the orders the store has paid that day that the
// bill does not list.
func (r *reconciliation) missingInBill(ctx context.Context) error {
	err := r.s.Store.PaidOrders(ctx, r.day, r.day.Add(24*time.Hour), func(o trade.Order) error {
		if _, ok := slices.BinarySearch(r.billed, o.OutTradeNo); !ok {
			r.add(trade.Discrepancy{Kind: trade.MissingInBill, OutTradeNo: o.OutTradeNo, Store: string(o.State) + " " + bill.Yuan(o.TotalFee)})
		}
		return nil
	})
	if err != nil {
		return fromStore(err)
	}
	return nil
}

// truncate shortens s to at most n bytes without splitting a character.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
