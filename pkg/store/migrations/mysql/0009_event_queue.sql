-- SQLite's 0009 chains each order's events (prev_seq, and the order's
-- last_event_seq) so that an event writes no index entry there. MySQL
-- keeps its indexes (it has no partial ones) and reads an order's
-- pending events by events_order, as before; the columns are here so
-- that both record events with the same statements. The chains of the
-- events recorded before are not filled in here, since MySQL reads none.
ALTER TABLE events ADD COLUMN prev_seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN last_event_seq BIGINT NOT NULL DEFAULT 0;
