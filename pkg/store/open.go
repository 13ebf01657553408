package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/wxpay-scf/wxpay-scf/pkg/trade"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// DefaultDSN is the embedded store used when WXPAY_STORE is unset.
const DefaultDSN = "sqlite:/tmp/wxpay.db"

// dialect is what SQLite and MySQL do differently; the queries are shared.
type dialect struct {
	name         string           // the directory of its migrations
	duplicate    func(error) bool // reports a duplicate-key error
	forUpdate    string           // the row-locking suffix of a SELECT inside a transaction
	versionTable string           // creates schema_version
	lock, unlock string           // take and give back the migration lock, if any
	partialHint  string           // appended to a failed migration's error
	// eventsLock, run before an event is inserted, makes the transactions
	// that record events commit one at a time, in the order of their seq,
	// where the database does not already (see 0003_events.sql).
	eventsLock string
	// quickTxStatements: a statement inside a transaction cannot wait for
	// a lock, since beginning it took the file, and each is a few index
	// operations; it runs without the driver's watch of its context (a
	// goroutine per statement on SQLite), the context checked before it.
	quickTxStatements bool
	// dueEvents is the sweep's query of due events, dueEventOfOrder the
	// query of an order's (see selectDueEventsByQueue).
	dueEvents, dueEventOfOrder string
	// eventQueue: the sweep queues pending events before reading due
	// ones (see queueEvents).
	eventQueue bool
	// seqInEventID: an event's id is made unique by its seq, not by an
	// index (see 0007_event_writes.sql).
	seqInEventID bool
	// commitStatement commits with a COMMIT statement run under the
	// call's context instead of Tx.Commit, which has none (see commit).
	commitStatement bool
}

var sqliteDialect = dialect{
	name:              "sqlite",
	duplicate:         sqliteDuplicate,
	versionTable:      `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`,
	dueEvents:         selectDueEventsByQueue,
	dueEventOfOrder:   selectDueEventOfOrderByChain,
	eventQueue:        true,
	seqInEventID:      true,
	quickTxStatements: true,
}

var mysqlDialect = dialect{
	name:         "mysql",
	duplicate:    mysqlDuplicate,
	forUpdate:    " FOR UPDATE",
	versionTable: `CREATE TABLE IF NOT EXISTS schema_version (version INT NOT NULL) ENGINE=InnoDB`,
	// The wait is bounded by the call's context too: the driver closes
	// the connection when it ends, and the server drops the request.
	lock:            `SELECT GET_LOCK('wxpay_migrate', 10)`,
	unlock:          `DO RELEASE_LOCK('wxpay_migrate')`,
	partialHint:     " (MySQL commits DDL at once: the migration may be half-applied; compare the schema with it before starting again)",
	eventsLock:      `SELECT id FROM events_lock WHERE id = 1 FOR UPDATE`,
	dueEvents:       selectDueEventsByIndexes,
	dueEventOfOrder: selectDueEventOfOrderByIndex,
	commitStatement: true,
}

// Open connects to the store a DSN names, "sqlite:PATH" or
// "mysql://user:pass@host:3306/db?option=value…", and creates or migrates
// its schema. Errors never repeat the DSN, which may hold a password.
func Open(ctx context.Context, dsn string, now func() time.Time) (trade.Store, error) {
	if now == nil {
		now = time.Now
	}
	var s *sqlStore
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		path := strings.TrimPrefix(dsn, "sqlite:")
		if path == "" {
			return nil, errors.New("store: sqlite DSN needs a path")
		}
		// A checkpoint every 1000 pages keeps the WAL file near 2 MB (it
		// is reused from its start, not shrunk) and the memory that indexes
		// it small. busy_timeout is only a ceiling: the driver ends a wait
		// for a lock when the call's context ends. (The driver applies
		// _pragma parameters in alphabetical order.)
		connector, err := sqlite.NewConnector("file:" + path + "?_pragma=busy_timeout(10000)&_pragma=locking_mode(EXCLUSIVE)&_pragma=wal_autocheckpoint(1000)&_txlock=immediate")
		if err != nil {
			return nil, fmt.Errorf("store: opening sqlite: %w", err)
		}
		db := sql.OpenDB(sqliteConnector{connector})
		// One connection holding the file exclusively: an SCF instance
		// serves one event at a time, and SQLite writes one at a time
		// anyway, so this saves the locking without losing concurrency.
		db.SetMaxOpenConns(1)
		s = &sqlStore{db: db, now: now, dialect: sqliteDialect}
	case strings.HasPrefix(dsn, "mysql://"):
		cfg, err := mysqlConfig(dsn)
		if err != nil {
			return nil, err
		}
		connector, err := mysql.NewConnector(cfg)
		if err != nil {
			return nil, errors.New("store: invalid mysql DSN")
		}
		db := sql.OpenDB(connector)
		db.SetConnMaxLifetime(5 * time.Minute)
		db.SetMaxIdleConns(4)
		s = &sqlStore{db: db, now: now, dialect: mysqlDialect}
	default:
		return nil, errors.New(`store: DSN must start with "sqlite:" or "mysql://"`)
	}
	if err := s.migrate(ctx); err != nil {
		s.db.Close()
		return nil, err
	}
	for _, q := range s.txQueries() {
		if _, err := s.prepared(ctx, q); err != nil {
			s.db.Close()
			return nil, fmt.Errorf("store: preparing statements: %w", err)
		}
	}
	return s, nil
}

// sqliteConnector opens connections with the pragmas that read the file
// run under the context of the call that opens them. The driver runs a
// DSN's pragmas under none, so with another process holding the file,
// opening a connection waited busy_timeout's full 10 s whatever the call's
// deadline; the DSN keeps only pragmas that do not read it. WAL with
// NORMAL sync survives a crash of the process.
//
// A new database gets 2 KiB pages, not 4 KiB: a payment notification
// writes about nine pages to the WAL, one for each table and index it
// touches, and each costs in proportion to its size (copying,
// checksumming, checkpointing), while its rows (an event is about 500
// bytes) still fit several to a page. (BenchmarkNotification, interleaved:
// 4 KiB 18% slower; 1 KiB as fast but 5% more CPU.) An existing database
// keeps the size it was made with. A page cache of 1 MB, not SQLite's 2,
// holds the pages a payment writes and keeps resident memory 3 MB lower
// (cache_size reads the schema, so it is here, not in the DSN).
type sqliteConnector struct{ driver.Connector }

func (c sqliteConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	for _, pragma := range []string{"PRAGMA page_size = 2048", "PRAGMA journal_mode = WAL", "PRAGMA synchronous = NORMAL", "PRAGMA cache_size = -1000"} {
		if _, err := conn.(driver.ExecerContext).ExecContext(ctx, pragma, nil); err != nil {
			conn.Close()
			return nil, err
		}
	}
	return conn, nil
}

// The MySQL driver's timeouts when the DSN sets none: a dial that cannot
// connect fails fast, and no read or write waits for ever, whatever a
// caller's context says (a call without one, a lost answer). 30 s, not
// less: waiting for the migration lock takes up to 10 s, and a migration's
// statement may take longer; calls with a deadline end by it anyway.
const (
	mysqlDialTimeout = 5 * time.Second
	mysqlIOTimeout   = 30 * time.Second
)

// mysqlConfig turns mysql://user:pass@host:port/db?options into the
// driver's configuration. The options are the driver's own, parsed by
// mysql.ParseDSN exactly as go-sql-driver/mysql documents them; a name it
// does not know is a system variable the server checks when connecting.
func mysqlConfig(dsn string) (*mysql.Config, error) {
	u, err := url.Parse(dsn)
	if err != nil || u.Hostname() == "" || strings.Trim(u.Path, "/") == "" {
		return nil, errors.New("store: mysql DSN must be mysql://user:pass@host:port/db")
	}
	port := u.Port()
	if port == "" {
		port = "3306"
	}
	// The address goes in too: the driver names the server to verify for
	// tls=true after it.
	cfg, err := mysql.ParseDSN("tcp(" + net.JoinHostPort(u.Hostname(), port) + ")/?" + u.RawQuery)
	if err != nil {
		// The driver's message names the option, not the DSN we gave it,
		// which holds no credentials anyway.
		return nil, fmt.Errorf("store: mysql DSN options: %w", err)
	}
	cfg.User = u.User.Username()
	cfg.Passwd, _ = u.User.Password()
	cfg.DBName = strings.Trim(u.Path, "/")
	// Rows affected counts the rows matched, as SQLite does: an update
	// that writes the values a row already has still found it.
	cfg.ClientFoundRows = true
	q := u.Query()
	if !q.Has("timeout") {
		cfg.Timeout = mysqlDialTimeout
	}
	if !q.Has("readTimeout") {
		cfg.ReadTimeout = mysqlIOTimeout
	}
	if !q.Has("writeTimeout") {
		cfg.WriteTimeout = mysqlIOTimeout
	}
	return cfg, nil
}

func sqliteDuplicate(err error) bool {
	var e *sqlite.Error
	return errors.As(err, &e) && (e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY)
}

func mysqlDuplicate(err error) bool {
	var e *mysql.MySQLError
	return errors.As(err, &e) && e.Number == 1062
}
