-- SQLite's 0009 chains each order's events (prev_seq, and the order's
-- last_event_seq) so that an event writes no index entry there. MySQL
-- keeps its indexes (it has no partial ones) and reads an order's
-- pending events by events_order, as before; it records the chains too,
-- with the same statements, so that they mean the same on both, and
-- here fills in those of the events recorded before.
ALTER TABLE events ADD COLUMN prev_seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN last_event_seq BIGINT NOT NULL DEFAULT 0;
UPDATE events e JOIN (SELECT n.seq, MAX(p.seq) AS prev FROM events n
		JOIN events p ON p.out_trade_no = n.out_trade_no AND p.seq < n.seq
		WHERE n.out_trade_no <> '' GROUP BY n.seq) c ON c.seq = e.seq
	SET e.prev_seq = c.prev;
UPDATE orders o JOIN (SELECT out_trade_no, MAX(seq) AS last FROM events WHERE out_trade_no <> '' GROUP BY out_trade_no) l
	ON l.out_trade_no = o.out_trade_no
	SET o.last_event_seq = l.last;
