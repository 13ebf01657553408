package store

import (
	"database/sql"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/store/storetest"
	"github.com/wxpay-scf/wxpay-scf/pkg/trade"
)

// keys returns key of each of xs, in order.
func keys[T any](xs []T, key func(T) string) []string {
	var out []string
	for _, x := range xs {
		out = append(out, key(x))
	}
	return out
}

func outTradeNos(orders []trade.Order) []string {
	return keys(orders, func(o trade.Order) string { return o.OutTradeNo })
}

func outRefundNos(refunds []trade.Refund) []string {
	return keys(refunds, func(r trade.Refund) string { return r.OutRefundNo })
}

func TestOrderTimesRoundTrip(t *testing.T) {
	eachBackend(t, func(t *testing.T, s trade.Store) {
		now := time.Now()
		o := newOrder("OT000001", "o1", "", 180)
		o.ExpiresAt, o.NextQueryAt = now.Add(2*time.Hour), now.Add(time.Minute)
		created := mustCreate(t, s, o)
		if got, _ := s.Order(ctx, "OT000001"); got != created || !got.ExpiresAt.Equal(o.ExpiresAt.Truncate(time.Microsecond)) ||
			!got.NextQueryAt.Equal(o.NextQueryAt.Truncate(time.Microsecond)) {
			t.Fatalf("got %+v\nwant %+v", got, created)
		}
		adopted := trade.Order{OutTradeNo: "OT000002", OpenID: "o1", TotalFee: 5, NextQueryAt: now}
		if ok, err := s.AdoptOrder(ctx, adopted); !ok || err != nil {
			t.Fatal(ok, err)
		}
		if got, _ := s.Order(ctx, "OT000002"); !got.ExpiresAt.IsZero() || !got.NextQueryAt.Equal(now.Truncate(time.Microsecond)) {
			t.Fatalf("%+v", got)
		}
		next := now.Add(time.Hour)
		if err := s.SetOrderNextQuery(ctx, "OT000002", next); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Order(ctx, "OT000002"); !got.NextQueryAt.Equal(next.Truncate(time.Microsecond)) {
			t.Fatalf("%+v", got)
		}
		if err := s.SetOrderNextQuery(ctx, "OT404", next); !errors.Is(err, trade.ErrNotFound) {
			t.Fatal(err)
		}
		if err := s.SetRefundNextQuery(ctx, "OT404", next); !errors.Is(err, trade.ErrNotFound) {
			t.Fatal(err)
		}
	})
}

// The sweep gets the unpaid orders whose next query has come, the longest
// due first, never a final one nor one younger than min_age. An expired
// order is due by its next query like any other (the sweep never sets that
// past an expiry still ahead), so one it cannot close yet backs off instead
// of being due on every run.
func TestDueOrders(t *testing.T) {
	now := time.Now()
	orders := []struct {
		no               string
		age, next, expry time.Duration // from now; 0 for none
		to               trade.State   // "" stays NOTPAY
	}{
		{"DUE-new", 3 * time.Minute, 0, 2 * time.Hour, ""},                              // never queried: due a minute after it was made
		{"DUE-young", 10 * time.Second, 0, 2 * time.Hour, ""},                           // younger than min_age
		{"DUE-later", 10 * time.Minute, 5 * time.Minute, time.Hour, ""},                 // not yet
		{"DUE-soon", 10 * time.Minute, 30 * time.Second, time.Hour, ""},                 // not yet, inside a min_age 0 range
		{"DUE-expired", 3 * time.Hour, -30 * time.Minute, -time.Hour, ""},               // expired, and due
		{"DUE-queried", 30 * time.Minute, -time.Minute, time.Hour, ""},                  // by its next query
		{"DUE-paying", 30 * time.Minute, -5 * time.Minute, time.Hour, trade.UserPaying}, // still open
		{"DUE-paid", 3 * time.Hour, -time.Hour, -time.Hour, trade.Success},
		{"DUE-closed", 3 * time.Hour, -time.Hour, -time.Hour, trade.Closed},
		{"DUE-adopted", 3 * time.Hour, -2 * time.Hour, 0, trade.Refunded},
	}
	tests := []struct {
		name          string
		createdBefore time.Time
		limit         int
		want          []string
	}{
		{"min_age 60s", now.Add(-time.Minute), 10, []string{"DUE-expired", "DUE-paying", "DUE-new", "DUE-queried"}},
		{"limit", now.Add(-time.Minute), 2, []string{"DUE-expired", "DUE-paying"}},
		{"min_age 0", now, 10, []string{"DUE-expired", "DUE-paying", "DUE-new", "DUE-queried", "DUE-young"}},
	}
	eachBackend(t, func(t *testing.T, s trade.Store) {
		at := func(d time.Duration) time.Time {
			if d == 0 {
				return time.Time{}
			}
			return now.Add(d)
		}
		for _, o := range orders {
			order := newOrder(o.no, "o1", "", 180)
			order.CreatedAt, order.NextQueryAt, order.ExpiresAt = now.Add(-o.age), at(o.next), at(o.expry)
			mustCreate(t, s, order)
			if o.to == trade.Refunded {
				mustPay(t, s, o.no)
			}
			if o.to != "" {
				s.Transition(ctx, o.no, o.to, "", time.Time{})
			}
		}
		// The database derives when an order falls due.
		var due int64
		if err := s.(*sqlStore).db.QueryRow(`SELECT due_at FROM orders WHERE out_trade_no = 'DUE-new'`).Scan(&due); err != nil ||
			due != micros(now.Add(-3*time.Minute).Add(trade.FirstQueryAfter)) {
			t.Errorf("due_at %d, want %d: %v", due, micros(now.Add(-3*time.Minute).Add(trade.FirstQueryAfter)), err)
		}
		for _, tt := range tests {
			got, err := s.DueOrders(ctx, now, tt.createdBefore, tt.limit)
			if err != nil || !slices.Equal(outTradeNos(got), tt.want) {
				t.Errorf("%s: %q %v, want %q", tt.name, outTradeNos(got), err, tt.want)
			}
		}
		// Queried now, next in an hour: no longer due, expired or not.
		for _, no := range []string{"DUE-queried", "DUE-expired"} {
			if err := s.SetOrderNextQuery(ctx, no, now.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
		}
		got, _ := s.DueOrders(ctx, now, now, 10)
		if want := []string{"DUE-paying", "DUE-new", "DUE-young"}; !slices.Equal(outTradeNos(got), want) {
			t.Fatalf("after the queries: %q, want %q", outTradeNos(got), want)
		}
	})
}

// The sweep gets the PROCESSING and ABNORMAL refunds whose next query has
// come, the longest due first, never a final one.
func TestDueRefunds(t *testing.T) {
	now := time.Now()
	refunds := []struct {
		no        string
		age, next time.Duration
		to        trade.RefundState // "" stays PROCESSING
	}{
		{"DR-new", 5 * time.Minute, 0, ""},
		{"DR-young", 10 * time.Second, 0, ""},
		{"DR-later", time.Hour, time.Minute, ""},
		{"DR-queried", time.Hour, -time.Minute, ""},
		{"DR-abnormal", 2 * time.Hour, -time.Hour, trade.RefundAbnormal},
		{"DR-success", 2 * time.Hour, -time.Hour, trade.RefundSuccess},
		{"DR-closed", 2 * time.Hour, -time.Hour, trade.RefundClosed},
		{"DR-failed", 2 * time.Hour, -time.Hour, trade.RefundFailed},
	}
	eachBackend(t, func(t *testing.T, s trade.Store) {
		mustCreate(t, s, newOrder("DR000001", "o1", "", 1000))
		mustPay(t, s, "DR000001")
		for _, r := range refunds {
			refund := trade.Refund{OutRefundNo: r.no, OutTradeNo: "DR000001", RefundFee: 10, CreatedAt: now.Add(-r.age)}
			if r.next != 0 {
				refund.NextQueryAt = now.Add(r.next)
			}
			if _, _, err := s.ReserveRefund(ctx, refund); err != nil {
				t.Fatal(err)
			}
			if r.to != "" {
				s.FinishRefund(ctx, r.no, r.to, "5000")
			}
		}
		got, err := s.DueRefunds(ctx, now, now.Add(-time.Minute), 10)
		if want := []string{"DR-abnormal", "DR-new", "DR-queried"}; err != nil || !slices.Equal(outRefundNos(got), want) {
			t.Fatalf("%q %v, want %q", outRefundNos(got), err, want)
		}
		if err := s.SetRefundNextQuery(ctx, "DR-abnormal", now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		got, _ = s.DueRefunds(ctx, now, now, 2)
		if want := []string{"DR-new", "DR-queried"}; !slices.Equal(outRefundNos(got), want) {
			t.Fatalf("%q, want %q", outRefundNos(got), want)
		}
		if r, _ := s.Refund(ctx, "DR-abnormal"); !r.NextQueryAt.Equal(now.Add(time.Hour).Truncate(time.Microsecond)) {
			t.Fatalf("%+v", r)
		}
	})
}

// The sweep's and the reconciliation's queries read by index on SQLite,
// never a scan of the table: with nothing due the sweep costs next to
// nothing however many final orders there are, and a day's paid orders
// come in the index's order, without a sort.
func TestQueriesUseIndexes(t *testing.T) {
	s := mustOpen(t, "sqlite:"+t.TempDir()+"/wxpay.db").(*sqlStore)
	bySeq, bySeqArgs := eventWhere("evt_00000000000000000000000000000000000000000000000000000007")
	byID, byIDArgs := eventWhere("evt_v3")
	queries := []struct {
		query  string
		args   []any
		index  string
		sorted bool // by the index, not by a temporary B-tree
	}{
		{selectDueOrders, []any{1, 1, 1, 10}, "orders_due", true},
		{selectDueRefunds, []any{1, 1, 10}, "refunds_due", true},
		{`SELECT ` + orderColumns + ` FROM orders WHERE openid = ? AND request_id = ?`, []any{"o1", "cart-1"}, "orders_request", false},
		{`SELECT ` + eventColumns + ` FROM events WHERE ` + bySeq, bySeqArgs, "events_id", false},
		{`SELECT ` + eventColumns + ` FROM events WHERE ` + byID, byIDArgs, "events_id", false},
		{selectPaidOrders, []any{1, 2, 0, "", paidBatch}, "orders_paid", true},
		{`SELECT ` + orderColumns + ` FROM orders WHERE out_trade_no IN (?, ?)`, []any{"a", "b"}, "sqlite_autoindex_orders_1", false},
		{`SELECT ` + refundColumns + ` FROM refunds WHERE out_refund_no IN (?, ?)`, []any{"a", "b"}, "sqlite_autoindex_refunds_1", false},
	}
	for _, q := range queries {
		text := queryPlan(t, s, q.query, q.args...)
		// SCAN is a full pass over a table or an index; SEARCH a range.
		if strings.Contains(text, "SCAN") || !strings.Contains(text, "SEARCH") || !strings.Contains(text, "USING INDEX "+q.index) &&
			!strings.Contains(text, "USING COVERING INDEX "+q.index) {
			t.Errorf("%s\nplan:\n%s", q.query, text)
		}
		if q.sorted && strings.Contains(text, "TEMP B-TREE") {
			t.Errorf("%s\nsorts:\n%s", q.query, text)
		}
	}
}

// The sweep's due events are a pass over events_queued, which holds only
// the events not yet delivered, and a read of each candidate by its seq:
// never a pass over the table, whose delivered events only grow. An
// order's due event is a walk of its chain, a read by seq at each step.
func TestDueEventsReadOnlyPendingOnes(t *testing.T) {
	s := mustOpen(t, "sqlite:"+t.TempDir()+"/wxpay.db").(*sqlStore)
	text := queryPlan(t, s, selectDueEventsByQueue, 1, 1, 10)
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "SCAN") && line != "SCAN events USING COVERING INDEX events_queued" {
			t.Errorf("plan:\n%s", text)
		}
	}
	if !strings.Contains(text, "SEARCH events USING INTEGER PRIMARY KEY (rowid=?)") ||
		!strings.Contains(text, "SEARCH events USING COVERING INDEX events_queued (out_trade_no=?)") {
		t.Errorf("plan:\n%s", text)
	}
	text = queryPlan(t, s, selectDueEventOfOrderByChain, "x", 1, 1)
	if !strings.Contains(text, "RECURSIVE STEP") || !strings.Contains(text, "SEARCH orders USING INDEX sqlite_autoindex_orders_1 (out_trade_no=?)") {
		t.Errorf("plan:\n%s", text)
	}
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "SCAN") && line != "SCAN c" || strings.HasPrefix(line, "SEARCH") && line != "SEARCH chain" &&
			!strings.HasSuffix(line, "USING INTEGER PRIMARY KEY (rowid=?)") && line != "SEARCH orders USING INDEX sqlite_autoindex_orders_1 (out_trade_no=?)" {
			t.Errorf("plan:\n%s", text)
		}
	}
}

// queryPlan is SQLite's plan for query, a line for each step.
func queryPlan(t *testing.T, s *sqlStore, query string, args ...any) string {
	t.Helper()
	rows, err := s.db.Query("EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	return strings.Join(plan, "\n")
}

// MySQL's due events are a range of events_due and searches of
// events_order: a sweep reads a handful of rows however many delivered
// events the table holds. (Its planner cannot turn SQLite's IN of a UNION
// into a join, and read the whole table for it.)
func TestMySQLDueEventsReadOnlyPendingOnes(t *testing.T) {
	s := mustOpen(t, storetest.FreshMySQLDSN(t)).(*sqlStore)
	if _, err := s.db.ExecContext(ctx, `INSERT INTO events (id, type, out_trade_no, data, created_at, state, attempts, last_error, delivered_at)
		WITH RECURSIVE n (i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 999),
			k (j) AS (SELECT 0 UNION ALL SELECT j + 1 FROM k WHERE j < 4),
			m (i) AS (SELECT n.i + 1000 * k.j + 1 FROM n, k)
		SELECT CONCAT('evt_delivered_', i), 'order.paid', CONCAT('MD', LPAD(i, 8, '0')), '{}', i, 'delivered', 1, '', i FROM m`); err != nil {
		t.Fatal(err)
	}
	for _, no := range []string{"MD00000007", "MD00000042"} {
		if _, err := s.db.ExecContext(ctx, `INSERT INTO events (id, type, out_trade_no, data, created_at, state, last_error, next_attempt_at)
			VALUES (?, 'refund.succeeded', ?, '{}', 1, 'pending', '', 1)`, "evt_pending_"+no, no); err != nil {
			t.Fatal(err)
		}
	}
	// As InnoDB's statistics are once it has counted the new rows.
	if _, err := s.db.ExecContext(ctx, `ANALYZE TABLE events`); err != nil {
		t.Fatal(err)
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	reads := func() int64 { return handlerReads(t, conn) }
	before := reads()
	rows, err := conn.QueryContext(ctx, mysqlDialect.dueEvents, 2, 2, 10)
	if err != nil {
		t.Fatal(err)
	}
	var due []string
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			t.Fatal(err)
		}
		due = append(due, e.ID)
	}
	rows.Close()
	if read := reads() - before; read > 100 || !slices.Equal(due, []string{"evt_pending_MD00000007", "evt_pending_MD00000042"}) {
		t.Fatalf("%d rows read for %q", read, due)
	}
	// An order's due event is a search of events_order.
	before = reads()
	e, err := scanEvent(conn.QueryRowContext(ctx, mysqlDialect.dueEventOfOrder, "MD00000007", 2, 2))
	if read := reads() - before; err != nil || read > 10 || e.ID != "evt_pending_MD00000007" {
		t.Fatalf("%d rows read for %+v: %v", read, e, err)
	}
}

// handlerReads is how many rows and index entries MySQL has read for
// conn's session so far.
func handlerReads(t *testing.T, conn *sql.Conn) int64 {
	t.Helper()
	var total int64
	rows, err := conn.QueryContext(ctx, `SHOW SESSION STATUS LIKE 'Handler_read%'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var n int64
		if err := rows.Scan(&name, &n); err != nil {
			t.Fatal(err)
		}
		total += n
	}
	return total
}

// The unpaid orders younger than the sweep's min_age lie past the end of
// its range of orders_due: a sweep that finds nothing due reads next to
// nothing however many were just made.
func TestDueOrdersLeaveYoungOnesUnread(t *testing.T) {
	s := mustOpen(t, storetest.FreshMySQLDSN(t)).(*sqlStore)
	now := time.Now()
	if _, err := s.db.ExecContext(ctx, `INSERT INTO orders (out_trade_no, openid, total_fee, description, attach, state, created_at, updated_at)
		WITH RECURSIVE n (i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 999)
		SELECT CONCAT('YOUNG', LPAD(i, 6, '0')), 'o1', 180, 'x', '', 'NOTPAY', ? - i * 10000, ? FROM n`, micros(now), micros(now)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.ExecContext(ctx, `ANALYZE TABLE orders`); err != nil {
		t.Fatal(err)
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	before := handlerReads(t, conn)
	rows, err := conn.QueryContext(ctx, selectDueOrders, micros(now), micros(now.Add(-time.Minute)), micros(now), 10)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for rows.Next() {
		n++
	}
	rows.Close()
	if read := handlerReads(t, conn) - before; n != 0 || read > 50 {
		t.Fatalf("%d due, %d rows read", n, read)
	}
}
