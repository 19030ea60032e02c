-- Per-merchant risk threshold: a payment whose score reaches it is declined.
ALTER TABLE merchants ADD COLUMN risk_threshold BIGINT NOT NULL DEFAULT 100;
CREATE INDEX payments_by_merchant_time ON payments (merchant_id, created_ms);
CREATE INDEX payments_by_terminal_time ON payments (terminal_id, created_ms)
