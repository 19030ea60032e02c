//! The terminal's local payment history: one SQLite row per payment it
//! handled (card online or offline, QR, declined, reversed, voided,
//! refunds), with the acquirer's own figures (payment ID, fee, net,
//! business and settlement dates) once it has answered, so that a receipt
//! and the daily totals show what the acquirer holds.
//!
//! Only a masked PAN or a wallet name is stored, never a clear PAN. Each
//! write is one fsync'd transaction (WAL, `synchronous=FULL`), taken after
//! the payment's own durable step (the acquirer's answer or the queue's
//! commit): a crash can lose the history row of a payment, never invent one,
//! and [`History::reconcile`] catches up on what the forwarder delivered.

use crate::pay::{PayResult, PayStatus};
use crate::queue::{EntryState, Queue};
use crate::sync::{CancelResponse, Figures, PaymentResponse};
use rusqlite::{params, Connection, OptionalExtension, ToSql};
use serde::{Deserialize, Serialize};
use std::path::Path;

pub mod ops;
mod qr_refund;

pub use qr_refund::{record_qr_refund, record_qr_void, PendingQrRefund};

/// The history's file name inside the terminal's data directory.
pub const FILE: &str = "history.sqlite";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HistoryError {
    #[error("history storage: {0}")]
    Storage(String),
    #[error("history: {0}")]
    Invalid(String),
}

impl From<rusqlite::Error> for HistoryError {
    fn from(e: rusqlite::Error) -> Self {
        HistoryError::Storage(e.to_string())
    }
}

/// What a payment was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A card sale.
    Purchase,
    /// Money back to the card for an earlier purchase.
    Refund,
    /// A QR (wallet) sale.
    Qr,
}

/// Where a payment stands, as the merchant sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The acquirer approved it: it counts toward settlement.
    Approved,
    /// Declined by the card, the issuer, the acquirer or the offline rules.
    Declined,
    /// Stored in the offline queue, not yet delivered.
    AcceptedOffline,
    /// The authorization got no answer and was (or will be) reversed.
    Reversed,
    /// Cancelled by the merchant before settlement.
    Voided,
    /// Accepted offline, then refused by the acquirer itself.
    Refused,
}

macro_rules! str_enum {
    ($t:ty { $($v:ident => $s:literal),* $(,)? }) => {
        impl $t {
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$v => $s),* }
            }
        }
        impl std::str::FromStr for $t {
            type Err = HistoryError;
            fn from_str(s: &str) -> Result<Self, HistoryError> {
                match s {
                    $($s => Ok(Self::$v),)*
                    other => Err(HistoryError::Invalid(format!(
                        "unknown {} {other:?} (one of: {})",
                        stringify!($t).to_lowercase(),
                        [$($s),*].join(", ")
                    ))),
                }
            }
        }
    };
}

str_enum!(Kind { Purchase => "purchase", Refund => "refund", Qr => "qr" });
str_enum!(Status {
    Approved => "approved",
    Declined => "declined",
    AcceptedOffline => "accepted_offline",
    Reversed => "reversed",
    Voided => "voided",
    Refused => "refused",
});

/// A payment to record: what [`History::record`] takes. Plain data, so
/// that every flow (card, QR) can fill it in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewRecord {
    /// The terminal's transaction sequence counter, when the payment has
    /// one; recording the same tsc again updates that row.
    pub tsc: Option<u32>,
    /// Another unique key when there is no tsc (a QR order ID); recording
    /// the same reference again updates that row.
    pub reference: Option<String>,
    pub kind: Kind,
    /// `online`, `offline`, `card` (ended at the card) or `qr`.
    pub channel: String,
    pub status: Status,
    pub amount_minor: u64,
    /// ISO 4217 numeric.
    pub currency: u16,
    /// Masked card number (`476173******0119`); never a clear PAN.
    pub masked_pan: Option<String>,
    /// The wallet for a QR payment (`Alipay`, `WeChat Pay`, ...).
    pub wallet: Option<String>,
    /// The acquirer's payment ID, once it has one.
    pub payment_id: Option<String>,
    /// For a refund: the purchase it refunds.
    pub original_payment_id: Option<String>,
    pub auth_code: Option<String>,
    pub response_code: Option<String>,
    /// One line for the merchant.
    pub message: String,
    /// The acquirer's fee, net and dates, when it answered.
    pub figures: Option<Figures>,
    /// When the payment happened, ms since 1970 (UTC).
    pub at_ms: u64,
}

/// A stored payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Local row ID.
    pub id: i64,
    pub tsc: Option<u32>,
    pub reference: Option<String>,
    pub kind: Kind,
    pub channel: String,
    pub status: Status,
    pub amount_minor: u64,
    pub currency: u16,
    pub masked_pan: Option<String>,
    pub wallet: Option<String>,
    pub payment_id: Option<String>,
    pub original_payment_id: Option<String>,
    pub auth_code: Option<String>,
    pub response_code: Option<String>,
    pub message: String,
    /// Fee rate, fee and signed net as the acquirer computed them; `None`
    /// until it has answered.
    pub fee_bps: Option<i64>,
    pub fee_minor: Option<i64>,
    pub net_minor: Option<i64>,
    /// The acquirer's business date, or the terminal's UTC date until the
    /// acquirer has answered.
    pub business_date: String,
    /// Expected settlement date, from the acquirer.
    pub settlement_date: Option<String>,
    /// For a purchase: how much of it has been refunded.
    pub refunded_minor: u64,
    pub created_ms: u64,
    pub updated_ms: u64,
}

impl Record {
    /// The card or wallet, for display.
    pub fn payer(&self) -> String {
        match (&self.masked_pan, &self.wallet) {
            (Some(p), _) if !p.is_empty() => p.clone(),
            (_, Some(w)) => w.clone(),
            _ => "-".into(),
        }
    }

    /// Whether the acquirer's settlement for its business date holds it.
    pub fn counts_toward_settlement(&self) -> bool {
        self.status == Status::Approved
    }
}

/// What to list; every field narrows, `None` means any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// First business date, `YYYY-MM-DD`, inclusive.
    pub from: Option<String>,
    /// Last business date, inclusive.
    pub to: Option<String>,
    pub status: Option<Status>,
    pub kind: Option<Kind>,
    pub min_amount_minor: Option<u64>,
    pub max_amount_minor: Option<u64>,
    /// Last four digits of the masked card number.
    pub last4: Option<String>,
}

/// Count and sum of one (kind, status) group.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Group {
    pub kind: String,
    pub status: String,
    pub count: u64,
    pub amount_minor: u64,
}

/// One business day's totals.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub date: String,
    pub currency: Option<u16>,
    /// Every payment of the day, by kind and status.
    pub groups: Vec<Group>,
    /// What the acquirer's settlement for the day should hold: approved
    /// purchases and refunds (refunds subtract), their fees and net.
    pub settled_count: u64,
    pub gross_minor: i64,
    pub fees_minor: i64,
    pub net_minor: i64,
    /// Accepted offline and not yet delivered: not in any settlement yet.
    pub pending_count: u64,
    pub pending_minor: u64,
}

/// The history file.
pub struct History {
    conn: Connection,
}

fn i64_of(v: u64) -> Result<i64, HistoryError> {
    i64::try_from(v).map_err(|_| HistoryError::Invalid(format!("{v} out of range")))
}

fn u64_of(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// Days since 1970-01-01 to `YYYY-MM-DD` (proleptic Gregorian, H.
/// Hinnant's `civil_from_days`), the same arithmetic the acquirer uses.
pub fn format_day(days: i64) -> String {
    let z = days.saturating_add(719_468);
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The UTC date of an instant, `YYYY-MM-DD`.
pub fn date_of_ms(ms: u64) -> String {
    format_day(i64::try_from(ms / 86_400_000).unwrap_or(0))
}

/// Checks `YYYY-MM-DD` (digits and dashes in place; range checks are left
/// to comparison, which is lexical on this form).
pub fn check_day(s: &str) -> Result<(), HistoryError> {
    let ok = s.len() == 10
        && s.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        });
    if ok {
        Ok(())
    } else {
        Err(HistoryError::Invalid(format!("{s:?} is not YYYY-MM-DD")))
    }
}

const COLUMNS: &str = "id, tsc, reference, kind, channel, status, amount_minor, currency, masked_pan, wallet, \
     payment_id, original_payment_id, auth_code, response_code, message, fee_bps, fee_minor, net_minor, \
     business_date, settlement_date, refunded_minor, created_ms, updated_ms";

fn row_to_record(r: &rusqlite::Row<'_>) -> rusqlite::Result<Record> {
    let bad = |i: usize, e: HistoryError| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
    };
    let kind: String = r.get(3)?;
    let status: String = r.get(5)?;
    Ok(Record {
        id: r.get(0)?,
        tsc: r.get(1)?,
        reference: r.get(2)?,
        kind: kind.parse().map_err(|e| bad(3, e))?,
        channel: r.get(4)?,
        status: status.parse().map_err(|e| bad(5, e))?,
        amount_minor: u64_of(r.get(6)?),
        currency: r.get(7)?,
        masked_pan: r.get(8)?,
        wallet: r.get(9)?,
        payment_id: r.get(10)?,
        original_payment_id: r.get(11)?,
        auth_code: r.get(12)?,
        response_code: r.get(13)?,
        message: r.get(14)?,
        fee_bps: r.get(15)?,
        fee_minor: r.get(16)?,
        net_minor: r.get(17)?,
        business_date: r.get(18)?,
        settlement_date: r.get(19)?,
        refunded_minor: u64_of(r.get(20)?),
        created_ms: u64_of(r.get(21)?),
        updated_ms: u64_of(r.get(22)?),
    })
}

/// Masks anything that looks like a clear card number: a PAN must never
/// reach this file, whatever a caller passes.
fn safe_masked(p: Option<&str>) -> Option<String> {
    p.map(|s| {
        let digits = s.chars().filter(char::is_ascii_digit).count();
        if digits > 10 {
            // More than first six + last four in clear: keep only those.
            let n = s.chars().count();
            s.chars()
                .enumerate()
                .map(|(i, c)| {
                    if c.is_ascii_digit() && i >= 6 && i + 4 < n {
                        '*'
                    } else {
                        c
                    }
                })
                .collect()
        } else {
            s.to_string()
        }
    })
}

impl History {
    /// Opens (creating and migrating) the history in the terminal's data
    /// directory.
    pub fn open_in(dir: &Path) -> Result<History, HistoryError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| HistoryError::Storage(format!("{}: {e}", dir.display())))?;
        History::open(&dir.join(FILE))
    }

    /// Opens (creating and migrating) the history at `path`.
    pub fn open(path: &Path) -> Result<History, HistoryError> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version < 1 {
            // Migration 1. Append new migrations below; never edit this one.
            conn.execute_batch(
                "BEGIN;
                 CREATE TABLE payments (
                     id INTEGER PRIMARY KEY AUTOINCREMENT,
                     tsc INTEGER UNIQUE, reference TEXT UNIQUE,
                     kind TEXT NOT NULL, channel TEXT NOT NULL, status TEXT NOT NULL,
                     amount_minor INTEGER NOT NULL, currency INTEGER NOT NULL,
                     masked_pan TEXT, wallet TEXT, payment_id TEXT, original_payment_id TEXT,
                     auth_code TEXT, response_code TEXT, message TEXT NOT NULL,
                     fee_bps INTEGER, fee_minor INTEGER, net_minor INTEGER,
                     business_date TEXT NOT NULL, settlement_date TEXT,
                     refunded_minor INTEGER NOT NULL DEFAULT 0,
                     created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL);
                 CREATE INDEX payments_by_date ON payments(business_date, status);
                 CREATE INDEX payments_by_payment_id ON payments(payment_id);
                 PRAGMA user_version = 1;
                 COMMIT;",
            )?;
        }
        Ok(History { conn })
    }

    /// Records a payment, or updates the row with the same tsc (or
    /// reference): one durable write. Returns the row's ID.
    pub fn record(&mut self, rec: &NewRecord) -> Result<i64, HistoryError> {
        let f = rec.figures.as_ref();
        let business_date = f
            .map(|f| f.business_date.clone())
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| date_of_ms(rec.at_ms));
        let at = i64_of(rec.at_ms)?;
        let masked = safe_masked(rec.masked_pan.as_deref());
        let tx = self.conn.transaction()?;
        let existing: Option<i64> = match (&rec.tsc, &rec.reference) {
            (Some(tsc), _) => tx
                .query_row("SELECT id FROM payments WHERE tsc = ?1", [tsc], |r| {
                    r.get(0)
                })
                .optional()?,
            (None, Some(reference)) => tx
                .query_row(
                    "SELECT id FROM payments WHERE reference = ?1",
                    [reference],
                    |r| r.get(0),
                )
                .optional()?,
            (None, None) => None,
        };
        let values: [&dyn ToSql; 19] = [
            &rec.tsc,
            &rec.reference,
            &rec.kind.as_str(),
            &rec.channel,
            &rec.status.as_str(),
            &i64_of(rec.amount_minor)?,
            &rec.currency,
            &masked,
            &rec.wallet,
            &rec.payment_id,
            &rec.original_payment_id,
            &rec.auth_code,
            &rec.response_code,
            &rec.message,
            &f.map(|f| f.fee_bps),
            &f.map(|f| f.fee_minor),
            &f.map(|f| f.net_minor),
            &business_date,
            &f.map(|f| f.settlement_date.clone())
                .filter(|d| !d.is_empty()),
        ];
        let mut v: Vec<&dyn ToSql> = values.to_vec();
        v.push(&at);
        let id = match existing {
            Some(id) => {
                v.push(&id);
                tx.execute(
                    "UPDATE payments SET tsc = ?1, reference = ?2, kind = ?3, channel = ?4, status = ?5, \
                     amount_minor = ?6, currency = ?7, masked_pan = COALESCE(?8, masked_pan), \
                     wallet = COALESCE(?9, wallet), payment_id = COALESCE(?10, payment_id), \
                     original_payment_id = COALESCE(?11, original_payment_id), auth_code = COALESCE(?12, auth_code), \
                     response_code = COALESCE(?13, response_code), message = ?14, \
                     fee_bps = COALESCE(?15, fee_bps), fee_minor = COALESCE(?16, fee_minor), \
                     net_minor = COALESCE(?17, net_minor), business_date = ?18, \
                     settlement_date = COALESCE(?19, settlement_date), updated_ms = ?20 WHERE id = ?21",
                    v.as_slice(),
                )?;
                id
            }
            None => {
                tx.execute(
                    "INSERT INTO payments (tsc, reference, kind, channel, status, amount_minor, currency, \
                     masked_pan, wallet, payment_id, original_payment_id, auth_code, response_code, message, \
                     fee_bps, fee_minor, net_minor, business_date, settlement_date, created_ms, updated_ms) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?20)",
                    v.as_slice(),
                )?;
                tx.last_insert_rowid()
            }
        };
        // A refund also shows on its purchase.
        if rec.kind == Kind::Refund && rec.status == Status::Approved && existing.is_none() {
            if let Some(orig) = &rec.original_payment_id {
                tx.execute(
                    "UPDATE payments SET refunded_minor = refunded_minor + ?1, updated_ms = ?2 \
                     WHERE payment_id = ?3 AND kind != 'refund'",
                    params![i64_of(rec.amount_minor)?, at, orig],
                )?;
            }
        }
        tx.commit()?;
        Ok(id)
    }

    /// The payment recorded under `tsc`.
    pub fn by_tsc(&self, tsc: u32) -> Result<Option<Record>, HistoryError> {
        self.one("tsc", &tsc)
    }

    /// The payment with local row ID `id`.
    pub fn by_id(&self, id: i64) -> Result<Option<Record>, HistoryError> {
        self.one("id", &id)
    }

    /// The row whose unique `column` (a name from this file, never input)
    /// holds `key`.
    fn one(&self, column: &str, key: &dyn ToSql) -> Result<Option<Record>, HistoryError> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM payments WHERE {column} = ?1"),
                [key],
                row_to_record,
            )
            .optional()?)
    }

    /// Payments matching `filter`, oldest first.
    pub fn search(&self, filter: &Filter) -> Result<Vec<Record>, HistoryError> {
        let mut sql = format!("SELECT {COLUMNS} FROM payments WHERE 1 = 1");
        let mut args: Vec<Box<dyn ToSql>> = Vec::new();
        let mut add = |clause: &str, v: Box<dyn ToSql>| {
            args.push(v);
            sql.push_str(&format!(" AND {clause} ?{}", args.len()));
        };
        if let Some(d) = &filter.from {
            check_day(d)?;
            add("business_date >=", Box::new(d.clone()));
        }
        if let Some(d) = &filter.to {
            check_day(d)?;
            add("business_date <=", Box::new(d.clone()));
        }
        if let Some(s) = filter.status {
            add("status =", Box::new(s.as_str()));
        }
        if let Some(k) = filter.kind {
            add("kind =", Box::new(k.as_str()));
        }
        if let Some(a) = filter.min_amount_minor {
            add("amount_minor >=", Box::new(i64_of(a)?));
        }
        if let Some(a) = filter.max_amount_minor {
            add("amount_minor <=", Box::new(i64_of(a)?));
        }
        if let Some(l) = &filter.last4 {
            if l.len() != 4 || !l.bytes().all(|b| b.is_ascii_digit()) {
                return Err(HistoryError::Invalid(format!(
                    "last4 {l:?} must be four digits"
                )));
            }
            add("substr(masked_pan, -4) =", Box::new(l.clone()));
        }
        sql.push_str(" ORDER BY created_ms, id");
        let mut st = self.conn.prepare(&sql)?;
        let refs: Vec<&dyn ToSql> = args.iter().map(|b| b.as_ref()).collect();
        let rows = st.query_map(refs.as_slice(), row_to_record)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Applies the forwarder's results: every payment still shown as
    /// accepted offline whose queue entry has been delivered or refused
    /// takes the acquirer's answer; and an online answer the queue kept
    /// for a payment the history lacks (the terminal stopped in between)
    /// is recorded. Idempotent; returns how many changed.
    pub fn reconcile(&mut self, queue: &Queue, now_ms: u64) -> Result<usize, HistoryError> {
        let mut changed = 0usize;
        for a in queue
            .answers()
            .map_err(|e| HistoryError::Storage(e.to_string()))?
        {
            if self.by_tsc(a.tsc)?.is_some() {
                continue;
            }
            let result = PayResult {
                status: if a.response.approved {
                    PayStatus::Approved
                } else {
                    PayStatus::Declined
                },
                tsc: Some(a.tsc),
                card_outcome: "online_request".into(),
                masked_pan: a.masked_pan.clone(),
                message: format!("{} (recorded after a restart)", a.response.reason),
                response: Some(a.response),
            };
            record_charge(self, &result, a.amount_minor, a.currency, a.created_ms)?;
            changed = changed.saturating_add(1);
        }
        let waiting = self.search(&Filter {
            status: Some(Status::AcceptedOffline),
            ..Filter::default()
        })?;
        if waiting.is_empty() {
            return Ok(changed);
        }
        let entries = queue
            .entries()
            .map_err(|e| HistoryError::Storage(e.to_string()))?;
        for rec in waiting {
            let Some(tsc) = rec.tsc else { continue };
            let Some(entry) = entries.iter().find(|e| e.tsc == tsc) else {
                continue;
            };
            let update = match &entry.state {
                EntryState::Pending { .. } => continue,
                EntryState::Delivered(resp) => {
                    let mut n = NewRecord::from_record(&rec, now_ms);
                    n.apply_response(resp, "offline");
                    n
                }
                EntryState::Refused(why) => {
                    let mut n = NewRecord::from_record(&rec, now_ms);
                    n.status = Status::Refused;
                    n.message = format!("refused by the acquirer after the sale: {why}");
                    n
                }
            };
            self.record(&update)?;
            changed = changed.saturating_add(1);
        }
        Ok(changed)
    }

    /// Totals for one business date (`YYYY-MM-DD`).
    pub fn totals(&self, date: &str) -> Result<Totals, HistoryError> {
        check_day(date)?;
        let records = self.search(&Filter {
            from: Some(date.into()),
            to: Some(date.into()),
            ..Filter::default()
        })?;
        let mut t = Totals {
            date: date.into(),
            ..Totals::default()
        };
        for r in &records {
            if t.currency.is_none() {
                t.currency = Some(r.currency);
            } else if t.currency != Some(r.currency) {
                return Err(HistoryError::Invalid(format!(
                    "{date} has payments in more than one currency; totals are per currency"
                )));
            }
            let (kind, status) = (r.kind.as_str(), r.status.as_str());
            match t
                .groups
                .iter_mut()
                .find(|g| g.kind == kind && g.status == status)
            {
                Some(g) => {
                    g.count = g.count.saturating_add(1);
                    g.amount_minor = g.amount_minor.saturating_add(r.amount_minor);
                }
                None => t.groups.push(Group {
                    kind: kind.into(),
                    status: status.into(),
                    count: 1,
                    amount_minor: r.amount_minor,
                }),
            }
            if r.counts_toward_settlement() {
                let amount = i64_of(r.amount_minor)?;
                let signed = if r.kind == Kind::Refund {
                    amount.saturating_neg()
                } else {
                    amount
                };
                t.settled_count = t.settled_count.saturating_add(1);
                t.gross_minor = t.gross_minor.saturating_add(signed);
                t.fees_minor = t.fees_minor.saturating_add(r.fee_minor.unwrap_or(0));
                t.net_minor = t.net_minor.saturating_add(r.net_minor.unwrap_or(signed));
            }
            if r.status == Status::AcceptedOffline {
                t.pending_count = t.pending_count.saturating_add(1);
                t.pending_minor = t.pending_minor.saturating_add(r.amount_minor);
            }
        }
        t.groups
            .sort_by(|a, b| (&a.kind, &a.status).cmp(&(&b.kind, &b.status)));
        Ok(t)
    }

    /// Deletes one row: for tests that prove a comparison can fail, and
    /// for nothing else.
    #[doc(hidden)]
    pub fn delete_for_test(&mut self, id: i64) -> Result<(), HistoryError> {
        self.conn
            .execute("DELETE FROM payments WHERE id = ?1", [id])?;
        Ok(())
    }
}

impl NewRecord {
    /// A payment with nothing from the acquirer yet: no IDs, codes,
    /// figures or message.
    fn answerless(
        kind: Kind,
        channel: &str,
        status: Status,
        amount_minor: u64,
        currency: u16,
        at_ms: u64,
    ) -> NewRecord {
        NewRecord {
            tsc: None,
            reference: None,
            kind,
            channel: channel.into(),
            status,
            amount_minor,
            currency,
            masked_pan: None,
            wallet: None,
            payment_id: None,
            original_payment_id: None,
            auth_code: None,
            response_code: None,
            message: String::new(),
            figures: None,
            at_ms,
        }
    }

    /// An update of `rec` with everything it holds, at `now_ms`. Without
    /// figures the stored fee and net are kept, and the business date
    /// becomes `now_ms`'s UTC date.
    pub fn from_record(rec: &Record, now_ms: u64) -> NewRecord {
        NewRecord {
            tsc: rec.tsc,
            reference: rec.reference.clone(),
            kind: rec.kind,
            channel: rec.channel.clone(),
            status: rec.status,
            amount_minor: rec.amount_minor,
            currency: rec.currency,
            masked_pan: rec.masked_pan.clone(),
            wallet: rec.wallet.clone(),
            payment_id: rec.payment_id.clone(),
            original_payment_id: rec.original_payment_id.clone(),
            auth_code: rec.auth_code.clone(),
            response_code: rec.response_code.clone(),
            message: rec.message.clone(),
            figures: None,
            at_ms: now_ms,
        }
    }

    /// Takes the acquirer's answer: status, IDs, codes and figures.
    fn apply_response(&mut self, resp: &PaymentResponse, channel: &str) {
        self.status = if resp.approved {
            Status::Approved
        } else {
            Status::Declined
        };
        self.channel = channel.into();
        self.payment_id = Some(resp.payment_id.clone());
        self.auth_code = resp.auth_code.clone();
        self.response_code = Some(resp.response_code.clone());
        if !resp.masked_pan.is_empty() {
            self.masked_pan = Some(resp.masked_pan.clone());
        }
        self.message = if resp.approved {
            format!(
                "approved, auth code {}",
                resp.auth_code.as_deref().unwrap_or("-")
            )
        } else {
            format!("{} ({}): {}", resp.status, resp.response_code, resp.reason)
        };
        self.figures = Some(Figures::clone(&resp.figures));
    }
}

/// Records what [`crate::pay::charge`] did to a card payment; a card
/// exchange that ended without a payment (try again, another interface)
/// is not recorded. Returns the row ID.
pub fn record_charge(
    history: &mut History,
    result: &PayResult,
    amount_minor: u64,
    currency: u16,
    now_ms: u64,
) -> Result<Option<i64>, HistoryError> {
    let (status, channel) = match result.status {
        PayStatus::Approved => (Status::Approved, "online"),
        PayStatus::AcceptedOffline => (Status::AcceptedOffline, "offline"),
        PayStatus::Declined if result.response.is_some() => (Status::Declined, "online"),
        PayStatus::Declined if result.tsc.is_some() => (Status::Declined, "offline"),
        PayStatus::Declined => (Status::Declined, "card"),
        PayStatus::Reversed => (Status::Reversed, "online"),
        PayStatus::NotCompleted => return Ok(None),
    };
    let mut rec = NewRecord {
        tsc: result.tsc,
        masked_pan: result.masked_pan.clone(),
        message: result.message.clone(),
        ..NewRecord::answerless(
            Kind::Purchase,
            channel,
            status,
            amount_minor,
            currency,
            now_ms,
        )
    };
    if let Some(resp) = &result.response {
        rec.apply_response(resp, channel);
        rec.message = result.message.clone();
    }
    history.record(&rec).map(Some)
}

/// Records a QR payment's end, under its sequence number (QR and card
/// payments share the terminal's counter). `fee_bps` is the configuration's
/// rate, which the acquirer applied.
pub fn record_qr(
    history: &mut History,
    result: &crate::qr::flow::QrResult,
    fee_bps: u32,
    now_ms: u64,
) -> Result<i64, HistoryError> {
    use crate::qr::flow::QrOutcome;
    let status = match result.outcome {
        QrOutcome::Paid => Status::Approved,
        QrOutcome::Declined | QrOutcome::Cancelled | QrOutcome::Expired => Status::Declined,
        // Unknown: the owed cancel reverses it at the next sale.
        QrOutcome::Reversed | QrOutcome::Unknown => Status::Reversed,
    };
    let figures = match (&result.business_date, &result.settlement_date) {
        (Some(business), Some(settlement)) => Some(Figures {
            fee_bps: i64::from(fee_bps),
            fee_minor: result.fee_minor.unwrap_or(0),
            net_minor: result.net_minor.unwrap_or(0),
            business_date: business.clone(),
            settlement_date: settlement.clone(),
        }),
        _ => None,
    };
    history.record(&NewRecord {
        tsc: Some(result.seq),
        reference: result.order_id.clone(),
        kind: Kind::Qr,
        channel: "qr".into(),
        status,
        amount_minor: result.amount_minor,
        currency: result.currency,
        masked_pan: result.masked_code.clone(),
        wallet: result.wallet.clone(),
        payment_id: result.payment_id.clone(),
        original_payment_id: None,
        auth_code: None,
        response_code: result.acquirer_status.clone(),
        message: result.message.clone(),
        figures,
        at_ms: now_ms,
    })
}

/// Records a refund the acquirer answered.
pub fn record_refund(
    history: &mut History,
    original: &Record,
    resp: &PaymentResponse,
    amount_minor: u64,
    now_ms: u64,
) -> Result<i64, HistoryError> {
    let mut rec = NewRecord {
        tsc: Some(resp.tsc),
        masked_pan: original.masked_pan.clone(),
        wallet: original.wallet.clone(),
        original_payment_id: original.payment_id.clone(),
        ..NewRecord::answerless(
            Kind::Refund,
            "online",
            Status::Approved,
            amount_minor,
            original.currency,
            now_ms,
        )
    };
    rec.apply_response(resp, "online");
    rec.message = format!(
        "refund of tsc {}",
        original
            .tsc
            .map_or_else(|| "-".to_string(), |t| t.to_string())
    );
    history.record(&rec)
}

/// Records the acquirer's answer to a void of `original`.
pub fn record_void(
    history: &mut History,
    original: &Record,
    resp: &CancelResponse,
    now_ms: u64,
) -> Result<i64, HistoryError> {
    let mut rec = NewRecord::from_record(original, now_ms);
    if resp.reversed {
        rec.status = match resp.status.as_str() {
            "reversed" => Status::Reversed,
            _ => Status::Voided,
        };
        rec.message = format!("{} by the merchant", resp.status);
        // Cancelled: it no longer counts, so fee and net are 0.
        let mut f = resp.figures.clone();
        if f.business_date.is_empty() {
            f.business_date = original.business_date.clone();
        }
        rec.figures = Some(f);
    }
    history.record(&rec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_match_the_acquirers() {
        assert_eq!(format_day(0), "1970-01-01");
        assert_eq!(date_of_ms(1_709_208_000_000), "2024-02-29");
        assert_eq!(format_day(19_783), "2024-03-01");
        assert_eq!(format_day(-1), "1969-12-31");
        assert!(check_day("2024-02-29").is_ok());
        assert!(check_day("2024-2-29").is_err());
        assert!(check_day("2024/02/29").is_err());
    }

    #[test]
    fn a_clear_pan_is_masked_before_storage() {
        assert_eq!(
            safe_masked(Some("4761739001010119")).as_deref(),
            Some("476173******0119")
        );
        assert_eq!(
            safe_masked(Some("476173******0119")).as_deref(),
            Some("476173******0119")
        );
        assert_eq!(safe_masked(Some("Alipay")).as_deref(), Some("Alipay"));
    }
}
