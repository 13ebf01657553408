-- fixed_on: the China day (2006-01-02) whose reconciliation recorded the
-- order's payment or the refund's success after a verified query, '' for
-- none; a rerun of that day reports it again as fixed, so the same day
-- gives the same report.
ALTER TABLE orders ADD COLUMN fixed_on TEXT NOT NULL DEFAULT '';
ALTER TABLE refunds ADD COLUMN fixed_on TEXT NOT NULL DEFAULT '';
-- The orders paid in a day, in the order of paid_at, read in batches that
-- resume after the last (paid_at, out_trade_no) read: a range scan, never a
-- pass over every order nor a sort.
CREATE INDEX orders_paid ON orders (paid_at, out_trade_no);

-- A day's reconciliation: its report as JSON (trade.Report), its status
-- for an operator's query, and retry_at, when the sweep may try a bill
-- that was not ready again (Unix microseconds, 0 once the day is done).
CREATE TABLE reconciliations (
	day        TEXT PRIMARY KEY,
	status     TEXT NOT NULL,
	report     TEXT NOT NULL,
	retry_at   INTEGER NOT NULL DEFAULT 0,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL);
