-- MySQL commits DDL at once, so the first ALTER runs only once: a migration
-- stopped half-way fails on its next run ("Duplicate column name
-- 'fixed_on'") instead of passing unnoticed.
--
-- fixed_on: the China day (2006-01-02) whose reconciliation recorded the
-- order's payment or the refund's success after a verified query, '' for
-- none; a rerun of that day reports it again as fixed, so the same day
-- gives the same report.
-- orders_paid: the orders paid in a day, in the order of paid_at, read in
-- batches that resume after the last (paid_at, out_trade_no) read: a range
-- scan, never a pass over every order nor a sort.
ALTER TABLE orders
	ADD COLUMN fixed_on VARCHAR(10) NOT NULL DEFAULT '',
	ADD KEY orders_paid (paid_at, out_trade_no);
ALTER TABLE refunds ADD COLUMN fixed_on VARCHAR(10) NOT NULL DEFAULT '';

-- A day's reconciliation: its report as JSON (trade.Report; a day of
-- discrepancies can pass TEXT's 64 KB), its status for an operator's
-- query, and retry_at, when the sweep may try a bill that was not ready
-- again (Unix microseconds, 0 once the day is done).
CREATE TABLE reconciliations (
	day        CHAR(10) NOT NULL PRIMARY KEY,
	status     VARCHAR(16) NOT NULL,
	report     MEDIUMTEXT NOT NULL,
	retry_at   BIGINT NOT NULL DEFAULT 0,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
