//! Issuer simulator: holds test issuer master keys per PAN range, verifies
//! application cryptograms with the `cryptogram` crate, applies simple
//! issuer rules (blocked card, velocity, balance) and answers with an ARPC
//! in tag 91. Card accounts are keyed by PAN token, never by PAN.

use crate::api::Shared;
use crate::error::{ApiError, ApiResult};
use crate::keys::PanRef;
use crate::store::col;
use crate::terminal::IssuerRangeRequest;
use cryptogram::{Cvn, IssuerResponse, Key16};
use kernel::pan::Pan;
use sqlx::any::AnyRow;
use sqlx::{Any, Transaction};
use std::collections::BTreeMap;
use std::sync::Arc;
use zeroize::Zeroize;

/// Largest field 55 accepted, in bytes (ISO 8583 field 55 is at most 255
/// in most networks; we allow room for proprietary tags).
pub const MAX_ICC_DATA: usize = 1024;
/// Velocity window.
const VELOCITY_WINDOW_MS: i64 = 10 * 60_000;

/// The field 55 data of one payment, parsed and cross-checked.
pub struct Icc {
    pub tags: BTreeMap<u32, Vec<u8>>,
    pub pan: Pan,
    pub psn: u8,
    pub atc: [u8; 2],
    pub un: [u8; 4],
    pub ac: [u8; 8],
    /// Cryptogram Information Data: 0x80 ARQC, 0x40 TC, 0x00 AAC.
    pub cid: Option<u8>,
}

fn fixed<const N: usize>(
    tags: &BTreeMap<u32, Vec<u8>>,
    tag: u32,
    name: &str,
) -> ApiResult<[u8; N]> {
    tags.get(&tag)
        .and_then(|v| <[u8; N]>::try_from(v.as_slice()).ok())
        .ok_or_else(|| {
            ApiError::unprocessable(
                "invalid_icc_data",
                format!("icc_data needs tag {tag:X} ({name}) of {N} bytes"),
            )
        })
}

impl Icc {
    /// Parses hex BER-TLV and checks it against the amount and currency the
    /// terminal asserts in the request.
    pub fn parse(hex_data: &str, amount_minor: u64, currency: u16) -> ApiResult<Icc> {
        let bad = |m: String| ApiError::unprocessable("invalid_icc_data", m);
        if hex_data.len() > MAX_ICC_DATA * 2 {
            return Err(bad(format!("icc_data is longer than {MAX_ICC_DATA} bytes")));
        }
        let bytes = hex::decode(hex_data).map_err(|e| bad(format!("icc_data is not hex: {e}")))?;
        let mut tags = BTreeMap::new();
        kernel::tlv::walk(&bytes, &mut |tlv, _| {
            if !tlv.tag.is_constructed() {
                tags.insert(tlv.tag.value(), tlv.value.to_vec());
            }
        })
        .map_err(|e| bad(format!("icc_data is not valid BER-TLV: {e}")))?;
        let pan_cn = tags
            .get(&0x5A)
            .ok_or_else(|| bad("icc_data needs tag 5A (PAN)".into()))?;
        let pan = Pan::from_cn(pan_cn).map_err(|e| bad(format!("tag 5A: {e}")))?;
        let psn = match tags.get(&0x5F34).map(Vec::as_slice) {
            None => 0,
            Some([b]) => kernel::bcd::decode_digits(&[*b])
                .and_then(|d| d.parse().ok())
                .unwrap_or(*b),
            Some(_) => return Err(bad("tag 5F34 must be one byte".into())),
        };
        let amount: [u8; 6] = fixed(&tags, 0x9F02, "amount authorised")?;
        let amount_digits =
            kernel::bcd::decode_digits(&amount).ok_or_else(|| bad("tag 9F02 is not BCD".into()))?;
        if amount_digits.parse::<u64>().ok() != Some(amount_minor) {
            return Err(ApiError::unprocessable(
                "icc_data_mismatch",
                "amount in tag 9F02 differs from amount_minor",
            ));
        }
        let cur: [u8; 2] = fixed(&tags, 0x5F2A, "currency")?;
        let cur_ok =
            kernel::bcd::decode_digits(&cur).and_then(|d| d.parse::<u16>().ok()) == Some(currency);
        if !cur_ok {
            return Err(ApiError::unprocessable(
                "icc_data_mismatch",
                "currency in tag 5F2A differs from currency",
            ));
        }
        Ok(Icc {
            psn,
            atc: fixed(&tags, 0x9F36, "ATC")?,
            un: fixed(&tags, 0x9F37, "unpredictable number")?,
            ac: fixed(&tags, 0x9F26, "application cryptogram")?,
            cid: tags.get(&0x9F27).and_then(|v| v.first().copied()),
            pan,
            tags,
        })
    }
}

/// The issuer's answer.
#[derive(Debug, Clone)]
pub struct Decision {
    pub approved: bool,
    pub offline: bool,
    /// ISO 8583 response code.
    pub response_code: &'static str,
    pub reason: String,
    pub auth_code: Option<String>,
    pub issuer_authentication_data: Option<Vec<u8>>,
}

impl Decision {
    pub fn status(&self) -> &'static str {
        match (self.approved, self.offline) {
            (true, _) => "approved",
            (false, false) => "declined",
            (false, true) => "rejected",
        }
    }
}

pub fn parse_cvn(s: &str) -> Option<Cvn> {
    Cvn::ALL.iter().copied().find(|c| {
        let name = match c {
            Cvn::Visa10 => "visa-10",
            Cvn::Visa18 => "visa-18",
            Cvn::Mastercard16 => "mastercard-16",
            Cvn::Mastercard17 => "mastercard-17",
        };
        name.eq_ignore_ascii_case(s)
    })
}

fn cvn_from_number(n: i64) -> Option<Cvn> {
    Cvn::ALL
        .iter()
        .copied()
        .find(|c| i64::from(c.number()) == n)
}

pub async fn put_range(st: &Shared, req: &IssuerRangeRequest) -> ApiResult<()> {
    if req.pan_prefix.is_empty()
        || req.pan_prefix.len() > 12
        || !req.pan_prefix.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(ApiError::unprocessable(
            "invalid_pan_prefix",
            "pan_prefix must be 1 to 12 digits",
        ));
    }
    let cvn = parse_cvn(&req.cvn).ok_or_else(|| {
        ApiError::unprocessable(
            "invalid_cvn",
            "cvn must be visa-10, visa-18, mastercard-16 or mastercard-17",
        )
    })?;
    let key = hex::decode(&req.imk_ac)
        .ok()
        .filter(|k| k.len() == 16)
        .ok_or_else(|| ApiError::unprocessable("invalid_key", "imk_ac must be 16 bytes in hex"))?;
    let balance = i64::try_from(req.default_balance_minor)
        .map_err(|_| ApiError::unprocessable("invalid_amount", "balance too large"))?;
    // An upsert: concurrent operators (or test runs) setting the same range
    // must not collide on the key.
    sqlx::query(
        "INSERT INTO issuer_ranges (pan_prefix, cvn, imk_ac_hex, default_balance_minor, velocity_limit) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (pan_prefix) DO UPDATE SET cvn = excluded.cvn, \
         imk_ac_hex = excluded.imk_ac_hex, default_balance_minor = excluded.default_balance_minor, \
         velocity_limit = excluded.velocity_limit",
    )
    .bind(&req.pan_prefix)
    .bind(i64::from(cvn.number()))
    .bind(hex::encode(key))
    .bind(balance)
    .bind(i64::from(req.velocity_limit))
    .execute(&st.store.pool)
    .await?;
    st.ranges.invalidate();
    Ok(())
}

pub async fn put_card(
    st: &Shared,
    card: &PanRef,
    balance_minor: u64,
    blocked: bool,
) -> ApiResult<()> {
    let balance = i64::try_from(balance_minor)
        .map_err(|_| ApiError::unprocessable("invalid_amount", "balance too large"))?;
    sqlx::query(
        "INSERT INTO card_accounts (pan_token, masked_pan, balance_minor, blocked) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (pan_token) DO UPDATE SET balance_minor = excluded.balance_minor, blocked = excluded.blocked",
    )
    .bind(&card.token)
    .bind(card.masked.as_str())
    .bind(balance)
    .bind(i64::from(blocked))
    .execute(&st.store.pool)
    .await?;
    Ok(())
}

pub async fn credit(tx: &mut Transaction<'_, Any>, pan_token: &str, amount: i64) -> ApiResult<()> {
    sqlx::query("UPDATE card_accounts SET balance_minor = balance_minor + $1 WHERE pan_token = $2")
        .bind(amount)
        .bind(pan_token)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

#[derive(Clone)]
struct Range {
    prefix: String,
    cvn: Cvn,
    imk: Key16,
    default_balance: i64,
    velocity_limit: i64,
}

impl Drop for Range {
    fn drop(&mut self) {
        self.imk.zeroize();
    }
}

/// How long a process trusts its copy of the issuer ranges. Ranges change
/// by operator action only; another acquirer process sees a change within
/// this time, the process that made it at once.
const RANGE_CACHE_MS: i64 = 5_000;

/// The issuer ranges as last read, so a payment does not read the table.
#[derive(Default)]
pub struct RangeCache(std::sync::Mutex<Option<(i64, Arc<Vec<Range>>)>>);

impl RangeCache {
    pub fn invalidate(&self) {
        if let Ok(mut g) = self.0.lock() {
            *g = None;
        }
    }
}

impl std::fmt::Debug for RangeCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RangeCache(..)")
    }
}

async fn load_ranges<'e, E>(exec: E) -> ApiResult<Vec<Range>>
where
    E: sqlx::Executor<'e, Database = Any>,
{
    let rows: Vec<AnyRow> = sqlx::query(
        "SELECT pan_prefix, cvn, imk_ac_hex, default_balance_minor, velocity_limit FROM issuer_ranges",
    )
    .fetch_all(exec)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let mut key_hex: String = col(r, "imk_ac_hex")?;
        let key = hex::decode(&key_hex)
            .ok()
            .and_then(|k| <Key16>::try_from(k.as_slice()).ok());
        key_hex.zeroize();
        let imk = key.ok_or_else(|| ApiError::internal("stored issuer key is not 16 bytes"))?;
        let cvn = cvn_from_number(col(r, "cvn")?)
            .ok_or_else(|| ApiError::internal("stored CVN unknown"))?;
        out.push(Range {
            prefix: col(r, "pan_prefix")?,
            cvn,
            imk,
            default_balance: col(r, "default_balance_minor")?,
            velocity_limit: col(r, "velocity_limit")?,
        });
    }
    Ok(out)
}

/// The range with the longest prefix of the PAN.
async fn find_range<'e, E>(st: &Shared, exec: E, pan: &Pan) -> ApiResult<Option<Range>>
where
    E: sqlx::Executor<'e, Database = Any>,
{
    let now = st.clock.now_ms();
    let cached = st.ranges.0.lock().ok().and_then(|g| {
        g.as_ref()
            .filter(|(at, _)| now.saturating_sub(*at) < RANGE_CACHE_MS)
            .map(|(_, r)| Arc::clone(r))
    });
    let ranges = match cached {
        Some(r) => r,
        None => {
            let fresh = Arc::new(load_ranges(exec).await?);
            if let Ok(mut g) = st.ranges.0.lock() {
                *g = Some((now, Arc::clone(&fresh)));
            }
            fresh
        }
    };
    let digits = pan.expose_digits();
    Ok(ranges
        .iter()
        .filter(|r| digits.starts_with(&r.prefix))
        .max_by_key(|r| r.prefix.len())
        .cloned())
}

fn arpc(
    range: &Range,
    cvn: Cvn,
    icc: &Icc,
    approved: bool,
    response_code: &str,
) -> Option<Vec<u8>> {
    let response = match cvn {
        Cvn::Visa18 => IssuerResponse::Csu {
            // Visa CSU byte 2 bit 8: approved.
            csu: [0x00, if approved { 0x80 } else { 0x00 }, 0x00, 0x00],
            prop_auth_data: Vec::new(),
        },
        _ => {
            let b = response_code.as_bytes();
            IssuerResponse::Arc([
                b.first().copied().unwrap_or(b'0'),
                b.get(1).copied().unwrap_or(b'5'),
            ])
        }
    };
    cryptogram::generate_arpc(
        cvn,
        &range.imk,
        icc.pan.expose_digits(),
        icc.psn,
        icc.atc,
        icc.un,
        icc.ac,
        &response,
    )
    .ok()
}

// The statements of a decision, shared by the sqlx path (PostgreSQL) and
// the SQLite writer thread so both run the very same SQL.
/// The account is created on first sight with the range's default balance;
/// an upsert that always returns the row, one round trip either way.
pub(crate) const CARD_UPSERT: &str = "INSERT INTO card_accounts (pan_token, masked_pan, balance_minor, blocked) VALUES ($1, $2, $3, 0) \
     ON CONFLICT (pan_token) DO UPDATE SET masked_pan = excluded.masked_pan \
     RETURNING balance_minor, blocked";
pub(crate) const DEBIT_ANYWAY: &str =
    "UPDATE card_accounts SET balance_minor = balance_minor - $1 WHERE pan_token = $2";
pub(crate) const VELOCITY: &str = "SELECT COUNT(*) AS n FROM payments WHERE pan_token = $1 AND status = 'approved' AND created_ms > $2";
pub(crate) const DEBIT: &str = "UPDATE card_accounts SET balance_minor = balance_minor - $1 WHERE pan_token = $2 AND balance_minor >= $1";

/// Decides a purchase on PostgreSQL. `channel` is `online` (ARQC, answer
/// with ARPC) or `offline` (an advice for a payment the card approved with
/// a TC). Returns the decision and the amount to debit from the card's
/// account, which the caller applies in the same statement as it records
/// the payment (one round trip fewer): the account row read here stays
/// locked by the upsert until the transaction ends, so the balance checked
/// here is still the balance then.
pub async fn decide(
    st: &Shared,
    tx: &mut Transaction<'_, Any>,
    icc: &Icc,
    card: &PanRef,
    channel: &str,
    now: i64,
) -> ApiResult<(Decision, i64)> {
    let offline = channel == "offline";
    let decline = |code: &'static str, reason: String| Decision {
        approved: false,
        offline,
        response_code: code,
        reason,
        auth_code: None,
        issuer_authentication_data: None,
    };
    let Some(range) = find_range(st, &mut **tx, &icc.pan).await? else {
        return Ok((decline("15", "no issuer for this card range".into()), 0));
    };
    // One BIN can hold cards of several CVNs under one key; the card says
    // which in its IAD, and the range's CVN covers IADs that do not say.
    let cvn = icc
        .tags
        .get(&0x9F10)
        .and_then(|iad| Cvn::from_iad(iad))
        .unwrap_or(range.cvn);
    let get = |tag: u32| icc.tags.get(&tag).cloned();
    let input = match cryptogram::ac_input(cvn, &get) {
        Ok(i) => i,
        Err(e) => {
            return Ok((
                decline(
                    "30",
                    format!("card data incomplete for the cryptogram: {e}"),
                ),
                0,
            ))
        }
    };
    // The cryptogram type must fit the flow: an advice records what the
    // card approved offline (TC), an authorization asks the issuer (ARQC).
    // An AAC is the card's own decline and is never money.
    let expected_cid = if offline { 0x40 } else { 0x80 };
    if icc.cid.map(|c| c & 0xC0) != Some(expected_cid) {
        let what = if offline {
            "TC (9F27 = 40)"
        } else {
            "ARQC (9F27 = 80)"
        };
        return Ok((decline("30", format!("cryptogram type is not a {what}")), 0));
    }
    let ok = cryptogram::verify_ac(
        cvn,
        &range.imk,
        icc.pan.expose_digits(),
        icc.psn,
        icc.atc,
        icc.un,
        &input,
        icc.ac,
    )
    .unwrap_or(false);
    if !ok {
        return Ok((
            decline(
                "05",
                "application cryptogram does not verify (arqc_invalid)".into(),
            ),
            0,
        ));
    }
    let amount: i64 =
        kernel::bcd::decode_digits(icc.tags.get(&0x9F02).map(Vec::as_slice).unwrap_or_default())
            .and_then(|d| d.parse().ok())
            .unwrap_or(0);
    // The account is created on first sight with the range's default
    // balance, so virtual cards need no provisioning.
    // An upsert that always returns the row: one round trip for both a
    // card seen before and one seen for the first time.
    let acct: AnyRow = sqlx::query(CARD_UPSERT)
        .bind(&card.token)
        .bind(card.masked.as_str())
        .bind(range.default_balance)
        .fetch_one(&mut **tx)
        .await?;
    let balance: i64 = col(&acct, "balance_minor")?;
    let auth_code = Some(hex::encode_upper(crate::util::random_bytes::<3>()));
    if offline {
        // The card already approved it: record the debit even past the
        // balance; an offline payment is not the issuer's to refuse.
        return Ok((
            Decision {
                approved: true,
                offline,
                response_code: "00",
                reason: "offline approval recorded".into(),
                auth_code: None,
                issuer_authentication_data: None,
            },
            amount,
        ));
    }
    let with_arpc = |mut d: Decision| {
        d.issuer_authentication_data = arpc(&range, cvn, icc, d.approved, d.response_code);
        d
    };
    if col::<i64>(&acct, "blocked")? != 0 {
        return Ok((
            with_arpc(decline("62", "card is blocked by the issuer".into())),
            0,
        ));
    }
    if range.velocity_limit > 0 {
        let row: AnyRow = sqlx::query(VELOCITY)
            .bind(&card.token)
            .bind(now.saturating_sub(VELOCITY_WINDOW_MS))
            .fetch_one(&mut **tx)
            .await?;
        if col::<i64>(&row, "n")? >= range.velocity_limit {
            return Ok((
                with_arpc(decline(
                    "65",
                    format!(
                        "more than {} approved payments on this card in 10 minutes",
                        range.velocity_limit
                    ),
                )),
                0,
            ));
        }
    }
    if balance < amount {
        return Ok((with_arpc(decline("51", "insufficient funds".into())), 0));
    }
    let approved = with_arpc(Decision {
        approved: true,
        offline,
        response_code: "00",
        reason: "approved".into(),
        auth_code,
        issuer_authentication_data: None,
    });
    Ok((approved, amount))
}

/// The card-side checks of an online or offline purchase that need no
/// database row (range, CVN, cryptogram type and value), done before a
/// payment joins the SQLite writer's queue so the writer thread only runs
/// SQL. Same checks, same order and same answers as [`decide`].
pub struct Checked {
    range: Range,
    cvn: Cvn,
}

pub async fn precheck(
    st: &Shared,
    icc: &Icc,
    channel: &str,
) -> ApiResult<Result<Checked, Decision>> {
    let offline = channel == "offline";
    let decline = |code: &'static str, reason: String| Decision {
        approved: false,
        offline,
        response_code: code,
        reason,
        auth_code: None,
        issuer_authentication_data: None,
    };
    let Some(range) = find_range(st, &st.store.read, &icc.pan).await? else {
        return Ok(Err(decline("15", "no issuer for this card range".into())));
    };
    let cvn = icc
        .tags
        .get(&0x9F10)
        .and_then(|iad| Cvn::from_iad(iad))
        .unwrap_or(range.cvn);
    let get = |tag: u32| icc.tags.get(&tag).cloned();
    let input = match cryptogram::ac_input(cvn, &get) {
        Ok(i) => i,
        Err(e) => {
            return Ok(Err(decline(
                "30",
                format!("card data incomplete for the cryptogram: {e}"),
            )))
        }
    };
    let expected_cid = if offline { 0x40 } else { 0x80 };
    if icc.cid.map(|c| c & 0xC0) != Some(expected_cid) {
        let what = if offline {
            "TC (9F27 = 40)"
        } else {
            "ARQC (9F27 = 80)"
        };
        return Ok(Err(decline(
            "30",
            format!("cryptogram type is not a {what}"),
        )));
    }
    let ok = cryptogram::verify_ac(
        cvn,
        &range.imk,
        icc.pan.expose_digits(),
        icc.psn,
        icc.atc,
        icc.un,
        &input,
        icc.ac,
    )
    .unwrap_or(false);
    if !ok {
        return Ok(Err(decline(
            "05",
            "application cryptogram does not verify (arqc_invalid)".into(),
        )));
    }
    Ok(Ok(Checked { range, cvn }))
}

/// The account part of [`decide`] for a [`precheck`]ed card, on the SQLite
/// writer's connection inside its transaction.
pub fn decide_sqlite(
    conn: &rusqlite::Connection,
    checked: &Checked,
    icc: &Icc,
    card: &PanRef,
    offline: bool,
    now: i64,
) -> ApiResult<Decision> {
    use crate::sqlite_writer::{db, positional};
    let range = &checked.range;
    let amount: i64 =
        kernel::bcd::decode_digits(icc.tags.get(&0x9F02).map(Vec::as_slice).unwrap_or_default())
            .and_then(|d| d.parse().ok())
            .unwrap_or(0);
    let (balance, blocked): (i64, i64) = conn
        .prepare_cached(&positional(CARD_UPSERT))
        .and_then(|mut s| {
            s.query_row(
                rusqlite::params![card.token, card.masked.as_str(), range.default_balance],
                |r| Ok((r.get("balance_minor")?, r.get("blocked")?)),
            )
        })
        .map_err(db)?;
    if offline {
        conn.prepare_cached(&positional(DEBIT_ANYWAY))
            .and_then(|mut s| s.execute(rusqlite::params![amount, card.token]))
            .map_err(db)?;
        return Ok(Decision {
            approved: true,
            offline,
            response_code: "00",
            reason: "offline approval recorded".into(),
            auth_code: None,
            issuer_authentication_data: None,
        });
    }
    let velocity_n = if range.velocity_limit > 0 {
        Some(
            conn.prepare_cached(&positional(VELOCITY))
                .and_then(|mut s| {
                    s.query_row(
                        rusqlite::params![card.token, now.saturating_sub(VELOCITY_WINDOW_MS)],
                        |r| r.get("n"),
                    )
                })
                .map_err(db)?,
        )
    } else {
        None
    };
    let (decision, debit) =
        online_account_decision(checked, icc, balance, blocked != 0, velocity_n);
    if debit == 0 {
        return Ok(decision);
    }
    let debited = conn
        .prepare_cached(&positional(DEBIT))
        .and_then(|mut s| s.execute(rusqlite::params![debit, card.token]))
        .map_err(db)?;
    if debited != 1 {
        return Ok(online_account_decision(checked, icc, 0, false, None).0);
    }
    Ok(decision)
}

impl Checked {
    /// Balance of an account opened on this range.
    pub fn default_balance(&self) -> i64 {
        self.range.default_balance
    }

    /// Approved payments allowed per card per window; 0 for no limit.
    pub fn velocity_limit(&self) -> i64 {
        self.range.velocity_limit
    }

    /// Where the velocity window starts at `now`, if the range has a limit.
    pub fn velocity_since(&self, now: i64) -> Option<i64> {
        (self.range.velocity_limit > 0).then(|| now.saturating_sub(VELOCITY_WINDOW_MS))
    }
}

/// The issuer's account rules for an online purchase, in [`decide`]'s
/// order (blocked card, velocity, balance), over an account the caller has
/// read and locked: the decision with its ARPC, and the amount to debit (0
/// unless approved). `velocity_n` is `None` when the range has no limit.
pub fn online_account_decision(
    checked: &Checked,
    icc: &Icc,
    balance: i64,
    blocked: bool,
    velocity_n: Option<i64>,
) -> (Decision, i64) {
    let range = &checked.range;
    let amount: i64 =
        kernel::bcd::decode_digits(icc.tags.get(&0x9F02).map(Vec::as_slice).unwrap_or_default())
            .and_then(|d| d.parse().ok())
            .unwrap_or(0);
    let decline = |code: &'static str, reason: String| Decision {
        approved: false,
        offline: false,
        response_code: code,
        reason,
        auth_code: None,
        issuer_authentication_data: None,
    };
    let with_arpc = |mut d: Decision| {
        d.issuer_authentication_data = arpc(range, checked.cvn, icc, d.approved, d.response_code);
        d
    };
    if blocked {
        return (
            with_arpc(decline("62", "card is blocked by the issuer".into())),
            0,
        );
    }
    if let Some(n) = velocity_n {
        if n >= range.velocity_limit {
            return (
                with_arpc(decline(
                    "65",
                    format!(
                        "more than {} approved payments on this card in 10 minutes",
                        range.velocity_limit
                    ),
                )),
                0,
            );
        }
    }
    if balance < amount {
        return (with_arpc(decline("51", "insufficient funds".into())), 0);
    }
    let approved = with_arpc(Decision {
        approved: true,
        offline: false,
        response_code: "00",
        reason: "approved".into(),
        auth_code: Some(hex::encode_upper(crate::util::random_bytes::<3>())),
        issuer_authentication_data: None,
    });
    (approved, amount)
}
