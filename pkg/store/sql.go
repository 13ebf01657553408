package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/trade"
)

var _ trade.Store = (*sqlStore)(nil)

// sqlStore is the trade.Store over database/sql; SQLite and MySQL differ only in
// their dialect.
type sqlStore struct {
	db  *sql.DB
	now func() time.Time
	dialect
	stmts sync.Map // query text → *sql.Stmt, prepared once
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

// txQueries are prepared when the store opens: inside a transaction a
// statement must not need a second connection (SQLite has only one).
func (s *sqlStore) txQueries() []string {
	qs := []string{
		insertNotification, updateState, selectOrder + s.forUpdate, selectLockedOrder + s.forUpdate, selectLastEvent + s.forUpdate, updateLastEvent,
		insertRefund, reserveRefund, reclaimRefund,
		selectRefund, selectRefund + s.forUpdate, updateRefundState, releaseRefund,
		insertEvent, selectReconciliation + s.forUpdate, insertReconciliation, updateReconciliation,
	}
	if s.eventsLock != "" {
		qs = append(qs, s.eventsLock)
	}
	if s.eventQueue {
		qs = append(qs, queuePending, moveQueueMark)
	}
	return qs
}

// txStmt binds a statement prepared at open to tx, or prepares it on tx's
// own connection; it never asks the pool for another connection.
func (s *sqlStore) txStmt(ctx context.Context, tx *sql.Tx, query string) (*sql.Stmt, error) {
	if st, ok := s.stmts.Load(query); ok {
		return tx.StmtContext(ctx, st.(*sql.Stmt)), nil
	}
	return tx.PrepareContext(ctx, query)
}

func (s *sqlStore) txExec(ctx context.Context, tx *sql.Tx, query string, args ...any) (sql.Result, error) {
	ctx, err := s.txContext(ctx)
	if err != nil {
		return nil, err
	}
	st, err := s.txStmt(ctx, tx, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

func (s *sqlStore) txQueryRow(ctx context.Context, tx *sql.Tx, query string, args ...any) scanner {
	ctx, err := s.txContext(ctx)
	if err != nil {
		return errRow{err}
	}
	st, err := s.txStmt(ctx, tx, query)
	if err != nil {
		return errRow{err}
	}
	return st.QueryRowContext(ctx, args...)
}

// txContext is the context of a statement inside a transaction: ctx, or,
// where the dialect's statements inside one wait for nothing
// (quickTxStatements), ctx without its cancellation once it is checked.
func (s *sqlStore) txContext(ctx context.Context) (context.Context, error) {
	if !s.quickTxStatements {
		return ctx, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return context.WithoutCancel(ctx), nil
}

// inTx runs fn in a transaction on a connection of its own, committed by
// ctx's deadline; what names the work in errors.
func (s *sqlStore) inTx(ctx context.Context, what string, fn func(*sql.Tx) error) error {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("store: beginning %s: %w", what, err)
	}
	defer conn.Close()
	return s.txOn(ctx, conn, what, fn)
}

// txOn runs fn in a transaction on conn. A connection whose commit failed
// is closed, never reused: whether the COMMIT reached the server, and
// what the connection would read next, are unknown.
func (s *sqlStore) txOn(ctx context.Context, conn *sql.Conn, what string, fn func(*sql.Tx) error) error {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: beginning %s: %w", what, err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := s.commit(ctx, tx); err != nil {
		discard(conn)
		return fmt.Errorf("store: committing %s: %w", what, err)
	}
	return nil
}

// commit commits tx by ctx's deadline. database/sql's Tx.Commit takes no
// context, and go-sql-driver/mysql waits for COMMIT's answer until
// readTimeout: a lost answer once held a notification with a 3 s deadline
// for 40 s. So on MySQL COMMIT is a statement run under ctx, which the
// driver ends by closing the connection, and Rollback then only ends
// database/sql's view of the transaction (a no-op at the server). modernc
// SQLite's Commit already ends its wait for a lock with BeginTx's context,
// and no answer can be lost in a process.
func (s *sqlStore) commit(ctx context.Context, tx *sql.Tx) error {
	if !s.commitStatement {
		return tx.Commit()
	}
	_, err := tx.ExecContext(ctx, "COMMIT")
	tx.Rollback()
	return err
}

// discard closes conn's driver connection instead of returning it to the
// pool: database/sql drops a connection that reports driver.ErrBadConn.
func discard(conn *sql.Conn) {
	conn.Raw(func(any) error { return driver.ErrBadConn })
}

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
	prepay_id, state, transaction_id, refunded_fee, created_at, paid_at, expires_at, next_query_at, fixed_on, item, quantity`

const selectOrder = `SELECT ` + orderColumns + ` FROM orders WHERE out_trade_no = ?`

type scanner interface{ Scan(...any) error }

func scanOrder(row scanner) (trade.Order, error) {
	var o trade.Order
	err := scanOrderInto(row, &o)
	return o, err
}

// scanOrderInto reads orderColumns into o, then the row's further columns
// into more.
func scanOrderInto(row scanner, o *trade.Order, more ...any) error {
	var created, paid, expires, next int64
	err := row.Scan(append([]any{&o.OutTradeNo, &o.OpenID, &o.RequestID, &o.TotalFee, &o.Description, &o.Attach,
		&o.PrepayID, &o.State, &o.TransactionID, &o.RefundedFee, &created, &paid, &expires, &next, &o.FixedOn, &o.Item, &o.Quantity}, more...)...)
	if errors.Is(err, sql.ErrNoRows) {
		*o = trade.Order{}
		return trade.ErrNotFound
	}
	o.CreatedAt, o.PaidAt, o.ExpiresAt, o.NextQueryAt = fromMicros(created), fromMicros(paid), fromMicros(expires), fromMicros(next)
	return err
}

// queryAll runs query, prepared once, and reads every row with scan; what
// names the rows in errors.
func queryAll[T any](ctx context.Context, s *sqlStore, what string, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	st, err := s.prepared(ctx, query)
	var rows *sql.Rows
	if err == nil {
		rows, err = st.QueryContext(ctx, args...)
	}
	out, err := scanAll(rows, err, scan)
	if err != nil {
		return nil, fmt.Errorf("store: reading %s: %w", what, err)
	}
	return out, nil
}

// scanAll reads every row of a query with scan.
func scanAll[T any](rows *sql.Rows, err error, scan func(scanner) (T, error)) ([]T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

func (s *sqlStore) CreateOrder(ctx context.Context, o trade.Order) (trade.Order, bool, error) {
	if o.CreatedAt.IsZero() {
		o.CreatedAt = s.now()
	}
	o.State = trade.NotPay
	_, err := s.exec(ctx, `INSERT INTO orders (out_trade_no, openid, request_id, total_fee, description, attach,
		prepay_id, state, created_at, updated_at, expires_at, next_query_at, item, quantity) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		o.OutTradeNo, o.OpenID, nullable(o.RequestID), o.TotalFee, o.Description, o.Attach,
		o.PrepayID, o.State, micros(o.CreatedAt), micros(s.now()), micros(o.ExpiresAt), micros(o.NextQueryAt), o.Item, o.Quantity)
	if err == nil {
		// As a read would return it.
		o.CreatedAt, o.ExpiresAt, o.NextQueryAt = fromMicros(micros(o.CreatedAt)), fromMicros(micros(o.ExpiresAt)), fromMicros(micros(o.NextQueryAt))
		return o, true, nil
	}
	if !s.duplicate(err) || o.RequestID == "" {
		return trade.Order{}, false, fmt.Errorf("store: inserting order: %w", err)
	}
	got, err := scanOrder(s.queryRow(ctx, `SELECT `+orderColumns+` FROM orders WHERE openid = ? AND request_id = ?`, o.OpenID, o.RequestID))
	if err != nil {
		return trade.Order{}, false, fmt.Errorf("store: reading order by request_id: %w", err)
	}
	return got, false, nil
}

func (s *sqlStore) Order(ctx context.Context, outTradeNo string) (trade.Order, error) {
	o, err := scanOrder(s.queryRow(ctx, selectOrder, outTradeNo))
	if err != nil && !errors.Is(err, trade.ErrNotFound) {
		return trade.Order{}, fmt.Errorf("store: reading order: %w", err)
	}
	return o, err
}

// SetPrepayID updates only an open order, so a late unified-order answer
// cannot touch one that was paid or closed meanwhile.
func (s *sqlStore) SetPrepayID(ctx context.Context, outTradeNo, prepayID string) error {
	res, err := s.exec(ctx, `UPDATE orders SET prepay_id = ?, updated_at = ? WHERE out_trade_no = ? AND state IN (?, ?)`,
		prepayID, micros(s.now()), outTradeNo, trade.NotPay, trade.UserPaying)
	if n, err := rowsAffected(res, err); err != nil {
		return fmt.Errorf("store: setting prepay_id: %w", err)
	} else if n == 1 {
		return nil
	}
	// A final order never opens again, so this answer still holds.
	if _, err := s.Order(ctx, outTradeNo); err != nil {
		return err
	}
	return trade.ErrOrderFinal
}

// rowsAffected is the count of rows an update matched.
func rowsAffected(res sql.Result, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// Transition locks the order's row and changes it in the transaction that
// records the change's event: of concurrent identical calls, the first
// changes it and the others find nothing left to do.
func (s *sqlStore) Transition(ctx context.Context, outTradeNo string, to trade.State, transactionID string, paidAt time.Time) (trade.State, bool, error) {
	var from trade.State
	var changed bool
	err := s.inTx(ctx, "state change", func(tx *sql.Tx) error {
		o, err := s.lockOrder(ctx, tx, outTradeNo)
		if err != nil {
			return err
		}
		from = o.State
		changed, err = s.changeState(ctx, tx, o, to, transactionID, paidAt)
		return err
	})
	if err != nil {
		return "", false, err
	}
	return from, changed, nil
}

// lockedOrder is an order read in the transaction that may change it,
// with the seq of its latest event (0 for none), which its next event
// names as the one before it.
type lockedOrder struct {
	trade.Order
	lastEventSeq int64
}

// selectLockedOrder reads an order and its latest event's seq.
const selectLockedOrder = `SELECT ` + orderColumns + `, last_event_seq FROM orders WHERE out_trade_no = ?`

// lockOrder reads the order in tx and holds its row until tx ends (on
// SQLite the transaction holds the whole file).
func (s *sqlStore) lockOrder(ctx context.Context, tx *sql.Tx, outTradeNo string) (lockedOrder, error) {
	var o lockedOrder
	err := scanOrderInto(s.txQueryRow(ctx, tx, selectLockedOrder+s.forUpdate, outTradeNo), &o.Order, &o.lastEventSeq)
	if err != nil && !errors.Is(err, trade.ErrNotFound) {
		return lockedOrder{}, fmt.Errorf("store: reading order: %w", err)
	}
	return o, err
}

// changeState moves o, locked in tx, to state to if its state allows, and
// records the change's event from the order as stored; it reports whether
// it changed the order. The event is recorded first, so that the update
// also makes it the order's latest; the update is conditional on the
// state read, so that the lock is not all that keeps a change to once,
// and its matching nothing undoes the transaction.
func (s *sqlStore) changeState(ctx context.Context, tx *sql.Tx, o lockedOrder, to trade.State, transactionID string, paidAt time.Time) (bool, error) {
	if !o.State.CanBecome(to) {
		return false, nil
	}
	now := s.now()
	last := o.lastEventSeq
	if typ := trade.OrderEventType(to); typ != "" {
		// No refunds to read: only an unpaid order changes with an event
		// (trade.OrderEventType and CanBecome), and ReserveRefund refuses
		// an unpaid order under the lock this transaction holds.
		e, err := trade.NewOrderEvent(typ, updated(o.Order, to, transactionID, paidAt), nil, now)
		if err != nil {
			return false, fmt.Errorf("store: building event: %w", err)
		}
		if last, err = s.insertEvent(ctx, tx, e, o.lastEventSeq); err != nil {
			return false, err
		}
	}
	res, err := s.txExec(ctx, tx, updateState, to, transactionID, transactionID, micros(paidAt), micros(paidAt), micros(now), last, o.OutTradeNo, o.State)
	if n, err := rowsAffected(res, err); err != nil {
		return false, fmt.Errorf("store: updating state: %w", err)
	} else if n == 0 {
		return false, fmt.Errorf("store: order %s changed under its lock", o.OutTradeNo)
	}
	return true, nil
}

// updated is o, as locked, once updateState has changed it: the row as a
// read in the same transaction would return it. No other write can come
// between, since the lock holds the row (on SQLite, the file), so the
// event is built without reading the row back.
func updated(o trade.Order, to trade.State, transactionID string, paidAt time.Time) trade.Order {
	o.State = to
	if transactionID != "" {
		o.TransactionID = transactionID
	}
	if paid := micros(paidAt); paid != 0 {
		o.PaidAt = fromMicros(paid)
	}
	return o
}

func (s *sqlStore) AdoptOrder(ctx context.Context, o trade.Order) (bool, error) {
	if o.CreatedAt.IsZero() {
		o.CreatedAt = s.now()
	}
	_, err := s.exec(ctx, `INSERT INTO orders (out_trade_no, openid, request_id, total_fee, description, attach,
		prepay_id, state, created_at, updated_at, expires_at, next_query_at) VALUES (?, ?, NULL, ?, ?, ?, '', ?, ?, ?, ?, ?)`,
		o.OutTradeNo, o.OpenID, o.TotalFee, o.Description, o.Attach, trade.NotPay, micros(o.CreatedAt), micros(s.now()),
		micros(o.ExpiresAt), micros(o.NextQueryAt))
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
	updated_at = ?, last_event_seq = ?
	WHERE out_trade_no = ? AND state = ?`

// ApplyNotification commits the record, the state change and its event
// together, so a payment notification costs one write.
func (s *sqlStore) ApplyNotification(ctx context.Context, n trade.Notification, totalFee int64, to trade.State, transactionID string, paidAt time.Time) (trade.State, bool, error) {
	if n.ReceivedAt.IsZero() {
		n.ReceivedAt = s.now()
	}
	var from trade.State
	var changed bool
	err := s.inTx(ctx, "notification", func(tx *sql.Tx) error {
		o, err := s.lockOrder(ctx, tx, n.OutTradeNo)
		switch {
		case err != nil:
			return err
		case o.TotalFee != totalFee:
			return trade.ErrAmountMismatch
		}
		from = o.State
		if _, err := s.txExec(ctx, tx, insertNotification, n.Kind, n.OutTradeNo, n.OutRefundNo, n.Fields, micros(n.ReceivedAt)); err != nil {
			return fmt.Errorf("store: recording notification: %w", err)
		}
		changed, err = s.changeState(ctx, tx, o, to, transactionID, paidAt)
		return err
	})
	if err != nil {
		return "", false, err
	}
	return from, changed, nil
}

func (s *sqlStore) RecordNotification(ctx context.Context, n trade.Notification) error {
	if n.ReceivedAt.IsZero() {
		n.ReceivedAt = s.now()
	}
	_, err := s.exec(ctx, insertNotification, n.Kind, n.OutTradeNo, n.OutRefundNo, n.Fields, micros(n.ReceivedAt))
	if err != nil {
		return fmt.Errorf("store: recording notification: %w", err)
	}
	return nil
}

const refundColumns = `out_refund_no, out_trade_no, refund_fee, reason, state, refund_id, accepted, created_at, next_query_at, fixed_on`

const selectRefund = `SELECT ` + refundColumns + ` FROM refunds WHERE out_refund_no = ?`

// selectRefunds lists an order's refunds, oldest first.
const selectRefunds = `SELECT ` + refundColumns + ` FROM refunds WHERE out_trade_no = ? ORDER BY created_at, out_refund_no`

func scanRefund(row scanner) (trade.Refund, error) {
	var r trade.Refund
	var created, next int64
	err := row.Scan(&r.OutRefundNo, &r.OutTradeNo, &r.RefundFee, &r.Reason, &r.State, &r.RefundID, &r.Accepted, &created, &next, &r.FixedOn)
	if errors.Is(err, sql.ErrNoRows) {
		return trade.Refund{}, trade.ErrNotFound
	}
	r.CreatedAt, r.NextQueryAt = fromMicros(created), fromMicros(next)
	return r, err
}

func (s *sqlStore) Refund(ctx context.Context, outRefundNo string) (trade.Refund, error) {
	r, err := scanRefund(s.queryRow(ctx, selectRefund, outRefundNo))
	if err != nil && !errors.Is(err, trade.ErrNotFound) {
		return trade.Refund{}, fmt.Errorf("store: reading refund: %w", err)
	}
	return r, err
}

func (s *sqlStore) Refunds(ctx context.Context, outTradeNo string) ([]trade.Refund, error) {
	return queryAll(ctx, s, "refunds", scanRefund, selectRefunds, outTradeNo)
}

const insertRefund = `INSERT INTO refunds (out_refund_no, out_trade_no, refund_fee, reason, state, created_at, updated_at, next_query_at)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?)`

const reserveRefund = `UPDATE orders SET refunded_fee = refunded_fee + ?, updated_at = ?
	WHERE out_trade_no = ? AND refunded_fee + ? <= total_fee`

// ReserveRefund locks the order, then inserts the refund, so that the
// refund's unique key, not a read, decides whether the number is new: a
// concurrent call with the same number waits for the lock and then finds
// the refund, never the amount this one reserved. (Inserting before the
// lock deadlocks on MySQL when several wait for the key of a refund whose
// insert rolls back.) The conditional update of the order's refunded_fee
// is the reservation, so concurrent refunds can never together exceed the
// paid amount.
func (s *sqlStore) ReserveRefund(ctx context.Context, r trade.Refund) (trade.Refund, bool, error) {
	r.State, r.RefundID, r.Accepted = trade.RefundProcessing, "", false
	if r.CreatedAt.IsZero() {
		r.CreatedAt = s.now()
	}
	err := s.inTx(ctx, "refund", func(tx *sql.Tx) error {
		o, orderErr := scanOrder(s.txQueryRow(ctx, tx, selectOrder+s.forUpdate, r.OutTradeNo))
		if orderErr != nil && !errors.Is(orderErr, trade.ErrNotFound) {
			return fmt.Errorf("store: reading order: %w", orderErr)
		}
		_, err := s.txExec(ctx, tx, insertRefund, r.OutRefundNo, r.OutTradeNo, r.RefundFee, r.Reason, r.State, micros(r.CreatedAt), micros(s.now()), micros(r.NextQueryAt))
		switch {
		case err != nil:
			return fmt.Errorf("store: inserting refund: %w", err)
		case orderErr != nil:
			return orderErr
		case !o.State.Paid():
			return trade.ErrNotPaid
		}
		res, err := s.txExec(ctx, tx, reserveRefund, r.RefundFee, micros(s.now()), r.OutTradeNo, r.RefundFee)
		if n, err := rowsAffected(res, err); err != nil {
			return fmt.Errorf("store: reserving refund: %w", err)
		} else if n == 0 {
			return trade.ErrExceedsPaid
		}
		return nil
	})
	if s.duplicate(err) {
		existing, err := s.Refund(ctx, r.OutRefundNo)
		if err != nil {
			return trade.Refund{}, false, err
		}
		if existing.OutTradeNo != r.OutTradeNo || existing.RefundFee != r.RefundFee {
			return trade.Refund{}, false, trade.ErrRefundMismatch
		}
		return existing, false, nil
	}
	if err != nil {
		return trade.Refund{}, false, err
	}
	r.CreatedAt, r.NextQueryAt = fromMicros(micros(r.CreatedAt)), fromMicros(micros(r.NextQueryAt))
	return r, true, nil
}

func (s *sqlStore) AcceptRefund(ctx context.Context, outRefundNo string) error {
	res, err := s.exec(ctx, `UPDATE refunds SET accepted = 1, updated_at = ? WHERE out_refund_no = ?`, micros(s.now()), outRefundNo)
	if n, err := rowsAffected(res, err); err != nil {
		return fmt.Errorf("store: accepting refund: %w", err)
	} else if n == 0 {
		return trade.ErrNotFound
	}
	return nil
}

// updateRefundState also marks the refund accepted when WeChat Pay
// reported on it, which it does only for refunds it accepted.
const updateRefundState = `UPDATE refunds SET state = ?,
	refund_id = CASE WHEN ? = '' THEN refund_id ELSE ? END,
	accepted = CASE WHEN ? = 1 THEN 1 ELSE accepted END,
	updated_at = ?
	WHERE out_refund_no = ? AND state = ?`

const (
	releaseRefund = `UPDATE orders SET refunded_fee = refunded_fee - ?, updated_at = ? WHERE out_trade_no = ?`
	reclaimRefund = `UPDATE orders SET refunded_fee = refunded_fee + ?, updated_at = ? WHERE out_trade_no = ?`
)

// lockRefund reads the refund in tx and holds its row and its order's
// until tx ends, the order's first, as ReserveRefund takes them (its
// insert of a refund already there waits on the refund's row while it
// holds the order's); it returns the refund and its order's latest event.
// A refund's order never changes, so a plain read finds it.
func (s *sqlStore) lockRefund(ctx context.Context, tx *sql.Tx, outRefundNo string) (trade.Refund, int64, error) {
	r, err := scanRefund(s.txQueryRow(ctx, tx, selectRefund, outRefundNo))
	var last int64
	if err == nil {
		if err = s.txQueryRow(ctx, tx, selectLastEvent+s.forUpdate, r.OutTradeNo).Scan(&last); err == nil {
			r, err = scanRefund(s.txQueryRow(ctx, tx, selectRefund+s.forUpdate, outRefundNo))
		}
	}
	switch {
	case errors.Is(err, trade.ErrNotFound):
		return trade.Refund{}, 0, err
	case err != nil:
		return trade.Refund{}, 0, fmt.Errorf("store: reading refund: %w", err)
	}
	return r, last, nil
}

// FinishRefund locks the refund's row (lockRefund), then changes its
// state only if it is still the state read: of concurrent identical calls
// one changes it, releases the amount and records the event, once.
func (s *sqlStore) FinishRefund(ctx context.Context, outRefundNo string, state trade.RefundState, refundID string) (trade.RefundState, bool, error) {
	var from trade.RefundState
	var changed bool
	err := s.inTx(ctx, "refund update", func(tx *sql.Tx) error {
		r, last, err := s.lockRefund(ctx, tx, outRefundNo)
		if err != nil {
			return err
		}
		if from = r.State; !from.CanBecome(state) {
			return nil
		}
		accepted := 0
		if state != trade.RefundFailed {
			accepted = 1
		}
		now := s.now()
		res, err := s.txExec(ctx, tx, updateRefundState, state, refundID, refundID, accepted, micros(now), outRefundNo, from)
		n, err := rowsAffected(res, err)
		if err != nil {
			return fmt.Errorf("store: updating refund: %w", err)
		}
		if changed = n == 1; !changed {
			return nil
		}
		switch {
		case state.Releases():
			if _, err := s.txExec(ctx, tx, releaseRefund, r.RefundFee, micros(now), r.OutTradeNo); err != nil {
				return fmt.Errorf("store: releasing refund: %w", err)
			}
		case trade.RefundedAfterFailure(from, state):
			// The money left after all: reserved again, even past the
			// paid amount should another refund have taken it meanwhile,
			// when no further refund is accepted.
			if _, err := s.txExec(ctx, tx, reclaimRefund, r.RefundFee, micros(now), r.OutTradeNo); err != nil {
				return fmt.Errorf("store: reserving refund again: %w", err)
			}
		}
		typ := trade.RefundEventType(state)
		if typ == "" {
			return nil
		}
		stored, err := scanRefund(s.txQueryRow(ctx, tx, selectRefund, outRefundNo))
		if err != nil {
			return fmt.Errorf("store: reading refund: %w", err)
		}
		e, err := trade.NewRefundEvent(typ, stored, now)
		if err != nil {
			return fmt.Errorf("store: building event: %w", err)
		}
		seq, err := s.insertEvent(ctx, tx, e, last)
		if err != nil {
			return err
		}
		if _, err := s.txExec(ctx, tx, updateLastEvent, seq, r.OutTradeNo); err != nil {
			return fmt.Errorf("store: recording the order's latest event: %w", err)
		}
		return nil
	})
	if err != nil {
		return "", false, err
	}
	return from, changed, nil
}

func (s *sqlStore) Close() error { return s.db.Close() }
