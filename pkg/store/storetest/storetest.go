// Package storetest gives the tests of the store, and the end-to-end tests
// that run on it, a MySQL database of their own, and a relay that loses a
// COMMIT's answer as a network can.
package storetest

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/go-sql-driver/mysql"
)

// MySQLEnv names the DSN of a MySQL or MariaDB server for tests
// (scripts/mariadb-test-server.sh prints one). Its user must be allowed to
// create and drop databases named wxpay_test…; the database it names is
// not used.
const MySQLEnv = "WXPAY_TEST_MYSQL_DSN"

// database is the test binary's own database, created on first use, so
// that test binaries running at once never see each other's rows.
var database struct {
	once sync.Once
	name string
	dsn  string
	err  error
	// fresh counts the databases of FreshMySQLDSN, named after this one.
	fresh atomic.Int64
}

// MySQLDSN returns the DSN of this test binary's database, created on the
// first call; Main drops it. Without MySQLEnv the test is skipped, except
// in CI (CI set), where that is a failure: CI must run every test against
// MySQL too.
func MySQLDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(MySQLEnv)
	if dsn == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not set: CI runs these tests on MySQL too", MySQLEnv)
		}
		t.Skipf("%s not set", MySQLEnv)
	}
	database.once.Do(func() {
		database.name = "wxpay_test_" + randomHex(5)
		database.dsn, database.err = createDatabase(dsn, database.name)
	})
	if database.err != nil {
		t.Fatalf("creating the test database: %v", database.err)
	}
	return database.dsn
}

// FreshMySQLDSN returns the DSN of a new, empty database, dropped when the
// test ends: for a test that needs the tables as it made them.
func FreshMySQLDSN(t testing.TB) string {
	t.Helper()
	MySQLDSN(t)
	name := fmt.Sprintf("%s_%d", database.name, database.fresh.Add(1))
	dsn, err := createDatabase(os.Getenv(MySQLEnv), name)
	if err != nil {
		t.Fatalf("creating a test database: %v", err)
	}
	t.Cleanup(func() {
		if err := exec(dsn, "DROP DATABASE "+name); err != nil {
			t.Errorf("dropping %s: %v", name, err)
		}
	})
	return dsn
}

// Main runs the tests, as a TestMain does, then drops the database
// MySQLDSN created, if any.
func Main(m *testing.M) {
	code := m.Run()
	if database.dsn != "" {
		if err := exec(os.Getenv(MySQLEnv), "DROP DATABASE "+database.name); err != nil {
			fmt.Fprintf(os.Stderr, "storetest: dropping %s: %v\n", database.name, err)
			code = 1
		}
	}
	os.Exit(code)
}

// createDatabase creates the database name on dsn's server and returns the
// DSN that names it.
func createDatabase(dsn, name string) (string, error) {
	if err := exec(dsn, "CREATE DATABASE "+name); err != nil {
		return "", err
	}
	u, _ := url.Parse(dsn) // exec parsed it
	u.Path = "/" + name
	return u.String(), nil
}

// exec runs one statement on dsn's server, outside any database. Only the
// DSN's host and credentials count: this is the test server.
func exec(dsn, stmt string) error {
	db, err := openDB(dsn, false)
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.Exec(stmt)
	return err
}

// OpenDB opens the database a test's mysql:// DSN names, for a test that
// must change rows behind the store's back (say, make an order older).
func OpenDB(t testing.TB, dsn string) *sql.DB {
	t.Helper()
	db, err := openDB(dsn, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func openDB(dsn string, withDatabase bool) (*sql.DB, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return nil, fmt.Errorf("%s is not a mysql:// URL", MySQLEnv)
	}
	cfg := mysql.NewConfig()
	cfg.Net, cfg.Addr = "tcp", u.Host
	cfg.User = u.User.Username()
	cfg.Passwd, _ = u.User.Password()
	if withDatabase {
		cfg.DBName = strings.Trim(u.Path, "/")
	}
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(connector), nil
}

// randomHex is n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
