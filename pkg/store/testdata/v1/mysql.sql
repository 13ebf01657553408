-- The schema as version 1 of the store (open.go before numbered
-- migrations) created it, statement for statement, and the version it
-- recorded.
CREATE TABLE IF NOT EXISTS schema_version (version INT NOT NULL) ENGINE=InnoDB;

CREATE TABLE IF NOT EXISTS orders (
	out_trade_no   VARCHAR(32) NOT NULL PRIMARY KEY,
	openid         VARCHAR(128) NOT NULL,
	request_id     VARCHAR(64) NULL,
	total_fee      BIGINT NOT NULL,
	description    VARCHAR(255) NOT NULL,
	attach         VARCHAR(255) NOT NULL,
	prepay_id      VARCHAR(128) NOT NULL DEFAULT '',
	state          VARCHAR(16) NOT NULL,
	transaction_id VARCHAR(64) NOT NULL DEFAULT '',
	refunded_fee   BIGINT NOT NULL DEFAULT 0,
	created_at     BIGINT NOT NULL,
	paid_at        BIGINT NOT NULL DEFAULT 0,
	updated_at     BIGINT NOT NULL,
	UNIQUE KEY openid_request (openid, request_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS refunds (
	out_refund_no VARCHAR(64) NOT NULL PRIMARY KEY,
	out_trade_no  VARCHAR(32) NOT NULL,
	refund_fee    BIGINT NOT NULL,
	reason        VARCHAR(255) NOT NULL,
	state         VARCHAR(16) NOT NULL,
	refund_id     VARCHAR(64) NOT NULL DEFAULT '',
	created_at    BIGINT NOT NULL,
	updated_at    BIGINT NOT NULL,
	KEY refunds_order (out_trade_no)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS notifications (
	id            BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
	kind          VARCHAR(16) NOT NULL,
	out_trade_no  VARCHAR(32) NOT NULL,
	out_refund_no VARCHAR(64) NOT NULL,
	fields        MEDIUMTEXT NOT NULL,
	received_at   BIGINT NOT NULL,
	KEY notifications_order (out_trade_no)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

INSERT INTO schema_version (version) VALUES (1);
