-- Fewer pages for a payment notification's commit to write. No query reads
-- notifications by order: the table is a record for people, who can wait
-- for a scan, and its index cost every notification a page.
DROP INDEX notifications_order;
-- Only paid orders in orders_paid: a payment inserts the order's entry
-- instead of moving it from among the unpaid ones (paid_at 0), usually a
-- page write less; selectPaidOrders says paid_at > 0 so that SQLite can use
-- the partial index.
DROP INDEX orders_paid;
CREATE INDEX orders_paid ON orders (paid_at, out_trade_no) WHERE paid_at > 0;
