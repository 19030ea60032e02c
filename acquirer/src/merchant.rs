//! Merchants: onboarding, activation codes, fee and MCC changes that take
//! effect only on the merchant's acknowledgement (recorded in an append-only
//! hash-chained history), settlement batches and statements.

use crate::api::{Admin, ApiJson, Caller, Shared};
use crate::error::{ApiError, ApiResult};
use crate::store::col;
use crate::util::{date_of_ms, fee_minor, format_day, new_id, parse_day, sha256_hex};
use axum::extract::{Path, Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{Any, Transaction};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnboardRequest {
    pub name: String,
    pub mcc: String,
    pub settlement_account: String,
    pub fee_bps: u32,
    /// ISO 4217 alpha or numeric code.
    pub currency: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct OnboardResponse {
    pub merchant_id: String,
    /// Shown once: the merchant's key for statements and acknowledgements.
    pub merchant_key: String,
    pub history_head: HistoryEntry,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct HistoryEntry {
    pub seq: i64,
    pub kind: String,
    pub body: serde_json::Value,
    pub prev_hash: String,
    pub hash: String,
    pub at_ms: i64,
}

#[derive(Debug, Clone)]
pub struct Merchant {
    pub id: String,
    pub name: String,
    pub mcc: String,
    pub settlement_account: String,
    pub fee_bps: i64,
    pub currency: u16,
    pub key_hash: String,
    /// Risk score at which a payment is declined.
    pub risk_threshold: i64,
}

/// Days from a business date to its settlement date.
pub const SETTLEMENT_DELAY_DAYS: u32 = 1;

pub fn valid_mcc(mcc: &str) -> bool {
    mcc.len() == 4 && mcc.bytes().all(|b| b.is_ascii_digit())
}

/// Account numbers are shown with only their last four characters.
pub fn mask_account(acct: &str) -> String {
    let n = acct.chars().count();
    acct.chars()
        .enumerate()
        .map(|(i, c)| if i + 4 >= n { c } else { '*' })
        .collect()
}

fn entry_hash(prev: &str, seq: i64, kind: &str, body: &str, at_ms: i64) -> String {
    sha256_hex(format!("{prev}\n{seq}\n{kind}\n{body}\n{at_ms}").as_bytes())
}

pub async fn load_merchant<'e, E>(exec: E, id: &str) -> ApiResult<Merchant>
where
    E: sqlx::Executor<'e, Database = Any>,
{
    let row: Option<AnyRow> = sqlx::query(
        "SELECT id, name, mcc, settlement_account, fee_bps, currency, key_hash, risk_threshold FROM merchants WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(exec)
    .await?;
    let r = row.ok_or_else(|| ApiError::not_found("unknown_merchant", "no such merchant"))?;
    Ok(Merchant {
        id: col(&r, "id")?,
        name: col(&r, "name")?,
        mcc: col(&r, "mcc")?,
        settlement_account: col(&r, "settlement_account")?,
        fee_bps: col(&r, "fee_bps")?,
        currency: u16::try_from(col::<i64>(&r, "currency")?).map_err(ApiError::internal)?,
        key_hash: col(&r, "key_hash")?,
        risk_threshold: col(&r, "risk_threshold")?,
    })
}

/// The merchant and the sequence number of its latest history entry (the
/// terms a payment taken now is under), in one query.
/// [`load_terms`] through the cache (see [`crate::cache`]): terms change
/// only by an acknowledged change, which drops the entry.
pub async fn cached_terms(st: &Shared, id: &str) -> ApiResult<(Merchant, i64)> {
    let generation = match st.terms.get(id) {
        Ok(t) => return Ok((*t).clone()),
        Err(g) => g,
    };
    let t = load_terms(&st.store.read, id).await?;
    st.terms.put(id, std::sync::Arc::new(t.clone()), generation);
    Ok(t)
}

pub async fn load_terms<'e, E>(exec: E, id: &str) -> ApiResult<(Merchant, i64)>
where
    E: sqlx::Executor<'e, Database = Any>,
{
    let row: Option<AnyRow> = sqlx::query(
        "SELECT m.id, m.name, m.mcc, m.settlement_account, m.fee_bps, m.currency, m.key_hash, m.risk_threshold, \
         (SELECT MAX(h.seq) FROM merchant_history h WHERE h.merchant_id = m.id) AS history_seq \
         FROM merchants m WHERE m.id = $1",
    )
    .bind(id)
    .fetch_optional(exec)
    .await?;
    let r = row.ok_or_else(|| ApiError::not_found("unknown_merchant", "no such merchant"))?;
    let m = Merchant {
        id: col(&r, "id")?,
        name: col(&r, "name")?,
        mcc: col(&r, "mcc")?,
        settlement_account: col(&r, "settlement_account")?,
        fee_bps: col(&r, "fee_bps")?,
        currency: u16::try_from(col::<i64>(&r, "currency")?).map_err(ApiError::internal)?,
        key_hash: col(&r, "key_hash")?,
        risk_threshold: col(&r, "risk_threshold")?,
    };
    let seq: Option<i64> = col(&r, "history_seq")?;
    Ok((m, seq.unwrap_or(0)))
}

fn authorize_caller(caller: &Caller, m: &Merchant) -> ApiResult<()> {
    match caller {
        Caller::Admin => Ok(()),
        Caller::Merchant { key_hash } if crate::api::same_secret(key_hash, &m.key_hash) => Ok(()),
        Caller::Merchant { .. } => Err(ApiError::forbidden(
            "wrong_merchant_key",
            "this key does not belong to this merchant",
        )),
    }
}

/// The latest history entry's (seq, hash), read inside the caller's
/// transaction.
async fn history_head(
    tx: &mut Transaction<'_, Any>,
    merchant_id: &str,
) -> ApiResult<(i64, String)> {
    let row: Option<AnyRow> = sqlx::query(
        "SELECT seq, hash FROM merchant_history WHERE merchant_id = $1 ORDER BY seq DESC LIMIT 1",
    )
    .bind(merchant_id)
    .fetch_optional(&mut **tx)
    .await?;
    match row {
        Some(r) => Ok((col(&r, "seq")?, col(&r, "hash")?)),
        None => Ok((0, "0".repeat(64))),
    }
}

pub async fn current_history_seq<'e, E>(exec: E, merchant_id: &str) -> ApiResult<i64>
where
    E: sqlx::Executor<'e, Database = Any>,
{
    let row: Option<AnyRow> = sqlx::query(
        "SELECT seq FROM merchant_history WHERE merchant_id = $1 ORDER BY seq DESC LIMIT 1",
    )
    .bind(merchant_id)
    .fetch_optional(exec)
    .await?;
    match row {
        Some(r) => Ok(col(&r, "seq")?),
        None => Ok(0),
    }
}

pub(crate) async fn append_history(
    tx: &mut Transaction<'_, Any>,
    merchant_id: &str,
    kind: &str,
    body: serde_json::Value,
    at_ms: i64,
) -> ApiResult<HistoryEntry> {
    let (seq, prev) = history_head(tx, merchant_id).await?;
    let seq = seq + 1;
    let body_s = body.to_string();
    let hash = entry_hash(&prev, seq, kind, &body_s, at_ms);
    // (merchant_id, seq) is the primary key: two concurrent appends cannot
    // both take the same place in the chain.
    sqlx::query(
        "INSERT INTO merchant_history (merchant_id, seq, kind, body, prev_hash, hash, at_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(merchant_id)
    .bind(seq)
    .bind(kind)
    .bind(&body_s)
    .bind(&prev)
    .bind(&hash)
    .bind(at_ms)
    .execute(&mut **tx)
    .await?;
    Ok(HistoryEntry {
        seq,
        kind: kind.into(),
        body,
        prev_hash: prev,
        hash,
        at_ms,
    })
}

pub async fn onboard(
    State(st): State<Shared>,
    _: Admin,
    ApiJson(req): ApiJson<OnboardRequest>,
) -> ApiResult<Json<OnboardResponse>> {
    onboard_merchant(&st, &req).await.map(Json)
}

pub async fn onboard_merchant(st: &Shared, req: &OnboardRequest) -> ApiResult<OnboardResponse> {
    let name = req.name.trim();
    if name.is_empty() || name.len() > 200 {
        return Err(ApiError::unprocessable(
            "invalid_name",
            "merchant name must be 1 to 200 characters",
        ));
    }
    if !valid_mcc(&req.mcc) {
        return Err(ApiError::unprocessable(
            "invalid_mcc",
            "MCC must be four digits",
        ));
    }
    let acct = req.settlement_account.trim();
    if acct.len() < 8 || acct.len() > 64 || !acct.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(ApiError::unprocessable(
            "invalid_settlement_account",
            "settlement account must be 8 to 64 letters or digits (e.g. an IBAN without spaces)",
        ));
    }
    if req.fee_bps > 1_000 {
        return Err(ApiError::unprocessable(
            "invalid_fee",
            "fee must be at most 1000 basis points (10%)",
        ));
    }
    let currency = kernel::money::Currency::parse(&req.currency)
        .map_err(|e| ApiError::unprocessable("invalid_currency", e.to_string()))?;
    let id = new_id("mer");
    let key = format!("mk_{}", hex::encode(crate::util::random_bytes::<24>()));
    let now = st.clock.now_ms();
    let mut tx = st.store.begin().await?;
    sqlx::query(
        "INSERT INTO merchants (id, name, mcc, settlement_account, fee_bps, currency, key_hash, created_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&id)
    .bind(name)
    .bind(&req.mcc)
    .bind(acct)
    .bind(i64::from(req.fee_bps))
    .bind(i64::from(currency.numeric))
    .bind(sha256_hex(key.as_bytes()))
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let head = append_history(
        &mut tx,
        &id,
        "onboarded",
        serde_json::json!({ "name": name, "mcc": req.mcc, "fee_bps": req.fee_bps,
            "currency": currency.alpha, "settlement_account": mask_account(acct) }),
        now,
    )
    .await?;
    tx.commit().await?;
    tracing::info!(merchant_id = %id, "merchant onboarded");
    Ok(OnboardResponse {
        merchant_id: id,
        merchant_key: key,
        history_head: head,
    })
}

pub async fn get_merchant(
    State(st): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    let m = load_merchant(&st.store.pool, &id).await?;
    authorize_caller(&caller, &m)?;
    Ok(Json(serde_json::json!({
        "merchant_id": m.id, "name": m.name, "mcc": m.mcc, "fee_bps": m.fee_bps,
        "currency": m.currency, "settlement_account": mask_account(&m.settlement_account),
    })))
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ActivationCode {
    pub code: String,
    pub merchant_id: String,
    pub expires_ms: i64,
    /// SHA-256 (hex) of the acquirer's public key, for the activation
    /// letter: the terminal enrolls only with the key it names.
    #[serde(default)]
    pub acquirer_key_sha256: String,
}

pub async fn create_activation_code(st: &Shared, merchant_id: &str) -> ApiResult<ActivationCode> {
    load_merchant(&st.store.pool, merchant_id).await?;
    // 80 bits, grouped for typing: XXXX-XXXX-XXXX-XXXX-XXXX in hex.
    let raw = hex::encode_upper(crate::util::random_bytes::<10>());
    let code = raw
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("-");
    let expires_ms = st
        .clock
        .now_ms()
        .saturating_add(st.policy.activation_ttl_ms);
    sqlx::query("INSERT INTO activation_codes (code_hash, merchant_id, expires_ms, used_ms) VALUES ($1, $2, $3, NULL)")
        .bind(sha256_hex(normalise_code(&code).as_bytes()))
        .bind(merchant_id)
        .bind(expires_ms)
        .execute(&st.store.pool)
        .await?;
    Ok(ActivationCode {
        code,
        merchant_id: merchant_id.into(),
        expires_ms,
        acquirer_key_sha256: sha256_hex(st.keys.public_key()),
    })
}

/// Codes are compared without dashes, spaces or case.
pub fn normalise_code(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

pub async fn activation_code(
    State(st): State<Shared>,
    _: Admin,
    Path(id): Path<String>,
) -> ApiResult<Json<ActivationCode>> {
    Ok(Json(create_activation_code(&st, &id).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeRequest {
    pub fee_bps: Option<u32>,
    pub mcc: Option<String>,
}

pub async fn propose_change(
    State(st): State<Shared>,
    _: Admin,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ChangeRequest>,
) -> ApiResult<Json<serde_json::Value>> {
    load_merchant(&st.store.pool, &id).await?;
    if req.fee_bps.is_none() && req.mcc.is_none() {
        return Err(ApiError::unprocessable(
            "empty_change",
            "a change needs fee_bps or mcc",
        ));
    }
    if req.fee_bps.is_some_and(|f| f > 1_000) {
        return Err(ApiError::unprocessable(
            "invalid_fee",
            "fee must be at most 1000 basis points",
        ));
    }
    if req.mcc.as_deref().is_some_and(|m| !valid_mcc(m)) {
        return Err(ApiError::unprocessable(
            "invalid_mcc",
            "MCC must be four digits",
        ));
    }
    let cid = new_id("chg");
    sqlx::query("INSERT INTO merchant_changes (id, merchant_id, fee_bps, mcc, status, proposed_ms, decided_ms) VALUES ($1, $2, $3, $4, 'pending', $5, NULL)")
        .bind(&cid)
        .bind(&id)
        .bind(req.fee_bps.map(i64::from))
        .bind(req.mcc.clone())
        .bind(st.clock.now_ms())
        .execute(&st.store.pool)
        .await?;
    Ok(Json(
        serde_json::json!({ "change_id": cid, "status": "pending",
        "fee_bps": req.fee_bps, "mcc": req.mcc,
        "note": "takes effect only when the merchant acknowledges it" }),
    ))
}

pub async fn acknowledge_change(
    State(st): State<Shared>,
    caller: Caller,
    Path((id, cid)): Path<(String, String)>,
) -> ApiResult<Json<HistoryEntry>> {
    let now = st.clock.now_ms();
    let mut tx = st.store.begin().await?;
    let m = load_merchant(&mut *tx, &id).await?;
    // Only the merchant itself can acknowledge: that is the point.
    match &caller {
        Caller::Merchant { key_hash } if crate::api::same_secret(key_hash, &m.key_hash) => {}
        _ => {
            return Err(ApiError::forbidden(
                "merchant_key_required",
                "only the merchant, with its own key, can acknowledge a change",
            ))
        }
    }
    let row: Option<AnyRow> = sqlx::query(
        "SELECT fee_bps, mcc, status FROM merchant_changes WHERE id = $1 AND merchant_id = $2",
    )
    .bind(&cid)
    .bind(&id)
    .fetch_optional(&mut *tx)
    .await?;
    let r = row
        .ok_or_else(|| ApiError::not_found("unknown_change", "no such change for this merchant"))?;
    if col::<String>(&r, "status")? != "pending" {
        return Err(ApiError::conflict(
            "change_not_pending",
            "this change was already acknowledged",
        ));
    }
    let fee: Option<i64> = col(&r, "fee_bps")?;
    let mcc: Option<String> = col(&r, "mcc")?;
    let new_fee = fee.unwrap_or(m.fee_bps);
    let new_mcc = mcc.clone().unwrap_or_else(|| m.mcc.clone());
    sqlx::query("UPDATE merchants SET fee_bps = $1, mcc = $2 WHERE id = $3")
        .bind(new_fee)
        .bind(&new_mcc)
        .bind(&id)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "UPDATE merchant_changes SET status = 'acknowledged', decided_ms = $1 WHERE id = $2",
    )
    .bind(now)
    .bind(&cid)
    .execute(&mut *tx)
    .await?;
    let entry = append_history(
        &mut tx,
        &id,
        "change_acknowledged",
        serde_json::json!({ "change_id": cid, "fee_bps": new_fee, "mcc": new_mcc,
            "previous_fee_bps": m.fee_bps, "previous_mcc": m.mcc }),
        now,
    )
    .await?;
    // Both are in the signed configuration (the MCC binds payments, the fee
    // is printed on receipts): either change re-signs it.
    crate::terminal::resign_configs(&st, &mut tx, &id, now).await?;
    tx.commit().await?;
    // After the commit: a payment that reads the store from here on must
    // see the new terms and the re-signed configurations.
    st.terms.remove(&id);
    st.terminals.remove_where(|t| t.merchant_id == id);
    Ok(Json(entry))
}

async fn load_history(st: &Shared, id: &str) -> ApiResult<Vec<HistoryEntry>> {
    let rows: Vec<AnyRow> = sqlx::query("SELECT seq, kind, body, prev_hash, hash, at_ms FROM merchant_history WHERE merchant_id = $1 ORDER BY seq")
        .bind(id)
        .fetch_all(&st.store.pool)
        .await?;
    rows.iter()
        .map(|r| {
            let body: String = col(r, "body")?;
            Ok(HistoryEntry {
                seq: col(r, "seq")?,
                kind: col(r, "kind")?,
                body: serde_json::from_str(&body).map_err(ApiError::internal)?,
                prev_hash: col(r, "prev_hash")?,
                hash: col(r, "hash")?,
                at_ms: col(r, "at_ms")?,
            })
        })
        .collect()
}

/// Whether each entry links to the one before and hashes to what it says.
pub fn chain_valid(entries: &[HistoryEntry]) -> bool {
    let mut prev = "0".repeat(64);
    for (i, e) in entries.iter().enumerate() {
        let expect_seq = i64::try_from(i).unwrap_or(i64::MAX).saturating_add(1);
        if e.seq != expect_seq
            || e.prev_hash != prev
            || entry_hash(&prev, e.seq, &e.kind, &e.body.to_string(), e.at_ms) != e.hash
        {
            return false;
        }
        prev = e.hash.clone();
    }
    true
}

pub async fn history(
    State(st): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    let m = load_merchant(&st.store.pool, &id).await?;
    authorize_caller(&caller, &m)?;
    let entries = load_history(&st, &id).await?;
    Ok(Json(
        serde_json::json!({ "merchant_id": id, "chain_valid": chain_valid(&entries), "entries": entries }),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettleRequest {
    /// The business day to settle, `YYYY-MM-DD` (UTC).
    pub business_date: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Settlement {
    pub settlement_id: String,
    pub merchant_id: String,
    pub business_date: String,
    pub settlement_date: String,
    pub payment_count: i64,
    pub gross_minor: i64,
    pub fees_minor: i64,
    pub net_minor: i64,
    pub currency: u16,
}

fn settlement_from_row(r: &AnyRow) -> ApiResult<Settlement> {
    Ok(Settlement {
        settlement_id: col(r, "id")?,
        merchant_id: col(r, "merchant_id")?,
        business_date: col(r, "business_date")?,
        settlement_date: col(r, "settlement_date")?,
        payment_count: col(r, "payment_count")?,
        gross_minor: col(r, "gross_minor")?,
        fees_minor: col(r, "fees_minor")?,
        net_minor: col(r, "net_minor")?,
        currency: u16::try_from(col::<i64>(r, "currency")?).map_err(ApiError::internal)?,
    })
}

/// Signed effect of a payment line on the merchant: purchases add, refunds
/// subtract; the fee is charged on purchases only.
pub fn line_amounts(kind: &str, amount: i64, fee_bps: i64) -> (i64, i64, i64) {
    if kind == "refund" {
        (-amount, 0, -amount)
    } else {
        let fee = fee_minor(amount, fee_bps);
        (amount, fee, amount - fee)
    }
}

pub async fn settle(
    State(st): State<Shared>,
    _: Admin,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<SettleRequest>,
) -> ApiResult<Json<Settlement>> {
    let day = parse_day(&req.business_date).ok_or_else(|| {
        ApiError::unprocessable("invalid_date", "business_date must be YYYY-MM-DD")
    })?;
    let m = load_merchant(&st.store.pool, &id).await?;
    let mut tx = st.store.begin().await?;
    let existing: Option<AnyRow> =
        sqlx::query("SELECT * FROM settlements WHERE merchant_id = $1 AND business_date = $2")
            .bind(&id)
            .bind(&req.business_date)
            .fetch_optional(&mut *tx)
            .await?;
    if let Some(r) = existing {
        // Settling a day twice answers with the batch already made.
        return Ok(Json(settlement_from_row(&r)?));
    }
    let rows: Vec<AnyRow> = sqlx::query(
        "SELECT id, kind, amount_minor, fee_bps FROM payments \
         WHERE merchant_id = $1 AND business_date = $2 AND status = 'approved' AND settlement_id IS NULL",
    )
    .bind(&id)
    .bind(&req.business_date)
    .fetch_all(&mut *tx)
    .await?;
    let sid = new_id("stl");
    let (mut gross, mut fees, mut net) = (0i64, 0i64, 0i64);
    for r in &rows {
        let kind: String = col(r, "kind")?;
        let (g, f, n) = line_amounts(&kind, col(r, "amount_minor")?, col(r, "fee_bps")?);
        gross = gross.saturating_add(g);
        fees = fees.saturating_add(f);
        net = net.saturating_add(n);
    }
    let s = Settlement {
        settlement_id: sid.clone(),
        merchant_id: id.clone(),
        business_date: req.business_date.clone(),
        settlement_date: format_day(day + i64::from(SETTLEMENT_DELAY_DAYS)),
        payment_count: i64::try_from(rows.len()).unwrap_or(i64::MAX),
        gross_minor: gross,
        fees_minor: fees,
        net_minor: net,
        currency: m.currency,
    };
    sqlx::query(
        "INSERT INTO settlements (id, merchant_id, business_date, settlement_date, payment_count, gross_minor, fees_minor, net_minor, currency, created_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&sid)
    .bind(&id)
    .bind(&s.business_date)
    .bind(&s.settlement_date)
    .bind(s.payment_count)
    .bind(gross)
    .bind(fees)
    .bind(net)
    .bind(i64::from(m.currency))
    .bind(st.clock.now_ms())
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE payments SET settlement_id = $1 WHERE merchant_id = $2 AND business_date = $3 \
         AND status = 'approved' AND settlement_id IS NULL",
    )
    .bind(&sid)
    .bind(&id)
    .bind(&req.business_date)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Json(s))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatementQuery {
    pub from: String,
    pub to: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct StatementLine {
    pub payment_id: String,
    pub created_ms: i64,
    pub business_date: String,
    pub kind: String,
    pub channel: String,
    pub terminal_id: String,
    pub masked_pan: String,
    pub mcc: String,
    pub fee_bps: i64,
    pub amount_minor: i64,
    pub fee_minor: i64,
    pub net_minor: i64,
    pub currency: u16,
    pub settlement_account: String,
    pub settlement_id: Option<String>,
    /// The settlement's date, or the expected one (next day) if not settled.
    pub settlement_date: String,
    pub settled: bool,
    /// The history entry whose terms (fee, MCC) applied.
    pub history_seq: i64,
}

pub async fn statement(
    State(st): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<StatementQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    let m = load_merchant(&st.store.pool, &id).await?;
    authorize_caller(&caller, &m)?;
    merchant_statement(&st, &m, &q).await.map(Json)
}

/// The statement of one merchant over `q`'s period: what the operator, the
/// merchant (by its key) and the merchant's own terminals all read. The
/// caller has already checked who may see it.
pub async fn merchant_statement(
    st: &Shared,
    m: &Merchant,
    q: &StatementQuery,
) -> ApiResult<serde_json::Value> {
    let id = &m.id;
    let (Some(from), Some(to)) = (parse_day(&q.from), parse_day(&q.to)) else {
        return Err(ApiError::unprocessable(
            "invalid_date",
            "from and to must be YYYY-MM-DD",
        ));
    };
    if to < from || to - from > 366 {
        return Err(ApiError::unprocessable(
            "invalid_period",
            "period must run forward and span at most a year",
        ));
    }
    let rows: Vec<AnyRow> = sqlx::query(
        "SELECT p.id, p.created_ms, p.business_date, p.kind, p.channel, p.terminal_id, p.masked_pan, p.mcc, \
         p.fee_bps, p.amount_minor, p.currency, p.settlement_id, p.history_seq, s.settlement_date \
         FROM payments p LEFT JOIN settlements s ON s.id = p.settlement_id \
         WHERE p.merchant_id = $1 AND p.business_date >= $2 AND p.business_date <= $3 AND p.status = 'approved' \
         ORDER BY p.created_ms, p.id",
    )
    .bind(id)
    .bind(&q.from)
    .bind(&q.to)
    .fetch_all(&st.store.pool)
    .await?;
    let acct = mask_account(&m.settlement_account);
    let mut lines = Vec::with_capacity(rows.len());
    let (mut gross, mut fees, mut net) = (0i64, 0i64, 0i64);
    for r in &rows {
        let kind: String = col(r, "kind")?;
        let bdate: String = col(r, "business_date")?;
        let (amount, fee, n) = line_amounts(&kind, col(r, "amount_minor")?, col(r, "fee_bps")?);
        gross = gross.saturating_add(amount);
        fees = fees.saturating_add(fee);
        net = net.saturating_add(n);
        let sdate: Option<String> = col(r, "settlement_date")?;
        let sid: Option<String> = col(r, "settlement_id")?;
        let expected = parse_day(&bdate)
            .map(|d| format_day(d + i64::from(SETTLEMENT_DELAY_DAYS)))
            .unwrap_or_default();
        lines.push(StatementLine {
            payment_id: col(r, "id")?,
            created_ms: col(r, "created_ms")?,
            business_date: bdate,
            kind,
            channel: col(r, "channel")?,
            terminal_id: col(r, "terminal_id")?,
            masked_pan: col(r, "masked_pan")?,
            mcc: col(r, "mcc")?,
            fee_bps: col(r, "fee_bps")?,
            amount_minor: amount,
            fee_minor: fee,
            net_minor: n,
            currency: u16::try_from(col::<i64>(r, "currency")?).map_err(ApiError::internal)?,
            settlement_account: acct.clone(),
            settled: sid.is_some(),
            settlement_id: sid,
            settlement_date: sdate.unwrap_or(expected),
            history_seq: col(r, "history_seq")?,
        });
    }
    let history = load_history(st, id).await?;
    let batches: Vec<AnyRow> = sqlx::query(
        "SELECT * FROM settlements WHERE merchant_id = $1 AND business_date >= $2 \
         AND business_date <= $3 ORDER BY business_date",
    )
    .bind(id)
    .bind(&q.from)
    .bind(&q.to)
    .fetch_all(&st.store.pool)
    .await?;
    let batches = batches
        .iter()
        .map(settlement_from_row)
        .collect::<ApiResult<Vec<_>>>()?;
    let payout_files = payout_files_of(st, &batches).await?;
    // What reaches the settlement account on each date: paid batches and
    // the lines still waiting for theirs.
    let mut payouts = std::collections::BTreeMap::<&str, (i64, bool)>::new();
    for l in &lines {
        let p = payouts.entry(&l.settlement_date).or_insert((0, true));
        p.0 = p.0.saturating_add(l.net_minor);
        p.1 &= l.settled;
    }
    let payouts: Vec<_> = payouts
        .into_iter()
        .map(|(date, (net, settled))| {
            serde_json::json!({ "settlement_date": date, "net_minor": net, "settled": settled })
        })
        .collect();
    Ok(serde_json::json!({
        "merchant_id": m.id, "merchant_name": m.name, "from": q.from, "to": q.to,
        "generated": date_of_ms(st.clock.now_ms()),
        "settlement_account": acct,
        "currency": m.currency,
        "lines": lines,
        "settlements": batches,
        "payouts": payouts,
        "payout_files": payout_files,
        "totals": { "gross_minor": gross, "fees_minor": fees, "net_minor": net, "count": lines.len() },
        "history": { "chain_valid": chain_valid(&history), "entries": history },
    }))
}

/// The payout files (see [`crate::payout`]) that contain any of `batches`:
/// MsgId, settlement date, creation time and which of these batches each
/// pays. A batch in two files was offered to the bank twice.
async fn payout_files_of(st: &Shared, batches: &[Settlement]) -> ApiResult<Vec<serde_json::Value>> {
    let (Some(first), Some(last)) = (
        batches.iter().map(|b| b.settlement_date.as_str()).min(),
        batches.iter().map(|b| b.settlement_date.as_str()).max(),
    ) else {
        return Ok(Vec::new());
    };
    let ours: std::collections::HashSet<&str> =
        batches.iter().map(|b| b.settlement_id.as_str()).collect();
    let rows: Vec<AnyRow> = sqlx::query(
        "SELECT msg_id, settlement_date, settlement_ids, created_ms FROM payout_files \
         WHERE settlement_date >= $1 AND settlement_date <= $2 ORDER BY created_ms, msg_id",
    )
    .bind(first)
    .bind(last)
    .fetch_all(&st.store.pool)
    .await?;
    let mut out = Vec::new();
    for r in &rows {
        let ids: String = col(r, "settlement_ids")?;
        let ids: Vec<String> = serde_json::from_str(&ids).map_err(ApiError::internal)?;
        let paid: Vec<&String> = ids.iter().filter(|i| ours.contains(i.as_str())).collect();
        if !paid.is_empty() {
            out.push(serde_json::json!({
                "msg_id": col::<String>(r, "msg_id")?,
                "settlement_date": col::<String>(r, "settlement_date")?,
                "created_ms": col::<i64>(r, "created_ms")?,
                "settlement_ids": paid,
            }));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(prev: &str, seq: i64, kind: &str, body: serde_json::Value) -> HistoryEntry {
        let hash = entry_hash(prev, seq, kind, &body.to_string(), 7);
        HistoryEntry {
            seq,
            kind: kind.into(),
            body,
            prev_hash: prev.into(),
            hash,
            at_ms: 7,
        }
    }

    #[test]
    fn chain_detects_tampering() {
        let a = entry(
            &"0".repeat(64),
            1,
            "onboarded",
            serde_json::json!({"fee_bps": 150}),
        );
        let b = entry(
            &a.hash,
            2,
            "change_acknowledged",
            serde_json::json!({"fee_bps": 120}),
        );
        let good = vec![a.clone(), b.clone()];
        assert!(chain_valid(&good));
        let mut edited = good.clone();
        edited[0].body = serde_json::json!({"fee_bps": 100});
        assert!(!chain_valid(&edited));
        assert!(
            !chain_valid(std::slice::from_ref(&b)),
            "an entry cut from its start"
        );
        assert!(!chain_valid(&[b, a]), "reordered");
    }

    #[test]
    fn masks_accounts() {
        assert_eq!(
            mask_account("DE89370400440532013000"),
            "******************3000"
        );
        assert_eq!(mask_account("123"), "123");
    }
}
