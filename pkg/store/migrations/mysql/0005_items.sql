-- item, quantity: what was bought, from the merchant's price list
-- (WXPAY_PRICES), so that fulfilment reads it from the server's own record;
-- '' and 0 for an order of a client-chosen amount. One ALTER, so a stopped
-- migration fails by name on its next run.
ALTER TABLE orders
	ADD COLUMN item VARCHAR(32) NOT NULL DEFAULT '',
	ADD COLUMN quantity INT NOT NULL DEFAULT 0;
