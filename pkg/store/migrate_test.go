package store

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/wxpay-scf/wxpay-scf/pkg/store/storetest"
	"github.com/wxpay-scf/wxpay-scf/pkg/trade"
)

var dialects = []string{"sqlite", "mysql"}

// emptyDatabase returns the DSN of a new, empty database of dialect and a
// connection to it that bypasses the store; close it before opening the
// store (SQLite's store holds the file exclusively).
func emptyDatabase(t *testing.T, dialect string) (string, *sql.DB) {
	t.Helper()
	if dialect == "sqlite" {
		path := filepath.Join(t.TempDir(), "wxpay.db")
		db, err := sql.Open("sqlite", "file:"+path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return "sqlite:" + path, db
	}
	dsn := storetest.FreshMySQLDSN(t)
	cfg, err := mysqlConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(connector)
	t.Cleanup(func() { db.Close() })
	return dsn, db
}

func execAll(t *testing.T, db *sql.DB, stmts ...string) {
	t.Helper()
	for _, stmt := range stmts {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
}

// version1 creates the schema version 1 created, from testdata.
func version1(t *testing.T, dialect string, db *sql.DB) {
	t.Helper()
	text, err := os.ReadFile("testdata/v1/" + dialect + ".sql")
	if err != nil {
		t.Fatal(err)
	}
	execAll(t, db, statements(string(text))...)
}

func versions(t *testing.T, s trade.Store) []int {
	t.Helper()
	rows, err := s.(*sqlStore).db.Query(`SELECT version FROM schema_version ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var vs []int
	for rows.Next() {
		var v int
		rows.Scan(&v)
		vs = append(vs, v)
	}
	return vs
}

// A database version 1 made moves forward with every row, and then looks
// as a new one does.
func TestMigrateFromVersion1(t *testing.T) {
	// The indexes 0002 gave SQLite, as MySQL has had them since version 1;
	// 0006 drops SQLite's notifications_order, which no query uses.
	indexes := map[string]string{
		"sqlite": `SELECT (SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = 'refunds_order')
			+ (SELECT COUNT(*) = 0 FROM sqlite_master WHERE name = 'notifications_order')`,
		"mysql": `SELECT COUNT(DISTINCT index_name) FROM information_schema.statistics
			WHERE table_schema = DATABASE() AND index_name IN ('refunds_order', 'notifications_order')`,
	}
	refunds := []struct {
		no       string
		v1State  string
		state    trade.RefundState
		accepted bool
	}{
		{"V1-processing", "PROCESSING", trade.RefundProcessing, false}, // may never have reached WeChat Pay
		{"V1-success", "SUCCESS", trade.RefundSuccess, true},
		{"V1-closed", "REFUNDCLOSE", trade.RefundClosed, true},
		{"V1-failed", "FAILED", trade.RefundFailed, false},
	}
	for _, dialect := range dialects {
		t.Run(dialect, func(t *testing.T) {
			dsn, db := emptyDatabase(t, dialect)
			version1(t, dialect, db)
			execAll(t, db, `INSERT INTO orders (out_trade_no, openid, request_id, total_fee, description, attach,
				prepay_id, state, transaction_id, refunded_fee, created_at, paid_at, updated_at)
				VALUES ('V1000001', 'o1', 'r-1', 100, '会员', '', 'wx1', 'SUCCESS', '42', 20, 1, 2, 3)`,
				`INSERT INTO notifications (kind, out_trade_no, out_refund_no, fields, received_at)
				VALUES ('refund', 'V1000001', 'V1-closed', '{}', 4)`)
			for _, r := range refunds {
				execAll(t, db, `INSERT INTO refunds (out_refund_no, out_trade_no, refund_fee, reason, state, refund_id, created_at, updated_at)
					VALUES ('`+r.no+`', 'V1000001', 10, '', '`+r.v1State+`', '', 5, 6)`)
			}
			db.Close()

			s := mustOpen(t, dsn)
			if vs := versions(t, s); !slices.Equal(vs, allVersions) {
				t.Fatalf("schema versions %v", vs)
			}
			o, err := s.Order(ctx, "V1000001")
			if err != nil || o.State != trade.Success || o.RequestID != "r-1" || o.PrepayID != "wx1" || o.RefundedFee != 20 || o.PaidAt.UnixMicro() != 2 {
				t.Fatalf("%+v %v", o, err)
			}
			for _, want := range refunds {
				r, err := s.Refund(ctx, want.no)
				if err != nil || r.State != want.state || r.Accepted != want.accepted || r.RefundFee != 10 {
					t.Errorf("%s: %+v %v", want.no, r, err)
				}
			}
			var n int
			s.(*sqlStore).db.QueryRow(`SELECT COUNT(*) FROM notifications`).Scan(&n)
			if n != 1 {
				t.Errorf("%d notifications", n)
			}
			s.(*sqlStore).db.QueryRow(indexes[dialect]).Scan(&n)
			if n != 2 {
				t.Errorf("%d of the two indexes", n)
			}
		})
	}
}

// upTo creates the schema of migrations 1 to v, as a store of version v
// left it.
func upTo(t *testing.T, dialect string, db *sql.DB, v int) {
	t.Helper()
	ms, err := migrations(dialect)
	if err != nil {
		t.Fatal(err)
	}
	version1(t, dialect, db)
	for _, m := range ms[1:v] {
		execAll(t, db, m.statements...)
		execAll(t, db, fmt.Sprintf(`INSERT INTO schema_version (version) VALUES (%d)`, m.version))
	}
}

// A database version 2 made keeps every row; the orders it left unpaid
// get the 2 hours a prepay_id lived as their expiry, and the sweep finds
// them, and only them, by index.
func TestMigrateFromVersion2(t *testing.T) {
	const hour = int64(time.Hour / time.Microsecond)
	for _, dialect := range dialects {
		t.Run(dialect, func(t *testing.T) {
			dsn, db := emptyDatabase(t, dialect)
			upTo(t, dialect, db, 2)
			for _, o := range []struct {
				no, state string
				created   int64
			}{{"V2-paid", "SUCCESS", 1 * hour}, {"V2-notpay", "NOTPAY", 2 * hour}, {"V2-paying", "USERPAYING", 3 * hour}, {"V2-closed", "CLOSED", 4 * hour}} {
				execAll(t, db, fmt.Sprintf(`INSERT INTO orders (out_trade_no, openid, request_id, total_fee, description, attach,
					prepay_id, state, transaction_id, refunded_fee, created_at, paid_at, updated_at)
					VALUES ('%s', 'o1', NULL, 100, '会员', 'a', 'wx1', '%s', '', 0, %d, 0, %[3]d)`, o.no, o.state, o.created))
			}
			execAll(t, db, `INSERT INTO refunds (out_refund_no, out_trade_no, refund_fee, reason, state, refund_id, created_at, updated_at, accepted)
				VALUES ('V2-r1', 'V2-paid', 10, '', 'PROCESSING', '', 5, 6, 1), ('V2-r2', 'V2-paid', 20, '', 'SUCCESS', '5000', 7, 8, 1)`)
			db.Close()

			s := mustOpen(t, dsn)
			if vs := versions(t, s); !slices.Equal(vs, allVersions) {
				t.Fatalf("schema versions %v", vs)
			}
			for no, expires := range map[string]int64{"V2-paid": 0, "V2-notpay": 4 * hour, "V2-paying": 5 * hour, "V2-closed": 0} {
				o, err := s.Order(ctx, no)
				if err != nil || o.TotalFee != 100 || o.Attach != "a" || o.PrepayID != "wx1" || micros(o.ExpiresAt) != expires || !o.NextQueryAt.IsZero() {
					t.Errorf("%s: %+v %v", no, o, err)
				}
			}
			far := time.UnixMicro(100 * hour)
			due, err := s.DueOrders(ctx, far, far, 10)
			if got := outTradeNos(due); err != nil || !slices.Equal(got, []string{"V2-notpay", "V2-paying"}) {
				t.Errorf("due orders %q %v", got, err)
			}
			refunds, err := s.Refunds(ctx, "V2-paid")
			if err != nil || len(refunds) != 2 || refunds[0].OutRefundNo != "V2-r1" || refunds[1].RefundID != "5000" || !refunds[0].Accepted {
				t.Errorf("refunds %+v %v", refunds, err)
			}
			dueRefunds, err := s.DueRefunds(ctx, far, far, 10)
			if got := outRefundNos(dueRefunds); err != nil || !slices.Equal(got, []string{"V2-r1"}) {
				t.Errorf("due refunds %q %v", got, err)
			}
			// The outbox works on a migrated database.
			if _, changed, err := s.Transition(ctx, "V2-notpay", trade.Success, "42", time.Now()); !changed || err != nil {
				t.Fatal(changed, err)
			}
			if events, err := s.Events(ctx, "", 10); err != nil || len(events) != 1 || events[0].OutTradeNo != "V2-notpay" {
				t.Fatalf("%+v %v", events, err)
			}
		})
	}
}

// A database version 3 made keeps every row, its orders and refunds read
// as fixed by no day, and the paid ones are found by payment time.
func TestMigrateFromVersion3(t *testing.T) {
	paid := time.Date(2026, 11, 29, 12, 0, 0, 0, trade.ChinaTime)
	for _, dialect := range dialects {
		t.Run(dialect, func(t *testing.T) {
			dsn, db := emptyDatabase(t, dialect)
			upTo(t, dialect, db, 3)
			for _, o := range []struct {
				no, state string
				paid      int64
			}{{"V3-paid", "SUCCESS", micros(paid)}, {"V3-refunded", "REFUND", micros(paid) + 1}, {"V3-notpay", "NOTPAY", 0}} {
				execAll(t, db, fmt.Sprintf(`INSERT INTO orders (out_trade_no, openid, request_id, total_fee, description, attach,
					prepay_id, state, transaction_id, refunded_fee, created_at, paid_at, updated_at, expires_at, next_query_at)
					VALUES ('%s', 'o1', 'r-%[1]s', 100, '会员', 'a', 'wx1', '%s', '42', 0, 1, %d, 3, 4, 5)`, o.no, o.state, o.paid))
			}
			execAll(t, db, `INSERT INTO refunds (out_refund_no, out_trade_no, refund_fee, reason, state, refund_id, created_at, updated_at, accepted, next_query_at)
				VALUES ('V3-r1', 'V3-refunded', 100, '退货', 'SUCCESS', '5000', 5, 6, 1, 7)`,
				`INSERT INTO events (id, type, out_trade_no, data, created_at, state, last_error)
				VALUES ('evt_v3', 'order.paid', 'V3-paid', '{}', 8, 'pending', '')`,
				// An id as NewEventID made them: it ends in 16 hex digits too.
				`INSERT INTO events (id, type, out_trade_no, data, created_at, state, last_error)
				VALUES ('`+legacyEventID+`', 'refund.succeeded', 'V3-refunded', '{}', 9, 'delivered', '')`)
			db.Close()

			s := mustOpen(t, dsn)
			if vs := versions(t, s); !slices.Equal(vs, allVersions) {
				t.Fatalf("schema versions %v", vs)
			}
			orders, err := s.OrdersByNo(ctx, []string{"V3-paid", "V3-refunded", "V3-notpay"})
			if err != nil || len(orders) != 3 {
				t.Fatalf("%+v %v", orders, err)
			}
			for no, o := range orders {
				if o.RequestID != "r-"+no || o.TransactionID != "42" || o.Attach != "a" || micros(o.CreatedAt) != 1 ||
					micros(o.ExpiresAt) != 4 || micros(o.NextQueryAt) != 5 || o.FixedOn != "" {
					t.Errorf("%s: %+v", no, o)
				}
			}
			r, err := s.Refund(ctx, "V3-r1")
			if err != nil || r.State != trade.RefundSuccess || r.RefundID != "5000" || !r.Accepted || micros(r.NextQueryAt) != 7 || r.FixedOn != "" {
				t.Errorf("%+v %v", r, err)
			}
			if e, err := s.Event(ctx, "evt_v3"); err != nil || e.OutTradeNo != "V3-paid" {
				t.Errorf("%+v %v", e, err)
			}
			if e, err := s.Event(ctx, legacyEventID); err != nil || e.OutTradeNo != "V3-refunded" {
				t.Errorf("%+v %v", e, err)
			}
			if err := s.SetDelivery(ctx, legacyEventID, trade.Delivery{State: trade.DeliveryDelivered, Attempts: 2}); err != nil {
				t.Error(err)
			}
			if events, err := s.Events(ctx, "evt_v3", 10); err != nil || len(events) != 1 || events[0].ID != legacyEventID || events[0].Delivery.Attempts != 2 {
				t.Errorf("after evt_v3: %+v %v", events, err)
			}
			// An event recorded before 0007 is still pending, claimable and
			// found by its id.
			if claimed, err := s.ClaimEvents(ctx, time.UnixMicro(9), time.Minute, "V3-paid", 10); err != nil || len(ids(claimed)) != 1 || claimed[0].ID != "evt_v3" {
				t.Errorf("claimed %+v %v", claimed, err)
			}
			if err := s.SetDelivery(ctx, "evt_v3", trade.Delivery{State: trade.DeliveryDelivered, Attempts: 1, DeliveredAt: time.UnixMicro(10)}); err != nil {
				t.Error(err)
			}
			if e, err := s.Event(ctx, "evt_v3"); err != nil || e.Delivery.State != trade.DeliveryDelivered {
				t.Errorf("%+v %v", e, err)
			}
			var got []string
			err = s.PaidOrders(ctx, paid, paid.Add(time.Second), func(o trade.Order) error {
				got = append(got, o.OutTradeNo)
				return nil
			})
			if err != nil || !slices.Equal(got, []string{"V3-paid", "V3-refunded"}) {
				t.Errorf("paid orders %q %v", got, err)
			}
			if err := s.MarkFixed(ctx, "2026-11-29", "V3-refunded", "V3-r1"); err != nil {
				t.Fatal(err)
			}
			if changed, err := s.SaveReconciliation(ctx, trade.Reconciliation{Report: trade.Report{Date: "2026-11-29", Status: trade.ReconcileMatched}}, nil); !changed || err != nil {
				t.Fatal(changed, err)
			}
		})
	}
}

func TestMigrateAgainAndNewer(t *testing.T) {
	for _, dialect := range dialects {
		t.Run(dialect, func(t *testing.T) {
			dsn, db := emptyDatabase(t, dialect)
			db.Close()
			for range 2 { // the second open finds nothing to do
				s, err := Open(ctx, dsn, nil)
				if err != nil {
					t.Fatal(err)
				}
				if vs := versions(t, s); !slices.Equal(vs, allVersions) {
					t.Fatalf("schema versions %v", vs)
				}
				s.Close()
			}
			s, _ := Open(ctx, dsn, nil)
			s.(*sqlStore).db.Exec(`INSERT INTO schema_version (version) VALUES (99)`)
			s.Close()
			if _, err := Open(ctx, dsn, nil); err == nil || !strings.Contains(err.Error(), "schema version 99, newer than this build's "+strconv.Itoa(allVersions[len(allVersions)-1])) {
				t.Fatalf("newer schema: %v", err)
			}
		})
	}
}

// MySQL cannot roll back DDL, so a migration that stopped after its ALTER
// must fail on the next start, not pass for done.
func TestHalfAppliedMySQLMigrationFails(t *testing.T) {
	dsn, db := emptyDatabase(t, "mysql")
	version1(t, "mysql", db)
	execAll(t, db, `ALTER TABLE refunds ADD COLUMN accepted TINYINT NOT NULL DEFAULT 0`)
	_, err := Open(ctx, dsn, nil)
	if err == nil || !strings.Contains(err.Error(), "0002_refund_states.sql") || !strings.Contains(err.Error(), "half-applied") {
		t.Fatalf("%v", err)
	}
}

// Instances that start together migrate one after the other.
func TestConcurrentMySQLMigrations(t *testing.T) {
	dsn, db := emptyDatabase(t, "mysql")
	db.Close()
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			s, err := Open(ctx, dsn, nil)
			if err != nil {
				t.Error(err)
				return
			}
			s.Close()
		})
	}
	wg.Wait()
	if vs := versions(t, mustOpen(t, dsn)); !slices.Equal(vs, allVersions) {
		t.Fatalf("schema versions %v", vs)
	}
}

// The dialects move in step, and 0001 is version 1's schema.
func TestMigrationFiles(t *testing.T) {
	var names [][]string
	for _, dialect := range dialects {
		ms, err := migrations(dialect)
		if err != nil {
			t.Fatal(err)
		}
		var ns []string
		for _, m := range ms {
			ns = append(ns, m.name)
		}
		names = append(names, ns)
		text, _ := os.ReadFile("testdata/v1/" + dialect + ".sql")
		v1 := statements(string(text))
		v1 = v1[1 : len(v1)-1] // less schema_version, which migrate keeps
		if !slices.EqualFunc(v1, ms[0].statements, func(a, b string) bool {
			return strings.Join(strings.Fields(a), " ") == strings.Join(strings.Fields(b), " ")
		}) {
			t.Errorf("%s: 0001 is not version 1's schema", dialect)
		}
	}
	if !slices.Equal(names[0], names[1]) {
		t.Fatalf("sqlite %v, mysql %v", names[0], names[1])
	}
}

func TestStatements(t *testing.T) {
	tests := []struct {
		text string
		want []string
	}{
		{"", nil},
		{"-- only a comment\n", nil},
		{"SELECT 1;\nSELECT 2;\n", []string{"SELECT 1;", "SELECT 2;"}},
		{"-- why\nCREATE TABLE t (\n\ta INT,\n\t-- why a\n\tb INT);\n\n-- next\nDROP TABLE u;", []string{"CREATE TABLE t (\n\ta INT,\n\tb INT);", "DROP TABLE u;"}},
		{"SELECT 'a;b' AS x;\nSELECT 3", []string{"SELECT 'a;b' AS x;", "SELECT 3"}},
	}
	for _, tt := range tests {
		if got := statements(tt.text); !slices.Equal(got, tt.want) {
			t.Errorf("%q: %q, want %q", tt.text, got, tt.want)
		}
	}
}

// legacyEventID is an id as NewEventID made it before 0007.
const legacyEventID = "evt_018f2a3b4c5da1b2c3d4e5f6a7b8c9d0e1f2"

// allVersions are the migrations this build has.
var allVersions = []int{1, 2, 3, 4, 5, 6, 7, 8, 9}

// 0009 chains the events recorded before it: an order's earlier pending
// event still holds back its later ones, and on SQLite every pending one
// is queued, the sweep's mark at the newest.
func TestMigrateEventChains(t *testing.T) {
	for _, dialect := range dialects {
		t.Run(dialect, func(t *testing.T) {
			dsn, db := emptyDatabase(t, dialect)
			upTo(t, dialect, db, 8)
			for _, no := range []string{"V8-A", "V8-B"} {
				execAll(t, db, `INSERT INTO orders (out_trade_no, openid, total_fee, description, attach, state, created_at, updated_at)
					VALUES ('`+no+`', 'o1', 100, 'x', '', 'SUCCESS', 1, 1)`)
			}
			for _, e := range []struct{ id, no, state string }{
				{"evt_a1", "V8-A", "delivered"}, {"evt_a2", "V8-A", "pending"}, {"evt_b1", "V8-B", "pending"},
				{"evt_a3", "V8-A", "pending"}, {"evt_bill", "", "pending"},
			} {
				execAll(t, db, fmt.Sprintf(`INSERT INTO events (id, type, out_trade_no, data, created_at, state, last_error, next_attempt_at)
					VALUES ('%s', 'order.paid', '%s', '{}', 1, '%s', '', 1)`, e.id, e.no, e.state))
			}
			db.Close()
			s := mustOpen(t, dsn)
			sdb := s.(*sqlStore).db
			var chains []string
			rows, err := sdb.Query(`SELECT e.id, e.prev_seq, COALESCE(o.last_event_seq, -1) FROM events e
				LEFT JOIN orders o ON o.out_trade_no = e.out_trade_no ORDER BY e.seq`)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var id string
				var prev, last int64
				if err := rows.Scan(&id, &prev, &last); err != nil {
					t.Fatal(err)
				}
				chains = append(chains, fmt.Sprintf("%s after %d, order's last %d", id, prev, last))
			}
			rows.Close()
			if want := []string{"evt_a1 after 0, order's last 4", "evt_a2 after 1, order's last 4", "evt_b1 after 0, order's last 3",
				"evt_a3 after 2, order's last 4", "evt_bill after 0, order's last -1"}; !slices.Equal(chains, want) {
				t.Fatalf("%q\nwant %q", chains, want)
			}
			if dialect == "sqlite" {
				var through, unqueued int64
				if err := sdb.QueryRow(`SELECT (SELECT through_seq FROM event_queue),
					(SELECT COUNT(*) FROM events WHERE state = 'pending' AND queued = 0)`).Scan(&through, &unqueued); err != nil || through != 5 || unqueued != 0 {
					t.Fatalf("through %d, %d pending not queued: %v", through, unqueued, err)
				}
			}
			now := time.Now()
			claim := func(no string) []string {
				t.Helper()
				claimed, err := s.ClaimEvents(ctx, now, time.Minute, no, 10)
				if err != nil {
					t.Fatal(err)
				}
				return ids(claimed)
			}
			if got := claim("V8-A"); !slices.Equal(got, []string{"evt_a2"}) {
				t.Fatalf("A: %q", got)
			}
			if err := s.SetDelivery(ctx, "evt_a2", trade.Delivery{State: trade.DeliveryDelivered, Attempts: 1, DeliveredAt: now}); err != nil {
				t.Fatal(err)
			}
			if got := claim("V8-A"); !slices.Equal(got, []string{"evt_a3"}) {
				t.Fatalf("A after its second: %q", got)
			}
			if got := claim(""); !slices.Equal(got, []string{"evt_b1", "evt_bill"}) {
				t.Fatalf("the sweep: %q", got)
			}
		})
	}
}
