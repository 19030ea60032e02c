//! Settlement payout files: the ISO 20022 pain.001.001.09 credit transfer
//! initiation the acquirer hands its bank so that each merchant's net
//! settlement is paid straight to the merchant's own account, and the
//! record of every file produced.
//!
//! The file for a settlement date lists every settlement batch of that date
//! whose net is positive, one credit transfer per batch (EndToEndId = the
//! settlement ID), grouped by currency. It is deterministic: its MsgId is a
//! hash of everything it pays (and of the debtor), and its creation time is
//! the one recorded when that MsgId was first produced, so asking again
//! gives the same bytes; a new settlement for the date gives a new MsgId.
//!
//! It must never write a file with an account that is not a valid IBAN (the
//! whole file is refused and the merchants named), never compute an amount
//! through floating point, and never let text from operators break the XML.

use crate::api::{Admin, Shared};
use crate::error::{ApiError, ApiResult};
use crate::merchant::mask_account;
use crate::store::{col, is_unique_violation};
use crate::util::{format_day, parse_day, sha256_hex};
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use kernel::money::Currency;
use serde::Serialize;
use sqlx::any::AnyRow;
use std::collections::BTreeMap;

/// The message this module writes.
pub const MESSAGE: &str = "pain.001.001.09";
const NAMESPACE: &str = "urn:iso:std:iso:20022:tech:xsd:pain.001.001.09";
/// Part of every MsgId's hash: a change in how files are written must give
/// new MsgIds, or a bank would see one MsgId with two contents.
const FORMAT_VERSION: &str = "softpos-pain001/1";
/// Names are cut to 70 characters: ISO allows 140, but the SEPA rulebook
/// (and many banks outside it) take 70.
const NAME_CHARS: usize = 70;
/// The demo debtor account (`serve --demo` without `--payout-account`): the
/// standard Dutch example IBAN, which belongs to nobody.
pub const DEMO_PAYOUT_ACCOUNT: &str = "NL91ABNA0417164300";

/// The acquirer's own account, debited by the payout file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayoutAccount {
    /// Compact, upper-case, checked IBAN.
    pub iban: String,
    pub name: String,
    /// The debtor bank's BIC, when the bank wants it (`NOTPROVIDED` otherwise).
    pub bic: Option<String>,
}

impl PayoutAccount {
    /// Checks the IBAN (spaces allowed, as printed on statements), the name
    /// and the BIC.
    pub fn new(iban: &str, name: &str, bic: Option<&str>) -> Result<PayoutAccount, String> {
        let iban = compact_iban(iban);
        if !iban_valid(&iban) {
            return Err(format!(
                "payout account {} is not a valid IBAN (country code, check digits, mod-97)",
                mask_account(&iban)
            ));
        }
        let name = clean_text(name, NAME_CHARS);
        if name.is_empty() {
            return Err("payout name must not be empty".into());
        }
        let bic = match bic.map(|b| b.trim().to_ascii_uppercase()) {
            Some(b) if !bic_valid(&b) => {
                return Err(format!(
                    "payout BIC {b:?} is not a BIC (8 or 11 letters and digits)"
                ))
            }
            b => b.filter(|b| !b.is_empty()),
        };
        Ok(PayoutAccount { iban, name, bic })
    }
}

/// Spaces removed, letters upper-cased: the form IBANs are checked and
/// written in.
pub fn compact_iban(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// ISO 13616: two letters, two check digits (02 to 98), up to 30 letters or
/// digits, and the whole, rotated and with letters as numbers, ≡ 1 mod 97.
/// Expects the compact upper-case form ([`compact_iban`]). The per-country
/// lengths are not checked: mod-97 already catches a dropped or swapped
/// character.
pub fn iban_valid(iban: &str) -> bool {
    let b = iban.as_bytes();
    if !(15..=34).contains(&b.len()) {
        return false;
    }
    let (Some(country), Some(check), Some(bban)) = (b.get(..2), b.get(2..4), b.get(4..)) else {
        return false;
    };
    if !country.iter().all(u8::is_ascii_uppercase)
        || !check.iter().all(u8::is_ascii_digit)
        || !bban
            .iter()
            .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
        || matches!(check, b"00" | b"01" | b"99")
    {
        return false;
    }
    let mut rem: u32 = 0;
    for &c in bban.iter().chain(country).chain(check) {
        rem = if c.is_ascii_digit() {
            (rem * 10 + u32::from(c - b'0')) % 97
        } else {
            (rem * 100 + u32::from(c - b'A') + 10) % 97
        };
    }
    rem == 1
}

/// ISO 9362: 4 letters or digits (bank), 2 letters (country), 2 letters or
/// digits (location), optionally 3 (branch).
pub fn bic_valid(bic: &str) -> bool {
    let b = bic.as_bytes();
    let alnum = |s: Option<&[u8]>| {
        s.is_some_and(|s| {
            s.iter()
                .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
        })
    };
    (b.len() == 8 || b.len() == 11)
        && alnum(b.get(..4))
        && b.get(4..6)
            .is_some_and(|s| s.iter().all(u8::is_ascii_uppercase))
        && alnum(b.get(6..))
}

/// Escapes the five characters XML gives a meaning to. Characters XML 1.0
/// does not allow at all (most control characters) are replaced by a space
/// before this, in [`clean_text`].
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// Control characters (which XML 1.0 refuses, or which have no place in a
/// name) become spaces; the result is trimmed and cut to `max` characters,
/// the schema's limit on the text before escaping.
pub fn clean_text(s: &str, max: usize) -> String {
    let cleaned: String = s
        .chars()
        .map(|c| {
            if c.is_control() || c == '\u{FFFE}' || c == '\u{FFFF}' {
                ' '
            } else {
                c
            }
        })
        .collect();
    cleaned.trim().chars().take(max).collect::<String>()
}

/// Minor units as the file's decimal text (see [`kernel::money::decimal`]).
pub use kernel::money::decimal as format_minor;

/// Whether an amount fits the schema's decimals (18 digits in all, the
/// leading zero of "0.05" not counted).
pub fn fits_18_digits(minor: u128) -> bool {
    minor < 1_000_000_000_000_000_000
}

/// One credit transfer: a settlement batch paid to its merchant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayoutTx {
    pub settlement_id: String,
    pub merchant_id: String,
    pub merchant_name: String,
    pub business_date: String,
    /// Positive.
    pub net_minor: u64,
    pub currency: Currency,
    /// Compact, checked IBAN.
    pub iban: String,
}

/// "YYYYMMDD" of a checked "YYYY-MM-DD".
fn compact_date(date: &str) -> String {
    date.chars().filter(char::is_ascii_digit).collect()
}

fn content_hash(date: &str, debtor: &PayoutAccount, txs: &[PayoutTx]) -> String {
    let mut canon = format!(
        "{FORMAT_VERSION}\n{date}\n{}\n{}\n{}\n",
        debtor.iban,
        debtor.name,
        debtor.bic.as_deref().unwrap_or("")
    );
    for t in txs {
        canon.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
            t.settlement_id,
            t.merchant_id,
            t.business_date,
            t.net_minor,
            t.currency.alpha,
            t.iban,
            t.merchant_name
        ));
    }
    sha256_hex(canon.as_bytes())
}

/// `SOFTPOS-YYYYMMDD-` and 16 hex digits of the hash of everything the file
/// pays (33 characters; the schema allows 35). The same settlements give the
/// same MsgId; one more settlement, another.
pub fn msg_id(date: &str, debtor: &PayoutAccount, txs: &[PayoutTx]) -> String {
    let h = content_hash(date, debtor, txs);
    format!(
        "SOFTPOS-{}-{}",
        compact_date(date),
        h.get(..16).unwrap_or(&h)
    )
}

/// `YYYY-MM-DDThh:mm:ssZ`.
pub fn format_datetime(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let day = secs.div_euclid(86_400);
    let s = secs.rem_euclid(86_400);
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        format_day(day),
        s / 3600,
        s % 3600 / 60,
        s % 60
    )
}

/// Sum of amounts in their own currencies' major units, as the schema's
/// control sums are ("irrespective of currencies"): each scaled to the
/// largest exponent among them.
fn control_sum(txs: &[&PayoutTx]) -> Result<String, String> {
    let exp = txs.iter().map(|t| t.currency.exponent).max().unwrap_or(0);
    let mut sum: u128 = 0;
    for t in txs {
        let scale = 10u128.pow(u32::from(exp.saturating_sub(t.currency.exponent)));
        sum = sum
            .checked_add(u128::from(t.net_minor).saturating_mul(scale))
            .ok_or("control sum overflows")?;
    }
    if !fits_18_digits(sum) {
        return Err(format!(
            "control sum {} has more than 18 digits",
            format_minor(sum, exp)
        ));
    }
    Ok(format_minor(sum, exp))
}

struct Xml {
    out: String,
    depth: usize,
}

impl Xml {
    fn open(&mut self, name: &str) {
        self.indent();
        self.out.push_str(&format!("<{name}>\n"));
        self.depth += 1;
    }
    fn close(&mut self, name: &str) {
        self.depth = self.depth.saturating_sub(1);
        self.indent();
        self.out.push_str(&format!("</{name}>\n"));
    }
    /// An element with text, escaped here.
    fn text(&mut self, name: &str, text: &str) {
        self.indent();
        self.out
            .push_str(&format!("<{name}>{}</{name}>\n", xml_escape(text)));
    }
    fn indent(&mut self) {
        for _ in 0..self.depth {
            self.out.push_str("  ");
        }
    }
}

/// The pain.001.001.09 document. `txs` must be non-empty, in the order they
/// are to appear within their currency; currencies appear in alphabetical
/// order of their codes, one PmtInf each.
pub fn render(
    msg_id: &str,
    created_ms: i64,
    date: &str,
    debtor: &PayoutAccount,
    txs: &[PayoutTx],
) -> Result<String, String> {
    if txs.is_empty() {
        return Err("a payout file needs at least one transfer".into());
    }
    let mut by_ccy: BTreeMap<&str, Vec<&PayoutTx>> = BTreeMap::new();
    for t in txs {
        if t.net_minor == 0 {
            return Err(format!("settlement {} pays nothing", t.settlement_id));
        }
        if !fits_18_digits(u128::from(t.net_minor)) {
            return Err(format!("settlement {} is too large", t.settlement_id));
        }
        by_ccy.entry(t.currency.alpha).or_default().push(t);
    }
    let all: Vec<&PayoutTx> = txs.iter().collect();
    let mut x = Xml {
        out: String::with_capacity(1024 + 900 * txs.len()),
        depth: 0,
    };
    x.out
        .push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    x.out
        .push_str(&format!("<Document xmlns=\"{NAMESPACE}\">\n"));
    x.depth = 1;
    x.open("CstmrCdtTrfInitn");
    x.open("GrpHdr");
    x.text("MsgId", msg_id);
    x.text("CreDtTm", &format_datetime(created_ms));
    x.text("NbOfTxs", &txs.len().to_string());
    x.text("CtrlSum", &control_sum(&all)?);
    x.open("InitgPty");
    x.text("Nm", &debtor.name);
    x.close("InitgPty");
    x.close("GrpHdr");
    let hash_part = msg_id.rsplit('-').next().unwrap_or(msg_id);
    for (ccy, group) in &by_ccy {
        x.open("PmtInf");
        x.text(
            "PmtInfId",
            &format!(
                "SOFTPOS-{}-{}-{ccy}",
                compact_date(date),
                hash_part.get(..12).unwrap_or(hash_part)
            ),
        );
        x.text("PmtMtd", "TRF");
        x.text("NbOfTxs", &group.len().to_string());
        x.text("CtrlSum", &control_sum(group)?);
        // Euro transfers go as SEPA credit transfers, shared charges
        // (SLEV), as the SEPA rulebook asks; other currencies take the
        // bank's default.
        let sepa = *ccy == "EUR";
        if sepa {
            x.open("PmtTpInf");
            x.open("SvcLvl");
            x.text("Cd", "SEPA");
            x.close("SvcLvl");
            x.close("PmtTpInf");
        }
        x.open("ReqdExctnDt");
        x.text("Dt", date);
        x.close("ReqdExctnDt");
        x.open("Dbtr");
        x.text("Nm", &debtor.name);
        x.close("Dbtr");
        x.open("DbtrAcct");
        x.open("Id");
        x.text("IBAN", &debtor.iban);
        x.close("Id");
        x.close("DbtrAcct");
        x.open("DbtrAgt");
        x.open("FinInstnId");
        match &debtor.bic {
            Some(bic) => x.text("BICFI", bic),
            None => {
                x.open("Othr");
                x.text("Id", "NOTPROVIDED");
                x.close("Othr");
            }
        }
        x.close("FinInstnId");
        x.close("DbtrAgt");
        if sepa {
            x.text("ChrgBr", "SLEV");
        }
        for t in group {
            x.open("CdtTrfTxInf");
            x.open("PmtId");
            x.text("EndToEndId", &t.settlement_id);
            x.close("PmtId");
            x.open("Amt");
            x.indent();
            x.out.push_str(&format!(
                "<InstdAmt Ccy=\"{}\">{}</InstdAmt>\n",
                xml_escape(t.currency.alpha),
                format_minor(u128::from(t.net_minor), t.currency.exponent)
            ));
            x.close("Amt");
            x.open("Cdtr");
            let name = clean_text(&t.merchant_name, NAME_CHARS);
            x.text(
                "Nm",
                if name.is_empty() {
                    "NOTPROVIDED"
                } else {
                    &name
                },
            );
            x.close("Cdtr");
            x.open("CdtrAcct");
            x.open("Id");
            x.text("IBAN", &t.iban);
            x.close("Id");
            x.close("CdtrAcct");
            x.open("RmtInf");
            x.text(
                "Ustrd",
                &clean_text(
                    &format!("SoftPOS settlement {} {}", t.business_date, t.merchant_id),
                    140,
                ),
            );
            x.close("RmtInf");
            x.close("CdtTrfTxInf");
        }
        x.close("PmtInf");
    }
    x.close("CstmrCdtTrfInitn");
    x.out.push_str("</Document>\n");
    Ok(x.out)
}

/// A settlement of the date that is not in the file, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Unpaid {
    pub settlement_id: String,
    pub merchant_id: String,
    pub business_date: String,
    pub net_minor: i64,
    pub currency: u16,
    /// `net_not_positive`, `invalid_iban` or `unknown_currency`.
    pub reason: &'static str,
    pub message: String,
}

/// The settlements of one date, sorted into what the file pays, what it
/// rightly leaves out, and what stops it from being written.
#[derive(Debug, Default)]
pub struct Sorted {
    pub paid: Vec<PayoutTx>,
    /// Nothing to pay (net ≤ 0).
    pub unpaid: Vec<Unpaid>,
    /// Owed but cannot be written (no valid IBAN, unknown currency): the
    /// file is refused until they are fixed.
    pub blocked: Vec<Unpaid>,
}

/// Reads the settlements of `date` (all merchants) with their merchants'
/// names and accounts, in a fixed order (merchant, business date, ID), so
/// the same settlements always give the same file.
pub async fn sort_settlements(st: &Shared, date: &str) -> ApiResult<Sorted> {
    let rows: Vec<AnyRow> = sqlx::query(
        "SELECT s.id, s.merchant_id, s.business_date, s.net_minor, s.currency, \
         m.name, m.settlement_account \
         FROM settlements s JOIN merchants m ON m.id = s.merchant_id \
         WHERE s.settlement_date = $1 \
         ORDER BY s.merchant_id, s.business_date, s.id",
    )
    .bind(date)
    .fetch_all(&st.store.pool)
    .await?;
    let mut sorted = Sorted::default();
    for r in &rows {
        let net: i64 = col(r, "net_minor")?;
        let numeric: i64 = col(r, "currency")?;
        let account: String = col(r, "settlement_account")?;
        let unpaid = |reason: &'static str, message: String| -> ApiResult<Unpaid> {
            Ok(Unpaid {
                settlement_id: col(r, "id")?,
                merchant_id: col(r, "merchant_id")?,
                business_date: col(r, "business_date")?,
                net_minor: net,
                currency: u16::try_from(numeric).unwrap_or(0),
                reason,
                message,
            })
        };
        let currency = u16::try_from(numeric)
            .ok()
            .and_then(|n| Currency::from_numeric(n).ok());
        let Ok(net_pos) = u64::try_from(net) else {
            sorted.unpaid.push(unpaid(
                "net_not_positive",
                "refunds exceeded purchases less fees: nothing is paid for this batch".into(),
            )?);
            continue;
        };
        if net_pos == 0 {
            sorted.unpaid.push(unpaid(
                "net_not_positive",
                "the batch nets to zero: nothing is paid".into(),
            )?);
            continue;
        }
        let Some(currency) = currency else {
            sorted.blocked.push(unpaid(
                "unknown_currency",
                format!("currency {numeric} has no ISO 4217 code known to the acquirer"),
            )?);
            continue;
        };
        let iban = compact_iban(&account);
        if !iban_valid(&iban) {
            sorted.blocked.push(unpaid(
                "invalid_iban",
                format!(
                    "settlement account {} is not a valid IBAN: correct the merchant's account before paying",
                    mask_account(&account)
                ),
            )?);
            continue;
        }
        sorted.paid.push(PayoutTx {
            settlement_id: col(r, "id")?,
            merchant_id: col(r, "merchant_id")?,
            merchant_name: col(r, "name")?,
            business_date: col(r, "business_date")?,
            net_minor: net_pos,
            currency,
            iban,
        });
    }
    Ok(sorted)
}

fn checked_date(date: &str) -> ApiResult<()> {
    match parse_day(date) {
        Some(_) => Ok(()),
        None => Err(ApiError::unprocessable(
            "invalid_date",
            "settlement date must be YYYY-MM-DD",
        )),
    }
}

fn debtor(st: &Shared) -> ApiResult<&PayoutAccount> {
    st.policy.payout.as_ref().ok_or_else(|| {
        ApiError::conflict(
            "payout_account_not_configured",
            "no payout account is configured: start softpos-acquirer with --payout-account IBAN \
             --payout-name NAME (or SOFTPOS_PAYOUT_ACCOUNT and SOFTPOS_PAYOUT_NAME)",
        )
    })
}

/// The creation time and file hash recorded for a MsgId.
async fn recorded(st: &Shared, msg_id: &str) -> ApiResult<Option<(i64, String)>> {
    let row: Option<AnyRow> =
        sqlx::query("SELECT created_ms, file_sha256 FROM payout_files WHERE msg_id = $1")
            .bind(msg_id)
            .fetch_optional(&st.store.pool)
            .await?;
    match row {
        Some(r) => Ok(Some((col(&r, "created_ms")?, col(&r, "file_sha256")?))),
        None => Ok(None),
    }
}

/// The creation time recorded for `msg_id`, recording `now` (with the file's
/// hash) if it is the first time. Two requests at once: one insert wins,
/// the other reads what it wrote.
async fn record(
    st: &Shared,
    msg_id: &str,
    date: &str,
    debtor: &PayoutAccount,
    txs: &[PayoutTx],
) -> ApiResult<(i64, String)> {
    let rendered = |created: i64| {
        render(msg_id, created, date, debtor, txs)
            .map_err(|e| ApiError::unprocessable("payout_not_writable", e))
    };
    let same_file = |created: i64, sha: &str| -> ApiResult<(i64, String)> {
        let xml = rendered(created)?;
        // The MsgId covers everything but the creation time, which is
        // stored: a different file now means the writer changed without
        // FORMAT_VERSION, and a bank must never get two files under one
        // MsgId.
        if sha256_hex(xml.as_bytes()) != sha {
            return Err(ApiError::internal(format_args!(
                "payout file {msg_id} no longer renders as recorded"
            )));
        }
        Ok((created, xml))
    };
    if let Some((created, sha)) = recorded(st, msg_id).await? {
        return same_file(created, &sha);
    }
    let now = st.clock.now_ms();
    let xml = rendered(now)?;
    let ids: Vec<&str> = txs.iter().map(|t| t.settlement_id.as_str()).collect();
    let inserted = sqlx::query(
        "INSERT INTO payout_files (msg_id, settlement_date, settlement_ids, tx_count, file_sha256, created_ms) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(msg_id)
    .bind(date)
    .bind(serde_json::to_string(&ids).map_err(ApiError::internal)?)
    .bind(i64::try_from(txs.len()).unwrap_or(i64::MAX))
    .bind(sha256_hex(xml.as_bytes()))
    .bind(now)
    .execute(&st.store.pool)
    .await;
    match inserted {
        Ok(_) => {
            tracing::info!(%msg_id, settlement_date = %date, transfers = txs.len(), "payout file produced");
            Ok((now, xml))
        }
        Err(e) if is_unique_violation(&e) => match recorded(st, msg_id).await? {
            Some((created, sha)) => same_file(created, &sha),
            None => Err(ApiError::internal("payout file vanished after a conflict")),
        },
        Err(e) => Err(e.into()),
    }
}

fn blocked_error(blocked: &[Unpaid]) -> ApiError {
    let list: Vec<String> = blocked
        .iter()
        .map(|b| format!("{} ({}): {}", b.merchant_id, b.settlement_id, b.message))
        .collect();
    ApiError::unprocessable(
        "payout_blocked",
        format!(
            "no payout file written: {} settlement(s) cannot be paid as they stand: {}",
            blocked.len(),
            list.join("; ")
        ),
    )
}

/// `GET /v1/payouts/{settlement_date}`: the pain.001.001.09 file.
pub async fn file(
    State(st): State<Shared>,
    _: Admin,
    Path(date): Path<String>,
) -> ApiResult<Response> {
    checked_date(&date)?;
    let debtor = debtor(&st)?;
    let sorted = sort_settlements(&st, &date).await?;
    if !sorted.blocked.is_empty() {
        return Err(blocked_error(&sorted.blocked));
    }
    if sorted.paid.is_empty() {
        return Err(ApiError::not_found(
            "no_payouts",
            format!("no settlement with a positive net has settlement date {date}"),
        ));
    }
    let id = msg_id(&date, debtor, &sorted.paid);
    let (_, xml) = record(&st, &id, &date, debtor, &sorted.paid).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/xml".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{id}.xml\""),
            ),
        ],
        xml,
    )
        .into_response())
}

#[derive(Debug, Serialize)]
struct PaidLine {
    settlement_id: String,
    merchant_id: String,
    merchant_name: String,
    business_date: String,
    net_minor: u64,
    currency: u16,
    /// What the file says: major units and ISO 4217 code.
    amount: String,
    ccy: &'static str,
    settlement_account: String,
}

/// `GET /v1/payouts/{settlement_date}/summary`: what the file pays, what
/// it leaves out and why, and the files already produced for the date.
pub async fn summary(
    State(st): State<Shared>,
    _: Admin,
    Path(date): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    checked_date(&date)?;
    let sorted = sort_settlements(&st, &date).await?;
    let configured = st.policy.payout.as_ref();
    let paid: Vec<PaidLine> = sorted
        .paid
        .iter()
        .map(|t| PaidLine {
            settlement_id: t.settlement_id.clone(),
            merchant_id: t.merchant_id.clone(),
            merchant_name: t.merchant_name.clone(),
            business_date: t.business_date.clone(),
            net_minor: t.net_minor,
            currency: t.currency.numeric,
            amount: format_minor(u128::from(t.net_minor), t.currency.exponent),
            ccy: t.currency.alpha,
            settlement_account: mask_account(&t.iban),
        })
        .collect();
    let mut totals: BTreeMap<&str, (u128, u8, usize)> = BTreeMap::new();
    for t in &sorted.paid {
        let e = totals
            .entry(t.currency.alpha)
            .or_insert((0, t.currency.exponent, 0));
        e.0 = e.0.saturating_add(u128::from(t.net_minor));
        e.2 += 1;
    }
    let totals: Vec<_> = totals
        .into_iter()
        .map(|(ccy, (sum, exp, n))| {
            serde_json::json!({ "ccy": ccy, "count": n, "amount": format_minor(sum, exp) })
        })
        .collect();
    let (file_ready, problem, msg) = match (
        configured,
        sorted.blocked.is_empty(),
        sorted.paid.is_empty(),
    ) {
        (None, _, _) => (
            false,
            Some(debtor(&st).err().map(|e| e.message).unwrap_or_default()),
            None,
        ),
        (Some(_), false, _) => (false, Some(blocked_error(&sorted.blocked).message), None),
        (Some(_), true, true) => (false, Some("nothing to pay on this date".to_string()), None),
        (Some(d), true, false) => (true, None, Some(msg_id(&date, d, &sorted.paid))),
    };
    let files: Vec<AnyRow> = sqlx::query(
        "SELECT msg_id, settlement_ids, tx_count, file_sha256, created_ms FROM payout_files \
         WHERE settlement_date = $1 ORDER BY created_ms, msg_id",
    )
    .bind(&date)
    .fetch_all(&st.store.pool)
    .await?;
    let files = files
        .iter()
        .map(|r| {
            let ids: String = col(r, "settlement_ids")?;
            Ok(serde_json::json!({
                "msg_id": col::<String>(r, "msg_id")?,
                "settlement_ids": serde_json::from_str::<serde_json::Value>(&ids).map_err(ApiError::internal)?,
                "tx_count": col::<i64>(r, "tx_count")?,
                "file_sha256": col::<String>(r, "file_sha256")?,
                "created_ms": col::<i64>(r, "created_ms")?,
            }))
        })
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(Json(serde_json::json!({
        "settlement_date": date,
        "message": MESSAGE,
        "file_ready": file_ready,
        "problem": problem,
        "msg_id": msg,
        "paid": paid,
        "totals": totals,
        "unpaid": sorted.unpaid,
        "blocked": sorted.blocked,
        "files": files,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eur() -> Currency {
        Currency::parse("EUR").unwrap()
    }

    fn debtor() -> PayoutAccount {
        PayoutAccount::new("NL91 ABNA 0417 1643 00", "Acquirer & Co", None).unwrap()
    }

    fn tx(id: &str, net: u64, currency: Currency, name: &str) -> PayoutTx {
        PayoutTx {
            settlement_id: id.into(),
            merchant_id: format!("mer_{id}"),
            merchant_name: name.into(),
            business_date: "2026-11-23".into(),
            net_minor: net,
            currency,
            iban: "DE89370400440532013000".into(),
        }
    }

    #[test]
    fn amounts_by_exponent() {
        assert_eq!(format_minor(123_456, 2), "1234.56");
        assert_eq!(format_minor(5, 2), "0.05");
        assert_eq!(format_minor(0, 2), "0.00");
        assert_eq!(format_minor(100, 2), "1.00");
        assert_eq!(format_minor(1500, 0), "1500");
        assert_eq!(format_minor(0, 0), "0");
        assert_eq!(format_minor(1, 3), "0.001");
        assert_eq!(format_minor(12_345, 3), "12.345");
        assert_eq!(format_minor(1_000, 3), "1.000");
        assert_eq!(
            format_minor(u128::from(u64::MAX), 2),
            "184467440737095516.15"
        );
        assert_eq!(
            format_minor(999_999_999_999_999_999, 2),
            "9999999999999999.99"
        );
        assert!(fits_18_digits(999_999_999_999_999_999));
        assert!(!fits_18_digits(1_000_000_000_000_000_000));
        // Through the real currency table: JPY and KRW have no minor unit,
        // KWD three digits.
        for (code, minor, text) in [
            ("JPY", 1500, "1500"),
            ("KRW", 70_000, "70000"),
            ("KWD", 1_250, "1.250"),
            ("GBP", 1_999, "19.99"),
            ("USD", 7, "0.07"),
        ] {
            let c = Currency::parse(code).unwrap();
            assert_eq!(format_minor(minor, c.exponent), text, "{code}");
        }
    }

    #[test]
    fn iban_check() {
        for good in [
            "DE89370400440532013000",
            "GB82WEST12345698765432",
            "NL91ABNA0417164300",
            "FR1420041010050500013M02606",
            "BE68539007547034",
        ] {
            assert!(iban_valid(good), "{good}");
        }
        for bad in [
            "DE89370400440532013001", // one digit changed
            "DE89370400440532010300", // two digits swapped
            "DE88370400440532013000", // check digits
            "de89370400440532013000", // not the compact upper-case form
            "DE8937040044",           // too short
            "ACCT12345678",           // what onboarding also accepts
            "1289370400440532013000",
            "DE8937040044053201300X",
            "",
        ] {
            assert!(!iban_valid(bad), "{bad}");
        }
        assert_eq!(
            compact_iban("gb82 west 1234 5698 7654 32"),
            "GB82WEST12345698765432"
        );
        assert!(PayoutAccount::new("GB82 WEST 1234 5698 7654 32", "X", None).is_ok());
        assert!(PayoutAccount::new("GB82 WEST 1234 5698 7654 33", "X", None).is_err());
        assert!(PayoutAccount::new("GB82WEST12345698765432", " \u{1} ", None).is_err());
        assert!(PayoutAccount::new("GB82WEST12345698765432", "X", Some("DEUTDEFF")).is_ok());
        assert!(PayoutAccount::new("GB82WEST12345698765432", "X", Some("DEUTDEFF500")).is_ok());
        assert!(PayoutAccount::new("GB82WEST12345698765432", "X", Some("DEUT1EFF")).is_err());
    }

    #[test]
    fn escaping() {
        assert_eq!(
            xml_escape(r#"Fish & Chips <"Joe's">"#),
            "Fish &amp; Chips &lt;&quot;Joe&apos;s&quot;&gt;"
        );
        assert_eq!(xml_escape("Café 小店"), "Café 小店");
        assert_eq!(clean_text(" a\u{0}b\nc\u{7f} ", 140), "a b c");
        assert_eq!(clean_text(&"é".repeat(100), 70).chars().count(), 70);
    }

    #[test]
    fn msg_id_is_deterministic() {
        let d = debtor();
        let a = vec![tx("stl_a", 100, eur(), "A"), tx("stl_b", 200, eur(), "B")];
        let id = msg_id("2026-11-24", &d, &a);
        assert_eq!(id, msg_id("2026-11-24", &d, &a.clone()));
        assert!(id.starts_with("SOFTPOS-20261124-"), "{id}");
        assert_eq!(id.len(), 33);
        let mut more = a.clone();
        more.push(tx("stl_c", 1, eur(), "C"));
        assert_ne!(id, msg_id("2026-11-24", &d, &more), "a settlement added");
        assert_ne!(id, msg_id("2026-11-25", &d, &a), "another date");
        let mut other = a.clone();
        other[1].net_minor = 201;
        assert_ne!(id, msg_id("2026-11-24", &d, &other), "another amount");
        let d2 = PayoutAccount::new("GB82WEST12345698765432", "Acquirer & Co", None).unwrap();
        assert_ne!(id, msg_id("2026-11-24", &d2, &a), "another debtor account");
    }

    #[test]
    fn datetime() {
        assert_eq!(format_datetime(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_datetime(1_709_208_000_999), "2024-02-29T12:00:00Z");
        assert_eq!(format_datetime(1_709_251_199_000), "2024-02-29T23:59:59Z");
    }

    #[test]
    fn document_parses_and_adds_up() {
        let jpy = Currency::parse("JPY").unwrap();
        let kwd = Currency::parse("KWD").unwrap();
        let name = "Fish & Chips <\"Joe's\">";
        let txs = vec![
            tx("stl_1", 123_456, eur(), name),
            tx("stl_2", 1, eur(), "B"),
            tx("stl_3", 1500, jpy, "C"),
            tx("stl_4", 1_250, kwd, "D"),
        ];
        let d = debtor();
        let id = msg_id("2026-11-24", &d, &txs);
        let xml = render(&id, 1_763_942_400_000, "2026-11-24", &d, &txs).unwrap();
        assert_eq!(
            xml,
            render(&id, 1_763_942_400_000, "2026-11-24", &d, &txs).unwrap()
        );
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let root = doc.root_element();
        assert_eq!(root.tag_name().namespace(), Some(NAMESPACE));
        let find = |n: roxmltree::Node<'_, '_>, name: &str| {
            n.descendants()
                .filter(|d| d.has_tag_name(name))
                .map(|d| d.text().unwrap_or("").to_string())
                .collect::<Vec<_>>()
        };
        let hdr = root
            .descendants()
            .find(|n| n.has_tag_name("GrpHdr"))
            .unwrap();
        assert_eq!(find(hdr, "MsgId"), [id.as_str()]);
        assert_eq!(find(hdr, "NbOfTxs"), ["4"]);
        // 1234.560 + 0.010 + 1500 + 1.250, at KWD's three digits.
        assert_eq!(find(hdr, "CtrlSum"), ["2735.820"]);
        assert_eq!(find(hdr, "CreDtTm"), ["2025-11-24T00:00:00Z"]);
        let pmts: Vec<_> = root
            .descendants()
            .filter(|n| n.has_tag_name("PmtInf"))
            .collect();
        assert_eq!(pmts.len(), 3, "one per currency");
        let ccys: Vec<_> = pmts
            .iter()
            .map(|p| {
                p.descendants()
                    .find(|n| n.has_tag_name("InstdAmt"))
                    .unwrap()
                    .attribute("Ccy")
                    .unwrap()
            })
            .collect();
        assert_eq!(ccys, ["EUR", "JPY", "KWD"]);
        assert_eq!(find(pmts[0], "CtrlSum"), ["1234.57"]);
        assert_eq!(find(pmts[0], "InstdAmt"), ["1234.56", "0.01"]);
        assert_eq!(find(pmts[0], "Cd"), ["SEPA"]);
        assert_eq!(find(pmts[1], "InstdAmt"), ["1500"]);
        assert!(find(pmts[1], "Cd").is_empty(), "SEPA only for euros");
        assert_eq!(find(pmts[2], "InstdAmt"), ["1.250"]);
        assert_eq!(find(pmts[0], "Dt"), ["2026-11-24"]);
        // Escaped on the way in, the same text on the way out.
        assert_eq!(find(pmts[0], "Nm")[1], name);
        assert_eq!(find(hdr, "Nm"), ["Acquirer & Co"]);
        assert_eq!(find(pmts[0], "EndToEndId"), ["stl_1", "stl_2"]);
        assert_eq!(
            find(pmts[0], "Ustrd")[0],
            "SoftPOS settlement 2026-11-23 mer_stl_1"
        );
        assert_eq!(find(pmts[0], "IBAN")[0], "NL91ABNA0417164300");
        assert_eq!(find(pmts[0], "IBAN")[1], "DE89370400440532013000");
        assert!(render(&id, 0, "2026-11-24", &d, &[]).is_err());
    }
}
