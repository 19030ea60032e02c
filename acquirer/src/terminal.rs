//! Terminal-facing endpoints (enrollment, attestation, payments) and the
//! operator's views of terminals and the issuer simulator.

use crate::api::{Admin, ApiJson, Shared};
use crate::error::{ApiError, ApiResult};
use crate::issuer::{self, Decision, Icc};
use crate::keys::PanRef;
use crate::merchant::{current_history_seq, load_merchant, normalise_code};
use crate::pg_writer::Params;
use crate::store::{col, is_unique_violation};
use crate::trust::{self, Attested, AttestedPayment, Nonce, Terminal, TerminalConfig};
use crate::util::{date_of_ms, new_id, sha256_hex};
use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{Any, Transaction};

/// Defaults written into a new terminal's configuration.
const MAX_AMOUNT_MINOR: u64 = 1_000_000;
const OFFLINE_LIMIT_MINOR: u64 = 5_000;
/// The rest of the offline rules the signed configuration carries: at
/// most this many undelivered payments, this much money, this many per
/// card, and none while the oldest undelivered one is older than a day.
const OFFLINE_MAX_COUNT: u64 = 50;
const OFFLINE_MAX_TOTAL_MINOR: u64 = 100_000;
const OFFLINE_MAX_PER_CARD: u64 = 3;
const OFFLINE_MAX_AGE_MS: u64 = 24 * 3_600_000;
/// Largest advice batch.
pub const MAX_ADVICES: usize = 100;
/// The acquirer's name as receipts print it.
pub const ACQUIRER_NAME: &str = "SoftPOS Demo Acquirer";

/// Copies the merchant's current receipt terms (fee schedule, masked
/// settlement account, settlement delay) into a configuration.
fn set_receipt_terms(config: &mut TerminalConfig, m: &crate::merchant::Merchant) {
    config.acquirer_name = ACQUIRER_NAME.into();
    config.fee_bps = u32::try_from(m.fee_bps).unwrap_or(0);
    config.fee_fixed_minor = 0;
    config.settlement_account_masked = crate::merchant::mask_account(&m.settlement_account);
    config.settlement_delay_days = crate::merchant::SETTLEMENT_DELAY_DAYS;
}

/// The acquirer's own figures for one payment line, as the settlement and
/// the statement will compute them: fee rate, fee, signed net, business
/// date and expected settlement date.
fn receipt_figures(
    kind: &str,
    counted: bool,
    amount_minor: i64,
    fee_bps: i64,
    now_ms: i64,
) -> ReceiptFigures {
    let (fee, net) = if counted {
        let (_, f, n) = crate::merchant::line_amounts(kind, amount_minor, fee_bps);
        (f, n)
    } else {
        (0, 0)
    };
    let day = now_ms.div_euclid(86_400_000);
    ReceiptFigures {
        fee_bps,
        fee_minor: fee,
        net_minor: net,
        business_date: crate::util::format_day(day),
        settlement_date: crate::util::format_day(
            day + i64::from(crate::merchant::SETTLEMENT_DELAY_DAYS),
        ),
    }
}

/// See [`receipt_figures`]; carried in every payment answer so that the
/// terminal's receipt and history show the acquirer's numbers, not its own.
/// Defaulted field by field: answers stored before these figures existed
/// are replayed for repeated requests and must still parse.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct ReceiptFigures {
    pub fee_bps: i64,
    /// 0 unless the payment counts toward settlement (approved).
    pub fee_minor: i64,
    /// What the merchant receives for it: amount minus fee for a purchase,
    /// minus the amount for a refund, 0 when it does not count.
    pub net_minor: i64,
    /// `YYYY-MM-DD` (UTC): the day whose settlement includes it.
    pub business_date: String,
    /// `YYYY-MM-DD`: when that settlement is expected to be paid.
    pub settlement_date: String,
}

pub async fn acquirer_keys(State(st): State<Shared>) -> Json<serde_json::Value> {
    Json(
        serde_json::json!({ "keys": [{ "key_id": st.keys.key_id, "alg": "ES256",
        "public_key": hex::encode(st.keys.public_key()) }] }),
    )
}

#[derive(Debug, Serialize, Deserialize)]
pub struct SignedConfig {
    pub config: TerminalConfig,
    /// The exact bytes signed (UTF-8 JSON); verify these, then parse them.
    pub config_json: String,
    /// ECDSA P-256 SHA-256, ASN.1 DER, hex.
    pub signature: String,
    pub acquirer_key_id: String,
}

fn sign_config(st: &Shared, config: &TerminalConfig) -> ApiResult<SignedConfig> {
    let config_json = serde_json::to_string(config).map_err(ApiError::internal)?;
    let sig = st
        .keys
        .sign(config_json.as_bytes())
        .map_err(|_| ApiError::internal("signing failed"))?;
    Ok(SignedConfig {
        config: config.clone(),
        config_json,
        signature: hex::encode(sig),
        acquirer_key_id: st.keys.key_id.clone(),
    })
}

/// Re-signs every configuration of a merchant after an acknowledged MCC or
/// fee change or a new review date, inside that change's transaction.
pub async fn resign_configs(
    st: &Shared,
    tx: &mut Transaction<'_, Any>,
    merchant_id: &str,
    now: i64,
) -> ApiResult<()> {
    let m = load_merchant(&mut **tx, merchant_id).await?;
    let review_due = crate::review::due_date(&mut **tx, merchant_id).await?;
    let rows: Vec<AnyRow> =
        sqlx::query("SELECT id, config_json FROM terminals WHERE merchant_id = $1")
            .bind(merchant_id)
            .fetch_all(&mut **tx)
            .await?;
    for r in rows {
        let id: String = col(&r, "id")?;
        let old: String = col(&r, "config_json")?;
        let mut config: TerminalConfig = serde_json::from_str(&old).map_err(ApiError::internal)?;
        config.mcc = m.mcc.clone();
        set_receipt_terms(&mut config, &m);
        config.info_review_due = review_due.clone();
        config.issued_ms = now;
        let signed = sign_config(st, &config)?;
        sqlx::query("UPDATE terminals SET config_json = $1, config_sig_hex = $2 WHERE id = $3")
            .bind(&signed.config_json)
            .bind(&signed.signature)
            .bind(&id)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollRequest {
    pub activation_code: String,
    /// Uncompressed SEC1 P-256 public key, hex (65 bytes).
    pub public_key: String,
    /// `software` or `tpm`: where the private key lives.
    pub key_kind: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct EnrollResponse {
    pub terminal_id: String,
    pub signed_config: SignedConfig,
}

pub async fn enroll(
    State(st): State<Shared>,
    ApiJson(req): ApiJson<EnrollRequest>,
) -> ApiResult<Json<EnrollResponse>> {
    let pk = hex::decode(&req.public_key)
        .ok()
        .filter(|k| k.len() == 65 && k.first() == Some(&0x04))
        .ok_or_else(|| {
            ApiError::unprocessable(
                "invalid_public_key",
                "public_key must be an uncompressed P-256 point in hex (65 bytes, 04...)",
            )
        })?;
    // ring offers no bare point check; a key that is not on the curve can
    // never verify a signature, so the first signed request (the attestation
    // challenge) fails for it and nothing is trusted before that.
    if !matches!(req.key_kind.as_str(), "software" | "tpm") {
        return Err(ApiError::unprocessable(
            "invalid_key_kind",
            "key_kind must be software or tpm",
        ));
    }
    let now = st.clock.now_ms();
    let code_hash = sha256_hex(normalise_code(&req.activation_code).as_bytes());
    let mut tx = st.store.begin().await?;
    // Single use: the update only succeeds for an unused, unexpired code.
    let used = sqlx::query("UPDATE activation_codes SET used_ms = $1 WHERE code_hash = $2 AND used_ms IS NULL AND expires_ms > $1")
        .bind(now)
        .bind(&code_hash)
        .execute(&mut *tx)
        .await?;
    if used.rows_affected() != 1 {
        return Err(ApiError::forbidden(
            "invalid_activation_code",
            "activation code is unknown, expired or already used; ask the acquirer for a new one",
        ));
    }
    let row: AnyRow = sqlx::query("SELECT merchant_id FROM activation_codes WHERE code_hash = $1")
        .bind(&code_hash)
        .fetch_one(&mut *tx)
        .await?;
    let merchant_id: String = col(&row, "merchant_id")?;
    let m = load_merchant(&mut *tx, &merchant_id).await?;
    let terminal_id = format!("T{}", hex::encode_upper(crate::util::random_bytes::<6>()));
    let mut config = TerminalConfig {
        terminal_id: terminal_id.clone(),
        merchant_id: m.id.clone(),
        merchant_name: m.name.clone(),
        mcc: m.mcc.clone(),
        currency: m.currency,
        max_amount_minor: MAX_AMOUNT_MINOR,
        offline_limit_minor: OFFLINE_LIMIT_MINOR,
        offline_max_count: OFFLINE_MAX_COUNT,
        offline_max_total_minor: OFFLINE_MAX_TOTAL_MINOR,
        offline_max_per_card: OFFLINE_MAX_PER_CARD,
        offline_max_age_ms: OFFLINE_MAX_AGE_MS,
        acquirer_key_id: st.keys.key_id.clone(),
        acquirer_public_key: hex::encode(st.keys.public_key()),
        issued_ms: now,
        ..TerminalConfig::default()
    };
    set_receipt_terms(&mut config, &m);
    config.info_review_due = crate::review::due_date(&mut *tx, &m.id).await?;
    let signed = sign_config(&st, &config)?;
    sqlx::query(
        "INSERT INTO terminals (id, merchant_id, public_key_hex, key_kind, config_json, config_sig_hex, blocked, block_reason, created_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, 0, NULL, $7)",
    )
    .bind(&terminal_id)
    .bind(&m.id)
    .bind(hex::encode(&pk))
    .bind(&req.key_kind)
    .bind(&signed.config_json)
    .bind(&signed.signature)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    tracing::info!(%terminal_id, merchant_id = %m.id, key_kind = %req.key_kind, "terminal enrolled");
    Ok(Json(EnrollResponse {
        terminal_id,
        signed_config: signed,
    }))
}

/// Signed but not attested: attestation evidence must name the current
/// configuration, so a terminal whose configuration was re-signed (an MCC
/// or fee change) could otherwise never fetch the one it needs to attest.
pub async fn terminal_config(
    State(st): State<Shared>,
    req: trust::Signed<serde_json::Value>,
) -> ApiResult<Json<SignedConfig>> {
    let _ = &req.body;
    sign_config(&st, &req.terminal.config).map(Json)
}

pub async fn monitoring(
    State(st): State<Shared>,
    _: Admin,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    let t = trust::load_terminal(&st, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("unknown_terminal", "no such terminal"))?;
    let rows: Vec<AnyRow> = sqlx::query("SELECT kind, code, message, at_ms FROM monitoring_events WHERE terminal_id = $1 ORDER BY at_ms, id")
        .bind(&id)
        .fetch_all(&st.store.pool)
        .await?;
    let mut counts = std::collections::BTreeMap::<String, u64>::new();
    let mut events = Vec::with_capacity(rows.len());
    for r in &rows {
        let kind: String = col(r, "kind")?;
        *counts.entry(kind.clone()).or_default() += 1;
        events.push(
            serde_json::json!({ "kind": kind, "code": col::<String>(r, "code")?,
            "message": col::<String>(r, "message")?, "at_ms": col::<i64>(r, "at_ms")? }),
        );
    }
    Ok(Json(
        serde_json::json!({ "terminal_id": t.id, "merchant_id": t.merchant_id,
        "key_kind": t.key_kind, "blocked": t.blocked, "counts": counts, "events": events }),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockRequest {
    pub blocked: bool,
    pub reason: String,
}

pub async fn block(
    State(st): State<Shared>,
    _: Admin,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<BlockRequest>,
) -> ApiResult<Json<serde_json::Value>> {
    let res = sqlx::query("UPDATE terminals SET blocked = $1, block_reason = $2 WHERE id = $3")
        .bind(i64::from(req.blocked))
        .bind(&req.reason)
        .bind(&id)
        .execute(&st.store.pool)
        .await?;
    st.terminals.remove(&id);
    if res.rows_affected() == 0 {
        return Err(ApiError::not_found("unknown_terminal", "no such terminal"));
    }
    trust::record(
        &st,
        &id,
        if req.blocked { "blocked" } else { "unblocked" },
        "operator",
        &req.reason,
    )
    .await;
    Ok(Json(
        serde_json::json!({ "terminal_id": id, "blocked": req.blocked }),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerRangeRequest {
    /// PAN prefix (1 to 12 digits) this key covers; longest prefix wins.
    pub pan_prefix: String,
    /// `visa-10`, `visa-18`, `mastercard-16` or `mastercard-17`.
    pub cvn: String,
    /// Issuer master key for application cryptograms, 16 bytes hex. Test
    /// keys only.
    pub imk_ac: String,
    pub default_balance_minor: u64,
    /// Approved payments per card per 10 minutes; 0 for no limit.
    pub velocity_limit: u32,
}

pub async fn add_issuer_range(
    State(st): State<Shared>,
    _: Admin,
    ApiJson(req): ApiJson<IssuerRangeRequest>,
) -> ApiResult<Json<serde_json::Value>> {
    issuer::put_range(&st, &req).await?;
    Ok(Json(
        serde_json::json!({ "pan_prefix": req.pan_prefix, "cvn": req.cvn }),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardRequest {
    /// Test card number; stored only as a token and masked digits.
    pub pan: String,
    pub balance_minor: u64,
    pub blocked: bool,
}

pub async fn set_card(
    State(st): State<Shared>,
    _: Admin,
    ApiJson(req): ApiJson<CardRequest>,
) -> ApiResult<Json<serde_json::Value>> {
    let pan = kernel::pan::Pan::parse(&req.pan)
        .map_err(|e| ApiError::unprocessable("invalid_pan", e.to_string()))?;
    let r = st.keys.pan_ref(&pan);
    issuer::put_card(&st, &r, req.balance_minor, req.blocked).await?;
    Ok(Json(
        serde_json::json!({ "masked_pan": r.masked, "balance_minor": req.balance_minor, "blocked": req.blocked }),
    ))
}

/// A card payment as the terminal sends it: the kernel's data record
/// (field 55 tags) plus what the terminal asserts about the sale.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentRequest {
    /// Transaction sequence counter: the terminal's idempotency key.
    pub tsc: u32,
    pub mcc: String,
    pub amount_minor: u64,
    /// ISO 4217 numeric.
    pub currency: u16,
    /// BER-TLV, hex: the kernel's data record (5A, 5F34, 9F02, 5F2A, 9F26,
    /// 9F27, 9F36, 9F37, 9F10, 82, 95, 9A, 9C, 9F1A, ...).
    pub icc_data: String,
}

/// The answer to an authorization or advice, stored and replayed verbatim
/// for a repeated request.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PaymentResponse {
    pub payment_id: String,
    pub tsc: u32,
    pub status: String,
    pub approved: bool,
    pub response_code: String,
    pub reason: String,
    pub auth_code: Option<String>,
    /// Tag 91 value (ARPC and ARC or CSU), hex, for the card.
    pub issuer_authentication_data: Option<String>,
    pub masked_pan: String,
    /// The acquirer's risk score and the rules that fired.
    #[serde(default)]
    pub risk_score: u32,
    #[serde(default)]
    pub risk_rules: Vec<String>,
    /// The acquirer's fee, net and dates for this payment.
    #[serde(flatten, default)]
    pub figures: ReceiptFigures,
}

/// Refuses a payment whose MCC is not the terminal's: the jump code check.
async fn check_mcc(st: &Shared, t: &Terminal, mcc: &str) -> ApiResult<()> {
    if mcc == t.config.mcc {
        return Ok(());
    }
    let msg = format!("MCC {mcc} is not this terminal's ({}); payments are accepted only under the MCC in its signed configuration", t.config.mcc);
    trust::record(st, &t.id, "jump_code", "mcc_mismatch", &msg).await;
    Err(ApiError::forbidden("mcc_mismatch", msg))
}

fn check_sale(t: &Terminal, req: &PaymentRequest) -> ApiResult<()> {
    if req.currency != t.config.currency {
        return Err(ApiError::unprocessable(
            "currency_mismatch",
            format!("terminal is configured for currency {}", t.config.currency),
        ));
    }
    if req.amount_minor == 0 || req.amount_minor > t.config.max_amount_minor {
        return Err(ApiError::unprocessable(
            "invalid_amount",
            format!(
                "amount must be 1 to {} minor units",
                t.config.max_amount_minor
            ),
        ));
    }
    Ok(())
}

async fn stored_response(
    st: &Shared,
    terminal_id: &str,
    kind: &str,
    tsc: u32,
) -> ApiResult<Option<PaymentResponse>> {
    let row: Option<AnyRow> = sqlx::query(
        "SELECT response_json FROM payments WHERE terminal_id = $1 AND kind = $2 AND tsc = $3",
    )
    .bind(terminal_id)
    .bind(kind)
    .bind(i64::from(tsc))
    .fetch_optional(&st.store.pool)
    .await?;
    match row {
        Some(r) => {
            let s: String = col(&r, "response_json")?;
            Ok(Some(serde_json::from_str(&s).map_err(ApiError::internal)?))
        }
        None => Ok(None),
    }
}

/// The answer to a purchase, as stored and as sent.
fn payment_response(
    payment_id: &str,
    tsc: u32,
    decision: &Decision,
    pan_ref: &PanRef,
    risk: &crate::risk::Assessment,
    figures: ReceiptFigures,
) -> PaymentResponse {
    PaymentResponse {
        payment_id: payment_id.to_string(),
        tsc,
        status: decision.status().into(),
        approved: decision.approved,
        response_code: decision.response_code.into(),
        reason: decision.reason.clone(),
        auth_code: decision.auth_code.clone(),
        issuer_authentication_data: decision
            .issuer_authentication_data
            .as_ref()
            .map(hex::encode_upper),
        masked_pan: pan_ref.masked.as_str().into(),
        risk_score: risk.score,
        risk_rules: risk.hits.iter().map(|h| h.rule.to_string()).collect(),
        figures,
    }
}

const PAYMENT_INSERT: &str = "INSERT INTO payments (id, terminal_id, merchant_id, tsc, kind, channel, status, amount_minor, currency, mcc, fee_bps, history_seq, \
     pan_token, masked_pan, response_code, reason, response_json, created_ms, business_date, settlement_id) \
     VALUES ($1, $2, $3, $4, 'purchase', $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, NULL)";

/// [`PAYMENT_INSERT`] with the card account's debit ($19; none if 0) in the
/// same statement, on PostgreSQL. A repeated payment fails the whole
/// statement, debit included.
static PAYMENT_INSERT_DEBITING: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "WITH debit AS (UPDATE card_accounts SET balance_minor = balance_minor - CAST($19 AS BIGINT) \
         WHERE pan_token = $12 AND CAST($19 AS BIGINT) <> 0 RETURNING 1) {PAYMENT_INSERT}"
    )
});

/// The decline for a risk score at or over the merchant's threshold, if so.
fn risk_decline(risk: &crate::risk::Assessment, threshold: i64) -> Option<Decision> {
    (risk.score >= u32::try_from(threshold).unwrap_or(u32::MAX)).then(|| Decision {
        approved: false,
        offline: false,
        response_code: "59",
        reason: format!(
            "declined by risk score {} (threshold {}): {}",
            risk.score,
            threshold,
            risk.explain()
        ),
        auth_code: None,
        issuer_authentication_data: None,
    })
}

/// Runs one purchase (online or advice) through the issuer and stores it
/// once: a repeat of (terminal, tsc) gets the stored answer.
async fn process_purchase(
    st: &Shared,
    t: &Terminal,
    req: &PaymentRequest,
    channel: &str,
    nonce: Option<&Nonce>,
) -> ApiResult<PaymentResponse> {
    // A repeated (terminal, tsc) is caught by the unique key when the
    // payment is inserted: the transaction is rolled back and the stored
    // answer returned. Checking first would cost every payment a query.
    let icc = match Icc::parse(&req.icc_data, req.amount_minor, req.currency) {
        Ok(icc) => icc,
        Err(e) => {
            if let Some(n) = nonce {
                n.spend(st).await?;
            }
            return Err(e);
        }
    };
    let pan_ref = st.keys.pan_ref(&icc.pan);
    let (m, history_seq) = crate::merchant::cached_terms(st, &t.merchant_id).await?;
    let now = st.clock.now_ms();
    let payment_id = new_id("pay");
    if let Some(writer) = &st.store.sqlite_writer {
        let checked = issuer::precheck(st, &icc, channel).await?;
        let job = SqlitePurchase {
            terminal_id: t.id.clone(),
            merchant: m,
            history_seq,
            req: req.clone(),
            offline: channel == "offline",
            nonce: nonce.cloned(),
            pan_ref,
            icc,
            checked,
            now,
            payment_id,
        };
        let resp = match writer.run(move |conn| job.run(conn)).await? {
            SqliteOutcome::Paid(resp) => *resp,
            SqliteOutcome::Replayed => match nonce {
                Some(n) => return Err(n.replayed(st).await),
                None => return Err(ApiError::internal("replay without a nonce")),
            },
        };
        tracing::info!(terminal_id = %t.id, tsc = req.tsc, channel, status = %resp.status, code = %resp.response_code, masked_pan = %resp.masked_pan, "payment");
        return Ok(resp);
    }
    // From here on PostgreSQL (SQLite took the writer above): the payment
    // goes to a writer task that commits it with others arriving together
    // (see [`crate::pg_writer`]).
    let online = channel == "online";
    let checked = match nonce {
        Some(_) if online => Some(issuer::precheck(st, &icc, channel).await?),
        _ => None,
    };
    let p = PgPurchase {
        st: st.clone(),
        terminal_id: t.id.clone(),
        merchant: m,
        history_seq,
        req: req.clone(),
        channel: channel.to_string(),
        nonce: nonce.cloned(),
        pan_ref,
        icc,
        checked,
        now,
        payment_id,
    };
    let writer = st
        .store
        .pg_writer
        .as_ref()
        .ok_or_else(|| ApiError::internal("no postgres writer"))?;
    let (reply, answer) = tokio::sync::oneshot::channel();
    if matches!(p.checked, Some(Ok(_))) {
        let job = PgPipelinedPurchase {
            p,
            pending: None,
            result: None,
            reply,
        };
        writer.submit_pipelined(Box::new(job)).await?;
    } else {
        let key = p.pan_ref.token.clone();
        let job = PgPurchaseJob {
            p,
            result: None,
            reply,
        };
        writer.submit(&key, Box::new(job)).await?;
    }
    let step = answer
        .await
        .map_err(|_| ApiError::internal("postgres writer dropped a payment"))??;
    match step {
        PgStep::Paid(resp) => {
            tracing::info!(terminal_id = %t.id, tsc = req.tsc, channel, status = %resp.status, code = %resp.response_code, masked_pan = %resp.masked_pan, "payment");
            Ok(*resp)
        }
        PgStep::Replayed => match nonce {
            Some(n) => Err(n.replayed(st).await),
            None => Err(ApiError::internal("replay without a nonce")),
        },
        PgStep::Duplicate => {
            // A repeat (or a concurrent duplicate that won): ours was
            // rolled back, nonce included; answer with theirs.
            if let Some(n) = nonce {
                n.spend(st).await?;
            }
            stored_response(st, &t.id, "purchase", req.tsc)
                .await?
                .ok_or_else(|| ApiError::internal("duplicate without stored response"))
        }
    }
}

/// A purchase on PostgreSQL: everything its transaction needs, read and
/// checked beforehand.
struct PgPurchase {
    st: Shared,
    terminal_id: String,
    merchant: crate::merchant::Merchant,
    history_seq: i64,
    req: PaymentRequest,
    channel: String,
    nonce: Option<Nonce>,
    pan_ref: PanRef,
    icc: Icc,
    /// The card's own checks, for an online purchase with a nonce.
    checked: Option<Result<issuer::Checked, Decision>>,
    now: i64,
    payment_id: String,
}

/// What a PostgreSQL purchase's transaction came to.
enum PgStep {
    /// Written; to be answered once committed.
    Paid(Box<PaymentResponse>),
    /// The request's nonce was already spent: roll back.
    Replayed,
    /// (terminal, tsc) already stored: roll back, answer the stored one.
    Duplicate,
}

/// A [`PgPurchase`] for a writer task, with its answer.
struct PgPurchaseJob {
    p: PgPurchase,
    result: Option<ApiResult<PgStep>>,
    reply: tokio::sync::oneshot::Sender<ApiResult<PgStep>>,
}

impl crate::pg_writer::Job for PgPurchaseJob {
    fn run<'a>(
        &'a mut self,
        tx: &'a mut Transaction<'static, Any>,
    ) -> crate::pg_writer::BoxFut<'a, bool> {
        Box::pin(async move {
            let r = self.p.run_in(tx).await;
            let commit = matches!(r, Ok(PgStep::Paid(_)));
            self.result = Some(r);
            commit
        })
    }

    fn answer(self: Box<Self>, commit: ApiResult<()>) {
        let this = *self;
        answer_purchase(this.reply, commit, this.result);
    }
}

impl PgPurchase {
    /// The purchase's statements in `tx`, for what the writer does not
    /// pipeline (advices, cards that failed their own checks; see
    /// [`PgPipelinedPurchase`] for the rest). Leaves committing or rolling
    /// back to the caller.
    async fn run_in(&self, tx: &mut Transaction<'_, Any>) -> ApiResult<PgStep> {
        let (st, req, m, nonce) = (&self.st, &self.req, &self.merchant, self.nonce.as_ref());
        let (icc, pan_ref, now, channel) =
            (&self.icc, &self.pan_ref, self.now, self.channel.as_str());
        let online = channel == "online";
        let amount = i64::try_from(req.amount_minor).map_err(ApiError::internal)?;
        let (fresh, facts) = match nonce {
            Some(n) if online => {
                let (fresh, f) = crate::risk::spend_nonce_and_gather(
                    tx,
                    n.parts(),
                    &m.id,
                    &self.terminal_id,
                    &pan_ref.token,
                    amount,
                    now,
                )
                .await?;
                (fresh, Some(f))
            }
            _ => {
                let fresh = match nonce {
                    Some(n) => n.spend_in(st, tx).await?,
                    None => true,
                };
                let f = if online && fresh {
                    Some(
                        crate::risk::gather(
                            tx,
                            &m.id,
                            &self.terminal_id,
                            &pan_ref.token,
                            amount,
                            now,
                        )
                        .await?,
                    )
                } else {
                    None
                };
                (fresh, f)
            }
        };
        if let (false, Some(_)) = (fresh, nonce) {
            return Ok(PgStep::Replayed);
        }
        let risk = facts.map(|f| crate::risk::assess(&f)).unwrap_or_default();
        let (decision, debit) = match (risk_decline(&risk, m.risk_threshold), &self.checked) {
            (Some(d), _) => (d, 0),
            // The card's own checks already failed: decide's answer.
            (None, Some(Err(d))) => (d.clone(), 0),
            (None, _) => issuer::decide(st, tx, icc, pan_ref, channel, now).await?,
        };
        let (resp, row) = self.payment_row(&risk, decision, debit, amount)?;
        let ins = row
            .bind(sqlx::query(PAYMENT_INSERT_DEBITING.as_str()))
            .execute(&mut **tx)
            .await;
        match ins {
            Ok(_) => Ok(PgStep::Paid(Box::new(resp))),
            Err(e) if is_unique_violation(&e) => Ok(PgStep::Duplicate),
            Err(e) => Err(e.into()),
        }
    }
}

impl PgPurchase {
    /// The answer and the row to store for `decision`.
    fn payment_row(
        &self,
        risk: &crate::risk::Assessment,
        decision: Decision,
        debit: i64,
        amount: i64,
    ) -> ApiResult<(PaymentResponse, PaymentRow)> {
        purchase_row(
            PurchaseOf {
                payment_id: &self.payment_id,
                terminal_id: &self.terminal_id,
                merchant: &self.merchant,
                history_seq: self.history_seq,
                req: &self.req,
                channel: &self.channel,
                pan_ref: &self.pan_ref,
                now: self.now,
            },
            risk,
            decision,
            debit,
            amount,
        )
    }

    /// The pipelined authorization's first statement's parameters (see
    /// [`crate::risk::SPEND_GATHER_AND_OPEN_ACCOUNT`]).
    fn pipeline_first(&self) -> Params {
        let (since, split_since) = crate::risk::windows(self.now);
        let (nonce_terminal, nonce) = self
            .nonce
            .as_ref()
            .map(|n| n.parts())
            .map(|(t, n)| (t.to_string(), n.to_string()))
            .unwrap_or_default();
        let (default_balance, velocity_since) = match &self.checked {
            Some(Ok(c)) => (c.default_balance(), c.velocity_since(self.now)),
            _ => (0, None),
        };
        vec![
            Box::new(self.pan_ref.token.clone()),
            Box::new(since),
            Box::new(split_since),
            Box::new(self.terminal_id.clone()),
            Box::new(self.merchant.id.clone()),
            Box::new(nonce_terminal),
            Box::new(nonce),
            Box::new(self.now),
            Box::new(self.pan_ref.masked.as_str().to_string()),
            Box::new(default_balance),
            Box::new(velocity_since),
        ]
    }

    /// The decision from the first statement's row: the answer and the
    /// payment's row, or the step the job ends on.
    fn pipeline_decide(
        &self,
        row: Result<tokio_postgres::Row, tokio_postgres::Error>,
    ) -> ApiResult<Result<(PaymentResponse, PaymentRow), PgStep>> {
        let row = row.map_err(crate::pg_writer::pg_error)?;
        let get = |c: &str| row.try_get::<_, i64>(c).map_err(crate::pg_writer::pg_error);
        if get("nonce_fresh")? != 1 {
            return Ok(Err(PgStep::Replayed));
        }
        let Some(Ok(checked)) = &self.checked else {
            return Err(ApiError::internal(
                "pipelined purchase without its card checks",
            ));
        };
        let amount = i64::try_from(self.req.amount_minor).map_err(ApiError::internal)?;
        let risk = crate::risk::assess(&crate::risk::facts_from(get, amount)?);
        let (decision, debit) = match risk_decline(&risk, self.merchant.risk_threshold) {
            Some(d) => (d, 0),
            None => {
                let velocity_n = match checked.velocity_since(self.now) {
                    Some(_) => Some(get("velocity_n")?),
                    None => None,
                };
                issuer::online_account_decision(
                    checked,
                    &self.icc,
                    get("balance_minor")?,
                    get("blocked")? != 0,
                    velocity_n,
                )
            }
        };
        self.payment_row(&risk, decision, debit, amount).map(Ok)
    }
}

/// Who and what a purchase is, for [`purchase_row`].
struct PurchaseOf<'a> {
    payment_id: &'a str,
    terminal_id: &'a str,
    merchant: &'a crate::merchant::Merchant,
    history_seq: i64,
    req: &'a PaymentRequest,
    channel: &'a str,
    pan_ref: &'a PanRef,
    now: i64,
}

/// A purchase's answer for `decision` and the row that stores it (with
/// the answer, for repeats), on either database.
fn purchase_row(
    p: PurchaseOf<'_>,
    risk: &crate::risk::Assessment,
    decision: Decision,
    debit: i64,
    amount: i64,
) -> ApiResult<(PaymentResponse, PaymentRow)> {
    let m = p.merchant;
    let figures = receipt_figures("purchase", decision.approved, amount, m.fee_bps, p.now);
    let resp = payment_response(p.payment_id, p.req.tsc, &decision, p.pan_ref, risk, figures);
    let row = PaymentRow {
        id: p.payment_id.to_string(),
        terminal_id: p.terminal_id.to_string(),
        merchant_id: m.id.clone(),
        tsc: i64::from(p.req.tsc),
        channel: p.channel.to_string(),
        status: decision.status(),
        amount,
        currency: i64::from(p.req.currency),
        mcc: p.req.mcc.clone(),
        fee_bps: m.fee_bps,
        history_seq: p.history_seq,
        pan_token: p.pan_ref.token.clone(),
        masked_pan: p.pan_ref.masked.as_str().to_string(),
        response_code: decision.response_code,
        reason: decision.reason,
        response_json: serde_json::to_string(&resp).map_err(ApiError::internal)?,
        created_ms: p.now,
        business_date: date_of_ms(p.now),
        debit,
    };
    Ok((resp, row))
}

/// A purchase's row, in [`PAYMENT_INSERT_DEBITING`]'s parameter order.
struct PaymentRow {
    id: String,
    terminal_id: String,
    merchant_id: String,
    tsc: i64,
    channel: String,
    status: &'static str,
    amount: i64,
    currency: i64,
    mcc: String,
    fee_bps: i64,
    history_seq: i64,
    pan_token: String,
    masked_pan: String,
    response_code: &'static str,
    reason: String,
    response_json: String,
    created_ms: i64,
    business_date: String,
    debit: i64,
}

impl PaymentRow {
    fn bind<'q>(
        self,
        q: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>,
    ) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>> {
        q.bind(self.id)
            .bind(self.terminal_id)
            .bind(self.merchant_id)
            .bind(self.tsc)
            .bind(self.channel)
            .bind(self.status)
            .bind(self.amount)
            .bind(self.currency)
            .bind(self.mcc)
            .bind(self.fee_bps)
            .bind(self.history_seq)
            .bind(self.pan_token)
            .bind(self.masked_pan)
            .bind(self.response_code)
            .bind(self.reason)
            .bind(self.response_json)
            .bind(self.created_ms)
            .bind(self.business_date)
            .bind(self.debit)
    }

    fn params(self) -> Params {
        vec![
            Box::new(self.id),
            Box::new(self.terminal_id),
            Box::new(self.merchant_id),
            Box::new(self.tsc),
            Box::new(self.channel),
            Box::new(self.status),
            Box::new(self.amount),
            Box::new(self.currency),
            Box::new(self.mcc),
            Box::new(self.fee_bps),
            Box::new(self.history_seq),
            Box::new(self.pan_token),
            Box::new(self.masked_pan),
            Box::new(self.response_code),
            Box::new(self.reason),
            Box::new(self.response_json),
            Box::new(self.created_ms),
            Box::new(self.business_date),
            Box::new(self.debit),
        ]
    }
}

/// The statements the PostgreSQL writer pipelines: an online authorization
/// of a card that passed its own checks.
pub fn pipeline_sql() -> crate::pg_writer::PipelineSql {
    crate::pg_writer::PipelineSql {
        first: crate::risk::SPEND_GATHER_AND_OPEN_ACCOUNT.as_str(),
        second: PAYMENT_INSERT_DEBITING.as_str(),
    }
}

/// An online authorization of a card that passed its own checks, for the
/// writer's pipeline: the nonce, the risk facts and the card account in
/// one statement, the debit and the payment in another.
struct PgPipelinedPurchase {
    p: PgPurchase,
    /// Between the two statements: the answer the second one stores.
    pending: Option<Box<PaymentResponse>>,
    result: Option<ApiResult<PgStep>>,
    reply: tokio::sync::oneshot::Sender<ApiResult<PgStep>>,
}

impl crate::pg_writer::PipelinedJob for PgPipelinedPurchase {
    fn key(&self) -> &str {
        &self.p.pan_ref.token
    }

    fn first(&self) -> Params {
        self.p.pipeline_first()
    }

    fn after_first(
        &mut self,
        row: Result<tokio_postgres::Row, tokio_postgres::Error>,
    ) -> Option<Params> {
        self.pending = None;
        match self.p.pipeline_decide(row) {
            Ok(Ok((resp, row))) => {
                self.result = None;
                self.pending = Some(Box::new(resp));
                Some(row.params())
            }
            Ok(Err(step)) => {
                self.result = Some(Ok(step));
                None
            }
            Err(e) => {
                self.result = Some(Err(e));
                None
            }
        }
    }

    fn after_second(&mut self, done: Result<u64, tokio_postgres::Error>) {
        let step = match done {
            Ok(_) => match self.pending.take() {
                Some(resp) => Ok(PgStep::Paid(resp)),
                None => Err(ApiError::internal("payment stored without its answer")),
            },
            Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) => {
                Ok(PgStep::Duplicate)
            }
            Err(e) => Err(crate::pg_writer::pg_error(e)),
        };
        self.result = Some(step);
    }

    fn answer(self: Box<Self>, commit: ApiResult<()>) {
        let this = *self;
        answer_purchase(this.reply, commit, this.result);
    }
}

/// Sends a writer job's answer: the commit's error, else its kept result.
fn answer_purchase(
    reply: tokio::sync::oneshot::Sender<ApiResult<PgStep>>,
    commit: ApiResult<()>,
    result: Option<ApiResult<PgStep>>,
) {
    let r = match (commit, result) {
        (Err(e), _) => Err(e),
        (Ok(()), Some(r)) => r,
        (Ok(()), None) => Err(ApiError::internal("postgres payment not run")),
    };
    // The caller may have gone (client disconnected); its payment is
    // committed all the same, as with any commit.
    let _ = reply.send(r);
}

/// A purchase for the SQLite writer thread: everything its transaction
/// needs, read and checked beforehand (see [`crate::sqlite_writer`]).
struct SqlitePurchase {
    terminal_id: String,
    merchant: crate::merchant::Merchant,
    history_seq: i64,
    req: PaymentRequest,
    offline: bool,
    nonce: Option<Nonce>,
    pan_ref: PanRef,
    icc: Icc,
    checked: Result<issuer::Checked, Decision>,
    now: i64,
    payment_id: String,
}

enum SqliteOutcome {
    /// Stored now, or the stored answer to an earlier identical payment.
    Paid(Box<PaymentResponse>),
    /// The request's nonce was already spent: nothing was written.
    Replayed,
}

impl SqlitePurchase {
    /// The same steps as the sqlx path of [`process_purchase`], in the same
    /// order, on the writer's connection.
    fn run(self, conn: &rusqlite::Connection) -> ApiResult<SqliteOutcome> {
        use crate::sqlite_writer::{db, is_unique_violation, positional};
        // An inner savepoint, so a repeated (terminal, tsc) can undo this
        // payment's writes and still spend the nonce, as the sqlx path does
        // with its rollback and separate spend.
        conn.execute_batch("SAVEPOINT purchase").map_err(db)?;
        if let Some(n) = &self.nonce {
            if !n.spend_sqlite(conn, self.now)? {
                conn.execute_batch("RELEASE purchase").map_err(db)?;
                return Ok(SqliteOutcome::Replayed);
            }
        }
        let m = &self.merchant;
        let amount = i64::try_from(self.req.amount_minor).map_err(ApiError::internal)?;
        let risk = if self.offline {
            crate::risk::Assessment::default()
        } else {
            crate::risk::assess(&crate::risk::gather_sqlite(
                conn,
                &m.id,
                &self.terminal_id,
                &self.pan_ref.token,
                amount,
                self.now,
            )?)
        };
        let decision = match (risk_decline(&risk, m.risk_threshold), &self.checked) {
            (Some(d), _) => d,
            (None, Err(d)) => d.clone(),
            (None, Ok(c)) => {
                issuer::decide_sqlite(conn, c, &self.icc, &self.pan_ref, self.offline, self.now)?
            }
        };
        let channel = if self.offline { "offline" } else { "online" };
        let (resp, row) = purchase_row(
            PurchaseOf {
                payment_id: &self.payment_id,
                terminal_id: &self.terminal_id,
                merchant: m,
                history_seq: self.history_seq,
                req: &self.req,
                channel,
                pan_ref: &self.pan_ref,
                now: self.now,
            },
            &risk,
            decision,
            0,
            amount,
        )?;
        let ins = conn
            .prepare_cached(&positional(PAYMENT_INSERT))
            .and_then(|mut s| {
                s.execute(rusqlite::params![
                    row.id,
                    row.terminal_id,
                    row.merchant_id,
                    row.tsc,
                    row.channel,
                    row.status,
                    row.amount,
                    row.currency,
                    row.mcc,
                    row.fee_bps,
                    row.history_seq,
                    row.pan_token,
                    row.masked_pan,
                    row.response_code,
                    row.reason,
                    row.response_json,
                    row.created_ms,
                    row.business_date,
                ])
            });
        match ins {
            Ok(_) => {
                conn.execute_batch("RELEASE purchase").map_err(db)?;
                Ok(SqliteOutcome::Paid(Box::new(resp)))
            }
            Err(e) if is_unique_violation(&e) => {
                // A repeat: undo ours, spend the nonce, answer with theirs.
                conn.execute_batch("ROLLBACK TO purchase; RELEASE purchase")
                    .map_err(db)?;
                if let Some(n) = &self.nonce {
                    if !n.spend_sqlite(conn, self.now)? {
                        return Ok(SqliteOutcome::Replayed);
                    }
                }
                let stored: String = conn
                    .prepare_cached(
                        "SELECT response_json FROM payments WHERE terminal_id = ?1 AND kind = 'purchase' AND tsc = ?2",
                    )
                    .and_then(|mut s| {
                        s.query_row(
                            rusqlite::params![self.terminal_id, i64::from(self.req.tsc)],
                            |r| r.get(0),
                        )
                    })
                    .map_err(db)?;
                serde_json::from_str(&stored)
                    .map(|r| SqliteOutcome::Paid(Box::new(r)))
                    .map_err(ApiError::internal)
            }
            Err(e) => Err(db(e)),
        }
    }
}

pub async fn authorize(
    State(st): State<Shared>,
    req: AttestedPayment<PaymentRequest>,
) -> ApiResult<Json<PaymentResponse>> {
    let AttestedPayment {
        terminal: t,
        body,
        nonce,
    } = req;
    if body.mcc != t.config.mcc || check_sale(&t, &body).is_err() {
        // Refused before the payment's transaction: the nonce is spent
        // first, so a replayed jump code is refused as a replay and not
        // counted twice.
        nonce.spend(&st).await?;
        check_mcc(&st, &t, &body.mcc).await?;
        check_sale(&t, &body)?;
    }
    process_purchase(&st, &t, &body, "online", Some(&nonce))
        .await
        .map(Json)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdviceBatch {
    pub advices: Vec<PaymentRequest>,
}

pub async fn advices(
    State(st): State<Shared>,
    req: Attested<AdviceBatch>,
) -> ApiResult<Json<serde_json::Value>> {
    let t = &req.terminal;
    if req.body.advices.is_empty() || req.body.advices.len() > MAX_ADVICES {
        return Err(ApiError::unprocessable(
            "invalid_batch",
            format!("a batch holds 1 to {MAX_ADVICES} advices"),
        ));
    }
    // The whole batch is checked before any of it is stored, so a batch is
    // either refused or processed, never half of each.
    for a in &req.body.advices {
        check_mcc(&st, t, &a.mcc).await?;
        check_sale(t, a)?;
        if a.amount_minor > t.config.offline_limit_minor {
            return Err(ApiError::unprocessable(
                "over_offline_limit",
                format!(
                    "advice tsc {} exceeds the offline limit of {} minor units",
                    a.tsc, t.config.offline_limit_minor
                ),
            ));
        }
    }
    // All at once: on SQLite the writer commits what arrives together in
    // one transaction, so a batch costs one fsync instead of one each;
    // the answers keep the batch's order.
    let results = futures_util::future::try_join_all(
        req.body
            .advices
            .iter()
            .map(|a| process_purchase(&st, t, a, "offline", None)),
    )
    .await?;
    Ok(Json(serde_json::json!({ "results": results })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReversalRequest {
    /// The tsc of the authorization to reverse.
    pub tsc: u32,
    /// Why: `timeout`, `terminal_failure`, `card_removed`, ...
    pub reason: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VoidRequest {
    pub payment_id: String,
}

/// Which payment a reversal or void names.
enum PaymentKey<'a> {
    Tsc(u32),
    Id(&'a str),
}

async fn cancel_payment(
    st: &Shared,
    t: &Terminal,
    key: PaymentKey<'_>,
    new_status: &str,
) -> ApiResult<serde_json::Value> {
    const SELECT: &str =
        "SELECT id, status, channel, amount_minor, pan_token, settlement_id, fee_bps \
         FROM payments WHERE terminal_id = $1 AND kind = 'purchase' AND ";
    let mut tx = st.store.begin().await?;
    let row: Option<AnyRow> = match key {
        PaymentKey::Tsc(tsc) => {
            sqlx::query(&format!("{SELECT}tsc = $2"))
                .bind(&t.id)
                .bind(i64::from(tsc))
                .fetch_optional(&mut *tx)
                .await?
        }
        PaymentKey::Id(id) => {
            sqlx::query(&format!("{SELECT}id = $2"))
                .bind(&t.id)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?
        }
    };
    let Some(r) = row else {
        // A reversal for an authorization we never saw is answered as done:
        // the terminal's goal (no money moved) holds.
        return Ok(
            serde_json::json!({ "status": "not_found", "reversed": false,
            "message": "no such payment from this terminal; nothing to reverse" }),
        );
    };
    let id: String = col(&r, "id")?;
    let status: String = col(&r, "status")?;
    if status == "reversed" || status == "voided" {
        return Ok(serde_json::json!({ "payment_id": id, "status": status, "reversed": true }));
    }
    if status != "approved" {
        return Ok(
            serde_json::json!({ "payment_id": id, "status": status, "reversed": false,
            "message": "payment was not approved; nothing to reverse" }),
        );
    }
    if col::<Option<String>>(&r, "settlement_id")?.is_some() {
        return Err(ApiError::conflict(
            "already_settled",
            "payment is settled; refund it instead",
        ));
    }
    let amount: i64 = col(&r, "amount_minor")?;
    let token: String = col(&r, "pan_token")?;
    sqlx::query("UPDATE payments SET status = $1 WHERE id = $2")
        .bind(new_status)
        .bind(&id)
        .execute(&mut *tx)
        .await?;
    issuer::credit(&mut tx, &token, amount).await?;
    tx.commit().await?;
    // Cancelled: it no longer counts toward any settlement.
    let figures = receipt_figures(
        "purchase",
        false,
        amount,
        col(&r, "fee_bps")?,
        st.clock.now_ms(),
    );
    let mut answer =
        serde_json::json!({ "payment_id": id, "status": new_status, "reversed": true });
    if let (Some(a), Ok(serde_json::Value::Object(f))) =
        (answer.as_object_mut(), serde_json::to_value(&figures))
    {
        a.extend(f);
    }
    Ok(answer)
}

pub async fn reverse(
    State(st): State<Shared>,
    req: Attested<ReversalRequest>,
) -> ApiResult<Json<serde_json::Value>> {
    tracing::info!(terminal_id = %req.terminal.id, tsc = req.body.tsc, reason = %req.body.reason, "reversal");
    cancel_payment(
        &st,
        &req.terminal,
        PaymentKey::Tsc(req.body.tsc),
        "reversed",
    )
    .await
    .map(Json)
}

pub async fn void(
    State(st): State<Shared>,
    req: Attested<VoidRequest>,
) -> ApiResult<Json<serde_json::Value>> {
    cancel_payment(
        &st,
        &req.terminal,
        PaymentKey::Id(&req.body.payment_id),
        "voided",
    )
    .await
    .map(Json)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefundRequest {
    /// The refund's own sequence counter (idempotency key).
    pub tsc: u32,
    pub original_payment_id: String,
    pub amount_minor: u64,
}

pub async fn refund(
    State(st): State<Shared>,
    req: Attested<RefundRequest>,
) -> ApiResult<Json<PaymentResponse>> {
    let t = &req.terminal;
    let b = &req.body;
    if let Some(prev) = stored_response(&st, &t.id, "refund", b.tsc).await? {
        return Ok(Json(prev));
    }
    let now = st.clock.now_ms();
    let mut tx = st.store.begin().await?;
    let row: Option<AnyRow> = sqlx::query(
        "SELECT amount_minor, currency, mcc, pan_token, masked_pan, status FROM payments \
         WHERE id = $1 AND merchant_id = $2 AND kind = 'purchase'",
    )
    .bind(&b.original_payment_id)
    .bind(&t.merchant_id)
    .fetch_optional(&mut *tx)
    .await?;
    let r = row.ok_or_else(|| {
        ApiError::not_found("unknown_payment", "no such payment for this merchant")
    })?;
    if col::<String>(&r, "status")? != "approved" {
        return Err(ApiError::conflict(
            "not_refundable",
            "only an approved payment can be refunded",
        ));
    }
    let original: i64 = col(&r, "amount_minor")?;
    let refunded: AnyRow = sqlx::query(
        "SELECT CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) AS total FROM payments \
         WHERE kind = 'refund' AND status = 'approved' AND original_payment_id = $1",
    )
    .bind(&b.original_payment_id)
    .fetch_one(&mut *tx)
    .await?;
    let already: i64 = col(&refunded, "total")?;
    let amount = i64::try_from(b.amount_minor)
        .map_err(|_| ApiError::unprocessable("invalid_amount", "amount too large"))?;
    if amount <= 0 || already.saturating_add(amount) > original {
        return Err(ApiError::unprocessable("refund_exceeds_payment", format!("refunds would total more than the payment ({original}, {already} already refunded)")));
    }
    let token: String = col(&r, "pan_token")?;
    let masked: String = col(&r, "masked_pan")?;
    let m = load_merchant(&mut *tx, &t.merchant_id).await?;
    let history_seq = current_history_seq(&mut *tx, &m.id).await?;
    let payment_id = new_id("ref");
    let reason = format!("refund of {}", b.original_payment_id);
    let resp = PaymentResponse {
        payment_id: payment_id.clone(),
        tsc: b.tsc,
        status: "approved".into(),
        approved: true,
        response_code: "00".into(),
        reason: reason.clone(),
        auth_code: None,
        issuer_authentication_data: None,
        masked_pan: masked.clone(),
        risk_score: 0,
        risk_rules: Vec::new(),
        figures: receipt_figures("refund", true, amount, m.fee_bps, now),
    };
    issuer::credit(&mut tx, &token, amount).await?;
    let ins = sqlx::query(
        "INSERT INTO payments (id, terminal_id, merchant_id, tsc, kind, channel, status, amount_minor, currency, mcc, fee_bps, history_seq, \
         pan_token, masked_pan, response_code, reason, response_json, created_ms, business_date, settlement_id, original_payment_id) \
         VALUES ($1, $2, $3, $4, 'refund', 'online', 'approved', $5, $6, $7, $8, $9, $10, $11, '00', $12, $13, $14, $15, NULL, $16)",
    )
    .bind(&payment_id)
    .bind(&t.id)
    .bind(&m.id)
    .bind(i64::from(b.tsc))
    .bind(amount)
    .bind(col::<i64>(&r, "currency")?)
    .bind(col::<String>(&r, "mcc")?)
    .bind(m.fee_bps)
    .bind(history_seq)
    .bind(&token)
    .bind(&masked)
    .bind(&reason)
    .bind(serde_json::to_string(&resp).map_err(ApiError::internal)?)
    .bind(now)
    .bind(date_of_ms(now))
    .bind(&b.original_payment_id)
    .execute(&mut *tx)
    .await;
    match ins {
        Ok(_) => {
            tx.commit().await?;
            Ok(Json(resp))
        }
        Err(e) if is_unique_violation(&e) => {
            tx.rollback().await?;
            stored_response(&st, &t.id, "refund", b.tsc)
                .await?
                .map(Json)
                .ok_or_else(|| ApiError::internal("duplicate without stored response"))
        }
        Err(e) => Err(e.into()),
    }
}
