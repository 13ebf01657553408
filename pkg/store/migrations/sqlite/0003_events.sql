-- expires_at: when WeChat Pay stops taking the payment (time_expire);
-- next_query_at: when the sweep may next ask WeChat Pay. Unix microseconds,
-- 0 for none (a next query of 0 is due since the row was created).
ALTER TABLE orders ADD COLUMN expires_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN next_query_at INTEGER NOT NULL DEFAULT 0;
-- due_at: when the sweep next wants an unpaid order: its next query (at
-- once for one never asked about; the sweep never sets it past the
-- order's expiry while that is ahead, and after a failed close it backs
-- off like any query). NULL once the order is final, so that the sweep's
-- range scan of orders_due never meets a paid or closed order. Derived by
-- the database, so no write can forget it.
ALTER TABLE orders ADD COLUMN due_at INTEGER GENERATED ALWAYS AS (CASE
	WHEN state NOT IN ('NOTPAY', 'USERPAYING') THEN NULL
	WHEN next_query_at = 0 THEN created_at
	ELSE next_query_at END) VIRTUAL;
-- Only the orders with a due_at are indexed: a final order leaves the index
-- instead of moving to its NULLs, usually a page write less when one is paid
-- or closed (MySQL has no partial indexes).
CREATE INDEX orders_due ON orders (due_at, created_at) WHERE due_at IS NOT NULL;

-- Orders made before time_expire was sent were payable for the 2 hours a
-- prepay_id lives; with that expiry the sweep closes the ones left unpaid
-- instead of querying them every hour for ever.
UPDATE orders SET expires_at = created_at + 7200000000 WHERE state IN ('NOTPAY', 'USERPAYING');

ALTER TABLE refunds ADD COLUMN next_query_at INTEGER NOT NULL DEFAULT 0;
-- due_at: as the orders', for PROCESSING and ABNORMAL refunds.
ALTER TABLE refunds ADD COLUMN due_at INTEGER GENERATED ALWAYS AS (CASE
	WHEN state NOT IN ('PROCESSING', 'ABNORMAL') THEN NULL
	WHEN next_query_at = 0 THEN created_at
	ELSE next_query_at END) VIRTUAL;
CREATE INDEX refunds_due ON refunds (due_at, created_at);

-- The outbox: one row per change the merchant must hear of, written in the
-- change's transaction. seq is the order of recording (never reused: rows
-- are never deleted). state is the delivery's: pending, delivered, failed.
-- lease_until: a claimed event belongs to its claimer until then.
CREATE TABLE events (
	seq             INTEGER PRIMARY KEY,
	id              TEXT NOT NULL UNIQUE,
	type            TEXT NOT NULL,
	out_trade_no    TEXT NOT NULL,
	data            TEXT NOT NULL,
	created_at      INTEGER NOT NULL,
	state           TEXT NOT NULL,
	attempts        INTEGER NOT NULL DEFAULT 0,
	last_error      TEXT NOT NULL DEFAULT '',
	next_attempt_at INTEGER NOT NULL DEFAULT 0,
	delivered_at    INTEGER NOT NULL DEFAULT 0,
	lease_until     INTEGER NOT NULL DEFAULT 0);
-- The due pending events, without reading delivered ones.
CREATE INDEX events_due ON events (state, next_attempt_at);
-- An order's pending events in the order they happened: the earliest one
-- holds back the rest.
CREATE INDEX events_order ON events (out_trade_no, state, seq);
