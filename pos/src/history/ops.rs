//! The merchant's use cases over the history, behind `softpos history`,
//! `receipt`, `refund`, `void` and `totals` (and, later, the app's
//! commands): plain functions over the terminal's data directory.

use super::{record_refund, record_void, Filter, History, Kind, Record, Status, Totals};
use crate::queue::Queue;
use crate::receipt::Receipt;
use crate::sync::{now_ms, Client, Identity, SyncError};
use crate::PosError;
use serde::Serialize;
use std::path::Path;

fn io(e: impl std::fmt::Display) -> PosError {
    PosError::Io(e.to_string())
}

fn usage(e: super::HistoryError) -> PosError {
    match e {
        super::HistoryError::Invalid(m) => PosError::Usage(m),
        other => PosError::Io(other.to_string()),
    }
}

/// The enrolled terminal's identity, queue and history in `dir`, with the
/// history caught up on what the forwarder delivered. No network.
pub fn open_local(dir: &Path) -> Result<(Identity, Queue, History), PosError> {
    if !Identity::exists(dir) {
        return Err(PosError::Usage(format!(
            "{}: no enrolled terminal here (take a payment with `softpos pay` first)",
            dir.display()
        )));
    }
    let identity = Identity::open(dir).map_err(io)?;
    let key = identity.queue_key().map_err(io)?;
    let queue = Queue::open(&dir.join("queue.sqlite"), identity.terminal_id(), &key).map_err(io)?;
    let mut history = History::open_in(dir).map_err(io)?;
    history.reconcile(&queue, now_ms()).map_err(io)?;
    Ok((identity, queue, history))
}

/// Payments in `dir`'s history matching `filter`.
pub fn search(dir: &Path, filter: &Filter) -> Result<Vec<Record>, PosError> {
    let (_, _, history) = open_local(dir)?;
    history.search(filter).map_err(usage)
}

/// The receipt of the payment recorded under `tsc`.
pub fn receipt(dir: &Path, tsc: u32) -> Result<Receipt, PosError> {
    let (identity, _, history) = open_local(dir)?;
    let rec = history
        .by_tsc(tsc)
        .map_err(io)?
        .ok_or_else(|| PosError::Usage(format!("no payment with tsc {tsc} in the history")))?;
    Ok(Receipt::build(&rec, identity.config()))
}

/// The totals of one business date (`YYYY-MM-DD`, UTC; today if `None`).
pub fn totals(dir: &Path, date: Option<&str>) -> Result<Totals, PosError> {
    let (_, _, history) = open_local(dir)?;
    let today = super::date_of_ms(now_ms());
    history.totals(date.unwrap_or(&today)).map_err(usage)
}

/// What a refund or void did.
#[derive(Debug, Clone, Serialize)]
pub struct Adjustment {
    /// The refund's own record, or the voided payment's.
    pub record: Record,
    pub receipt: Receipt,
}

/// The approved payment under `tsc` that a refund or void may name.
fn approved_original(history: &History, tsc: u32) -> Result<(Record, String), PosError> {
    let rec = history
        .by_tsc(tsc)
        .map_err(io)?
        .ok_or_else(|| PosError::Usage(format!("no payment with tsc {tsc} in the history")))?;
    if rec.kind == Kind::Refund {
        return Err(PosError::Usage(format!("tsc {tsc} is itself a refund")));
    }
    if rec.status != Status::Approved {
        return Err(PosError::Usage(format!(
            "tsc {tsc} is {}: only an approved payment can be refunded or voided",
            rec.status.as_str()
        )));
    }
    let id = rec
        .payment_id
        .clone()
        .ok_or_else(|| PosError::Usage(format!("tsc {tsc} has no acquirer payment ID yet")))?;
    Ok((rec, id))
}

/// Calls `f` again while the acquirer may have acted but did not answer:
/// refunds and voids are idempotent under the same key, so a retry cannot
/// move money twice, while giving up could leave the merchant unsure.
fn with_retries<T>(mut f: impl FnMut() -> Result<T, SyncError>) -> Result<T, SyncError> {
    let mut last = None;
    for _ in 0..3 {
        match f() {
            Err(SyncError::NoAnswer(why)) => last = Some(SyncError::NoAnswer(why)),
            other => return other,
        }
    }
    Err(last.unwrap_or_else(|| SyncError::NoAnswer("no answer".into())))
}

fn refused(e: SyncError) -> PosError {
    match e {
        SyncError::Refused { code, message, .. } => {
            PosError::Usage(format!("the acquirer refused ({code}): {message}"))
        }
        other => PosError::Io(other.to_string()),
    }
}

/// Refunds `amount_minor` (what is left of it if `None`) of the approved
/// payment under `tsc`, under a new tsc of its own, and records it.
pub fn refund(
    client: &mut Client,
    queue: &mut Queue,
    history: &mut History,
    tsc: u32,
    amount_minor: Option<u64>,
) -> Result<Adjustment, PosError> {
    let (original, payment_id) = approved_original(history, tsc)?;
    if original.kind == Kind::Qr {
        return refund_qr(client, queue, history, &original, amount_minor);
    }
    let left = original
        .amount_minor
        .saturating_sub(original.refunded_minor);
    let amount = amount_minor.unwrap_or(left);
    if amount == 0 || amount > left {
        return Err(PosError::Usage(format!(
            "refund amount must be 1 to {left} minor units (what is left of tsc {tsc})"
        )));
    }
    let refund_tsc = queue.next_tsc().map_err(io)?;
    let resp = with_retries(|| client.refund(refund_tsc, &payment_id, amount)).map_err(refused)?;
    let id = record_refund(history, &original, &resp, amount, now_ms()).map_err(io)?;
    adjustment(client, history, id, "refund")
}

/// Voids the approved, unsettled payment under `tsc` and records it.
pub fn void(client: &mut Client, history: &mut History, tsc: u32) -> Result<Adjustment, PosError> {
    let (original, payment_id) = approved_original(history, tsc)?;
    if original.kind == Kind::Qr {
        return void_qr(client, history, &original);
    }
    let resp = with_retries(|| client.void(&payment_id)).map_err(refused)?;
    if !resp.reversed {
        return Err(PosError::Usage(format!(
            "the acquirer did not void tsc {tsc} ({}): {}",
            resp.status, resp.message
        )));
    }
    let id = record_void(history, &original, &resp, now_ms()).map_err(io)?;
    adjustment(client, history, id, "void")
}

/// The row `what` was just recorded as, with its receipt.
fn adjustment(
    client: &Client,
    history: &History,
    id: i64,
    what: &str,
) -> Result<Adjustment, PosError> {
    let record = history
        .by_id(id)
        .map_err(io)?
        .ok_or_else(|| PosError::Io(format!("{what} recorded but not found")))?;
    let receipt = Receipt::build(&record, client.identity().config());
    Ok(Adjustment { record, receipt })
}

fn qr_refused(e: crate::qr::flow::QrFlowError) -> PosError {
    use crate::qr::flow::QrFlowError;
    match e {
        QrFlowError::Refused { code, message } => {
            PosError::Usage(format!("the acquirer refused ({code}): {message}"))
        }
        other => PosError::Io(other.to_string()),
    }
}

/// The QR side of [`refund`]: `/v1/qr/refunds` under a new tsc, which is
/// remembered until the acquirer answers, so that a refund whose answers
/// were all lost is resent under the same tsc and can never be paid twice.
fn refund_qr(
    client: &mut Client,
    queue: &mut Queue,
    history: &mut History,
    original: &Record,
    amount_minor: Option<u64>,
) -> Result<Adjustment, PosError> {
    use crate::qr::flow::QrFlowError;
    let order_seq = original
        .tsc
        .ok_or_else(|| PosError::Usage("this QR sale has no sequence number".into()))?;
    let mut pending = history.pending_qr_refund(order_seq).map_err(io)?;
    let left = original
        .amount_minor
        .saturating_sub(original.refunded_minor);
    let amount = match pending {
        Some(p) => p.amount_minor,
        None => amount_minor.unwrap_or(left),
    };
    if pending.is_none() && (amount == 0 || amount > left) {
        return Err(PosError::Usage(format!(
            "refund amount must be 1 to {left} minor units (what is left of tsc {order_seq})"
        )));
    }
    let resent = pending.is_some();
    let p = match pending.take() {
        Some(p) => p,
        None => {
            let p = super::PendingQrRefund {
                order_seq,
                refund_seq: queue.next_tsc().map_err(io)?,
                amount_minor: amount,
            };
            history.arm_qr_refund(&p, now_ms()).map_err(io)?;
            p
        }
    };
    let resp = match crate::qr::refund::refund(client, p.refund_seq, order_seq, p.amount_minor) {
        Ok(r) => r,
        // The acquirer answered no: nothing moved, nothing is owed.
        Err(e @ QrFlowError::Refused { .. }) => {
            history.disarm_qr_refund(order_seq).map_err(io)?;
            return Err(qr_refused(e));
        }
        // Offline at the first send: nothing left the terminal.
        Err(e @ QrFlowError::Offline(_)) if !resent => {
            history.disarm_qr_refund(order_seq).map_err(io)?;
            return Err(qr_refused(e));
        }
        Err(e) => return Err(qr_refused(e)),
    };
    let id = super::record_qr_refund(history, original, &resp, now_ms()).map_err(io)?;
    history.disarm_qr_refund(order_seq).map_err(io)?;
    if resent && amount_minor.is_some_and(|a| a != p.amount_minor) {
        return Err(PosError::Usage(format!(
            "an earlier refund of {} minor units of tsc {order_seq}, whose answer was lost, \
             has now been confirmed and recorded (tsc {}); check the history before refunding again",
            p.amount_minor, p.refund_seq
        )));
    }
    adjustment(client, history, id, "refund")
}

/// The QR side of [`void`]: the acquirer's cancel, which reverses a paid
/// order while it is unsettled and not partly refunded.
fn void_qr(
    client: &mut Client,
    history: &mut History,
    original: &Record,
) -> Result<Adjustment, PosError> {
    let order_seq = original
        .tsc
        .ok_or_else(|| PosError::Usage("this QR sale has no sequence number".into()))?;
    let order = crate::qr::refund::void(client, order_seq).map_err(qr_refused)?;
    if order.status != "REVERSED" {
        return Err(PosError::Usage(format!(
            "the acquirer did not void tsc {order_seq} ({}): {}",
            order.status, order.reason
        )));
    }
    let id = super::record_qr_void(history, original, &order, now_ms()).map_err(io)?;
    adjustment(client, history, id, "void")
}

/// The tsc of the QR sale whose acquirer payment ID or order ID is `id`,
/// for `softpos qr refund` (a receipt shows either).
pub fn qr_sale_tsc(history: &History, id: &str) -> Result<u32, PosError> {
    history
        .qr_sale_by_id(id)
        .map_err(io)?
        .and_then(|r| r.tsc)
        .ok_or_else(|| {
            PosError::Usage(format!(
                "no QR sale with payment or order ID {id} in the history"
            ))
        })
}
