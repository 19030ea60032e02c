-- Every payout file (ISO 20022 pain.001) the acquirer produced: its MsgId,
-- the settlement date it pays, the settlement IDs it contains (JSON array,
-- in file order), the SHA-256 of its bytes and when it was first produced
-- (its CreDtTm, so the same MsgId always gives the same file).
CREATE TABLE payout_files (
    msg_id TEXT PRIMARY KEY,
    settlement_date TEXT NOT NULL,
    settlement_ids TEXT NOT NULL,
    tx_count BIGINT NOT NULL,
    file_sha256 TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE INDEX payout_files_by_date ON payout_files (settlement_date, created_ms);
-- The payout file reads a date's settlements across all merchants.
CREATE INDEX settlements_by_date ON settlements (settlement_date)
