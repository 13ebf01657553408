-- SQLite's 0008 rebuilds its orders table so that an order without a
-- request_id writes no entry in the (openid, request_id) unique index;
-- MySQL has no partial indexes, and keeps that index as it is.
--
-- An order never asked about is due a minute after it was made (the
-- sweep's usual min_age, trade.FirstQueryAfter), no longer at once: the
-- sweep's range of orders_due then ends before the unpaid orders younger
-- than that, which it walked through on every run (store.DueOrders).
-- MySQL cannot change the expression of an indexed generated column in
-- place: MODIFY would copy the whole table and hold its writes meanwhile.
-- Dropping the column with its index and adding both again does neither;
-- for a moment there is no due_at, when only a sweep of an instance still
-- on the previous version can fail, to run again a minute later.
ALTER TABLE orders DROP KEY orders_due, DROP COLUMN due_at;
ALTER TABLE orders ADD COLUMN due_at BIGINT GENERATED ALWAYS AS (CASE
	WHEN state NOT IN ('NOTPAY', 'USERPAYING') THEN NULL
	WHEN next_query_at = 0 THEN created_at + 60000000
	ELSE next_query_at END) VIRTUAL;
ALTER TABLE orders ADD KEY orders_due (due_at, created_at);
