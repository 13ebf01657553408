-- MySQL commits DDL at once, so the first ALTER runs only once: a migration
-- stopped half-way fails on its next run ("Duplicate column name
-- 'expires_at'") instead of passing unnoticed.
--
-- expires_at: when WeChat Pay stops taking the payment (time_expire);
-- next_query_at: when the sweep may next ask WeChat Pay. Unix microseconds,
-- 0 for none (a next query of 0 is due since the row was created).
-- due_at: when the sweep next wants an unpaid order: its next query (at
-- once for one never asked about; the sweep never sets it past the
-- order's expiry while that is ahead, and after a failed close it backs
-- off like any query). NULL once the order is final, so that the sweep's
-- range scan of orders_due never meets a paid or closed order. Derived by
-- the database, so no write can forget it.
ALTER TABLE orders
	ADD COLUMN expires_at BIGINT NOT NULL DEFAULT 0,
	ADD COLUMN next_query_at BIGINT NOT NULL DEFAULT 0,
	ADD COLUMN due_at BIGINT GENERATED ALWAYS AS (CASE
		WHEN state NOT IN ('NOTPAY', 'USERPAYING') THEN NULL
			WHEN next_query_at = 0 THEN created_at
		ELSE next_query_at END) VIRTUAL,
	ADD KEY orders_due (due_at, created_at);

-- Orders made before time_expire was sent were payable for the 2 hours a
-- prepay_id lives; with that expiry the sweep closes the ones left unpaid
-- instead of querying them every hour for ever.
UPDATE orders SET expires_at = created_at + 7200000000 WHERE state IN ('NOTPAY', 'USERPAYING');

-- due_at: as the orders', for PROCESSING and ABNORMAL refunds.
ALTER TABLE refunds
	ADD COLUMN next_query_at BIGINT NOT NULL DEFAULT 0,
	ADD COLUMN due_at BIGINT GENERATED ALWAYS AS (CASE
		WHEN state NOT IN ('PROCESSING', 'ABNORMAL') THEN NULL
		WHEN next_query_at = 0 THEN created_at
		ELSE next_query_at END) VIRTUAL,
	ADD KEY refunds_due (due_at, created_at);

-- The outbox: one row per change the merchant must hear of, written in the
-- change's transaction. seq is the order of recording. state is the
-- delivery's: pending, delivered, failed. lease_until: a claimed event
-- belongs to its claimer until then.
CREATE TABLE events (
	seq             BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
	id              VARCHAR(64) NOT NULL,
	type            VARCHAR(32) NOT NULL,
	out_trade_no    VARCHAR(32) NOT NULL,
	data            MEDIUMTEXT NOT NULL,
	created_at      BIGINT NOT NULL,
	state           VARCHAR(16) NOT NULL,
	attempts        INT NOT NULL DEFAULT 0,
	last_error      TEXT NOT NULL,
	next_attempt_at BIGINT NOT NULL DEFAULT 0,
	delivered_at    BIGINT NOT NULL DEFAULT 0,
	lease_until     BIGINT NOT NULL DEFAULT 0,
	UNIQUE KEY events_id (id),
	-- The due pending events, without reading delivered ones.
	KEY events_due (state, next_attempt_at),
	-- An order's pending events in the order they happened: the earliest
	-- one holds back the rest.
	KEY events_order (out_trade_no, state, seq)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- InnoDB hands out AUTO_INCREMENT values when a row is inserted, not when
-- it commits, so two changes committing out of order would list their
-- events out of order, and a reader of Events that already passed the
-- later one would never see the earlier. A transaction that records an
-- event first locks this row, so events commit in the order of seq.
CREATE TABLE events_lock (id TINYINT NOT NULL PRIMARY KEY) ENGINE=InnoDB;
INSERT INTO events_lock (id) VALUES (1);
