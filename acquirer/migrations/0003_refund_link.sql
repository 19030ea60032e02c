-- A refund names the payment it refunds, so refunds can be summed per payment.
ALTER TABLE payments ADD COLUMN original_payment_id TEXT;
CREATE INDEX payments_by_original ON payments (original_payment_id)
