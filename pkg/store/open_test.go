package store

import (
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/wxpay-scf/wxpay-scf/pkg/store/storetest"
	"github.com/wxpay-scf/wxpay-scf/pkg/trade"
)

func TestMySQLConfig(t *testing.T) {
	const base = "mysql://u%3Ax:p%40ss@db.internal/wxpay"
	tests := []struct {
		query string
		check func(*mysql.Config) bool
	}{
		{"", func(c *mysql.Config) bool {
			return c.User == "u:x" && c.Passwd == "p@ss" && c.Addr == "db.internal:3306" && c.DBName == "wxpay" &&
				c.Timeout == 5*time.Second && c.ReadTimeout == 30*time.Second && c.WriteTimeout == 30*time.Second &&
				c.TLS == nil && c.ClientFoundRows && len(c.Params) == 0
		}},
		{"charset=utf8mb4", func(c *mysql.Config) bool {
			return len(c.Params) == 0 && strings.Contains(c.FormatDSN(), "charset=utf8mb4")
		}},
		{"readTimeout=5s", func(c *mysql.Config) bool { return c.ReadTimeout == 5*time.Second && c.WriteTimeout == 30*time.Second }},
		{"timeout=1s&writeTimeout=2s", func(c *mysql.Config) bool { return c.Timeout == time.Second && c.WriteTimeout == 2*time.Second }},
		{"tls=false", func(c *mysql.Config) bool { return c.TLS == nil }},
		{"tls=skip-verify", func(c *mysql.Config) bool { return c.TLS != nil && c.TLS.InsecureSkipVerify }},
		{"tls=true", func(c *mysql.Config) bool {
			return c.TLS != nil && !c.TLS.InsecureSkipVerify && c.TLS.ServerName == "db.internal"
		}},
		{"tls=true&charset=utf8mb4&readTimeout=5s", func(c *mysql.Config) bool { return c.TLS != nil && c.ReadTimeout == 5*time.Second }},
		{"time_zone=%27%2B08%3A00%27", func(c *mysql.Config) bool { return c.Params["time_zone"] == "'+08:00'" }},
	}
	for _, tt := range tests {
		cfg, err := mysqlConfig(base + "?" + tt.query)
		if err != nil || !tt.check(cfg) {
			t.Errorf("%q: %+v %v", tt.query, cfg, err)
		}
	}
	if cfg, err := mysqlConfig("mysql://u:p@[::1]/db"); err != nil || cfg.Addr != "[::1]:3306" {
		t.Errorf("IPv6: %+v %v", cfg, err)
	}
	for _, query := range []string{"readTimeout=soon", "tls=maybe", "parseTime=perhaps", "loc=Mars%2FOlympus"} {
		_, err := mysqlConfig("mysql://u:s3cret@db.internal/wxpay?" + query)
		if err == nil || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%q: %v", query, err)
		}
	}
}

// withQuery is dsn with query as its options.
func withQuery(t *testing.T, dsn, query string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.RawQuery = query
	return u.String()
}

func TestMySQLOptions(t *testing.T) {
	dsn := storetest.FreshMySQLDSN(t)
	s, err := Open(ctx, withQuery(t, dsn, "charset=utf8mb4&parseTime=false"), nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	// An option the driver does not know is a system variable, which the
	// server refuses by name.
	_, err = Open(ctx, withQuery(t, dsn, "no_such_option=1"), nil)
	if u, _ := url.Parse(dsn); err == nil || !strings.Contains(err.Error(), "no_such_option") || strings.Contains(err.Error(), u.User.String()) {
		t.Fatalf("unknown option: %v", err)
	}
}

// tls=skip-verify reaches the test server over TLS, when it speaks TLS
// (scripts/mariadb-test-server.sh starts it so).
func TestMySQLTLS(t *testing.T) {
	dsn := storetest.FreshMySQLDSN(t)
	s := mustOpen(t, dsn)
	var name, have string
	s.(*sqlStore).db.QueryRow(`SHOW VARIABLES LIKE 'have_ssl'`).Scan(&name, &have)
	if have != "YES" {
		t.Skip("the test server does not speak TLS")
	}
	s = mustOpen(t, withQuery(t, dsn, "tls=skip-verify"))
	var cipher string
	if err := s.(*sqlStore).db.QueryRow(`SHOW SESSION STATUS LIKE 'Ssl_cipher'`).Scan(&name, &cipher); err != nil || cipher == "" {
		t.Fatalf("not over TLS: %q %v", cipher, err)
	}
}

// A new SQLite database is made with 2 KiB pages; one made before keeps
// its 4 KiB pages, and opens.
func TestSQLitePageSize(t *testing.T) {
	pageSize := func(s trade.Store) int {
		var n int
		if err := s.(*sqlStore).db.QueryRow(`PRAGMA page_size`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := pageSize(mustOpen(t, "sqlite:"+filepath.Join(t.TempDir(), "wxpay.db"))); n != 2048 {
		t.Errorf("new database: %d-byte pages", n)
	}
	dsn, db := emptyDatabase(t, "sqlite")
	version1(t, "sqlite", db)
	db.Close()
	if n := pageSize(mustOpen(t, dsn)); n != 4096 {
		t.Errorf("version 1 database: %d-byte pages", n)
	}
}

// SQLite's page cache is 1 MB (cache_size in KiB when negative), and the
// WAL is checkpointed every 1000 pages.
func TestSQLiteMemory(t *testing.T) {
	s := mustOpen(t, "sqlite:"+filepath.Join(t.TempDir(), "wxpay.db")).(*sqlStore)
	for pragma, want := range map[string]int{"cache_size": -1000, "wal_autocheckpoint": 1000} {
		var n int
		if err := s.db.QueryRow(`PRAGMA ` + pragma).Scan(&n); err != nil || n != want {
			t.Errorf("%s = %d, want %d: %v", pragma, n, want, err)
		}
	}
}
