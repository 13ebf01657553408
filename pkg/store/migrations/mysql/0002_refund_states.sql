-- MySQL commits DDL at once, outside the migration's transaction, so the
-- one ALTER comes first and runs only once: a migration stopped half-way
-- fails on its next run ("Duplicate column name 'accepted'") instead of
-- passing unnoticed. The updates after it may run again.
--
-- accepted: WeChat Pay accepted the request, so a retry need not send it
-- again. A refund in a state WeChat Pay reported was accepted; a PROCESSING
-- one may never have reached it (version 1 did not record that), and sending
-- it again is harmless, where never sending it would lose the refund.
ALTER TABLE refunds ADD COLUMN accepted TINYINT NOT NULL DEFAULT 0;
UPDATE refunds SET accepted = 1 WHERE state NOT IN ('PROCESSING', 'FAILED');

-- Refund states are trade.RefundState's: CLOSED, not v2's REFUNDCLOSE.
UPDATE refunds SET state = 'CLOSED' WHERE state = 'REFUNDCLOSE';
