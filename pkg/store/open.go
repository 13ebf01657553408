package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// DefaultDSN is the embedded store used when WXPAY_STORE is unset.
const DefaultDSN = "sqlite:/tmp/wxpay.db"

// Open connects to the store a DSN names, "sqlite:PATH" or
// "mysql://user:pass@host:3306/db", and creates or migrates its schema.
// Errors never repeat the DSN, which may hold a password.
func Open(ctx context.Context, dsn string, now func() time.Time) (Store, error) {
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
		db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=locking_mode(EXCLUSIVE)&_pragma=wal_autocheckpoint(10000)&_txlock=immediate")
		if err != nil {
			return nil, fmt.Errorf("store: opening sqlite: %w", err)
		}
		// WAL with NORMAL sync survives a crash of the process; checkpoints
		// every 10000 pages (~40 MB of WAL) let repeated writes to the same
		// hot pages coalesce. One connection holding the file exclusively: an SCF instance
		// serves one event at a time, and SQLite writes one at a time
		// anyway, so this saves the locking without losing concurrency.
		db.SetMaxOpenConns(1)
		s = &sqlStore{db: db, now: now, schema: sqliteSchema, duplicate: sqliteDuplicate}
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
		s = &sqlStore{db: db, now: now, schema: mysqlSchema, duplicate: mysqlDuplicate, forUpdate: " FOR UPDATE"}
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

// mysqlConfig turns mysql://user:pass@host:port/db?param=v into the driver's
// configuration.
func mysqlConfig(dsn string) (*mysql.Config, error) {
	u, err := url.Parse(dsn)
	if err != nil || u.Host == "" || strings.Trim(u.Path, "/") == "" {
		return nil, errors.New("store: mysql DSN must be mysql://user:pass@host:port/db")
	}
	cfg := mysql.NewConfig()
	cfg.User = u.User.Username()
	cfg.Passwd, _ = u.User.Password()
	cfg.Net = "tcp"
	cfg.Addr = u.Host
	if u.Port() == "" {
		cfg.Addr += ":3306"
	}
	cfg.DBName = strings.Trim(u.Path, "/")
	cfg.Timeout = 5 * time.Second
	cfg.Params = map[string]string{}
	for k, vs := range u.Query() {
		cfg.Params[k] = vs[0]
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

// The schema, version 1. Times are Unix microseconds; amounts are fen.
var sqliteSchema = []string{
	`CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS orders (
		out_trade_no   TEXT PRIMARY KEY,
		openid         TEXT NOT NULL,
		request_id     TEXT,
		total_fee      INTEGER NOT NULL,
		description    TEXT NOT NULL,
		attach         TEXT NOT NULL,
		prepay_id      TEXT NOT NULL DEFAULT '',
		state          TEXT NOT NULL,
		transaction_id TEXT NOT NULL DEFAULT '',
		refunded_fee   INTEGER NOT NULL DEFAULT 0,
		created_at     INTEGER NOT NULL,
		paid_at        INTEGER NOT NULL DEFAULT 0,
		updated_at     INTEGER NOT NULL,
		UNIQUE (openid, request_id))`,
	`CREATE TABLE IF NOT EXISTS refunds (
		out_refund_no TEXT PRIMARY KEY,
		out_trade_no  TEXT NOT NULL,
		refund_fee    INTEGER NOT NULL,
		reason        TEXT NOT NULL,
		state         TEXT NOT NULL,
		refund_id     TEXT NOT NULL DEFAULT '',
		created_at    INTEGER NOT NULL,
		updated_at    INTEGER NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS notifications (
		id            INTEGER PRIMARY KEY,
		kind          TEXT NOT NULL,
		out_trade_no  TEXT NOT NULL,
		out_refund_no TEXT NOT NULL,
		fields        TEXT NOT NULL,
		received_at   INTEGER NOT NULL)`,
}

var mysqlSchema = []string{
	`CREATE TABLE IF NOT EXISTS schema_version (version INT NOT NULL) ENGINE=InnoDB`,
	`CREATE TABLE IF NOT EXISTS orders (
		out_trade_no   VARCHAR(32) NOT NULL PRIMARY KEY,
		openid         VARCHAR(128) NOT NULL,
		request_id     VARCHAR(64) NULL,
		total_fee      BIGINT NOT NULL,
		description    VARCHAR(255) NOT NULL,
		attach         VARCHAR(255) NOT NULL,
		prepay_id      VARCHAR(128) NOT NULL DEFAULT '',
		state          VARCHAR(16) NOT NULL,
		transaction_id VARCHAR(64) NOT NULL DEFAULT '',
		refunded_fee   BIGINT NOT NULL DEFAULT 0,
		created_at     BIGINT NOT NULL,
		paid_at        BIGINT NOT NULL DEFAULT 0,
		updated_at     BIGINT NOT NULL,
		UNIQUE KEY openid_request (openid, request_id)
	) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
	`CREATE TABLE IF NOT EXISTS refunds (
		out_refund_no VARCHAR(64) NOT NULL PRIMARY KEY,
		out_trade_no  VARCHAR(32) NOT NULL,
		refund_fee    BIGINT NOT NULL,
		reason        VARCHAR(255) NOT NULL,
		state         VARCHAR(16) NOT NULL,
		refund_id     VARCHAR(64) NOT NULL DEFAULT '',
		created_at    BIGINT NOT NULL,
		updated_at    BIGINT NOT NULL,
		KEY refunds_order (out_trade_no)
	) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
	`CREATE TABLE IF NOT EXISTS notifications (
		id            BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
		kind          VARCHAR(16) NOT NULL,
		out_trade_no  VARCHAR(32) NOT NULL,
		out_refund_no VARCHAR(64) NOT NULL,
		fields        MEDIUMTEXT NOT NULL,
		received_at   BIGINT NOT NULL,
		KEY notifications_order (out_trade_no)
	) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
}

// schemaVersion is the version the statements above create.
const schemaVersion = 1

// migrate creates the schema, or brings an older one up to schemaVersion.
func (s *sqlStore) migrate(ctx context.Context) error {
	for _, stmt := range s.schema {
		if _, err := s.db.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("store: creating the schema: %w", err)
		}
	}
	var v int
	err := s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&v)
	if err != nil {
		return fmt.Errorf("store: reading the schema version: %w", err)
	}
	switch {
	case v == 0:
		_, err = s.db.ExecContext(ctx, `INSERT INTO schema_version (version) VALUES (?)`, schemaVersion)
	case v > schemaVersion:
		err = fmt.Errorf("store: the database has schema version %d, newer than this build's %d", v, schemaVersion)
	}
	return err
}
