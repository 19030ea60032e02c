-- Secrets the acquirer keeps across restarts (acquirer signing key, PAN
-- token key, attestation token key). Test deployments only: production keeps
-- these in an HSM or KMS, never in the database.
CREATE TABLE secrets (
    name TEXT PRIMARY KEY,
    value_hex TEXT NOT NULL
);

CREATE TABLE merchants (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    mcc TEXT NOT NULL,
    settlement_account TEXT NOT NULL,
    fee_bps BIGINT NOT NULL,
    currency BIGINT NOT NULL,
    key_hash TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);

-- Append-only, hash-chained: each entry's hash covers the previous hash.
CREATE TABLE merchant_history (
    merchant_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    PRIMARY KEY (merchant_id, seq)
);

CREATE TABLE merchant_changes (
    id TEXT PRIMARY KEY,
    merchant_id TEXT NOT NULL,
    fee_bps BIGINT,
    mcc TEXT,
    status TEXT NOT NULL,
    proposed_ms BIGINT NOT NULL,
    decided_ms BIGINT
);

CREATE TABLE activation_codes (
    code_hash TEXT PRIMARY KEY,
    merchant_id TEXT NOT NULL,
    expires_ms BIGINT NOT NULL,
    used_ms BIGINT
);

CREATE TABLE terminals (
    id TEXT PRIMARY KEY,
    merchant_id TEXT NOT NULL,
    public_key_hex TEXT NOT NULL,
    key_kind TEXT NOT NULL,
    config_json TEXT NOT NULL,
    config_sig_hex TEXT NOT NULL,
    blocked BIGINT NOT NULL,
    block_reason TEXT,
    created_ms BIGINT NOT NULL
);

CREATE TABLE monitoring_events (
    id TEXT PRIMARY KEY,
    terminal_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    code TEXT NOT NULL,
    message TEXT NOT NULL,
    at_ms BIGINT NOT NULL
);
CREATE INDEX monitoring_by_terminal ON monitoring_events (terminal_id, at_ms);

CREATE TABLE request_nonces (
    terminal_id TEXT NOT NULL,
    nonce TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    PRIMARY KEY (terminal_id, nonce)
);

CREATE TABLE attest_challenges (
    nonce TEXT PRIMARY KEY,
    terminal_id TEXT NOT NULL,
    issued_ms BIGINT NOT NULL,
    used BIGINT NOT NULL
);

CREATE TABLE attest_counters (
    terminal_id TEXT PRIMARY KEY,
    counter BIGINT NOT NULL
);

-- Issuer simulator: test issuer master keys per PAN range.
CREATE TABLE issuer_ranges (
    pan_prefix TEXT PRIMARY KEY,
    cvn BIGINT NOT NULL,
    imk_ac_hex TEXT NOT NULL,
    default_balance_minor BIGINT NOT NULL,
    velocity_limit BIGINT NOT NULL
);

CREATE TABLE card_accounts (
    pan_token TEXT PRIMARY KEY,
    masked_pan TEXT NOT NULL,
    balance_minor BIGINT NOT NULL,
    blocked BIGINT NOT NULL
);

CREATE TABLE payments (
    id TEXT PRIMARY KEY,
    terminal_id TEXT NOT NULL,
    merchant_id TEXT NOT NULL,
    tsc BIGINT NOT NULL,
    kind TEXT NOT NULL,
    channel TEXT NOT NULL,
    status TEXT NOT NULL,
    amount_minor BIGINT NOT NULL,
    currency BIGINT NOT NULL,
    mcc TEXT NOT NULL,
    fee_bps BIGINT NOT NULL,
    history_seq BIGINT NOT NULL,
    pan_token TEXT NOT NULL,
    masked_pan TEXT NOT NULL,
    response_code TEXT NOT NULL,
    reason TEXT NOT NULL,
    response_json TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    business_date TEXT NOT NULL,
    settlement_id TEXT,
    UNIQUE (terminal_id, kind, tsc)
);
CREATE INDEX payments_by_merchant_date ON payments (merchant_id, business_date);
CREATE INDEX payments_by_card ON payments (pan_token, created_ms);

CREATE TABLE settlements (
    id TEXT PRIMARY KEY,
    merchant_id TEXT NOT NULL,
    business_date TEXT NOT NULL,
    settlement_date TEXT NOT NULL,
    payment_count BIGINT NOT NULL,
    gross_minor BIGINT NOT NULL,
    fees_minor BIGINT NOT NULL,
    net_minor BIGINT NOT NULL,
    currency BIGINT NOT NULL,
    created_ms BIGINT NOT NULL,
    UNIQUE (merchant_id, business_date)
)
