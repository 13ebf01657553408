-- accepted: WeChat Pay accepted the request, so a retry need not send it
-- again. A refund in a state WeChat Pay reported was accepted; a PROCESSING
-- one may never have reached it (version 1 did not record that), and sending
-- it again is harmless, where never sending it would lose the refund.
ALTER TABLE refunds ADD COLUMN accepted INTEGER NOT NULL DEFAULT 0;
UPDATE refunds SET accepted = 1 WHERE state NOT IN ('PROCESSING', 'FAILED');

-- Refund states are trade.RefundState's: CLOSED, not v2's REFUNDCLOSE.
UPDATE refunds SET state = 'CLOSED' WHERE state = 'REFUNDCLOSE';

-- The indexes MySQL has had since version 1.
CREATE INDEX refunds_order ON refunds (out_trade_no);
CREATE INDEX notifications_order ON notifications (out_trade_no);
