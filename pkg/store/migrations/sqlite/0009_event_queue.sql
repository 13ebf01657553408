-- Recording an event with its change still cost a payment notification
-- about a quarter more than the change alone, over a third of it for the entry
-- the event wrote in events_pending. Now the event writes its row alone
-- (BenchmarkNotification):
--
-- An order's events form a chain: each names the order's event before it
-- (prev_seq, 0 for the first), and the order names its latest
-- (last_event_seq, written by the statement that changes the order, or
-- the refund's transaction). An order's earliest pending event, which
-- holds back its later ones, is a walk of its chain (store.ClaimEvents),
-- no longer a search of an index.
--
-- The sweep finds pending events by events_queued, which holds only the
-- pending events it has queued: each sweep first queues the pending
-- events recorded since the one before (a range of the table's key from
-- event_queue.through_seq, which it then moves forward; SQLite commits
-- in the order of seq, so none can appear behind it). An event delivered
-- by its first attempt, inside the invocation that recorded it, never
-- enters the index. Events recorded while no target is configured wait
-- unqueued until one is. A pending event is queued if and only if its
-- seq is at most the mark (store.SetDelivery keeps it so).
ALTER TABLE events ADD COLUMN prev_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN queued INTEGER NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN last_event_seq INTEGER NOT NULL DEFAULT 0;
-- The chains of the events recorded before, by an index made for the
-- purpose.
CREATE INDEX events_chain ON events (out_trade_no, seq);
UPDATE events SET prev_seq = COALESCE((SELECT MAX(p.seq) FROM events p
	WHERE p.out_trade_no = events.out_trade_no AND p.seq < events.seq), 0)
	WHERE out_trade_no <> '';
UPDATE orders SET last_event_seq = (SELECT MAX(seq) FROM events WHERE out_trade_no = orders.out_trade_no)
	WHERE out_trade_no IN (SELECT out_trade_no FROM events);
DROP INDEX events_chain;
DROP INDEX events_pending;
CREATE INDEX events_queued ON events (out_trade_no, seq) WHERE state = 'pending' AND queued = 1;
-- Every pending event up to through_seq is queued, as every event
-- recorded before is.
CREATE TABLE event_queue (
	id          INTEGER PRIMARY KEY CHECK (id = 1),
	through_seq INTEGER NOT NULL);
UPDATE events SET queued = 1 WHERE state = 'pending';
INSERT INTO event_queue (id, through_seq) SELECT 1, COALESCE(MAX(seq), 0) FROM events;
