package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"
)

// sqlStore is the Store over database/sql; SQLite and MySQL differ only in
// their schema statements and duplicate-key errors.
type sqlStore struct {
	db        *sql.DB
	now       func() time.Time
	schema    []string
	duplicate func(error) bool
	forUpdate string   // the row-locking suffix of a SELECT inside a transaction
	stmts     sync.Map // query text → *sql.Stmt, prepared once
}

// prepared returns the statement for query, preparing it on first use.
func (s *sqlStore) prepared(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := s.stmts.Load(query); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := s.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if prev, loaded := s.stmts.LoadOrStore(query, st); loaded {
		st.Close()
		return prev.(*sql.Stmt), nil
	}
	return st, nil
}

func (s *sqlStore) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := s.prepared(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

// queryRow is QueryRowContext on a prepared statement; a failure to
// prepare surfaces from Scan.
func (s *sqlStore) queryRow(ctx context.Context, query string, args ...any) scanner {
	st, err := s.prepared(ctx, query)
	if err != nil {
		return errRow{err}
	}
	return st.QueryRowContext(ctx, args...)
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromMicros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us)
}

// nullable stores "" as NULL, so that orders without a request_id never
// collide in the (openid, request_id) unique key.
func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

const orderColumns = `out_trade_no, openid, COALESCE(request_id, ''), total_fee, description, attach,
	prepay_id, state, transaction_id, refunded_fee, created_at, paid_at`

type scanner interface{ Scan(...any) error }

func scanOrder(row scanner) (Order, error) {
	var o Order
	var created, paid int64
	err := row.Scan(&o.OutTradeNo, &o.OpenID, &o.RequestID, &o.TotalFee, &o.Description, &o.Attach,
		&o.PrepayID, &o.State, &o.TransactionID, &o.RefundedFee, &created, &paid)
	if errors.Is(err, sql.ErrNoRows) {
		return Order{}, ErrNotFound
	}
	o.CreatedAt, o.PaidAt = fromMicros(created), fromMicros(paid)
	return o, err
}

func (s *sqlStore) CreateOrder(ctx context.Context, o Order) (Order, bool, error) {
	if o.CreatedAt.IsZero() {
		o.CreatedAt = s.now()
	}
	o.State = NotPay
	_, err := s.exec(ctx, `INSERT INTO orders (out_trade_no, openid, request_id, total_fee, description, attach,
		prepay_id, state, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		o.OutTradeNo, o.OpenID, nullable(o.RequestID), o.TotalFee, o.Description, o.Attach,
		o.PrepayID, o.State, micros(o.CreatedAt), micros(s.now()))
	if err == nil {
		o.CreatedAt = fromMicros(micros(o.CreatedAt))
		return o, true, nil
	}
	if !s.duplicate(err) || o.RequestID == "" {
		return Order{}, false, fmt.Errorf("store: inserting order: %w", err)
	}
	got, err := scanOrder(s.queryRow(ctx, `SELECT `+orderColumns+` FROM orders WHERE openid = ? AND request_id = ?`, o.OpenID, o.RequestID))
	if err != nil {
		return Order{}, false, fmt.Errorf("store: reading order by request_id: %w", err)
	}
	return got, false, nil
}

func (s *sqlStore) Order(ctx context.Context, outTradeNo string) (Order, error) {
	o, err := scanOrder(s.queryRow(ctx, `SELECT `+orderColumns+` FROM orders WHERE out_trade_no = ?`, outTradeNo))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Order{}, fmt.Errorf("store: reading order: %w", err)
	}
	return o, err
}

func (s *sqlStore) SetPrepayID(ctx context.Context, outTradeNo, prepayID string) error {
	res, err := s.exec(ctx, `UPDATE orders SET prepay_id = ?, updated_at = ? WHERE out_trade_no = ?`,
		prepayID, micros(s.now()), outTradeNo)
	return affected(res, err, "setting prepay_id")
}

// affected turns an update that touched no row into ErrNotFound.
func affected(res sql.Result, err error, what string) error {
	if err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	} else if n == 0 {
		return ErrNotFound
	}
	return nil
}

// Transition is a compare-and-swap on the state column: the update applies
// only if the state is still the one read, so of concurrent callers exactly
// one changes it; a loser re-reads and finds nothing left to do.
func (s *sqlStore) Transition(ctx context.Context, outTradeNo string, to State, transactionID string, paidAt time.Time) (State, bool, error) {
	for {
		cur, err := s.Order(ctx, outTradeNo)
		if err != nil {
			return "", false, err
		}
		if !cur.State.CanBecome(to) {
			return cur.State, false, nil
		}
		res, err := s.exec(ctx, updateState,
			to, transactionID, transactionID, micros(paidAt), micros(paidAt), micros(s.now()), outTradeNo, cur.State)
		if err != nil {
			return "", false, fmt.Errorf("store: updating state: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return "", false, fmt.Errorf("store: updating state: %w", err)
		} else if n == 1 {
			return cur.State, true, nil
		}
		if err := ctx.Err(); err != nil {
			return "", false, err
		}
	}
}

func (s *sqlStore) AdoptOrder(ctx context.Context, o Order) (bool, error) {
	if o.CreatedAt.IsZero() {
		o.CreatedAt = s.now()
	}
	_, err := s.exec(ctx, `INSERT INTO orders (out_trade_no, openid, request_id, total_fee, description, attach,
		prepay_id, state, created_at, updated_at) VALUES (?, ?, NULL, ?, ?, ?, '', ?, ?, ?)`,
		o.OutTradeNo, o.OpenID, o.TotalFee, o.Description, o.Attach, NotPay, micros(o.CreatedAt), micros(s.now()))
	switch {
	case err == nil:
		return true, nil
	case s.duplicate(err):
		return false, nil
	}
	return false, fmt.Errorf("store: adopting order: %w", err)
}

const insertNotification = `INSERT INTO notifications (kind, out_trade_no, out_refund_no, fields, received_at)
	VALUES (?, ?, ?, ?, ?)`

const updateState = `UPDATE orders SET state = ?,
	transaction_id = CASE WHEN ? = '' THEN transaction_id ELSE ? END,
	paid_at = CASE WHEN ? = 0 THEN paid_at ELSE ? END,
	updated_at = ?
	WHERE out_trade_no = ? AND state = ?`

// ApplyNotification commits the record and the state change together, so a
// payment notification costs one write.
func (s *sqlStore) ApplyNotification(ctx context.Context, n Notification, totalFee int64, to State, transactionID string, paidAt time.Time) (State, bool, error) {
	if n.ReceivedAt.IsZero() {
		n.ReceivedAt = s.now()
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return "", false, fmt.Errorf("store: beginning notification: %w", err)
	}
	defer tx.Rollback()
	sel, err := s.txStmt(ctx, tx, selectStateFee+s.forUpdate)
	if err != nil {
		return "", false, fmt.Errorf("store: reading state: %w", err)
	}
	var from State
	var fee int64
	err = sel.QueryRowContext(ctx, n.OutTradeNo).Scan(&from, &fee)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", false, ErrNotFound
	case err != nil:
		return "", false, fmt.Errorf("store: reading state: %w", err)
	case fee != totalFee:
		return "", false, ErrAmountMismatch
	}
	ins, err := s.txStmt(ctx, tx, insertNotification)
	if err == nil {
		_, err = ins.ExecContext(ctx, n.Kind, n.OutTradeNo, n.OutRefundNo, n.Fields, micros(n.ReceivedAt))
	}
	if err != nil {
		return "", false, fmt.Errorf("store: recording notification: %w", err)
	}
	changed := from.CanBecome(to)
	if changed {
		upd, err := s.txStmt(ctx, tx, updateState)
		if err == nil {
			_, err = upd.ExecContext(ctx, to, transactionID, transactionID, micros(paidAt), micros(paidAt), micros(s.now()), n.OutTradeNo, from)
		}
		if err != nil {
			return "", false, fmt.Errorf("store: updating state: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return "", false, fmt.Errorf("store: committing notification: %w", err)
	}
	return from, changed, nil
}

// txQueries are prepared when the store opens: inside a transaction a
// statement must not need a second connection (SQLite has only one).
func (s *sqlStore) txQueries() []string {
	return []string{selectStateFee + s.forUpdate, insertNotification, updateState}
}

const selectStateFee = `SELECT state, total_fee FROM orders WHERE out_trade_no = ?`

// txStmt binds a statement prepared at open to tx, or prepares it on tx's
// own connection; it never asks the pool for another connection.
func (s *sqlStore) txStmt(ctx context.Context, tx *sql.Tx, query string) (*sql.Stmt, error) {
	if st, ok := s.stmts.Load(query); ok {
		return tx.StmtContext(ctx, st.(*sql.Stmt)), nil
	}
	return tx.PrepareContext(ctx, query)
}

func (s *sqlStore) RecordNotification(ctx context.Context, n Notification) error {
	if n.ReceivedAt.IsZero() {
		n.ReceivedAt = s.now()
	}
	_, err := s.exec(ctx, insertNotification, n.Kind, n.OutTradeNo, n.OutRefundNo, n.Fields, micros(n.ReceivedAt))
	if err != nil {
		return fmt.Errorf("store: recording notification: %w", err)
	}
	return nil
}

const refundColumns = `out_refund_no, out_trade_no, refund_fee, reason, state, refund_id, created_at`

func scanRefund(row scanner) (Refund, error) {
	var r Refund
	var created int64
	err := row.Scan(&r.OutRefundNo, &r.OutTradeNo, &r.RefundFee, &r.Reason, &r.State, &r.RefundID, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return Refund{}, ErrNotFound
	}
	r.CreatedAt = fromMicros(created)
	return r, err
}

func (s *sqlStore) Refund(ctx context.Context, outRefundNo string) (Refund, error) {
	r, err := scanRefund(s.queryRow(ctx, `SELECT `+refundColumns+` FROM refunds WHERE out_refund_no = ?`, outRefundNo))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Refund{}, fmt.Errorf("store: reading refund: %w", err)
	}
	return r, err
}

// ReserveRefund runs in one transaction: the conditional update of the
// order's refunded_fee is the reservation, so concurrent refunds can never
// together exceed the paid amount.
func (s *sqlStore) ReserveRefund(ctx context.Context, r Refund) (Refund, bool, error) {
	if existing, err := s.Refund(ctx, r.OutRefundNo); err == nil {
		return sameRefund(existing, r)
	} else if !errors.Is(err, ErrNotFound) {
		return Refund{}, false, err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return Refund{}, false, fmt.Errorf("store: beginning refund: %w", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE orders SET refunded_fee = refunded_fee + ?, updated_at = ?
		WHERE out_trade_no = ? AND state IN (?, ?) AND refunded_fee + ? <= total_fee`,
		r.RefundFee, micros(s.now()), r.OutTradeNo, Success, Refunded, r.RefundFee)
	if err != nil {
		return Refund{}, false, fmt.Errorf("store: reserving refund: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return Refund{}, false, fmt.Errorf("store: reserving refund: %w", err)
	} else if n == 0 {
		o, err := scanOrder(tx.QueryRowContext(ctx, `SELECT `+orderColumns+` FROM orders WHERE out_trade_no = ?`, r.OutTradeNo))
		switch {
		case err != nil:
			return Refund{}, false, err
		case o.State != Success && o.State != Refunded:
			return Refund{}, false, ErrNotPaid
		}
		return Refund{}, false, ErrExceedsPaid
	}
	r.State = RefundProcessing
	if r.CreatedAt.IsZero() {
		r.CreatedAt = s.now()
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO refunds (out_refund_no, out_trade_no, refund_fee, reason, state, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, r.OutRefundNo, r.OutTradeNo, r.RefundFee, r.Reason, r.State, micros(r.CreatedAt), micros(s.now()))
	if s.duplicate(err) {
		// A concurrent call with the same out_refund_no won; ours never happened.
		tx.Rollback()
		existing, err := s.Refund(ctx, r.OutRefundNo)
		if err != nil {
			return Refund{}, false, err
		}
		return sameRefund(existing, r)
	}
	if err != nil {
		return Refund{}, false, fmt.Errorf("store: inserting refund: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return Refund{}, false, fmt.Errorf("store: committing refund: %w", err)
	}
	r.CreatedAt = fromMicros(micros(r.CreatedAt))
	return r, true, nil
}

func sameRefund(existing, r Refund) (Refund, bool, error) {
	if existing.OutTradeNo != r.OutTradeNo || existing.RefundFee != r.RefundFee {
		return Refund{}, false, ErrRefundMismatch
	}
	return existing, false, nil
}

func (s *sqlStore) FinishRefund(ctx context.Context, outRefundNo string, state RefundState, refundID string) (bool, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("store: beginning refund update: %w", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE refunds SET state = ?, refund_id = CASE WHEN ? = '' THEN refund_id ELSE ? END, updated_at = ?
		WHERE out_refund_no = ? AND state = ?`, state, refundID, refundID, micros(s.now()), outRefundNo, RefundProcessing)
	if err != nil {
		return false, fmt.Errorf("store: updating refund: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return false, err
	}
	if state == RefundClosed || state == RefundFailed {
		_, err = tx.ExecContext(ctx, `UPDATE orders SET refunded_fee = refunded_fee -
			(SELECT refund_fee FROM refunds WHERE out_refund_no = ?), updated_at = ?
			WHERE out_trade_no = (SELECT out_trade_no FROM refunds WHERE out_refund_no = ?)`,
			outRefundNo, micros(s.now()), outRefundNo)
		if err != nil {
			return false, fmt.Errorf("store: releasing refund: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("store: committing refund update: %w", err)
	}
	return true, nil
}

func (s *sqlStore) Close() error { return s.db.Close() }
