//! The history's side of QR refunds and voids: finding a QR sale by the
//! acquirer's IDs, recording a refund or a void, and remembering a refund
//! that was sent but not answered.
//!
//! A refund's sequence number is its idempotency key at the acquirer. If
//! every answer to it was lost, the acquirer may have refunded; asking
//! again under a fresh number could refund twice. So the number is written
//! here before the refund is sent and forgotten only once the acquirer has
//! answered it, and the next refund of that sale resends it first.

use super::{date_of_ms, History, HistoryError, Kind, NewRecord, Record, Status, COLUMNS};
use crate::qr::flow::Order;
use crate::qr::refund::QrRefund;
use crate::sync::Figures;
use rusqlite::{params, OptionalExtension};

/// A QR refund sent whose answer is not known yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingQrRefund {
    /// The sale's sequence number (its order's seq at the acquirer).
    pub order_seq: u32,
    pub refund_seq: u32,
    pub amount_minor: u64,
}

impl History {
    fn pending_table(&self) -> Result<(), HistoryError> {
        self.conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS qr_pending_refunds (
                 order_seq INTEGER PRIMARY KEY, refund_seq INTEGER NOT NULL,
                 amount_minor INTEGER NOT NULL, created_ms INTEGER NOT NULL);",
        )?;
        Ok(())
    }

    /// The refund of the sale `order_seq` still waiting for its answer.
    pub fn pending_qr_refund(
        &self,
        order_seq: u32,
    ) -> Result<Option<PendingQrRefund>, HistoryError> {
        self.pending_table()?;
        Ok(self
            .conn
            .query_row(
                "SELECT refund_seq, amount_minor FROM qr_pending_refunds WHERE order_seq = ?1",
                [order_seq],
                |r| {
                    Ok(PendingQrRefund {
                        order_seq,
                        refund_seq: r.get(0)?,
                        amount_minor: r.get(1)?,
                    })
                },
            )
            .optional()?)
    }

    /// Remembers a refund about to be sent (one per sale at a time).
    pub fn arm_qr_refund(&mut self, p: &PendingQrRefund, now_ms: u64) -> Result<(), HistoryError> {
        self.pending_table()?;
        self.conn.execute(
            "INSERT INTO qr_pending_refunds (order_seq, refund_seq, amount_minor, created_ms) \
             VALUES (?1, ?2, ?3, ?4)",
            params![
                p.order_seq,
                p.refund_seq,
                super::i64_of(p.amount_minor)?,
                super::i64_of(now_ms)?
            ],
        )?;
        Ok(())
    }

    /// The acquirer answered the pending refund of `order_seq` (approved or
    /// refused): nothing is owed for it any more.
    pub fn disarm_qr_refund(&mut self, order_seq: u32) -> Result<(), HistoryError> {
        self.pending_table()?;
        self.conn.execute(
            "DELETE FROM qr_pending_refunds WHERE order_seq = ?1",
            [order_seq],
        )?;
        Ok(())
    }

    /// The QR sale whose acquirer payment ID or order ID is `id`.
    pub fn qr_sale_by_id(&self, id: &str) -> Result<Option<Record>, HistoryError> {
        Ok(self
            .conn
            .query_row(
                &format!(
                    "SELECT {COLUMNS} FROM payments WHERE kind = 'qr' \
                     AND (payment_id = ?1 OR reference = ?1) ORDER BY id LIMIT 1"
                ),
                [id],
                super::row_to_record,
            )
            .optional()?)
    }
}

/// Records a QR refund the acquirer approved, under its own sequence
/// number; its sale shows it as refunded. Recording the same answer again
/// changes nothing.
pub fn record_qr_refund(
    history: &mut History,
    original: &Record,
    resp: &QrRefund,
    now_ms: u64,
) -> Result<i64, HistoryError> {
    let amount = i64::try_from(resp.amount_minor)
        .map_err(|_| HistoryError::Invalid(format!("{} out of range", resp.amount_minor)))?;
    history.record(&NewRecord {
        tsc: Some(resp.refund_seq),
        reference: Some(resp.refund_id.clone()),
        kind: Kind::Refund,
        channel: "qr".into(),
        status: Status::Approved,
        amount_minor: resp.amount_minor,
        currency: resp.currency,
        masked_pan: original.masked_pan.clone(),
        wallet: original.wallet.clone(),
        payment_id: Some(resp.refund_id.clone()),
        original_payment_id: Some(resp.payment_id.clone()),
        auth_code: None,
        response_code: Some(resp.status.clone()),
        message: format!(
            "refund of QR tsc {}",
            original
                .tsc
                .map_or_else(|| "-".to_string(), |t| t.to_string())
        ),
        // The acquirer keeps no fee on a refund: the merchant pays it back
        // in full.
        figures: Some(Figures {
            fee_bps: original.fee_bps.unwrap_or(0),
            fee_minor: 0,
            net_minor: -amount,
            business_date: date_of_ms(now_ms),
            settlement_date: String::new(),
        }),
        at_ms: now_ms,
    })
}

/// Records the acquirer's answer to a void (cancel) of the QR sale
/// `original`: reversed, it no longer counts, so fee and net are 0.
pub fn record_qr_void(
    history: &mut History,
    original: &Record,
    order: &Order,
    now_ms: u64,
) -> Result<i64, HistoryError> {
    let mut rec = NewRecord::from_record(original, now_ms);
    rec.response_code = Some(order.status.clone());
    if order.status == "REVERSED" {
        rec.status = Status::Reversed;
        rec.message = "voided by the merchant: the wallet payment was reversed".into();
        rec.figures = Some(Figures {
            fee_bps: original.fee_bps.unwrap_or(0),
            fee_minor: 0,
            net_minor: 0,
            business_date: original.business_date.clone(),
            settlement_date: original.settlement_date.clone().unwrap_or_default(),
        });
    }
    history.record(&rec)
}
