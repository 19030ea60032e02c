//! QR payments for terminals, signed and attested like card payments:
//! merchant-presented orders (the terminal shows an EMVCo code built from
//! the order; the customer's wallet pays it) and consumer-presented
//! micropay (the terminal scans the customer's payment code; the wallet
//! simulator in [`crate::qr_wallet`] answers SUCCESS, USERPAYING or FAIL).
//!
//! Money moves at most once per order: `(terminal, seq)` is unique, so a
//! repeated request gets the order as it stands; an order turns SUCCESS
//! only from NOTPAY or USERPAYING, in the transaction that writes its
//! payment; a cancel closes an unpaid order or reverses a paid one, each
//! by a conditional update that only one request can win; a pay that
//! arrives after a cancel finds the order closed and is refused. A paid
//! order is a `payments` row of kind `qr`, so settlement, statements, fees
//! and MCC treat it exactly like a card payment. Customer codes are never
//! stored: only a keyed hash and a masked form.

use crate::api::{ApiJson, Shared};
use crate::error::{ApiError, ApiResult};
use crate::qr_wallet::{self, Behaviour, CodeRef};
use crate::store::{col, is_unique_violation};
use crate::trust::{Attested, Terminal};
use crate::util::{date_of_ms, fee_minor, format_day, new_id, parse_day};
use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{Any, Transaction};
use std::sync::atomic::{AtomicBool, Ordering};

/// Lifetime of a merchant-presented order unless the terminal asks for
/// another (1 s to 1 h).
pub const DEFAULT_ORDER_TTL_S: u32 = 300;
const MAX_ORDER_TTL_S: u32 = 3_600;
/// How long a scanned code's payment may wait for the customer: the
/// wallets close an unconfirmed micropay after about this long.
pub const MICROPAY_TTL_S: u32 = 120;
/// The payment network identifier (EMVCo MPM template 26, sub-ID 00) under
/// which this acquirer's merchant accounts appear in a code.
pub const QR_GUI: &str = "com.softpos.acquirer";
/// The merchant account template ID the code carries.
pub const QR_TEMPLATE_ID: u8 = 26;
/// Merchants have no postal address in the store yet; codes carry these.
pub const QR_MERCHANT_CITY: &str = "SOFTPOS";
pub const QR_COUNTRY: &str = "XX";

/// Order statuses, in the wallets' vocabulary.
pub mod status {
    /// A merchant-presented order waiting for the customer's wallet.
    pub const NOTPAY: &str = "NOTPAY";
    /// The wallet waits for the customer to confirm (password, limit).
    pub const USERPAYING: &str = "USERPAYING";
    pub const SUCCESS: &str = "SUCCESS";
    /// Refused by the wallet (balance, expired code, customer declined).
    pub const FAIL: &str = "FAIL";
    /// Cancelled before it was paid.
    pub const CLOSED: &str = "CLOSED";
    /// Not paid within its lifetime.
    pub const EXPIRED: &str = "EXPIRED";
    /// Paid, then cancelled: the payment was reversed.
    pub const REVERSED: &str = "REVERSED";
}

const CODE_USED: &str =
    "code_used: this payment code was already used; ask the customer to refresh it";

/// Per-process QR state beside [`crate::AppState`].
#[derive(Debug, Default)]
pub struct QrRuntime {
    demo: AtomicBool,
}

/// Turns on the demo endpoint where a simulated customer pays an order
/// (`softpos-acquirer serve --demo`, and tests). Off by default.
pub fn enable_demo(st: &Shared) {
    st.qr.demo.store(true, Ordering::SeqCst);
}

fn code_key(st: &Shared) -> ring::hmac::Key {
    qr_wallet::code_key(&st.keys.token_secret)
}

/// Creates a merchant-presented order.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateOrderRequest {
    /// The terminal's sequence number: its idempotency key.
    pub seq: u32,
    pub amount_minor: u64,
    /// ISO 4217 numeric; must be the terminal's.
    pub currency: u16,
    /// Order lifetime in seconds (1 to 3600; 300 if absent).
    #[serde(default)]
    pub expires_in_s: Option<u32>,
}

/// Charges a customer's scanned payment code.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MicropayRequest {
    pub seq: u32,
    pub amount_minor: u64,
    pub currency: u16,
    /// The code as scanned: wallet digits or EMVCo CPM base64. Used once
    /// to reach the wallet and never stored.
    pub code: String,
}

/// Names an order of this terminal: by its seq (always known to the
/// terminal, even when the answer to the creation was lost) or its ID.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderRef {
    #[serde(default)]
    pub seq: Option<u32>,
    #[serde(default)]
    pub order_id: Option<String>,
    /// Why a cancel was asked for (`timeout`, `merchant`, ...); logged.
    #[serde(default)]
    pub reason: Option<String>,
}

/// A simulated customer pays an order from a wallet (demo only).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoPayRequest {
    /// A wallet payment code standing for the customer's wallet account;
    /// its last two digits choose the behaviour as in [`crate::qr_wallet`].
    pub code: String,
}

/// What the terminal must put in the merchant-presented code.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct MerchantAccountInfo {
    /// Template ID (26-51) and its globally unique identifier (sub-ID 00).
    pub template_id: u8,
    pub gui: String,
    /// Sub-ID 01: the merchant's account at this acquirer.
    pub merchant_account: String,
    pub merchant_name: String,
    pub merchant_city: String,
    pub country_code: String,
    pub mcc: String,
}

/// An order as the terminal sees it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct QrOrder {
    pub order_id: String,
    /// Terminal ID and seq: the idempotency key.
    pub out_trade_no: String,
    pub seq: u32,
    /// `mpm` (merchant-presented) or `cpm` (consumer-presented).
    pub kind: String,
    /// See [`status`].
    pub status: String,
    /// Why it is in this status, for people.
    pub reason: String,
    pub amount_minor: u64,
    pub currency: u16,
    /// For the code's additional data (62.01).
    pub bill_number: String,
    pub created_ms: i64,
    pub expires_ms: i64,
    /// `alipay`, `wechat_pay`, `unionpay` or `emv_cpm`, once known.
    pub wallet: Option<String>,
    pub masked_code: Option<String>,
    /// The payment row, once paid; what settlement and statements show.
    pub payment_id: Option<String>,
    pub fee_minor: Option<i64>,
    pub net_minor: Option<i64>,
    pub business_date: Option<String>,
    /// The expected settlement date (business date + 1).
    pub settlement_date: Option<String>,
    /// For merchant-presented orders.
    pub merchant: Option<MerchantAccountInfo>,
}

const COLUMNS: &str = "id, terminal_id, merchant_id, seq, out_trade_no, kind, status, reason, \
    amount_minor, currency, mcc, bill_number, wallet, code_hash, masked_code, confirmations_left, \
    then_status, payment_id, fee_bps, business_date, created_ms, expires_ms, updated_ms";

/// An order row.
#[derive(Debug, Clone)]
struct Row {
    id: String,
    terminal_id: String,
    merchant_id: String,
    seq: u32,
    out_trade_no: String,
    kind: String,
    status: String,
    reason: String,
    amount_minor: i64,
    currency: u16,
    mcc: String,
    bill_number: String,
    wallet: Option<String>,
    code_hash: Option<String>,
    masked_code: Option<String>,
    confirmations_left: i64,
    then_status: Option<String>,
    payment_id: Option<String>,
    fee_bps: Option<i64>,
    business_date: Option<String>,
    created_ms: i64,
    expires_ms: i64,
}

fn row_of(r: &AnyRow) -> ApiResult<Row> {
    Ok(Row {
        id: col(r, "id")?,
        terminal_id: col(r, "terminal_id")?,
        merchant_id: col(r, "merchant_id")?,
        seq: u32::try_from(col::<i64>(r, "seq")?).map_err(ApiError::internal)?,
        out_trade_no: col(r, "out_trade_no")?,
        kind: col(r, "kind")?,
        status: col(r, "status")?,
        reason: col(r, "reason")?,
        amount_minor: col(r, "amount_minor")?,
        currency: u16::try_from(col::<i64>(r, "currency")?).map_err(ApiError::internal)?,
        mcc: col(r, "mcc")?,
        bill_number: col(r, "bill_number")?,
        wallet: col(r, "wallet")?,
        code_hash: col(r, "code_hash")?,
        masked_code: col(r, "masked_code")?,
        confirmations_left: col(r, "confirmations_left")?,
        then_status: col(r, "then_status")?,
        payment_id: col(r, "payment_id")?,
        fee_bps: col(r, "fee_bps")?,
        business_date: col(r, "business_date")?,
        created_ms: col(r, "created_ms")?,
        expires_ms: col(r, "expires_ms")?,
    })
}

async fn view(st: &Shared, r: &Row) -> ApiResult<QrOrder> {
    let merchant = if r.kind == "mpm" {
        let (m, _) = crate::merchant::cached_terms(st, &r.merchant_id).await?;
        Some(MerchantAccountInfo {
            template_id: QR_TEMPLATE_ID,
            gui: QR_GUI.into(),
            merchant_account: m.id.clone(),
            // EMVCo ID 59 holds at most 25 characters.
            merchant_name: m.name.chars().take(25).collect(),
            merchant_city: QR_MERCHANT_CITY.into(),
            country_code: QR_COUNTRY.into(),
            mcc: r.mcc.clone(),
        })
    } else {
        None
    };
    let paid = r.payment_id.is_some() && r.status == status::SUCCESS;
    let fee = r
        .fee_bps
        .filter(|_| paid)
        .map(|bps| fee_minor(r.amount_minor, bps));
    Ok(QrOrder {
        order_id: r.id.clone(),
        out_trade_no: r.out_trade_no.clone(),
        seq: r.seq,
        kind: r.kind.clone(),
        status: r.status.clone(),
        reason: r.reason.clone(),
        amount_minor: u64::try_from(r.amount_minor).map_err(ApiError::internal)?,
        currency: r.currency,
        bill_number: r.bill_number.clone(),
        created_ms: r.created_ms,
        expires_ms: r.expires_ms,
        wallet: r.wallet.clone(),
        masked_code: r.masked_code.clone(),
        payment_id: r.payment_id.clone(),
        fee_minor: fee,
        net_minor: fee.map(|f| r.amount_minor.saturating_sub(f)),
        business_date: r.business_date.clone().filter(|_| paid),
        settlement_date: r
            .business_date
            .as_deref()
            .filter(|_| paid)
            .and_then(parse_day)
            .map(|d| format_day(d + 1)),
        merchant,
    })
}

async fn load_by_seq<'e, E>(exec: E, terminal_id: &str, seq: u32) -> ApiResult<Option<Row>>
where
    E: sqlx::Executor<'e, Database = Any>,
{
    let row: Option<AnyRow> = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM qr_orders WHERE terminal_id = $1 AND seq = $2"
    ))
    .bind(terminal_id)
    .bind(i64::from(seq))
    .fetch_optional(exec)
    .await?;
    row.as_ref().map(row_of).transpose()
}

async fn load_by_id<'e, E>(exec: E, id: &str) -> ApiResult<Option<Row>>
where
    E: sqlx::Executor<'e, Database = Any>,
{
    let row: Option<AnyRow> =
        sqlx::query(&format!("SELECT {COLUMNS} FROM qr_orders WHERE id = $1"))
            .bind(id)
            .fetch_optional(exec)
            .await?;
    row.as_ref().map(row_of).transpose()
}

/// The terminal's own order named by `r`.
async fn find(st: &Shared, t: &Terminal, r: &OrderRef) -> ApiResult<Row> {
    let row = match (r.seq, r.order_id.as_deref()) {
        (Some(seq), None) => load_by_seq(&st.store.pool, &t.id, seq).await?,
        (None, Some(id)) => load_by_id(&st.store.pool, id)
            .await?
            // Another terminal's order does not exist for this one.
            .filter(|o| o.terminal_id == t.id),
        _ => {
            return Err(ApiError::unprocessable(
                "invalid_order_ref",
                "name the order by exactly one of seq or order_id",
            ))
        }
    };
    row.ok_or_else(|| ApiError::not_found("unknown_order", "no such QR order from this terminal"))
}

fn out_trade_no(terminal_id: &str, seq: u32) -> String {
    format!("{terminal_id}-{seq:010}")
}

/// Currency and amount within the terminal's signed configuration.
fn check_sale(t: &Terminal, amount_minor: u64, currency: u16) -> ApiResult<()> {
    if currency != t.config.currency {
        return Err(ApiError::unprocessable(
            "currency_mismatch",
            format!("terminal is configured for currency {}", t.config.currency),
        ));
    }
    if amount_minor == 0 || amount_minor > t.config.max_amount_minor {
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

/// A new order row, before it is inserted.
struct NewOrder<'a> {
    kind: &'a str,
    seq: u32,
    amount_minor: i64,
    currency: u16,
    status: &'a str,
    reason: String,
    code: Option<&'a CodeRef>,
    confirmations_left: i64,
    then_status: Option<&'a str>,
    expires_ms: i64,
}

async fn insert_order(
    tx: &mut Transaction<'_, Any>,
    t: &Terminal,
    o: &NewOrder<'_>,
    now: i64,
) -> Result<String, sqlx::Error> {
    let id = format!("Q{}", hex::encode_upper(crate::util::random_bytes::<10>()));
    let otn = out_trade_no(&t.id, o.seq);
    sqlx::query(
        "INSERT INTO qr_orders (id, terminal_id, merchant_id, seq, out_trade_no, kind, status, reason, \
         amount_minor, currency, mcc, bill_number, wallet, code_hash, masked_code, confirmations_left, \
         then_status, payment_id, fee_bps, business_date, created_ms, expires_ms, updated_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, NULL, NULL, NULL, $18, $19, $18)",
    )
    .bind(&id)
    .bind(&t.id)
    .bind(&t.merchant_id)
    .bind(i64::from(o.seq))
    .bind(&otn)
    .bind(o.kind)
    .bind(o.status)
    .bind(&o.reason)
    .bind(o.amount_minor)
    .bind(i64::from(o.currency))
    .bind(&t.config.mcc)
    // The bill number is the out_trade_no: unique per terminal and within
    // the 25 characters EMVCo allows in 62.01.
    .bind(&otn)
    .bind(o.code.map(|c| c.wallet.as_str()))
    .bind(o.code.map(|c| c.hash.clone()))
    .bind(o.code.map(|c| c.masked.clone()))
    .bind(o.confirmations_left)
    .bind(o.then_status)
    .bind(now)
    .bind(o.expires_ms)
    .execute(&mut **tx)
    .await?;
    Ok(id)
}

/// Pays an open order inside `tx`: the order turns SUCCESS and its payment
/// row is written, or nothing happens (`false`) because the order is no
/// longer open (paid, cancelled, expired) or has expired by `now`.
async fn pay_in_tx(
    tx: &mut Transaction<'_, Any>,
    order: &Row,
    code: &CodeRef,
    now: i64,
) -> ApiResult<bool> {
    let (m, history_seq) = crate::merchant::load_terms(&mut **tx, &order.merchant_id).await?;
    let payment_id = new_id("pay");
    let business_date = date_of_ms(now);
    let won = sqlx::query(
        "UPDATE qr_orders SET status = 'SUCCESS', reason = $1, wallet = $2, code_hash = $3, masked_code = $4, \
         payment_id = $5, fee_bps = $6, business_date = $7, updated_ms = $8 \
         WHERE id = $9 AND status IN ('NOTPAY', 'USERPAYING') AND expires_ms > $8",
    )
    .bind(format!("paid with {}", code.wallet.as_str()))
    .bind(code.wallet.as_str())
    .bind(&code.hash)
    .bind(&code.masked)
    .bind(&payment_id)
    .bind(m.fee_bps)
    .bind(&business_date)
    .bind(now)
    .bind(&order.id)
    .execute(&mut **tx)
    .await?;
    if won.rows_affected() != 1 {
        return Ok(false);
    }
    let response = serde_json::json!({ "order_id": order.id, "out_trade_no": order.out_trade_no,
        "status": status::SUCCESS, "wallet": code.wallet.as_str(), "masked_code": code.masked });
    sqlx::query(
        "INSERT INTO payments (id, terminal_id, merchant_id, tsc, kind, channel, status, amount_minor, currency, mcc, fee_bps, history_seq, \
         pan_token, masked_pan, response_code, reason, response_json, created_ms, business_date, settlement_id) \
         VALUES ($1, $2, $3, $4, 'qr', $5, 'approved', $6, $7, $8, $9, $10, $11, $12, '00', $13, $14, $15, $16, NULL)",
    )
    .bind(&payment_id)
    .bind(&order.terminal_id)
    .bind(&m.id)
    .bind(i64::from(order.seq))
    .bind(format!("qr_{}", order.kind))
    .bind(order.amount_minor)
    .bind(i64::from(order.currency))
    .bind(&order.mcc)
    .bind(m.fee_bps)
    .bind(history_seq)
    .bind(&code.hash)
    .bind(&code.masked)
    .bind(format!("QR {} paid with {}", order.out_trade_no, code.wallet.as_str()))
    .bind(response.to_string())
    .bind(now)
    .bind(&business_date)
    .execute(&mut **tx)
    .await?;
    Ok(true)
}

/// Sets a new status if the order is still in one of `from`; `false` if
/// another request changed it first.
async fn transition<'e, E>(
    exec: E,
    id: &str,
    from: &[&str],
    to: &str,
    reason: &str,
    now: i64,
) -> ApiResult<bool>
where
    E: sqlx::Executor<'e, Database = Any>,
{
    // `from` holds only our own constants, never request data.
    let list = from
        .iter()
        .map(|s| format!("'{s}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let res = sqlx::query(&format!(
        "UPDATE qr_orders SET status = $1, reason = $2, updated_ms = $3 WHERE id = $4 AND status IN ({list})"
    ))
    .bind(to)
    .bind(reason)
    .bind(now)
    .bind(id)
    .execute(exec)
    .await?;
    Ok(res.rows_affected() == 1)
}

/// Brings an open order up to date: expiry, and on a terminal's query the
/// simulated customer's next confirmation step.
async fn advance(st: &Shared, row: Row, query: bool) -> ApiResult<Row> {
    let open = row.status == status::NOTPAY || row.status == status::USERPAYING;
    if !open {
        return Ok(row);
    }
    let now = st.clock.now_ms();
    if now >= row.expires_ms {
        let why = if row.kind == "mpm" {
            "no wallet paid the order before it expired"
        } else {
            "the customer did not confirm before the payment expired"
        };
        transition(
            &st.store.pool,
            &row.id,
            &[status::NOTPAY, status::USERPAYING],
            status::EXPIRED,
            why,
            now,
        )
        .await?;
        return reload(st, &row.id).await;
    }
    if !query || row.status != status::USERPAYING || row.confirmations_left < 0 {
        return Ok(row);
    }
    let left = row.confirmations_left.saturating_sub(1);
    let mut tx = st.store.begin().await?;
    if left > 0 {
        sqlx::query(
            "UPDATE qr_orders SET confirmations_left = $1, updated_ms = $2 WHERE id = $3 AND status = 'USERPAYING'",
        )
        .bind(left)
        .bind(now)
        .bind(&row.id)
        .execute(&mut *tx)
        .await?;
    } else if row.then_status.as_deref() == Some(status::FAIL) {
        transition(
            &mut *tx,
            &row.id,
            &[status::USERPAYING],
            status::FAIL,
            "user_declined: the customer declined the payment in the wallet",
            now,
        )
        .await?;
    } else {
        let code = CodeRef {
            wallet: wallet_of(row.wallet.as_deref()),
            behaviour: Behaviour::PayNow,
            hash: row.code_hash.clone().unwrap_or_default(),
            masked: row.masked_code.clone().unwrap_or_default(),
        };
        pay_in_tx(&mut tx, &row, &code, now).await?;
    }
    tx.commit().await?;
    reload(st, &row.id).await
}

fn wallet_of(name: Option<&str>) -> qr_wallet::WalletKind {
    use qr_wallet::WalletKind as W;
    match name {
        Some("alipay") => W::Alipay,
        Some("wechat_pay") => W::WeChatPay,
        Some("unionpay") => W::UnionPay,
        _ => W::EmvCpm,
    }
}

async fn reload(st: &Shared, id: &str) -> ApiResult<Row> {
    load_by_id(&st.store.pool, id)
        .await?
        .ok_or_else(|| ApiError::internal("QR order vanished"))
}

/// A repeat of `seq` must be the same request; a different one under the
/// same key is refused rather than answered with another payment's result.
fn same_request(
    existing: &Row,
    kind: &str,
    amount: i64,
    currency: u16,
    code_hash: Option<&str>,
) -> ApiResult<()> {
    let same = existing.kind == kind
        && existing.amount_minor == amount
        && existing.currency == currency
        && (code_hash.is_none() || existing.code_hash.as_deref() == code_hash);
    if same {
        Ok(())
    } else {
        Err(ApiError::conflict(
            "out_trade_no_reused",
            format!(
                "seq {} (out_trade_no {}) was already used for another QR payment",
                existing.seq, existing.out_trade_no
            ),
        ))
    }
}

/// Inserts a new order, or answers the one already under its seq.
async fn create(
    st: &Shared,
    t: &Terminal,
    mut o: NewOrder<'_>,
    mut pay_now: bool,
) -> ApiResult<Json<QrOrder>> {
    let now = st.clock.now_ms();
    // Three rounds at most: a unique violation is either a repeat of this
    // seq (answered with the stored order) or this code in another open or
    // paid order (a concurrent reuse the first check could not see), which
    // is stored as a refusal instead.
    for _ in 0..3 {
        let mut tx = st.store.begin().await?;
        let id = match insert_order(&mut tx, t, &o, now).await {
            Ok(id) => id,
            Err(e) if is_unique_violation(&e) => {
                tx.rollback().await?;
                if let Some(existing) = load_by_seq(&st.store.pool, &t.id, o.seq).await? {
                    same_request(
                        &existing,
                        o.kind,
                        o.amount_minor,
                        o.currency,
                        o.code.map(|c| c.hash.as_str()),
                    )?;
                    let existing = advance(st, existing, false).await?;
                    return Ok(Json(view(st, &existing).await?));
                }
                o.status = status::FAIL;
                o.reason = CODE_USED.into();
                o.confirmations_left = 0;
                o.then_status = None;
                pay_now = false;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        if let (true, Some(code)) = (pay_now, o.code) {
            let row = load_by_id(&mut *tx, &id)
                .await?
                .ok_or_else(|| ApiError::internal("QR order vanished"))?;
            pay_in_tx(&mut tx, &row, code, now).await?;
        }
        tx.commit().await?;
        let row = reload(st, &id).await?;
        tracing::info!(terminal_id = %t.id, out_trade_no = %row.out_trade_no, kind = %row.kind,
            status = %row.status, masked_code = ?row.masked_code, "qr order");
        return Ok(Json(view(st, &row).await?));
    }
    Err(ApiError::internal(
        "QR order could not be stored in three rounds",
    ))
}

/// `POST /v1/qr/orders`: a merchant-presented order.
pub async fn create_order(
    State(st): State<Shared>,
    req: Attested<CreateOrderRequest>,
) -> ApiResult<Json<QrOrder>> {
    let t = &req.terminal;
    let b = &req.body;
    check_sale(t, b.amount_minor, b.currency)?;
    let ttl = b.expires_in_s.unwrap_or(DEFAULT_ORDER_TTL_S);
    if ttl == 0 || ttl > MAX_ORDER_TTL_S {
        return Err(ApiError::unprocessable(
            "invalid_expiry",
            format!("expires_in_s must be 1 to {MAX_ORDER_TTL_S}"),
        ));
    }
    let now = st.clock.now_ms();
    create(
        &st,
        t,
        NewOrder {
            kind: "mpm",
            seq: b.seq,
            amount_minor: i64::try_from(b.amount_minor).map_err(ApiError::internal)?,
            currency: b.currency,
            status: status::NOTPAY,
            reason: "waiting for the customer's wallet".into(),
            code: None,
            confirmations_left: 0,
            then_status: None,
            expires_ms: now.saturating_add(i64::from(ttl).saturating_mul(1_000)),
        },
        false,
    )
    .await
}

/// `POST /v1/qr/micropay`: charges a scanned customer code.
pub async fn micropay(
    State(st): State<Shared>,
    req: Attested<MicropayRequest>,
) -> ApiResult<Json<QrOrder>> {
    let t = &req.terminal;
    let b = &req.body;
    check_sale(t, b.amount_minor, b.currency)?;
    let code = qr_wallet::recognise(&b.code, &code_key(&st))
        .map_err(|e| ApiError::unprocessable("invalid_payment_code", e.to_string()))?;
    // A code is single use: seen in another order (of any terminal), it is
    // refused, unless this is a repeat of the very same request.
    let reused: Option<AnyRow> = sqlx::query(
        "SELECT id FROM qr_orders WHERE code_hash = $1 AND NOT (terminal_id = $2 AND seq = $3)",
    )
    .bind(&code.hash)
    .bind(&t.id)
    .bind(i64::from(b.seq))
    .fetch_optional(&st.store.pool)
    .await?;
    let now = st.clock.now_ms();
    let (state, reason, confirmations, then, pay_now) = if reused.is_some() {
        (status::FAIL, CODE_USED.into(), 0, None, false)
    } else {
        match code.behaviour {
            Behaviour::PayNow => (status::NOTPAY, "paying".to_string(), 0, None, true),
            Behaviour::Confirm(n) => (
                status::USERPAYING,
                "waiting for the customer to confirm in the wallet".into(),
                i64::from(n),
                Some(status::SUCCESS),
                false,
            ),
            Behaviour::NeverAnswers => (
                status::USERPAYING,
                "waiting for the customer to confirm in the wallet".into(),
                -1,
                None,
                false,
            ),
            Behaviour::CustomerDeclines => (
                status::USERPAYING,
                "waiting for the customer to confirm in the wallet".into(),
                1,
                Some(status::FAIL),
                false,
            ),
            Behaviour::Insufficient => (
                status::FAIL,
                "insufficient_balance: the wallet's balance does not cover the amount".into(),
                0,
                None,
                false,
            ),
            Behaviour::CodeExpired => (
                status::FAIL,
                "code_expired: the payment code has expired; ask the customer to refresh it".into(),
                0,
                None,
                false,
            ),
        }
    };
    create(
        &st,
        t,
        NewOrder {
            kind: "cpm",
            seq: b.seq,
            amount_minor: i64::try_from(b.amount_minor).map_err(ApiError::internal)?,
            currency: b.currency,
            status: state,
            reason,
            code: Some(&code),
            confirmations_left: confirmations,
            then_status: then,
            expires_ms: now.saturating_add(i64::from(MICROPAY_TTL_S) * 1_000),
        },
        pay_now,
    )
    .await
}

/// `POST /v1/qr/query`: the order as it stands now. For a payment waiting
/// on the customer, each query is also when the simulated wallet moves on.
pub async fn query(State(st): State<Shared>, req: Attested<OrderRef>) -> ApiResult<Json<QrOrder>> {
    let row = find(&st, &req.terminal, &req.body).await?;
    let row = advance(&st, row, true).await?;
    Ok(Json(view(&st, &row).await?))
}

/// `POST /v1/qr/cancel`: closes an unpaid order, or reverses a paid one
/// (once; a settled one must be refunded instead). Idempotent.
pub async fn cancel(State(st): State<Shared>, req: Attested<OrderRef>) -> ApiResult<Json<QrOrder>> {
    let t = &req.terminal;
    // The terminal's words go into the stored reason: kept short.
    let why: String = req
        .body
        .reason
        .as_deref()
        .unwrap_or("terminal")
        .chars()
        .take(64)
        .collect();
    let why = why.as_str();
    let row = find(&st, t, &req.body).await?;
    let row = advance(&st, row, false).await?;
    let now = st.clock.now_ms();
    // Two rounds at most: an open order may be paid between our read and
    // our update, and is then reversed instead.
    let mut row = row;
    for _ in 0..2 {
        match row.status.as_str() {
            status::NOTPAY | status::USERPAYING => {
                let reason = format!("cancelled by the terminal ({why}) before it was paid");
                if transition(
                    &st.store.pool,
                    &row.id,
                    &[status::NOTPAY, status::USERPAYING],
                    status::CLOSED,
                    &reason,
                    now,
                )
                .await?
                {
                    row = reload(&st, &row.id).await?;
                    break;
                }
            }
            status::SUCCESS => {
                reverse(&st, &row, why, now).await?;
                row = reload(&st, &row.id).await?;
                break;
            }
            _ => break,
        }
        row = reload(&st, &row.id).await?;
    }
    tracing::info!(terminal_id = %t.id, out_trade_no = %row.out_trade_no, status = %row.status, reason = %why, "qr cancel");
    Ok(Json(view(&st, &row).await?))
}

async fn reverse(st: &Shared, row: &Row, why: &str, now: i64) -> ApiResult<()> {
    let mut tx = st.store.begin().await?;
    // The status update comes first: it locks the order's row, so a
    // concurrent refund (which updates the same row first) either
    // committed before the checks below read, or waits for this one.
    let reason = format!("paid, then cancelled by the terminal ({why}): reversed");
    if !transition(
        &mut *tx,
        &row.id,
        &[status::SUCCESS],
        status::REVERSED,
        &reason,
        now,
    )
    .await?
    {
        return Ok(());
    }
    if let Some(pid) = &row.payment_id {
        let p: Option<AnyRow> = sqlx::query("SELECT settlement_id FROM payments WHERE id = $1")
            .bind(pid)
            .fetch_optional(&mut *tx)
            .await?;
        if let Some(p) = p {
            if col::<Option<String>>(&p, "settlement_id")?.is_some() {
                return Err(ApiError::conflict(
                    "already_settled",
                    "this QR payment is settled; refund it instead",
                ));
            }
        }
        if refunded_total(&mut tx, pid).await? > 0 {
            return Err(ApiError::conflict(
                "already_refunded",
                "this QR payment was partly refunded; refund the rest instead",
            ));
        }
        sqlx::query(
            "UPDATE payments SET status = 'reversed' WHERE id = $1 AND status = 'approved'",
        )
        .bind(pid)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// `POST /v1/demo/qr/orders/{id}/pay`: a simulated customer's wallet pays
/// a merchant-presented order. Only when demo mode is on; 404 otherwise.
pub async fn demo_pay(
    State(st): State<Shared>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<DemoPayRequest>,
) -> ApiResult<Json<QrOrder>> {
    if !st.qr.demo.load(Ordering::SeqCst) {
        return Err(ApiError::not_found("not_found", "no such endpoint"));
    }
    let code = qr_wallet::recognise(&req.code, &code_key(&st))
        .map_err(|e| ApiError::unprocessable("invalid_payment_code", e.to_string()))?;
    let row = load_by_id(&st.store.pool, &id)
        .await?
        .filter(|o| o.kind == "mpm")
        .ok_or_else(|| ApiError::not_found("unknown_order", "no such merchant-presented order"))?;
    let row = advance(&st, row, false).await?;
    match code.behaviour {
        Behaviour::Insufficient => {
            return Err(ApiError::new(
                axum::http::StatusCode::PAYMENT_REQUIRED,
                "insufficient_balance",
                "the wallet's balance does not cover the amount; the order stays open",
            ))
        }
        Behaviour::CodeExpired => {
            return Err(ApiError::new(
                axum::http::StatusCode::PAYMENT_REQUIRED,
                "code_expired",
                "the wallet's session expired; the order stays open",
            ))
        }
        _ => {}
    }
    let now = st.clock.now_ms();
    let mut tx = st.store.begin().await?;
    let paid = pay_in_tx(&mut tx, &row, &code, now).await?;
    tx.commit().await?;
    let row = reload(&st, &row.id).await?;
    if !paid {
        let (code, msg) = match row.status.as_str() {
            status::SUCCESS | status::REVERSED => ("already_paid", "this order was already paid"),
            status::EXPIRED => ("order_expired", "this order has expired"),
            _ => (
                "order_closed",
                "this order was cancelled; nothing was charged",
            ),
        };
        return Err(ApiError::conflict(code, msg));
    }
    Ok(Json(view(&st, &row).await?))
}

/// Refunds (part of) a paid QR order.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QrRefundRequest {
    /// The refund's own sequence number (idempotency key), from the same
    /// counter as payments.
    pub refund_seq: u32,
    /// The paid order, by its seq or its ID (exactly one).
    #[serde(default)]
    pub seq: Option<u32>,
    #[serde(default)]
    pub order_id: Option<String>,
    pub amount_minor: u64,
}

/// A refund of a QR payment, stored and answered the same when repeated.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct QrRefund {
    pub refund_id: String,
    pub refund_seq: u32,
    pub order_id: String,
    pub out_trade_no: String,
    /// The payment refunded.
    pub payment_id: String,
    pub amount_minor: u64,
    pub currency: u16,
    /// All refunds of the payment so far, this one included.
    pub refunded_total_minor: i64,
    pub wallet: Option<String>,
    pub masked_code: Option<String>,
    pub status: String,
}

async fn refunded_total(tx: &mut Transaction<'_, Any>, payment_id: &str) -> ApiResult<i64> {
    let r: AnyRow = sqlx::query(
        "SELECT CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) AS total FROM payments \
         WHERE kind = 'refund' AND status = 'approved' AND original_payment_id = $1",
    )
    .bind(payment_id)
    .fetch_one(&mut **tx)
    .await?;
    Ok(col(&r, "total")?)
}

async fn stored_refund(st: &Shared, terminal_id: &str, seq: u32) -> ApiResult<Option<QrRefund>> {
    let row: Option<AnyRow> = sqlx::query(
        "SELECT response_json FROM payments WHERE terminal_id = $1 AND kind = 'refund' AND tsc = $2",
    )
    .bind(terminal_id)
    .bind(i64::from(seq))
    .fetch_optional(&st.store.pool)
    .await?;
    let Some(r) = row else { return Ok(None) };
    let json: String = col(&r, "response_json")?;
    serde_json::from_str(&json).map(Some).map_err(|_| {
        ApiError::conflict(
            "refund_seq_reused",
            format!("refund_seq {seq} was already used for a card refund"),
        )
    })
}

/// `POST /v1/qr/refunds`: refunds (part of) a paid, unreversed QR order;
/// the refunds of an order never total more than it. Idempotent by
/// refund_seq. A refund is a payments row of kind `refund`, as for cards.
pub async fn refund(
    State(st): State<Shared>,
    req: Attested<QrRefundRequest>,
) -> ApiResult<Json<QrRefund>> {
    let t = &req.terminal;
    let b = &req.body;
    if let Some(prev) = stored_refund(&st, &t.id, b.refund_seq).await? {
        return Ok(Json(prev));
    }
    let order = find(
        &st,
        t,
        &OrderRef {
            seq: b.seq,
            order_id: b.order_id.clone(),
            reason: None,
        },
    )
    .await?;
    let (Some(pid), true) = (order.payment_id.clone(), order.status == status::SUCCESS) else {
        return Err(ApiError::conflict(
            "not_refundable",
            format!(
                "only a paid QR order can be refunded; this one is {}",
                order.status
            ),
        ));
    };
    let amount = i64::try_from(b.amount_minor)
        .map_err(|_| ApiError::unprocessable("invalid_amount", "amount too large"))?;
    let now = st.clock.now_ms();
    let mut tx = st.store.begin().await?;
    // Touching the order locks its row: refunds of one order, and a cancel
    // racing them, run one after the other, so the total check holds.
    let open =
        sqlx::query("UPDATE qr_orders SET updated_ms = $1 WHERE id = $2 AND status = 'SUCCESS'")
            .bind(now)
            .bind(&order.id)
            .execute(&mut *tx)
            .await?;
    if open.rows_affected() != 1 {
        return Err(ApiError::conflict(
            "not_refundable",
            "this QR order was reversed meanwhile; nothing to refund",
        ));
    }
    let already = refunded_total(&mut tx, &pid).await?;
    if amount <= 0 || already.saturating_add(amount) > order.amount_minor {
        return Err(ApiError::unprocessable(
            "refund_exceeds_payment",
            format!(
                "refunds would total more than the payment ({}, {already} already refunded)",
                order.amount_minor
            ),
        ));
    }
    let (m, history_seq) = crate::merchant::load_terms(&mut *tx, &order.merchant_id).await?;
    let refund_id = new_id("ref");
    let resp = QrRefund {
        refund_id: refund_id.clone(),
        refund_seq: b.refund_seq,
        order_id: order.id.clone(),
        out_trade_no: order.out_trade_no.clone(),
        payment_id: pid.clone(),
        amount_minor: b.amount_minor,
        currency: order.currency,
        refunded_total_minor: already.saturating_add(amount),
        wallet: order.wallet.clone(),
        masked_code: order.masked_code.clone(),
        status: "approved".into(),
    };
    let ins = sqlx::query(
        "INSERT INTO payments (id, terminal_id, merchant_id, tsc, kind, channel, status, amount_minor, currency, mcc, fee_bps, history_seq, \
         pan_token, masked_pan, response_code, reason, response_json, created_ms, business_date, settlement_id, original_payment_id) \
         VALUES ($1, $2, $3, $4, 'refund', $5, 'approved', $6, $7, $8, $9, $10, $11, $12, '00', $13, $14, $15, $16, NULL, $17)",
    )
    .bind(&refund_id)
    .bind(&t.id)
    .bind(&m.id)
    .bind(i64::from(b.refund_seq))
    .bind(format!("qr_{}", order.kind))
    .bind(amount)
    .bind(i64::from(order.currency))
    .bind(&order.mcc)
    .bind(m.fee_bps)
    .bind(history_seq)
    .bind(order.code_hash.clone().unwrap_or_default())
    .bind(order.masked_code.clone().unwrap_or_default())
    .bind(format!("refund of QR {}", order.out_trade_no))
    .bind(serde_json::to_string(&resp).map_err(ApiError::internal)?)
    .bind(now)
    .bind(date_of_ms(now))
    .bind(&pid)
    .execute(&mut *tx)
    .await;
    match ins {
        Ok(_) => {
            tx.commit().await?;
            tracing::info!(terminal_id = %t.id, out_trade_no = %order.out_trade_no, amount, "qr refund");
            Ok(Json(resp))
        }
        Err(e) if is_unique_violation(&e) => {
            tx.rollback().await?;
            stored_refund(&st, &t.id, b.refund_seq)
                .await?
                .map(Json)
                .ok_or_else(|| ApiError::internal("duplicate refund without stored answer"))
        }
        Err(e) => Err(e.into()),
    }
}
