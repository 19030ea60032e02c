//! The acquirer's settlement statement as the terminal reads it
//! (`GET /v1/terminal/statement`), and the merchant-information review:
//! when it is due (from the signed configuration) and its confirmation.
//!
//! The statement's history chain is checked here again rather than taken
//! from the acquirer's `chain_valid`: what the merchant is shown as intact
//! is what this terminal could verify.

use super::{Client, SyncError};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A reminder is shown from this many days before the review is due.
pub const REVIEW_REMINDER_DAYS: i64 = 30;

/// One approved payment or refund, with the terms that applied to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatementLine {
    pub payment_id: String,
    pub created_ms: i64,
    pub business_date: String,
    /// `purchase`, `refund` or `qr`.
    pub kind: String,
    pub channel: String,
    pub terminal_id: String,
    pub masked_pan: String,
    pub mcc: String,
    pub fee_bps: i64,
    /// Signed: a refund is negative.
    pub amount_minor: i64,
    pub fee_minor: i64,
    pub net_minor: i64,
    pub currency: u16,
    /// Masked by the acquirer: only the last four characters are clear.
    pub settlement_account: String,
    pub settlement_id: Option<String>,
    /// The settlement's date, or the expected one while not settled.
    pub settlement_date: String,
    pub settled: bool,
    /// The history entry whose terms (fee, MCC) applied.
    pub history_seq: i64,
}

/// One settlement batch (one business day) of the period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettlementBatch {
    pub settlement_id: String,
    pub business_date: String,
    pub settlement_date: String,
    pub payment_count: i64,
    pub gross_minor: i64,
    pub fees_minor: i64,
    pub net_minor: i64,
    pub currency: u16,
}

/// What reaches the settlement account on one date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payout {
    pub settlement_date: String,
    pub net_minor: i64,
    /// Whether every line in it is in a settled batch (else expected).
    pub settled: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatementTotals {
    pub gross_minor: i64,
    pub fees_minor: i64,
    pub net_minor: i64,
    pub count: u64,
}

/// An entry of the merchant's append-only, hash-chained history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub seq: i64,
    pub kind: String,
    pub body: Value,
    pub prev_hash: String,
    pub hash: String,
    pub at_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatementHistory {
    /// What the acquirer says of its chain.
    pub chain_valid: bool,
    pub entries: Vec<HistoryEntry>,
}

/// The acquirer's statement of this terminal's merchant for a period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statement {
    pub merchant_id: String,
    pub merchant_name: String,
    pub from: String,
    pub to: String,
    /// The acquirer's date when it made the statement.
    pub generated: String,
    pub settlement_account: String,
    /// ISO 4217 numeric (absent from older acquirers: 0).
    #[serde(default)]
    pub currency: u16,
    pub lines: Vec<StatementLine>,
    #[serde(default)]
    pub settlements: Vec<SettlementBatch>,
    #[serde(default)]
    pub payouts: Vec<Payout>,
    pub totals: StatementTotals,
    pub history: StatementHistory,
    #[serde(default)]
    pub info_review_due: String,
}

impl HistoryEntry {
    /// The acquirer's entry hash: SHA-256 over the previous hash, sequence,
    /// kind, body (compact JSON) and time, one per line.
    fn expected_hash(&self, prev: &str) -> String {
        let text = format!(
            "{prev}\n{}\n{}\n{}\n{}",
            self.seq, self.kind, self.body, self.at_ms
        );
        hex::encode(ring::digest::digest(&ring::digest::SHA256, text.as_bytes()).as_ref())
    }
}

impl Statement {
    /// Whether the history links from its first entry to its last, each
    /// hashing to what it says, checked here.
    pub fn chain_verified(&self) -> bool {
        let mut prev = "0".repeat(64);
        let mut seq = 0i64;
        for e in &self.history.entries {
            seq = seq.saturating_add(1);
            if e.seq != seq || e.prev_hash != prev || e.expected_hash(&prev) != e.hash {
                return false;
            }
            prev.clone_from(&e.hash);
        }
        true
    }

    /// The history entry stating the terms a line was charged under: the
    /// line names the head of the history when it was taken, which may be
    /// an entry that states no terms (a review scheduled), so the latest
    /// entry up to it that names a fee is the one in force.
    pub fn terms_of(&self, line: &StatementLine) -> Option<&HistoryEntry> {
        self.history
            .entries
            .iter()
            .filter(|e| e.seq <= line.history_seq && e.body.get("fee_bps").is_some())
            .max_by_key(|e| e.seq)
    }
}

impl Statement {
    /// The statement as a text table: one line per payment, the totals,
    /// the payouts to the (masked) settlement account, the batches and
    /// the terms each line references.
    pub fn to_text(&self) -> String {
        use std::fmt::Write;
        let cur = self.currency;
        let fmt = |m: i64| crate::receipt::format_amount(m, cur);
        let mut o = String::new();
        let _ = writeln!(
            o,
            "Statement {} to {} for {} ({}), made {}",
            self.from, self.to, self.merchant_name, self.merchant_id, self.generated
        );
        let _ = writeln!(o, "Settlement account {}", self.settlement_account);
        let _ = writeln!(
            o,
            "{:<10} {:<8} {:<4} {:>14} {:>8} {:>12} {:>14} {:<10} {:<7} {:>5}",
            "DATE", "KIND", "MCC", "AMOUNT", "RATE", "FEE", "NET", "SETTLES", "STATUS", "TERMS"
        );
        for l in &self.lines {
            let _ = writeln!(
                o,
                "{:<10} {:<8} {:<4} {:>14} {:>8} {:>12} {:>14} {:<10} {:<7} {:>5}",
                l.business_date,
                l.kind,
                l.mcc,
                fmt(l.amount_minor),
                crate::receipt::format_bps(l.fee_bps),
                fmt(l.fee_minor),
                fmt(l.net_minor),
                l.settlement_date,
                if l.settled { "paid" } else { "due" },
                format!("#{}", l.history_seq)
            );
        }
        let t = &self.totals;
        let _ = writeln!(o, "{} line(s)", t.count);
        let _ = writeln!(o, "  Gross  {:>16}", fmt(t.gross_minor));
        let _ = writeln!(o, "  Fees   {:>16}", fmt(t.fees_minor));
        let _ = writeln!(o, "  Net    {:>16}", fmt(t.net_minor));
        for p in &self.payouts {
            let _ = writeln!(
                o,
                "Payout {} {:>16} {}",
                p.settlement_date,
                fmt(p.net_minor),
                if p.settled { "paid" } else { "expected" }
            );
        }
        for b in &self.settlements {
            let _ = writeln!(
                o,
                "Batch {} business date {} paid {}: {} payment(s), net {}",
                b.settlement_id,
                b.business_date,
                b.settlement_date,
                b.payment_count,
                fmt(b.net_minor)
            );
        }
        let mut seqs: Vec<i64> = self.lines.iter().map(|l| l.history_seq).collect();
        seqs.sort_unstable();
        seqs.dedup();
        for seq in seqs {
            let line = self.lines.iter().find(|l| l.history_seq == seq);
            if let Some(e) = line.and_then(|l| self.terms_of(l)) {
                let _ = writeln!(o, "Terms #{seq}: #{} {} {}", e.seq, e.kind, e.body);
            }
        }
        let _ = writeln!(
            o,
            "History chain: {}",
            if self.chain_verified() {
                "verified"
            } else {
                "BROKEN"
            }
        );
        if !self.info_review_due.is_empty() {
            let _ = writeln!(
                o,
                "Merchant information next due for review {}",
                self.info_review_due
            );
        }
        o
    }
}

/// Where the merchant stands with its information review on `today`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewState {
    /// `YYYY-MM-DD`.
    pub due: String,
    /// Negative once overdue.
    pub days_left: i64,
    /// Due within [`REVIEW_REMINDER_DAYS`] or overdue: remind the merchant.
    pub reminder: bool,
    pub overdue: bool,
}

/// Days since 1970-01-01 of a strict `YYYY-MM-DD` (H. Hinnant's
/// `days_from_civil`); `None` for anything else, 2026-02-30 included.
pub fn parse_day(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 10 || b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    let y: i64 = s.get(0..4)?.parse().ok()?;
    let m: i64 = s.get(5..7)?.parse().ok()?;
    let d: i64 = s.get(8..10)?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let yy = if m <= 2 { y - 1 } else { y };
    let era = yy.div_euclid(400);
    let yoe = yy.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    // A day past the month's end rolls into the next month: not a date.
    (crate::history::format_day(days) == s).then_some(days)
}

/// The review state for a due date (from the signed configuration) on
/// `today` (`YYYY-MM-DD`); `None` when either is not a date (a
/// configuration from before the review existed).
pub fn review_state(due: &str, today: &str) -> Option<ReviewState> {
    let days_left = parse_day(due)?.checked_sub(parse_day(today)?)?;
    Some(ReviewState {
        due: due.to_string(),
        days_left,
        reminder: days_left <= REVIEW_REMINDER_DAYS,
        overdue: days_left < 0,
    })
}

/// The acquirer's record of a confirmation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InfoConfirmation {
    pub history_entry: HistoryEntry,
    /// The next review date; the stored configuration already carries it.
    pub info_review_due: String,
}

impl Client {
    /// The acquirer's statement of this terminal's merchant from `from` to
    /// `to` (`YYYY-MM-DD`, at most a year). Signed and attested.
    pub fn statement(&mut self, from: &str, to: &str) -> Result<Statement, SyncError> {
        // The dates go into the signed path: checked here, so nothing else
        // can ride along in the query.
        if parse_day(from).is_none() || parse_day(to).is_none() {
            return Err(SyncError::Local(format!(
                "statement period {from:?} to {to:?}: dates must be YYYY-MM-DD"
            )));
        }
        let path = format!("/v1/terminal/statement?from={from}&to={to}");
        let v = self.call("GET", &path, &serde_json::json!({}))?;
        serde_json::from_value(v).map_err(|e| SyncError::Protocol(format!("statement: {e}")))
    }

    /// Tells the acquirer that the merchant's information, as this
    /// terminal's configuration shows it, is still correct; then fetches
    /// the re-signed configuration with the next review date. Refused
    /// (`merchant_info_changed`) if the acquirer holds other information:
    /// then refresh the configuration and show it again.
    pub fn confirm_merchant_info(&mut self) -> Result<InfoConfirmation, SyncError> {
        let c = self.identity().config();
        let body = serde_json::json!({
            "merchant_name": c.merchant_name,
            "mcc": c.mcc,
            "fee_bps": c.fee_bps,
            "settlement_account_masked": c.settlement_account_masked,
        });
        let v = self.call("POST", "/v1/terminal/merchant-info/confirm", &body)?;
        let confirmation: InfoConfirmation = serde_json::from_value(v)
            .map_err(|e| SyncError::Protocol(format!("confirmation: {e}")))?;
        self.refresh_config()?;
        Ok(confirmation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_parse_strictly() {
        assert_eq!(parse_day("1970-01-01"), Some(0));
        assert_eq!(parse_day("2024-03-01"), Some(19_783));
        assert_eq!(parse_day("2026-02-30"), None);
        assert_eq!(parse_day("2026-1-01"), None);
        assert_eq!(parse_day("2026-13-01"), None);
        assert_eq!(parse_day(""), None);
    }

    #[test]
    fn reminder_from_thirty_days_before() {
        let r = review_state("2026-12-23", "2026-11-23").unwrap();
        assert_eq!((r.days_left, r.reminder, r.overdue), (30, true, false));
        let r = review_state("2026-12-24", "2026-11-23").unwrap();
        assert_eq!((r.days_left, r.reminder), (31, false));
        let r = review_state("2026-11-22", "2026-11-23").unwrap();
        assert_eq!((r.days_left, r.reminder, r.overdue), (-1, true, true));
        assert_eq!(review_state("", "2026-11-23"), None);
    }

    fn chained() -> Statement {
        let mut entries = Vec::new();
        let mut prev = "0".repeat(64);
        for (seq, kind) in [(1, "onboarded"), (2, "info_confirmed")] {
            let mut e = HistoryEntry {
                seq,
                kind: kind.into(),
                body: serde_json::json!({ "fee_bps": 150, "mcc": "5411" }),
                prev_hash: prev.clone(),
                hash: String::new(),
                at_ms: 1_700_000_000_000,
            };
            e.hash = e.expected_hash(&prev);
            prev.clone_from(&e.hash);
            entries.push(e);
        }
        Statement {
            merchant_id: "mer_1".into(),
            merchant_name: "Shop".into(),
            from: "2026-11-01".into(),
            to: "2026-11-30".into(),
            generated: "2026-11-23".into(),
            settlement_account: "****3000".into(),
            currency: 978,
            lines: Vec::new(),
            settlements: Vec::new(),
            payouts: Vec::new(),
            totals: StatementTotals {
                gross_minor: 0,
                fees_minor: 0,
                net_minor: 0,
                count: 0,
            },
            history: StatementHistory {
                chain_valid: true,
                entries,
            },
            info_review_due: String::new(),
        }
    }

    #[test]
    fn chain_is_checked_here() {
        let s = chained();
        assert!(s.chain_verified());
        let mut edited = s.clone();
        edited.history.entries[0].body = serde_json::json!({ "fee_bps": 100, "mcc": "5411" });
        assert!(!edited.chain_verified(), "an edited body");
        let mut cut = s.clone();
        cut.history.entries.remove(0);
        assert!(!cut.chain_verified(), "an entry cut from the start");
        let mut swapped = s;
        swapped.history.entries.swap(0, 1);
        assert!(!swapped.chain_verified(), "reordered");
    }
}
