//! The store-and-forward queue: payments accepted without the acquirer,
//! kept in SQLite until one forwarder has delivered them, and the
//! reversals owed for authorizations that may have reached the acquirer
//! without an answer coming back.
//!
//! An entry is committed (one transaction, `synchronous=FULL`) before the
//! caller may tell the merchant "accepted offline", and its field 55 is
//! sealed with AES-256-GCM under a key derived from the device identity;
//! only amounts, states and an HMAC of the card number are in clear. The
//! idempotency key is terminal ID + transaction sequence counter (tsc), so
//! a retry or a replayed database delivers each payment once.

use crate::sync::{Client, PaymentRequest, PaymentResponse, SyncError};
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use std::path::Path;

/// Largest advice batch the acquirer takes.
const MAX_BATCH: usize = 100;
/// Longest wait between two delivery attempts.
const MAX_BACKOFF_MS: u64 = 5 * 60_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    #[error("queue storage: {0}")]
    Storage(String),
    /// An entry did not decrypt: the file was altered or the key is wrong.
    #[error("queue entry tsc {0} does not open (altered, or another terminal's key)")]
    Sealed(u32),
    #[error("queue: {0}")]
    Invalid(String),
}

impl From<rusqlite::Error> for QueueError {
    fn from(e: rusqlite::Error) -> Self {
        QueueError::Storage(e.to_string())
    }
}

/// How a queued payment is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// The card approved offline (TC): an advice.
    Advice,
    /// The card asked to go online (ARQC) while the acquirer could not be
    /// reached: a deferred authorization, which the issuer may still decline.
    Authorization,
}

impl EntryKind {
    fn as_str(self) -> &'static str {
        match self {
            EntryKind::Advice => "advice",
            EntryKind::Authorization => "authorization",
        }
    }

    fn parse(s: &str) -> Result<EntryKind, QueueError> {
        match s {
            "advice" => Ok(EntryKind::Advice),
            "authorization" => Ok(EntryKind::Authorization),
            other => Err(QueueError::Invalid(format!("unknown entry kind {other:?}"))),
        }
    }
}

/// The merchant's offline rules, as the acquirer's signed configuration
/// sets them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OfflineLimits {
    pub per_payment_minor: u64,
    /// Undelivered payments at most.
    pub max_count: u64,
    /// Undelivered amount at most.
    pub max_total_minor: u64,
    /// Undelivered payments by one card at most.
    pub max_per_card: u64,
    /// No new offline payment while the oldest undelivered one is older.
    pub max_age_ms: u64,
}

impl OfflineLimits {
    /// The rules of a signed configuration; a rule an older configuration
    /// lacks (or sets to 0) falls back to [`OfflineLimits::from_per_payment`].
    pub fn from_config(config: &crate::sync::TerminalConfig) -> OfflineLimits {
        let caps = OfflineLimits::from_per_payment(config.offline_limit_minor);
        let or = |v: Option<u64>, cap: u64| v.filter(|v| *v > 0).unwrap_or(cap);
        OfflineLimits {
            per_payment_minor: config.offline_limit_minor,
            max_count: or(config.offline_max_count, caps.max_count),
            max_total_minor: or(config.offline_max_total_minor, caps.max_total_minor),
            max_per_card: or(config.offline_max_per_card, caps.max_per_card),
            max_age_ms: or(config.offline_max_age_ms, caps.max_age_ms),
        }
    }

    /// The terminal's own caps around a per-payment limit.
    pub fn from_per_payment(per_payment_minor: u64) -> OfflineLimits {
        OfflineLimits {
            per_payment_minor,
            max_count: 50,
            max_total_minor: per_payment_minor.saturating_mul(20),
            max_per_card: 3,
            max_age_ms: 24 * 3_600_000,
        }
    }
}

/// Whether a payment was written to the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Durably stored: the merchant may be told "accepted offline".
    Queued,
    /// Not stored; the payment must be declined with this reason.
    OverLimit(String),
}

/// Where a queued payment stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryState {
    Pending {
        attempts: u32,
    },
    /// The acquirer answered; `approved` false means the issuer declined
    /// (or the advice was rejected) after the sale.
    Delivered(PaymentResponse),
    /// The acquirer refused the request itself.
    Refused(String),
}

/// One queued payment, without its card data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub tsc: u32,
    pub kind: EntryKind,
    pub amount_minor: u64,
    pub created_ms: u64,
    pub state: EntryState,
}

impl Entry {
    /// What the merchant should be told about this payment, if anything.
    pub fn merchant_notice(&self) -> Option<String> {
        match &self.state {
            EntryState::Delivered(r) if !r.approved => Some(format!(
                "payment tsc {} ({} minor units) was accepted offline but {} after the sale ({} {}): the money will not arrive; ask the customer to pay again by another means",
                self.tsc, self.amount_minor, r.status, r.response_code, r.reason
            )),
            EntryState::Refused(why) => Some(format!(
                "payment tsc {} ({} minor units) was accepted offline but the acquirer refused it ({why}): contact the acquirer",
                self.tsc, self.amount_minor
            )),
            _ => None,
        }
    }
}

/// What one forwarding run did.
#[derive(Debug, Default)]
pub struct Forwarded {
    pub reversals_sent: usize,
    pub delivered: Vec<(u32, PaymentResponse)>,
    pub refused: Vec<(u32, String)>,
    /// Why forwarding stopped before the queue was empty.
    pub stopped: Option<SyncError>,
    /// Entries still undelivered.
    pub pending: u64,
}

/// An entry due for delivery, still sealed.
struct Due {
    tsc: u32,
    kind: EntryKind,
    sealed: Vec<u8>,
    attempts: u32,
}

/// How long [`Queue::record_answer`] keeps an answer.
const ANSWERS_KEPT_MS: u64 = 30 * 24 * 3_600_000;

/// An online authorization's answer, as the terminal received it.
#[derive(Debug, Clone, PartialEq)]
pub struct Answered {
    pub tsc: u32,
    pub amount_minor: u64,
    /// ISO 4217 numeric.
    pub currency: u16,
    pub masked_pan: Option<String>,
    pub response: PaymentResponse,
    pub created_ms: u64,
}

/// The queue, one SQLite file per terminal.
pub struct Queue {
    conn: Connection,
    terminal_id: String,
    aead: LessSafeKey,
    card_key: ring::hmac::Key,
    rng: SystemRandom,
    /// A tsc handed out by [`Queue::reserve_tsc`] that no commit has
    /// recorded yet.
    reserved: Option<u32>,
}

fn stored_tsc(conn: &Connection) -> Result<u32, QueueError> {
    Ok(conn
        .prepare_cached("SELECT v FROM meta WHERE k = 'tsc'")?
        .query_row([], |r| r.get::<_, String>(0))
        .optional()?
        .and_then(|s| s.parse().ok())
        .unwrap_or(0))
}

fn persist_tsc(conn: &Connection, tsc: u32) -> Result<(), QueueError> {
    conn.prepare_cached(
        "INSERT INTO meta (k, v) VALUES ('tsc', ?1) ON CONFLICT(k) DO UPDATE SET v = excluded.v",
    )?
    .execute([tsc.to_string()])?;
    Ok(())
}

/// Inside a write transaction: records `tsc` as used. A tsc from
/// [`Queue::reserve_tsc`] that another process has meanwhile recorded is
/// refused, so two processes sharing a queue file cannot both send it.
fn claim_tsc(conn: &Connection, reserved: &mut Option<u32>, tsc: u32) -> Result<(), QueueError> {
    let stored = stored_tsc(conn)?;
    if *reserved == Some(tsc) {
        *reserved = None;
        if tsc <= stored {
            return Err(QueueError::Invalid(format!(
                "transaction sequence counter {tsc} was taken by another process using this queue"
            )));
        }
    }
    if tsc > stored {
        persist_tsc(conn, tsc)?;
    }
    Ok(())
}

fn record_result(conn: &Connection, tsc: u32, resp: &PaymentResponse) -> Result<(), QueueError> {
    let json = serde_json::to_string(resp).map_err(|e| QueueError::Invalid(e.to_string()))?;
    conn.prepare_cached("UPDATE entries SET state = 'delivered', result_json = ?2 WHERE tsc = ?1")?
        .execute(params![tsc, json])?;
    Ok(())
}

fn i64_of(v: u64) -> Result<i64, QueueError> {
    i64::try_from(v).map_err(|_| QueueError::Invalid(format!("{v} out of range")))
}

fn u64_of(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn backoff_ms(attempts: u32) -> u64 {
    1000u64
        .checked_shl(attempts.saturating_sub(1).min(20))
        .unwrap_or(MAX_BACKOFF_MS)
        .min(MAX_BACKOFF_MS)
}

impl Queue {
    /// Opens (or creates) the queue of `terminal_id` at `path`. `key` is
    /// [`crate::sync::Identity::queue_key`].
    pub fn open(path: &Path, terminal_id: &str, key: &[u8; 32]) -> Result<Queue, QueueError> {
        let conn = Connection::open(path)?;
        // WAL with FULL: every commit is fsync'd before it returns.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS entries (
                 tsc INTEGER PRIMARY KEY, kind TEXT NOT NULL, amount_minor INTEGER NOT NULL,
                 card_ref TEXT NOT NULL, created_ms INTEGER NOT NULL,
                 state TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0,
                 next_attempt_ms INTEGER NOT NULL DEFAULT 0, sealed BLOB NOT NULL,
                 result_json TEXT, error TEXT);
             CREATE INDEX IF NOT EXISTS entries_pending ON entries(state, tsc);
             -- The offline limits are checked on every enqueue: these keep
             -- the checks to index-only reads.
             CREATE INDEX IF NOT EXISTS entries_limits ON entries(state, amount_minor, created_ms);
             CREATE INDEX IF NOT EXISTS entries_card ON entries(state, card_ref);
             CREATE TABLE IF NOT EXISTS reversals (
                 tsc INTEGER PRIMARY KEY, reason TEXT NOT NULL, created_ms INTEGER NOT NULL);
             -- Online answers, kept with the disarming of their reversal so
             -- that the history can be caught up after a crash.
             CREATE TABLE IF NOT EXISTS answers (
                 tsc INTEGER PRIMARY KEY, amount_minor INTEGER NOT NULL, currency INTEGER NOT NULL,
                 masked_pan TEXT, result_json TEXT NOT NULL, created_ms INTEGER NOT NULL);",
        )?;
        let owner: Option<String> = conn
            .query_row("SELECT v FROM meta WHERE k = 'terminal_id'", [], |r| {
                r.get(0)
            })
            .optional()?;
        match owner {
            Some(t) if t != terminal_id => {
                return Err(QueueError::Invalid(format!(
                    "this queue belongs to terminal {t}, not {terminal_id}"
                )))
            }
            Some(_) => {}
            None => {
                conn.execute(
                    "INSERT INTO meta (k, v) VALUES ('terminal_id', ?1)",
                    [terminal_id],
                )?;
            }
        }
        let aead = LessSafeKey::new(
            UnboundKey::new(&AES_256_GCM, key)
                .map_err(|_| QueueError::Invalid("queue key rejected".into()))?,
        );
        let card_key = ring::hmac::Key::new(
            ring::hmac::HMAC_SHA256,
            ring::digest::digest(
                &ring::digest::SHA256,
                &[b"softpos-card-ref/1".as_slice(), key].concat(),
            )
            .as_ref(),
        );
        Ok(Queue {
            conn,
            terminal_id: terminal_id.to_string(),
            aead,
            card_key,
            rng: SystemRandom::new(),
            reserved: None,
        })
    }

    /// Allocates the next transaction sequence counter, durably, so that a
    /// crash never hands the same tsc to two payments. Costs a commit; a
    /// payment uses [`Queue::reserve_tsc`] instead.
    pub fn next_tsc(&mut self) -> Result<u32, QueueError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let next = stored_tsc(&tx)?
            .max(self.reserved.unwrap_or(0))
            .checked_add(1)
            .ok_or_else(|| QueueError::Invalid("transaction sequence counter exhausted".into()))?;
        persist_tsc(&tx, next)?;
        tx.commit()?;
        self.reserved = None;
        Ok(next)
    }

    /// The next transaction sequence counter, without a commit of its own:
    /// it becomes durable in the same transaction as the
    /// [`Queue::arm_reversal`] or [`Queue::enqueue`] that must follow before
    /// the tsc leaves the terminal. A tsc that never left may be handed out
    /// again after a crash, which is harmless; one that left never is.
    pub fn reserve_tsc(&mut self) -> Result<u32, QueueError> {
        let next = stored_tsc(&self.conn)?
            .max(self.reserved.unwrap_or(0))
            .checked_add(1)
            .ok_or_else(|| QueueError::Invalid("transaction sequence counter exhausted".into()))?;
        self.reserved = Some(next);
        Ok(next)
    }

    /// Records that `tsc` must be reversed unless its answer arrives; call
    /// before sending the authorization.
    pub fn arm_reversal(&mut self, tsc: u32, reason: &str, now_ms: u64) -> Result<(), QueueError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.prepare_cached(
            "INSERT OR REPLACE INTO reversals (tsc, reason, created_ms) VALUES (?1, ?2, ?3)",
        )?
        .execute(params![tsc, reason, i64_of(now_ms)?])?;
        claim_tsc(&tx, &mut self.reserved, tsc)?;
        tx.commit()?;
        Ok(())
    }

    /// The authorization's answer arrived: no reversal is owed.
    pub fn disarm_reversal(&mut self, tsc: u32) -> Result<(), QueueError> {
        self.conn
            .execute("DELETE FROM reversals WHERE tsc = ?1", [tsc])?;
        Ok(())
    }

    /// The authorization's answer arrived: no reversal is owed, and the
    /// answer is kept (in the same commit) for the history to catch up
    /// from if the terminal stops before it records the payment. Answers
    /// older than 30 days are dropped.
    pub fn record_answer(&mut self, answer: &Answered) -> Result<(), QueueError> {
        let json = serde_json::to_string(&answer.response)
            .map_err(|e| QueueError::Invalid(e.to_string()))?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.prepare_cached("DELETE FROM reversals WHERE tsc = ?1")?
            .execute([answer.tsc])?;
        tx.prepare_cached(
            "INSERT OR REPLACE INTO answers (tsc, amount_minor, currency, masked_pan, result_json, created_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            answer.tsc,
            i64_of(answer.amount_minor)?,
            answer.currency,
            answer.masked_pan,
            json,
            i64_of(answer.created_ms)?
        ])?;
        tx.prepare_cached("DELETE FROM answers WHERE created_ms < ?1")?
            .execute([i64_of(answer.created_ms.saturating_sub(ANSWERS_KEPT_MS))?])?;
        tx.commit()?;
        Ok(())
    }

    /// The online answers kept by [`Queue::record_answer`], oldest first.
    pub fn answers(&self) -> Result<Vec<Answered>, QueueError> {
        let mut st = self.conn.prepare(
            "SELECT tsc, amount_minor, currency, masked_pan, result_json, created_ms FROM answers ORDER BY tsc",
        )?;
        let rows = st.query_map([], |r| {
            Ok((
                r.get::<_, u32>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, u16>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, i64>(5)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (tsc, amount, currency, masked_pan, json, created) = row?;
            out.push(Answered {
                tsc,
                amount_minor: u64_of(amount),
                currency,
                masked_pan,
                response: serde_json::from_str(&json)
                    .map_err(|e| QueueError::Invalid(format!("stored answer: {e}")))?,
                created_ms: u64_of(created),
            });
        }
        Ok(out)
    }

    /// Reversals still owed, oldest first.
    pub fn pending_reversals(&self) -> Result<Vec<(u32, String)>, QueueError> {
        let mut st = self
            .conn
            .prepare("SELECT tsc, reason FROM reversals ORDER BY tsc")?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn aad(&self, tsc: u32, kind: EntryKind) -> Vec<u8> {
        format!(
            "softpos-queue/1\0{}\0{tsc}\0{}",
            self.terminal_id,
            kind.as_str()
        )
        .into_bytes()
    }

    fn seal(&self, req: &PaymentRequest, kind: EntryKind) -> Result<Vec<u8>, QueueError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng
            .fill(&mut nonce)
            .map_err(|_| QueueError::Invalid("no system random source".into()))?;
        let mut body = zeroize::Zeroizing::new(
            serde_json::to_vec(req).map_err(|e| QueueError::Invalid(e.to_string()))?,
        );
        self.aead
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(self.aad(req.tsc, kind)),
                &mut *body,
            )
            .map_err(|_| QueueError::Invalid("sealing failed".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&body);
        Ok(out)
    }

    fn open_sealed(
        &self,
        tsc: u32,
        kind: EntryKind,
        sealed: &[u8],
    ) -> Result<PaymentRequest, QueueError> {
        if sealed.len() < NONCE_LEN {
            return Err(QueueError::Sealed(tsc));
        }
        let (nonce, ct) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| QueueError::Sealed(tsc))?;
        let mut buf = zeroize::Zeroizing::new(ct.to_vec());
        let plain = self
            .aead
            .open_in_place(nonce, Aad::from(self.aad(tsc, kind)), &mut buf)
            .map_err(|_| QueueError::Sealed(tsc))?;
        let req: PaymentRequest =
            serde_json::from_slice(plain).map_err(|_| QueueError::Sealed(tsc))?;
        if req.tsc != tsc {
            return Err(QueueError::Sealed(tsc));
        }
        Ok(req)
    }

    fn card_ref(&self, req: &PaymentRequest) -> Result<String, QueueError> {
        let icc = hex::decode(&req.icc_data)
            .map_err(|e| QueueError::Invalid(format!("icc_data: {e}")))?;
        let pan = kernel::tlv::find(&icc, kernel::tags::t::PAN)
            .map_err(|e| QueueError::Invalid(format!("icc_data: {e}")))?
            .ok_or_else(|| QueueError::Invalid("icc_data without a PAN (5A)".into()))?;
        Ok(hex::encode(
            ring::hmac::sign(&self.card_key, pan.value).as_ref(),
        ))
    }

    /// Writes a payment the offline rules allow, in one fsync'd
    /// transaction, and drops any reversal armed for its tsc (used when the
    /// authorization could not even be sent). Returns only once the entry is
    /// durable.
    pub fn enqueue(
        &mut self,
        kind: EntryKind,
        req: &PaymentRequest,
        limits: &OfflineLimits,
        now_ms: u64,
    ) -> Result<Admission, QueueError> {
        if req.amount_minor > limits.per_payment_minor {
            return Ok(Admission::OverLimit(format!(
                "amount {} is over the offline limit of {} per payment",
                req.amount_minor, limits.per_payment_minor
            )));
        }
        let card_ref = self.card_ref(req)?;
        let sealed = self.seal(req, kind)?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let (count, total, oldest): (i64, i64, Option<i64>) = tx
            .prepare_cached(
                "SELECT COUNT(*), COALESCE(SUM(amount_minor), 0), MIN(created_ms) FROM entries WHERE state = 'pending'",
            )?
            .query_row([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        let per_card: i64 = tx
            .prepare_cached(
                "SELECT COUNT(*) FROM entries WHERE state = 'pending' AND card_ref = ?1",
            )?
            .query_row([&card_ref], |r| r.get(0))?;
        let refusal = if u64_of(count) >= limits.max_count {
            Some(format!(
                "{count} payments already wait to be sent (limit {})",
                limits.max_count
            ))
        } else if u64_of(total).saturating_add(req.amount_minor) > limits.max_total_minor {
            Some(format!(
                "offline total would exceed {} minor units",
                limits.max_total_minor
            ))
        } else if u64_of(per_card) >= limits.max_per_card {
            Some(format!(
                "this card already has {per_card} offline payments waiting (limit {})",
                limits.max_per_card
            ))
        } else if oldest.is_some_and(|o| now_ms.saturating_sub(u64_of(o)) > limits.max_age_ms) {
            Some("the oldest offline payment is too old: the terminal must sync first".into())
        } else {
            None
        };
        // Used even when refused: the refusal is in the merchant's history
        // under this tsc.
        claim_tsc(&tx, &mut self.reserved, req.tsc)?;
        if let Some(why) = refusal {
            tx.commit()?;
            return Ok(Admission::OverLimit(why));
        }
        tx.prepare_cached(
            "INSERT INTO entries (tsc, kind, amount_minor, card_ref, created_ms, sealed) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![req.tsc, kind.as_str(), i64_of(req.amount_minor)?, card_ref, i64_of(now_ms)?, sealed])?;
        tx.prepare_cached("DELETE FROM reversals WHERE tsc = ?1")?
            .execute([req.tsc])?;
        tx.commit()?;
        Ok(Admission::Queued)
    }

    /// Every entry, oldest first.
    pub fn entries(&self) -> Result<Vec<Entry>, QueueError> {
        let mut st = self.conn.prepare(
            "SELECT tsc, kind, amount_minor, created_ms, state, attempts, result_json, error FROM entries ORDER BY tsc",
        )?;
        let rows = st.query_map([], |r| {
            Ok((
                r.get::<_, u32>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, u32>(5)?,
                r.get::<_, Option<String>>(6)?,
                r.get::<_, Option<String>>(7)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (tsc, kind, amount, created, state, attempts, result, error) = row?;
            let state = match state.as_str() {
                "pending" => EntryState::Pending { attempts },
                "delivered" => EntryState::Delivered(
                    serde_json::from_str(result.as_deref().unwrap_or(""))
                        .map_err(|e| QueueError::Invalid(format!("stored result: {e}")))?,
                ),
                _ => EntryState::Refused(error.unwrap_or_default()),
            };
            out.push(Entry {
                tsc,
                kind: EntryKind::parse(&kind)?,
                amount_minor: u64_of(amount),
                created_ms: u64_of(created),
                state,
            });
        }
        Ok(out)
    }

    /// Undelivered entries.
    pub fn pending(&self) -> Result<u64, QueueError> {
        let n: i64 = self.conn.query_row(
            "SELECT COUNT(*) FROM entries WHERE state = 'pending'",
            [],
            |r| r.get(0),
        )?;
        Ok(u64_of(n))
    }

    /// Makes every entry pending again, as a restored backup or a lost
    /// acknowledgement would: the acquirer must still store each once.
    pub fn mark_all_pending(&mut self) -> Result<(), QueueError> {
        self.conn.execute(
            "UPDATE entries SET state = 'pending', next_attempt_ms = 0, result_json = NULL, error = NULL",
            [],
        )?;
        Ok(())
    }

    /// The head of the queue: consecutive advices (up to a batch) or one
    /// authorization, if due.
    fn head(&self, now_ms: u64) -> Result<Vec<Due>, QueueError> {
        let mut st = self.conn.prepare(
            "SELECT tsc, kind, sealed, attempts, next_attempt_ms FROM entries WHERE state = 'pending' ORDER BY tsc LIMIT ?1",
        )?;
        let rows = st.query_map([i64_of(MAX_BATCH as u64)?], |r| {
            Ok((
                r.get::<_, u32>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Vec<u8>>(2)?,
                r.get::<_, u32>(3)?,
                r.get::<_, i64>(4)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (tsc, kind, sealed, attempts, next) = row?;
            let kind = EntryKind::parse(&kind)?;
            if out.is_empty() && u64_of(next) > now_ms {
                break; // backing off: in order, so nothing behind it goes first
            }
            if kind == EntryKind::Authorization && !out.is_empty() {
                break;
            }
            out.push(Due {
                tsc,
                kind,
                sealed,
                attempts,
            });
            if kind == EntryKind::Authorization {
                break;
            }
        }
        Ok(out)
    }

    fn record_refusal(&mut self, tsc: u32, why: &str) -> Result<(), QueueError> {
        self.conn.execute(
            "UPDATE entries SET state = 'refused', error = ?2 WHERE tsc = ?1",
            params![tsc, why],
        )?;
        Ok(())
    }

    fn back_off(&mut self, tscs: &[u32], attempts: u32, now_ms: u64) -> Result<(), QueueError> {
        let attempts = attempts.saturating_add(1);
        let next = i64_of(now_ms.saturating_add(backoff_ms(attempts)))?;
        let tx = self.conn.transaction()?;
        for tsc in tscs {
            tx.execute(
                "UPDATE entries SET attempts = ?2, next_attempt_ms = ?3 WHERE tsc = ?1",
                params![tsc, attempts, next],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The one forwarder: owed reversals first, then entries in tsc order,
    /// until the queue is empty, an entry is backing off, or the acquirer
    /// cannot be reached (then the head backs off exponentially).
    pub fn forward(&mut self, client: &mut Client, now_ms: u64) -> Result<Forwarded, QueueError> {
        let mut report = Forwarded::default();
        for (tsc, reason) in self.pending_reversals()? {
            match client.reverse(tsc, &reason) {
                // Refused: nothing to reverse there (never arrived, or not
                // reversible); retrying cannot change that.
                Ok(_)
                | Err(SyncError::Refused {
                    status: 400..=499, ..
                }) => {
                    self.disarm_reversal(tsc)?;
                    report.reversals_sent = report.reversals_sent.saturating_add(1);
                }
                Err(e) => {
                    report.stopped = Some(e);
                    report.pending = self.pending()?;
                    return Ok(report);
                }
            }
        }
        loop {
            let head = self.head(now_ms)?;
            let Some((kind, attempts)) = head.first().map(|d| (d.kind, d.attempts)) else {
                break;
            };
            let mut reqs = Vec::with_capacity(head.len());
            for d in &head {
                reqs.push(self.open_sealed(d.tsc, d.kind, &d.sealed)?);
            }
            let tscs: Vec<u32> = reqs.iter().map(|r| r.tsc).collect();
            let answer = match kind {
                EntryKind::Advice => client.advices(&reqs),
                EntryKind::Authorization => match reqs.first() {
                    Some(r) => client.authorize(r).map(|a| vec![a]),
                    None => break,
                },
            };
            match answer {
                Ok(results) => {
                    // One commit for the batch: a crash before it only
                    // makes the acquirer answer the same advices again.
                    let tx = self.conn.transaction()?;
                    for (tsc, resp) in tscs.iter().zip(&results) {
                        record_result(&tx, *tsc, resp)?;
                    }
                    tx.commit()?;
                    report.delivered.extend(tscs.iter().copied().zip(results));
                }
                Err(SyncError::Refused {
                    status: 400..=499,
                    code,
                    message,
                }) if code != "invalid_token" && code != "terminal_blocked" => {
                    let why = format!("{code}: {message}");
                    for tsc in &tscs {
                        self.record_refusal(*tsc, &why)?;
                        report.refused.push((*tsc, why.clone()));
                    }
                }
                Err(e) => {
                    self.back_off(&tscs, attempts, now_ms)?;
                    report.stopped = Some(e);
                    break;
                }
            }
        }
        report.pending = self.pending()?;
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_queue(name: &str) -> (std::path::PathBuf, Queue) {
        let mut nonce = [0u8; 6];
        SystemRandom::new().fill(&mut nonce).unwrap();
        let dir = std::env::temp_dir().join(format!("pos-queue-{name}-{}", hex::encode(nonce)));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("queue.sqlite");
        let q = Queue::open(&path, "T1", &[7u8; 32]).unwrap();
        (path, q)
    }

    fn request(tsc: u32) -> PaymentRequest {
        let mut icc = Vec::new();
        kernel::tlv::encode(
            kernel::tags::t::PAN,
            &[0x47, 0x61, 0x73, 0x90, 0x01, 0x01, 0x00, 0x10],
            &mut icc,
        )
        .unwrap();
        PaymentRequest {
            tsc,
            mcc: "5411".into(),
            amount_minor: 500,
            currency: 978,
            icc_data: hex::encode_upper(icc),
        }
    }

    #[test]
    fn reserved_tsc_becomes_durable_only_with_its_record() {
        let (path, mut q) = temp_queue("reserve");
        let limits = OfflineLimits::from_per_payment(1_000);
        assert_eq!(q.reserve_tsc().unwrap(), 1);
        // Nothing recorded it: after a restart the same number comes back,
        // which is harmless because it never left the terminal.
        drop(q);
        let mut q = Queue::open(&path, "T1", &[7u8; 32]).unwrap();
        assert_eq!(q.reserve_tsc().unwrap(), 1);
        assert_eq!(
            q.enqueue(EntryKind::Advice, &request(1), &limits, 0)
                .unwrap(),
            Admission::Queued
        );
        let t2 = q.reserve_tsc().unwrap();
        assert_eq!(t2, 2);
        q.arm_reversal(t2, "timeout", 0).unwrap();
        q.disarm_reversal(t2).unwrap();
        drop(q);
        // Both uses survive a restart even though the reversal is gone.
        let mut q = Queue::open(&path, "T1", &[7u8; 32]).unwrap();
        assert_eq!(q.reserve_tsc().unwrap(), 3);
        // A refused offline payment keeps its tsc too (it is in the history).
        let over = PaymentRequest {
            amount_minor: 5_000,
            ..request(3)
        };
        assert!(matches!(
            q.enqueue(EntryKind::Advice, &over, &limits, 0).unwrap(),
            Admission::OverLimit(_)
        ));
        assert_eq!(q.next_tsc().unwrap(), 4);
        assert_eq!(q.reserve_tsc().unwrap(), 5);
    }

    #[test]
    fn two_processes_cannot_send_the_same_reserved_tsc() {
        let (path, mut a) = temp_queue("two");
        let mut b = Queue::open(&path, "T1", &[7u8; 32]).unwrap();
        let ta = a.reserve_tsc().unwrap();
        let tb = b.reserve_tsc().unwrap();
        assert_eq!(ta, tb);
        a.arm_reversal(ta, "timeout", 0).unwrap();
        let err = b.arm_reversal(tb, "timeout", 0).unwrap_err();
        assert!(
            err.to_string().contains("taken by another process"),
            "{err}"
        );
        let limits = OfflineLimits::from_per_payment(1_000);
        let tb = b.reserve_tsc().unwrap();
        assert_eq!(tb, ta + 1);
        assert_eq!(
            b.enqueue(EntryKind::Advice, &request(tb), &limits, 0)
                .unwrap(),
            Admission::Queued
        );
        let tc = a.reserve_tsc().unwrap();
        assert_eq!(tc, tb + 1);
    }

    #[test]
    fn offline_rules_come_from_the_signed_configuration() {
        let config = |extra: &str| -> crate::sync::TerminalConfig {
            serde_json::from_str(&format!(
                r#"{{"terminal_id":"T1","merchant_id":"M1","merchant_name":"Shop","mcc":"5411",
                "currency":978,"max_amount_minor":100000,"offline_limit_minor":2000,
                "acquirer_public_key":"04"{extra}}}"#
            ))
            .unwrap()
        };
        let set = OfflineLimits::from_config(&config(
            r#","offline_max_count":2,"offline_max_total_minor":3000,"offline_max_per_card":1,"offline_max_age_ms":60000"#,
        ));
        assert_eq!(
            set,
            OfflineLimits {
                per_payment_minor: 2000,
                max_count: 2,
                max_total_minor: 3000,
                max_per_card: 1,
                max_age_ms: 60_000
            }
        );
        // An older configuration without the rules: the terminal's caps.
        assert_eq!(
            OfflineLimits::from_config(&config("")),
            OfflineLimits::from_per_payment(2000)
        );

        // And the queue applies them: the third payment is over the count.
        let (_, mut q) = temp_queue("rules");
        let r = |tsc, pan_last: u8| {
            let mut icc = Vec::new();
            kernel::tlv::encode(
                kernel::tags::t::PAN,
                &[0x47, 0x61, 0x73, 0x90, 0x01, 0x01, 0x00, pan_last],
                &mut icc,
            )
            .unwrap();
            PaymentRequest {
                icc_data: hex::encode_upper(icc),
                ..request(tsc)
            }
        };
        assert_eq!(
            q.enqueue(EntryKind::Advice, &r(1, 0x10), &set, 0).unwrap(),
            Admission::Queued
        );
        let same_card = q.enqueue(EntryKind::Advice, &r(2, 0x10), &set, 0).unwrap();
        assert!(
            matches!(same_card, Admission::OverLimit(ref w) if w.contains("this card")),
            "{same_card:?}"
        );
        assert_eq!(
            q.enqueue(EntryKind::Advice, &r(3, 0x28), &set, 0).unwrap(),
            Admission::Queued
        );
        let over = q.enqueue(EntryKind::Advice, &r(4, 0x36), &set, 0).unwrap();
        assert!(
            matches!(over, Admission::OverLimit(ref w) if w.contains("already wait")),
            "{over:?}"
        );
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff_ms(1), 1000);
        assert_eq!(backoff_ms(2), 2000);
        assert_eq!(backoff_ms(5), 16_000);
        assert_eq!(backoff_ms(30), MAX_BACKOFF_MS);
    }
}
