// Package storetest gives tests the MySQL database the store suite and the
// end-to-end tests share.
package storetest

import (
	"os"
	"testing"
)

// MySQLEnv names the DSN of a MySQL or MariaDB database that tests may fill
// and empty (scripts/mariadb-test-server.sh prints one).
const MySQLEnv = "WXPAY_TEST_MYSQL_DSN"

// MySQLDSN returns the test database's DSN. Without one the test is
// skipped, except in CI (CI set), where that is a failure: CI must run
// every test against MySQL too.
func MySQLDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(MySQLEnv)
	if dsn == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not set: CI runs these tests on MySQL too", MySQLEnv)
		}
		t.Skipf("%s not set", MySQLEnv)
	}
	return dsn
}
