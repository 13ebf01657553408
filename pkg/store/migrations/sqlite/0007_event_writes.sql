-- Recording an event with its change cost a payment notification about a
-- third more than the change alone: the event's row and an entry in each
-- of three indexes. Now it is the row and one entry (BenchmarkNotification).
--
-- No unique index of ids: the id of an event recorded from now on is its
-- id column followed by its seq as 16 hex digits (id_has_seq), so it is
-- found by the table's own key and unique by it. The ids of the events
-- recorded before stay as they were, found by events_id, which holds only
-- them.
CREATE TABLE events_new (
	seq             INTEGER PRIMARY KEY,
	id              TEXT NOT NULL,
	type            TEXT NOT NULL,
	out_trade_no    TEXT NOT NULL,
	data            TEXT NOT NULL,
	created_at      INTEGER NOT NULL,
	state           TEXT NOT NULL,
	attempts        INTEGER NOT NULL DEFAULT 0,
	last_error      TEXT NOT NULL DEFAULT '',
	next_attempt_at INTEGER NOT NULL DEFAULT 0,
	delivered_at    INTEGER NOT NULL DEFAULT 0,
	lease_until     INTEGER NOT NULL DEFAULT 0,
	id_has_seq      INTEGER NOT NULL DEFAULT 0);
INSERT INTO events_new SELECT seq, id, type, out_trade_no, data, created_at, state, attempts, last_error,
	next_attempt_at, delivered_at, lease_until, 0 FROM events;
DROP TABLE events;
ALTER TABLE events_new RENAME TO events;
CREATE UNIQUE INDEX events_id ON events (id) WHERE id_has_seq = 0;
-- One index of the undelivered events instead of events_due and
-- events_order: an order's earliest pending event is a search of it, and
-- the sweep's candidates (each order's earliest) a pass over it, which
-- holds only the pending events: none once every event is delivered. A
-- delivered event leaves it.
CREATE INDEX events_pending ON events (out_trade_no, seq) WHERE state = 'pending';
