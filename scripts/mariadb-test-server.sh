#!/usr/bin/env bash
# Installs (Debian's mariadb-server) and starts a MariaDB on 127.0.0.1:3306
# for the store suite, creates a throwaway user, and prints the DSN to export
# as WXPAY_TEST_MYSQL_DSN. The user may create and drop the databases named
# wxpay_test…, so that each test binary works in a database of its own
# (pkg/store/storetest). The server also speaks TLS, with a self-signed
# certificate made here, so that tests can connect with tls=skip-verify.
# Test credentials only.
set -euo pipefail

tls=/tmp/wxpay-mariadb-tls
if ! command -v mariadbd >/dev/null 2>&1 || ! command -v openssl >/dev/null 2>&1; then
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mariadb-server openssl >&2
fi
if ! mariadb -uroot -e 'SELECT 1' >/dev/null 2>&1; then
  mkdir -p /run/mysqld "$tls" && chown mysql:mysql /run/mysqld
  if [ ! -s "$tls/key.pem" ]; then
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN=127.0.0.1 \
      -keyout "$tls/key.pem" -out "$tls/cert.pem" 2>/dev/null
    chown -R mysql:mysql "$tls"
  fi
  (mariadbd --user=mysql --bind-address=127.0.0.1 --port=3306 \
    --ssl-cert="$tls/cert.pem" --ssl-key="$tls/key.pem" >/tmp/mariadbd.log 2>&1 &)
  for _ in $(seq 1 60); do
    mariadb -uroot -e 'SELECT 1' >/dev/null 2>&1 && break
    sleep 0.5
  done
fi
# `wxpay\_test%`: the underscore would match any character.
mariadb -uroot -e "
  CREATE DATABASE IF NOT EXISTS wxpay_test;
  CREATE USER IF NOT EXISTS 'wxpay'@'127.0.0.1' IDENTIFIED BY 'wxpay-test';
  GRANT ALL ON wxpay_test.* TO 'wxpay'@'127.0.0.1';
  GRANT ALL ON \`wxpay\\_test%\`.* TO 'wxpay'@'127.0.0.1';
  FLUSH PRIVILEGES;"
echo "mysql://wxpay:wxpay-test@127.0.0.1:3306/wxpay_test"
