-- QR payments: merchant-presented orders (the terminal shows a code the
-- customer's wallet pays) and consumer-presented micropay (the terminal
-- scans the customer's payment code). One row per (terminal, seq): seq is
-- the terminal's idempotency key, out_trade_no = terminal ID and seq. A paid
-- order also has a row in payments (kind 'qr'), so it settles and appears in
-- statements like a card payment. The customer's code is kept only as a
-- keyed hash and a masked form.
CREATE TABLE qr_orders (
    id TEXT PRIMARY KEY,
    terminal_id TEXT NOT NULL,
    merchant_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    out_trade_no TEXT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT NOT NULL,
    amount_minor BIGINT NOT NULL,
    currency BIGINT NOT NULL,
    mcc TEXT NOT NULL,
    bill_number TEXT NOT NULL,
    wallet TEXT,
    code_hash TEXT,
    masked_code TEXT,
    confirmations_left BIGINT NOT NULL,
    then_status TEXT,
    payment_id TEXT,
    fee_bps BIGINT,
    business_date TEXT,
    created_ms BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL,
    UNIQUE (terminal_id, seq)
);
CREATE INDEX qr_orders_by_code ON qr_orders (code_hash);
-- A customer's code pays at most one consumer-presented order, even when two
-- terminals scan it at the same moment (refusals do not count).
CREATE UNIQUE INDEX qr_orders_code_once ON qr_orders (code_hash) WHERE kind = 'cpm' AND status <> 'FAIL'
