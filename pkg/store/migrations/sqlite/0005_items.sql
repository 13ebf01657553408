-- item, quantity: what was bought, from the merchant's price list
-- (WXPAY_PRICES), so that fulfilment reads it from the server's own record;
-- '' and 0 for an order of a client-chosen amount.
ALTER TABLE orders ADD COLUMN item TEXT NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN quantity INTEGER NOT NULL DEFAULT 0;
