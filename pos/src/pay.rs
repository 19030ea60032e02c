//! A card payment end to end: the kernel's outcome goes to the acquirer
//! online, or into the offline queue when the rules allow, and what the
//! merchant is told follows only from what is durable.
//!
//! Order matters here: a reversal is recorded before an authorization is
//! sent, and an offline payment is committed before "accepted offline" is
//! returned, so a crash at any point leaves either nothing owed or a record
//! of what is owed.

use crate::queue::{Admission, EntryKind, OfflineLimits, Queue};
use crate::sync::{now_ms, Client, Identity, PaymentRequest, PaymentResponse, SyncError};
use crate::PosError;
use kernel::{Outcome, OutcomeKind, Tag};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Field 55 as the acquirer takes it: these tags and no others, so that
/// track data and the like never leave the terminal.
const FIELD_55: &[u32] = &[
    0x5A, 0x5F34, 0x9F02, 0x9F03, 0x9F1A, 0x95, 0x5F2A, 0x9A, 0x9C, 0x9F37, 0x82, 0x9F36, 0x9F10,
    0x9F26, 0x9F27,
];

/// How a payment ended, for the merchant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PayStatus {
    /// The issuer approved online.
    Approved,
    /// Stored durably; it will be sent when the acquirer is reachable.
    AcceptedOffline,
    /// Declined by the card, the issuer, the acquirer or the offline rules.
    Declined,
    /// The authorization got no answer and was (or will be) reversed.
    Reversed,
    /// The card exchange ended without a payment (try again, another
    /// interface, ...).
    NotCompleted,
}

/// What one payment did.
#[derive(Debug, Clone, Serialize)]
pub struct PayResult {
    pub status: PayStatus,
    /// Transaction sequence counter, when the payment got one.
    pub tsc: Option<u32>,
    /// The kernel's outcome (`online_request`, `approved`, ...).
    pub card_outcome: String,
    pub masked_pan: Option<String>,
    pub response: Option<PaymentResponse>,
    /// One line for the merchant.
    pub message: String,
}

/// The field 55 hex string from a kernel outcome's data record.
pub fn field_55(outcome: &Outcome) -> Result<String, PosError> {
    let mut out = Vec::new();
    for &t in FIELD_55 {
        let tag = Tag::from_u32_unchecked(t);
        if let Some(v) = outcome.data_record.0.get(&tag) {
            kernel::tlv::encode(tag, v, &mut out)
                .map_err(|e| PosError::Config(format!("field 55 tag {tag}: {e}")))?;
        }
    }
    Ok(hex::encode_upper(out))
}

fn io(e: impl std::fmt::Display) -> PosError {
    PosError::Io(e.to_string())
}

/// The enrolled terminal in `dir`, enrolling with `activation_code` on
/// first use, with its queue.
pub fn open_terminal(
    dir: &Path,
    acquirer: &str,
    activation_code: Option<&str>,
    binary_sha256: &str,
) -> Result<(Client, Queue), PosError> {
    open_terminal_pinned(dir, acquirer, activation_code, None, binary_sha256)
}

/// [`open_terminal`], enrolling only with the acquirer whose public key has
/// SHA-256 `fingerprint` (when given): a DNS or network attacker cannot
/// enroll the terminal with a backend of its own.
pub fn open_terminal_pinned(
    dir: &Path,
    acquirer: &str,
    activation_code: Option<&str>,
    fingerprint: Option<&str>,
    binary_sha256: &str,
) -> Result<(Client, Queue), PosError> {
    let identity = if Identity::exists(dir) {
        Identity::open(dir).map_err(io)?
    } else {
        let code = activation_code.ok_or_else(|| {
            PosError::Usage(
                "this terminal is not enrolled yet: pass --activation-code from the acquirer"
                    .into(),
            )
        })?;
        Client::enroll_pinned(acquirer, code, fingerprint, dir).map_err(io)?
    };
    let key = identity.queue_key().map_err(io)?;
    let queue = Queue::open(&dir.join("queue.sqlite"), identity.terminal_id(), &key).map_err(io)?;
    Ok((Client::new(acquirer, identity, binary_sha256), queue))
}

fn result(
    status: PayStatus,
    tsc: Option<u32>,
    outcome: &Outcome,
    response: Option<PaymentResponse>,
    message: String,
) -> PayResult {
    PayResult {
        status,
        tsc,
        card_outcome: outcome.kind.as_str().to_string(),
        masked_pan: outcome.masked_pan.as_ref().map(ToString::to_string),
        response,
        message,
    }
}

/// Settles a kernel outcome with the acquirer or the queue.
pub fn charge(
    client: &mut Client,
    queue: &mut Queue,
    outcome: &Outcome,
    amount_minor: u64,
) -> Result<PayResult, PosError> {
    let config = client.identity().config().clone();
    let limits = OfflineLimits::from_config(&config);
    let kind = match outcome.kind {
        OutcomeKind::OnlineRequest => EntryKind::Authorization,
        OutcomeKind::Approved => EntryKind::Advice,
        OutcomeKind::Declined => {
            return Ok(result(
                PayStatus::Declined,
                None,
                outcome,
                None,
                "declined by the card".into(),
            ))
        }
        other => {
            return Ok(result(
                PayStatus::NotCompleted,
                None,
                outcome,
                None,
                format!("card exchange ended: {}", other.as_str()),
            ))
        }
    };
    let tsc = queue.reserve_tsc().map_err(io)?;
    let req = PaymentRequest {
        tsc,
        mcc: config.mcc.clone(),
        amount_minor,
        currency: config.currency,
        icc_data: field_55(outcome)?,
    };
    let offline = |queue: &mut Queue, kind, why: &str| -> Result<PayResult, PosError> {
        Ok(
            match queue.enqueue(kind, &req, &limits, now_ms()).map_err(io)? {
                Admission::Queued => result(
                    PayStatus::AcceptedOffline,
                    Some(tsc),
                    outcome,
                    None,
                    format!("accepted offline ({why}); it will be sent to the acquirer"),
                ),
                Admission::OverLimit(limit) => result(
                    PayStatus::Declined,
                    Some(tsc),
                    outcome,
                    None,
                    format!("declined: {why} and {limit}"),
                ),
            },
        )
    };
    if kind == EntryKind::Advice {
        return offline(queue, kind, "the card approved offline");
    }
    queue.arm_reversal(tsc, "timeout", now_ms()).map_err(io)?;
    match client.authorize(&req) {
        Ok(resp) => {
            queue
                .record_answer(&crate::queue::Answered {
                    tsc,
                    amount_minor,
                    currency: config.currency,
                    masked_pan: outcome.masked_pan.as_ref().map(ToString::to_string),
                    response: resp.clone(),
                    created_ms: now_ms(),
                })
                .map_err(io)?;
            let status = if resp.approved {
                PayStatus::Approved
            } else {
                PayStatus::Declined
            };
            let message = if resp.approved {
                format!(
                    "approved, auth code {}",
                    resp.auth_code.as_deref().unwrap_or("-")
                )
            } else {
                format!(
                    "declined by the issuer ({}): {}",
                    resp.response_code, resp.reason
                )
            };
            Ok(result(status, Some(tsc), outcome, Some(resp), message))
        }
        // Nothing was sent: the payment may go offline instead, under the
        // same tsc (enqueue drops the armed reversal in its transaction).
        Err(SyncError::Unreachable(why)) => {
            let r = offline(queue, kind, &format!("acquirer unreachable: {why}"))?;
            if r.status != PayStatus::AcceptedOffline {
                queue.disarm_reversal(tsc).map_err(io)?;
            }
            Ok(r)
        }
        Err(SyncError::Refused {
            status: 400..=499,
            code,
            message,
        }) => {
            queue.disarm_reversal(tsc).map_err(io)?;
            Ok(result(
                PayStatus::Declined,
                Some(tsc),
                outcome,
                None,
                format!("declined: the acquirer refused the request ({code}): {message}"),
            ))
        }
        // The acquirer may have approved: reverse now if possible, else the
        // armed record makes the forwarder do it.
        Err(e) => {
            let reversed_now = client.reverse(tsc, "timeout").is_ok();
            if reversed_now {
                queue.disarm_reversal(tsc).map_err(io)?;
            }
            Ok(result(
                PayStatus::Reversed,
                Some(tsc),
                outcome,
                None,
                format!(
                    "not paid: {e}; the authorization {}",
                    if reversed_now {
                        "was reversed"
                    } else {
                        "will be reversed when the acquirer is reachable"
                    }
                ),
            ))
        }
    }
}

/// `softpos pay`.
#[derive(Debug, Clone)]
pub struct PayRequest {
    pub amount: u64,
    pub currency: String,
    /// A built-in virtual card's profile (`visa-cvn18`), or a real reader
    /// (`nfc:<connstring>`, `pcsc:<name>`) to wait on for a card.
    pub card: String,
    pub acquirer: String,
    pub activation_code: Option<String>,
    /// SHA-256 (hex) of the acquirer's public key, from the merchant's
    /// activation letter: enrollment refuses any other acquirer.
    pub acquirer_fingerprint: Option<String>,
    pub data_dir: PathBuf,
    /// SHA-256 of this app's binary, as attestation reports it.
    pub binary_sha256: String,
}

/// What `softpos pay` prints.
#[derive(Debug, Clone, Serialize)]
pub struct PayReport {
    pub payment: PayResult,
    pub terminal_id: String,
    /// Queued payments delivered by this run's forwarder.
    pub forwarded: usize,
    /// Still waiting in the queue.
    pub queued: u64,
    /// Payments the merchant must hear about (declined after the sale).
    pub notices: Vec<String>,
    /// The payment's receipt, as the history holds it after this run.
    pub receipt: Option<crate::receipt::Receipt>,
}

/// Enrolls if needed, taps, charges, then lets the forwarder drain what
/// it can.
pub fn pay(req: &PayRequest, now: &crate::clock::Now) -> Result<PayReport, PosError> {
    let (mut client, mut queue) = open_terminal_pinned(
        &req.data_dir,
        &req.acquirer,
        req.activation_code.as_deref(),
        req.acquirer_fingerprint.as_deref(),
        &req.binary_sha256,
    )?;
    let config = client.identity().config().clone();
    let currency = kernel::Currency::parse(&req.currency)
        .map_err(|e| PosError::Usage(format!("--currency: {e}")))?;
    if currency.numeric != config.currency {
        return Err(PosError::Usage(format!(
            "--currency {}: this terminal is configured for currency {}",
            req.currency, config.currency
        )));
    }
    if req.amount == 0 || req.amount > config.max_amount_minor {
        return Err(PosError::Usage(format!(
            "--amount must be 1 to {} minor units",
            config.max_amount_minor
        )));
    }
    let tap = if req.card.starts_with("nfc:") || req.card.starts_with("pcsc:") {
        crate::tap::tap_live(
            &req.card,
            &crate::tap::LiveTapRequest {
                amount: req.amount,
                currency: req.currency.clone(),
                keep_test_pan: false,
            },
            std::time::Duration::from_secs(30),
            &mut |m| eprintln!("softpos: {m}"),
            now,
        )?
    } else {
        crate::tap::tap(
            &crate::tap::TapRequest {
                card: req.card.clone(),
                amount: req.amount,
                currency: req.currency.clone(),
                keep_test_pan: false,
            },
            now,
        )?
    };
    let payment = charge(&mut client, &mut queue, &tap.outcome, req.amount)?;
    // After the payment's own durable step: a history that cannot be
    // written is told to the merchant, it does not undo the payment.
    let mut notices: Vec<String> = Vec::new();
    let mut history = crate::history::History::open_in(&req.data_dir)
        .map_err(|e| notices.push(format!("history not written: {e}")))
        .ok();
    let history_id = history.as_mut().and_then(|h| {
        crate::history::record_charge(h, &payment, req.amount, config.currency, now_ms())
            .map_err(|e| notices.push(format!("history not written: {e}")))
            .ok()
            .flatten()
    });
    let forwarded = queue.forward(&mut client, now_ms()).map_err(io)?;
    let receipt = history.as_mut().and_then(|h| {
        if let Err(e) = h.reconcile(&queue, now_ms()) {
            notices.push(format!("history not updated: {e}"));
        }
        let rec = h.by_id(history_id?).ok().flatten()?;
        Some(crate::receipt::Receipt::build(
            &rec,
            client.identity().config(),
        ))
    });
    notices.extend(
        queue
            .entries()
            .map_err(io)?
            .iter()
            .filter_map(crate::queue::Entry::merchant_notice),
    );
    Ok(PayReport {
        payment,
        terminal_id: client.identity().terminal_id().to_string(),
        forwarded: forwarded.delivered.len(),
        queued: forwarded.pending,
        notices,
        receipt,
    })
}
