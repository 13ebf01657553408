-- The schema as version 1 of the store (open.go before numbered
-- migrations) created it, statement for statement, and the version it
-- recorded.
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);

CREATE TABLE IF NOT EXISTS orders (
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
	UNIQUE (openid, request_id));

CREATE TABLE IF NOT EXISTS refunds (
	out_refund_no TEXT PRIMARY KEY,
	out_trade_no  TEXT NOT NULL,
	refund_fee    INTEGER NOT NULL,
	reason        TEXT NOT NULL,
	state         TEXT NOT NULL,
	refund_id     TEXT NOT NULL DEFAULT '',
	created_at    INTEGER NOT NULL,
	updated_at    INTEGER NOT NULL);

CREATE TABLE IF NOT EXISTS notifications (
	id            INTEGER PRIMARY KEY,
	kind          TEXT NOT NULL,
	out_trade_no  TEXT NOT NULL,
	out_refund_no TEXT NOT NULL,
	fields        TEXT NOT NULL,
	received_at   INTEGER NOT NULL);

INSERT INTO schema_version (version) VALUES (1);
