package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/trade"
)

const eventColumns = `seq, id, id_has_seq, type, out_trade_no, data, created_at, state, attempts, last_error, next_attempt_at, delivered_at`

// insertEvent records an event undelivered.
const insertEvent = `INSERT INTO events (id, id_has_seq, type, out_trade_no, data, created_at, state, last_error, next_attempt_at, prev_seq)
	VALUES (?, ?, ?, ?, ?, ?, ` + pendingState + `, '', ?, ?)`

// seqDigits is how many hex digits of its seq end the id of an event
// recorded with id_has_seq (SQLite's, from 0007_event_writes.sql).
const seqDigits = 16

// eventID is the id of the event recorded as id, its seq added where the
// store adds it.
func eventID(id string, hasSeq bool, seq int64) string {
	if !hasSeq {
		return id
	}
	return fmt.Sprintf("%s%0*x", id, seqDigits, seq)
}

// eventWhere is the condition that finds the event with id, and its
// arguments: by seq if the id may carry one (an id recorded before may end
// in as many hex digits, so events_id is asked too), else by events_id.
func eventWhere(id string) (string, []any) {
	if n := len(id) - seqDigits; n > 0 {
		// Only as eventID writes it: one spelling of each id.
		if seq, err := strconv.ParseUint(id[n:], 16, 63); err == nil && eventID(id[:n], true, int64(seq)) == id {
			return "((seq = ? AND id = ? AND id_has_seq = 1) OR (id = ? AND id_has_seq = 0))", []any{int64(seq), id[:n], id}
		}
	}
	return "id = ? AND id_has_seq = 0", []any{id}
}

// maxLastError bounds a delivery's error as stored: it is for people, and
// a receiver's long answer must not make recording the outcome fail.
const maxLastError = 1000

func scanEvent(row scanner) (trade.Event, error) {
	var e trade.Event
	var data string
	var created, next, delivered int64
	var hasSeq bool
	err := row.Scan(&e.Seq, &e.ID, &hasSeq, &e.Type, &e.OutTradeNo, &data, &created, &e.Delivery.State,
		&e.Delivery.Attempts, &e.Delivery.LastError, &next, &delivered)
	e.ID = eventID(e.ID, hasSeq, e.Seq)
	if errors.Is(err, sql.ErrNoRows) {
		return trade.Event{}, trade.ErrNotFound
	}
	e.Data = []byte(data)
	e.CreatedAt, e.Delivery.NextAttemptAt, e.Delivery.DeliveredAt = fromMicros(created), fromMicros(next), fromMicros(delivered)
	return e, err
}

// insertEvent records e in tx, the transaction of the change it tells of,
// after prev, the seq of its order's event before it (0 for none), and
// returns its seq. It is recorded undelivered, due at
// e.Delivery.NextAttemptAt; the rest of e.Delivery is not read.
func (s *sqlStore) insertEvent(ctx context.Context, tx *sql.Tx, e trade.Event, prev int64) (int64, error) {
	if err := s.lockEvents(ctx, tx); err != nil {
		return 0, err
	}
	res, err := s.txExec(ctx, tx, insertEvent, e.ID, s.seqInEventID, e.Type, e.OutTradeNo, string(e.Data), micros(e.CreatedAt),
		micros(e.Delivery.NextAttemptAt), prev)
	var seq int64
	if err == nil {
		seq, err = res.LastInsertId()
	}
	if err != nil {
		return 0, fmt.Errorf("store: recording event: %w", err)
	}
	return seq, nil
}

// selectLastEvent and updateLastEvent read and move an order's latest
// event, for a change that records an event of an order without
// otherwise changing the order's row (a refund's).
const (
	selectLastEvent = `SELECT last_event_seq FROM orders WHERE out_trade_no = ?`
	updateLastEvent = `UPDATE orders SET last_event_seq = ? WHERE out_trade_no = ?`
)

// lockEvents takes, where the dialect has one, the lock held until tx ends
// by every transaction that records an event.
func (s *sqlStore) lockEvents(ctx context.Context, tx *sql.Tx) error {
	if s.eventsLock == "" {
		return nil
	}
	var id int
	if err := s.txQueryRow(ctx, tx, s.eventsLock).Scan(&id); err != nil {
		return fmt.Errorf("store: waiting for the events lock: %w", err)
	}
	return nil
}

func lastError(s string) string {
	return strings.ToValidUTF8(s[:min(len(s), maxLastError)], "")
}

// completeEvent fills in a missing id or time of an event given to the
// store, as trade's constructors would, and makes it undelivered, due at
// once, as the store records every event.
func (s *sqlStore) completeEvent(e trade.Event) (trade.Event, error) {
	if e.CreatedAt.IsZero() {
		e.CreatedAt = s.now()
	}
	if e.ID == "" {
		id, err := trade.NewEventID(e.CreatedAt)
		if err != nil {
			return trade.Event{}, fmt.Errorf("store: event id: %w", err)
		}
		e.ID = id
	}
	e.Delivery = trade.Delivery{State: trade.DeliveryPending, NextAttemptAt: e.CreatedAt}
	return e, nil
}

func (s *sqlStore) Events(ctx context.Context, afterID string, limit int) ([]trade.Event, error) {
	var after int64
	if afterID != "" {
		e, err := s.Event(ctx, afterID)
		if err != nil {
			return nil, err
		}
		after = e.Seq
	}
	return queryAll(ctx, s, "events", scanEvent, `SELECT `+eventColumns+` FROM events WHERE seq > ? ORDER BY seq LIMIT ?`, after, limit)
}

func (s *sqlStore) Event(ctx context.Context, id string) (trade.Event, error) {
	where, args := eventWhere(id)
	e, err := scanEvent(s.queryRow(ctx, `SELECT `+eventColumns+` FROM events WHERE `+where, args...))
	if err != nil && !errors.Is(err, trade.ErrNotFound) {
		return trade.Event{}, fmt.Errorf("store: reading event: %w", err)
	}
	return e, err
}

// pendingState is the delivery state of the events in events_queued
// (SQLite) and in the pending ranges of MySQL's indexes, as a literal:
// SQLite uses a partial index only for a query that names its condition.
const pendingState = `'` + string(trade.DeliveryPending) + `'`

// The sweep's due events: the pending events whose attempt is due and
// whose lease has run out, less those of an order with an earlier pending
// event (which holds them back even when it is not due itself), in the
// order of seq. Each dialect reads them its own way, with the same result.
const (
	// selectDueEventsByQueue is SQLite's, once queueEvents has queued
	// every pending event up to the newest: each order's earliest queued
	// event, and every queued event of no order, are the candidates, a
	// pass over events_queued, which holds only pending events (none once
	// all are delivered); each candidate is then read by its seq. A
	// pending event is queued if and only if its seq is at most the
	// queue's mark (queueEvents, SetDelivery), and one recorded since the
	// mark moved is newer than every queued one, so an order's earliest
	// queued event is its earliest pending one. While a receiver is down
	// that is every order with an undelivered event: 30,000 of them cost
	// a sweep about 15 ms.
	selectDueEventsByQueue = `SELECT ` + eventColumns + ` FROM events
	WHERE seq IN (SELECT MIN(seq) FROM events WHERE ` + queuedEvent + ` AND out_trade_no <> '' GROUP BY out_trade_no
		UNION ALL SELECT seq FROM events WHERE ` + queuedEvent + ` AND out_trade_no = '')
	AND next_attempt_at <= ? AND lease_until <= ?
	ORDER BY seq LIMIT ?`
	// selectDueEventsByIndexes is MySQL's, which cannot turn the IN of a
	// UNION into a join and would read the whole table for it: the due
	// events are a range of events_due, and an earlier pending event of
	// the same order a search of events_order.
	selectDueEventsByIndexes = `SELECT ` + eventColumns + ` FROM events e
	WHERE e.state = ` + pendingState + ` AND e.next_attempt_at <= ? AND e.lease_until <= ?
	AND (e.out_trade_no = '' OR NOT EXISTS (SELECT 1 FROM events p
		WHERE p.out_trade_no = e.out_trade_no AND p.state = ` + pendingState + ` AND p.seq < e.seq))
	ORDER BY e.seq LIMIT ?`
)

// An order's earliest pending event, if it is due and its lease has run
// out. Its later pending events wait for it, so it is all there is to
// claim of the order; reading only that one keeps the first attempt after
// a change from reading every due event of every order.
const (
	// selectDueEventOfOrderByChain is SQLite's: a walk of the order's
	// chain of events, from its latest by prev_seq, each a read by seq;
	// every step goes back, so the walk ends.
	selectDueEventOfOrderByChain = `SELECT ` + eventColumns + ` FROM events
	WHERE seq = (WITH RECURSIVE chain (seq, prev_seq, state) AS (
			SELECT seq, prev_seq, state FROM events WHERE seq = (SELECT last_event_seq FROM orders WHERE out_trade_no = ?)
			UNION ALL SELECT e.seq, e.prev_seq, e.state FROM events e, chain c WHERE e.seq = c.prev_seq AND c.prev_seq < c.seq)
		SELECT MIN(seq) FROM chain WHERE state = ` + pendingState + `)
	AND next_attempt_at <= ? AND lease_until <= ?`
	// selectDueEventOfOrderByIndex is MySQL's: a search of events_order.
	selectDueEventOfOrderByIndex = `SELECT ` + eventColumns + ` FROM events
	WHERE seq = (SELECT seq FROM events WHERE out_trade_no = ? AND state = ` + pendingState + ` ORDER BY seq LIMIT 1)
	AND next_attempt_at <= ? AND lease_until <= ?`
)

// queuedEvent is the condition of events_queued.
const queuedEvent = `state = ` + pendingState + ` AND queued = 1`

// The queue of pending events on SQLite (0009_event_queue.sql).
const (
	selectQueueMark = `SELECT (SELECT through_seq FROM event_queue), (SELECT COALESCE(MAX(seq), 0) FROM events)`
	queuePending    = `UPDATE events SET queued = 1 WHERE seq > ? AND seq <= ? AND state = ` + pendingState + ` AND queued = 0`
	moveQueueMark   = `UPDATE event_queue SET through_seq = ? WHERE through_seq < ?`
)

// queueBatch bounds the events one transaction of queueEvents passes
// (about 30 ms when all are pending).
const queueBatch = 10000

// queueReserve is the least time left in which queueEvents starts another
// batch: the sweep starts a claim with sweepItemReserve left, and must
// still deliver what it claims.
const queueReserve = time.Second

// queueEvents moves the queue's mark to the newest event, queueing the
// pending events it passes, a batch a transaction, each committed with
// the mark's move: every pending event up to the mark is in
// events_queued. The events past it were recorded since the last sweep
// (in their first attempt, or failed or skipped there) or while no target
// was configured. Short of time, it leaves the rest to the next sweep.
func (s *sqlStore) queueEvents(ctx context.Context) error {
	for {
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < queueReserve {
			return nil
		}
		var through, newest int64
		if err := s.queryRow(ctx, selectQueueMark).Scan(&through, &newest); err != nil {
			return fmt.Errorf("store: reading the event queue: %w", err)
		}
		if through >= newest {
			return nil
		}
		upTo := min(newest, through+queueBatch)
		err := s.inTx(ctx, "queueing events", func(tx *sql.Tx) error {
			if _, err := s.txExec(ctx, tx, queuePending, through, upTo); err != nil {
				return fmt.Errorf("store: queueing events: %w", err)
			}
			if _, err := s.txExec(ctx, tx, moveQueueMark, upTo, upTo); err != nil {
				return fmt.Errorf("store: moving the event queue: %w", err)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
}

// claimEvent leases a due event unless another claim took it first.
const claimEvent = `UPDATE events SET lease_until = ?
	WHERE seq = ? AND state = ` + pendingState + ` AND next_attempt_at <= ? AND lease_until <= ?`

// ClaimEvents reads the candidates, then leases each with an update
// conditional on its still being due and unleased: of overlapping claims,
// one update matches. An order's earlier pending event cannot appear
// after the read, since events commit in the order of seq.
func (s *sqlStore) ClaimEvents(ctx context.Context, now time.Time, lease time.Duration, outTradeNo string, limit int) ([]trade.Event, error) {
	at := micros(now)
	query, args := s.dueEvents, []any{at, at, limit}
	if outTradeNo != "" {
		query, args = s.dueEventOfOrder, []any{outTradeNo, at, at}
	} else if s.eventQueue {
		if err := s.queueEvents(ctx); err != nil {
			return nil, err
		}
	}
	due, err := queryAll(ctx, s, "due events", scanEvent, query, args...)
	if err != nil {
		return nil, err
	}
	claimed := due[:0]
	for _, e := range due {
		res, err := s.exec(ctx, claimEvent, micros(now.Add(lease)), e.Seq, at, at)
		if n, err := rowsAffected(res, err); err != nil {
			return nil, fmt.Errorf("store: claiming event: %w", err)
		} else if n == 1 {
			claimed = append(claimed, e)
		}
	}
	return claimed, nil
}

func (s *sqlStore) ClaimEvent(ctx context.Context, id string, now time.Time, lease time.Duration) (trade.Event, bool, error) {
	where, args := eventWhere(id)
	res, err := s.exec(ctx, `UPDATE events SET lease_until = ? WHERE `+where+` AND lease_until <= ?`,
		append(append([]any{micros(now.Add(lease))}, args...), micros(now))...)
	n, err := rowsAffected(res, err)
	if err != nil {
		return trade.Event{}, false, fmt.Errorf("store: claiming event: %w", err)
	}
	e, err := s.Event(ctx, id)
	if err != nil {
		return trade.Event{}, false, err
	}
	return e, n == 1, nil
}

func (s *sqlStore) SetDelivery(ctx context.Context, id string, d trade.Delivery) error {
	switch d.State {
	case trade.DeliveryPending, trade.DeliveryDelivered, trade.DeliveryFailed:
	default:
		return fmt.Errorf("store: unknown delivery state %q", d.State)
	}
	where, args := eventWhere(id)
	set := `UPDATE events SET state = ?, attempts = ?, last_error = ?, next_attempt_at = ?, delivered_at = ?, lease_until = 0`
	if s.eventQueue {
		// Queued as the mark says, should an operator's redelivery make
		// an event pending again behind it (see selectDueEventsByQueue).
		set += `, queued = seq <= (SELECT through_seq FROM event_queue)`
	}
	res, err := s.exec(ctx, set+` WHERE `+where,
		append([]any{d.State, d.Attempts, lastError(d.LastError), micros(d.NextAttemptAt), micros(d.DeliveredAt)}, args...)...)
	if n, err := rowsAffected(res, err); err != nil {
		return fmt.Errorf("store: recording delivery: %w", err)
	} else if n == 0 {
		return trade.ErrNotFound
	}
	return nil
}
