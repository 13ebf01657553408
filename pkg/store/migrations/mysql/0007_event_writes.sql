-- SQLite's 0007 rebuilds its events table so that recording an event
-- writes one index entry instead of three, and gives the events recorded
-- from then on ids that carry their seq. MySQL keeps its indexes (it has
-- no partial ones) and its unique ids; the column is here so that both
-- read events with the same queries.
ALTER TABLE events ADD COLUMN id_has_seq TINYINT NOT NULL DEFAULT 0;
