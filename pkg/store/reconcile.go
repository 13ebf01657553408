package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
	"strings"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/trade"
)

// maxByNo is how many numbers OrdersByNo and RefundsByNo take a call: a
// bill is compared with the store a batch of its rows at a time.
const maxByNo = 1000

// paidBatch is how many orders PaidOrders reads a query.
const paidBatch = 1000

func (s *sqlStore) OrdersByNo(ctx context.Context, nos []string) (map[string]trade.Order, error) {
	return byNo(ctx, s, "orders", `SELECT `+orderColumns+` FROM orders WHERE out_trade_no`, nos, scanOrder,
		func(o trade.Order) string { return o.OutTradeNo })
}

func (s *sqlStore) RefundsByNo(ctx context.Context, nos []string) (map[string]trade.Refund, error) {
	return byNo(ctx, s, "refunds", `SELECT `+refundColumns+` FROM refunds WHERE out_refund_no`, nos, scanRefund,
		func(r trade.Refund) string { return r.OutRefundNo })
}

// byNo reads the rows whose key is among nos with selectWhere + " IN (…)",
// by key. The list is padded, repeating its last number, to a power of two
// or maxByNo, so that a dozen prepared statements serve every length.
func byNo[T any](ctx context.Context, s *sqlStore, what, selectWhere string, nos []string, scan func(scanner) (T, error), key func(T) string) (map[string]T, error) {
	if len(nos) > maxByNo {
		return nil, fmt.Errorf("store: reading %s: %d numbers, more than %d a call", what, len(nos), maxByNo)
	}
	byKey := make(map[string]T, len(nos))
	if len(nos) == 0 {
		return byKey, nil
	}
	args := make([]any, min(1<<bits.Len(uint(len(nos)-1)), maxByNo))
	for i := range args {
		args[i] = nos[min(i, len(nos)-1)]
	}
	rows, err := queryAll(ctx, s, what, scan, selectWhere+` IN (?`+strings.Repeat(`, ?`, len(args)-1)+`)`, args...)
	if err != nil {
		return nil, err
	}
	for _, v := range rows {
		byKey[key(v)] = v
	}
	return byKey, nil
}

// selectPaidOrders reads, by orders_paid, the next batch of orders paid in
// [?, ?) after the last (paid_at, out_trade_no) read: resuming after a key,
// not at an offset, costs the same for the last batch as for the first.
// paid_at > 0, implied by the range, is there for SQLite's planner, which
// uses the partial index only for a query that states its condition.
const selectPaidOrders = `SELECT ` + orderColumns + ` FROM orders
	WHERE paid_at > 0 AND paid_at >= ? AND paid_at < ? AND (paid_at > ? OR out_trade_no > ?)
	ORDER BY paid_at, out_trade_no LIMIT ?`

// PaidOrders reads a batch, closes its rows, then hands it to fn: fn may
// use the store meanwhile, though SQLite's has a single connection.
func (s *sqlStore) PaidOrders(ctx context.Context, from, to time.Time, fn func(trade.Order) error) error {
	start := max(micros(from), 1) // an unpaid order's paid_at is 0
	afterPaid, afterNo := start-1, ""
	for {
		batch, err := queryAll(ctx, s, "paid orders", scanOrder, selectPaidOrders, start, micros(to), afterPaid, afterNo, paidBatch)
		if err != nil {
			return err
		}
		for _, o := range batch {
			if err := fn(o); err != nil {
				return err
			}
		}
		if len(batch) < paidBatch {
			return nil
		}
		last := batch[len(batch)-1]
		start, afterPaid, afterNo = micros(last.PaidAt), micros(last.PaidAt), last.OutTradeNo
	}
}

// fixOnce sets fixed_on only where it is empty: a payment or a refund is
// recorded once, by one day's run, and a run of another day must not
// claim it.
const fixOnce = `fixed_on = CASE WHEN fixed_on = '' THEN ? ELSE fixed_on END, updated_at = ?`

func (s *sqlStore) MarkFixed(ctx context.Context, day, outTradeNo, outRefundNo string) error {
	if !validDay(day) {
		return fmt.Errorf("store: marking fixed: day %q is not YYYY-MM-DD", day)
	}
	now := micros(s.now())
	query, args := `UPDATE orders SET `+fixOnce+` WHERE out_trade_no = ?`, []any{day, now, outTradeNo}
	if outRefundNo != "" {
		query, args = `UPDATE refunds SET `+fixOnce+` WHERE out_refund_no = ? AND out_trade_no = ?`, []any{day, now, outRefundNo, outTradeNo}
	}
	res, err := s.exec(ctx, query, args...)
	if n, err := rowsAffected(res, err); err != nil {
		return fmt.Errorf("store: marking fixed: %w", err)
	} else if n == 0 {
		return trade.ErrNotFound
	}
	return nil
}

func validDay(day string) bool {
	_, err := time.Parse(time.DateOnly, day)
	return err == nil
}

const (
	selectReconciliation = `SELECT report, retry_at FROM reconciliations WHERE day = ?`
	insertReconciliation = `INSERT INTO reconciliations (day, status, report, retry_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)`
	updateReconciliation = `UPDATE reconciliations SET status = ?, report = ?, retry_at = ?, updated_at = ? WHERE day = ?`
)

func (s *sqlStore) Reconciliation(ctx context.Context, day string) (trade.Reconciliation, error) {
	var report string
	var retry int64
	err := s.queryRow(ctx, selectReconciliation, day).Scan(&report, &retry)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return trade.Reconciliation{}, trade.ErrNotFound
	case err != nil:
		return trade.Reconciliation{}, fmt.Errorf("store: reading reconciliation: %w", err)
	}
	r := trade.Reconciliation{RetryAt: fromMicros(retry)}
	if err := json.Unmarshal([]byte(report), &r.Report); err != nil {
		return trade.Reconciliation{}, fmt.Errorf("store: reading reconciliation of %s: %w", day, err)
	}
	return r, nil
}

// reportJSON is the report as stored and compared. No discrepancies are
// [], never null, so that a report without any reads the same however it
// was built.
func reportJSON(r trade.Report) (string, error) {
	if r.Discrepancies == nil {
		r.Discrepancies = []trade.Discrepancy{}
	}
	b, err := json.Marshal(r)
	return string(b), err
}

// SaveReconciliation compares the reports under the day's row lock, so
// that of concurrent saves of one report exactly one is the change that
// records the event.
func (s *sqlStore) SaveReconciliation(ctx context.Context, r trade.Reconciliation, event *trade.Event) (bool, error) {
	day := r.Report.Date
	if !validDay(day) {
		return false, fmt.Errorf("store: saving reconciliation: date %q is not YYYY-MM-DD", day)
	}
	report, err := reportJSON(r.Report)
	if err != nil {
		return false, fmt.Errorf("store: saving reconciliation: %w", err)
	}
	var e trade.Event
	if event != nil {
		if event.OutTradeNo != "" {
			// It would join no order's chain of events (0009_event_queue.sql).
			return false, fmt.Errorf("store: saving reconciliation: its event is of no order, not %s", event.OutTradeNo)
		}
		if e, err = s.completeEvent(*event); err != nil {
			return false, err
		}
	}
	var changed bool
	err = s.inTx(ctx, "reconciliation", func(tx *sql.Tx) error {
		// Two first saves of a day would both find no row, and on MySQL
		// deadlock on the gap locks of their reads; the events lock, which
		// a change takes anyway, puts them one after the other.
		if err := s.lockEvents(ctx, tx); err != nil {
			return err
		}
		var stored string
		err := s.txQueryRow(ctx, tx, selectReconciliation+s.forUpdate, day).Scan(&stored, new(int64))
		now := micros(s.now())
		switch {
		case errors.Is(err, sql.ErrNoRows):
			changed = true
			_, err = s.txExec(ctx, tx, insertReconciliation, day, r.Report.Status, report, micros(r.RetryAt), now, now)
		case err != nil:
			return fmt.Errorf("store: reading reconciliation: %w", err)
		default:
			changed = stored != report
			_, err = s.txExec(ctx, tx, updateReconciliation, r.Report.Status, report, micros(r.RetryAt), now, day)
		}
		if err != nil {
			return fmt.Errorf("store: saving reconciliation: %w", err)
		}
		if !changed || event == nil {
			return nil
		}
		seq, err := s.insertEvent(ctx, tx, e, 0)
		e.ID = eventID(e.ID, s.seqInEventID, seq)
		return err
	})
	if err != nil {
		return false, err
	}
	if changed && event != nil {
		event.ID = e.ID
	}
	return changed, nil
}
