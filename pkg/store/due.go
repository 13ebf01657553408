package store

import (
	"context"
	"fmt"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/trade"
)

// The sweep's work is found by due_at, which the database derives from the
// state and the times and sets to NULL once a row is final (see
// 0003_events.sql): a range scan of orders_due or refunds_due reads only
// rows that are due, in the order they fell due, and never a final one.
const (
	selectDueOrders  = `SELECT ` + orderColumns + ` FROM orders WHERE due_at <= ? AND created_at <= ? ORDER BY due_at LIMIT ?`
	selectDueRefunds = `SELECT ` + refundColumns + ` FROM refunds WHERE due_at <= ? AND created_at <= ? ORDER BY due_at LIMIT ?`
)

func (s *sqlStore) DueOrders(ctx context.Context, now, createdBefore time.Time, limit int) ([]trade.Order, error) {
	return queryAll(ctx, s, "due orders", scanOrder, selectDueOrders, micros(now), micros(createdBefore), limit)
}

func (s *sqlStore) SetOrderNextQuery(ctx context.Context, outTradeNo string, next time.Time) error {
	return s.setNextQuery(ctx, `UPDATE orders SET next_query_at = ?, updated_at = ? WHERE out_trade_no = ?`, outTradeNo, next)
}

func (s *sqlStore) DueRefunds(ctx context.Context, now, createdBefore time.Time, limit int) ([]trade.Refund, error) {
	return queryAll(ctx, s, "due refunds", scanRefund, selectDueRefunds, micros(now), micros(createdBefore), limit)
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
