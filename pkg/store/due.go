package store

import (
	"context"
	"fmt"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/trade"
)

// The sweep's work is found by due_at, which the database derives from the
// state and the times and sets to NULL once a row is final (see
// 0003_events.sql and 0008_order_writes.sql): a range scan of orders_due
// or refunds_due, in the order rows fell due, never meets a final one.
const (
	// An order never asked about falls due trade.FirstQueryAfter after it
	// was made (0008_order_writes.sql: the SQL's 60000000), one asked
	// about at its next query. With the sweep's usual min_age the range
	// holds only the orders it returns; with a smaller one it reaches
	// ahead to the youngest orders it takes, and the condition leaves out
	// the asked-about orders not yet due (an operator's sweep reads those
	// too); with a larger one, the condition leaves out the orders too
	// young.
	selectDueOrders = `SELECT ` + orderColumns + ` FROM orders WHERE due_at <= ? AND created_at <= ?
		AND (next_query_at = 0 OR due_at <= ?) ORDER BY due_at LIMIT ?`
	selectDueRefunds = `SELECT ` + refundColumns + ` FROM refunds WHERE due_at <= ? AND created_at <= ? ORDER BY due_at LIMIT ?`
)

// DueOrders reads a range of orders_due that ends before the unpaid orders
// younger than the sweep's usual min_age, instead of walking through them
// on every sweep.
func (s *sqlStore) DueOrders(ctx context.Context, now, createdBefore time.Time, limit int) ([]trade.Order, error) {
	upTo := max(micros(now), micros(createdBefore.Add(trade.FirstQueryAfter)))
	return queryAll(ctx, s, "due orders", scanOrder, selectDueOrders, upTo, micros(createdBefore), micros(now), limit)
}

func (s *sqlStore) DueRefunds(ctx context.Context, now, createdBefore time.Time, limit int) ([]trade.Refund, error) {
	return queryAll(ctx, s, "due refunds", scanRefund, selectDueRefunds, micros(now), micros(createdBefore), limit)
}

func (s *sqlStore) SetOrderNextQuery(ctx context.Context, outTradeNo string, next time.Time) error {
	return s.setNextQuery(ctx, `UPDATE orders SET next_query_at = ?, updated_at = ? WHERE out_trade_no = ?`, outTradeNo, next)
}

func (s *sqlStore) SetRefundNextQuery(ctx context.Context, outRefundNo string, next time.Time) error {
	return s.setNextQuery(ctx, `UPDATE refunds SET next_query_at = ?, updated_at = ? WHERE out_refund_no = ?`, outRefundNo, next)
}

// setNextQuery runs update, which sets the next query of the row named no;
// ErrNotFound when there is none.
func (s *sqlStore) setNextQuery(ctx context.Context, update, no string, next time.Time) error {
	res, err := s.exec(ctx, update, micros(next), micros(s.now()), no)
	if n, err := rowsAffected(res, err); err != nil {
		return fmt.Errorf("store: setting the next query: %w", err)
	} else if n == 0 {
		return trade.ErrNotFound
	}
	return nil
}
