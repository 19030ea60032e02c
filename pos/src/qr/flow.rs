//! QR payments with the acquirer, as use cases without I/O of their own:
//! the acquirer is an [`Acquirer`] and time a [`Waiter`], so tests drive the
//! flows with scripted answers and a virtual clock.
//!
//! - Merchant-presented ([`merchant_presented`]): create an order, build the
//!   EMVCo payload from it (merchant account, amount, bill number 62.01,
//!   order ID 62.05, CRC), show it, then query with backoff until the order
//!   is paid, refused, cancelled or expired; on our own timeout, cancel,
//!   which reverses a payment that landed meanwhile.
//! - Consumer-presented ([`consumer_presented`]): recognise the scanned code,
//!   micropay, and while the wallet answers USERPAYING query at intervals up
//!   to the timeout; then cancel, which reverses if it had been paid.
//!
//! Every request carries the terminal's sequence number, the acquirer's
//! idempotency key, so a request whose answer was lost is sent again as is
//! and can never charge twice. QR payments are never taken offline: if the
//! acquirer cannot be reached the flow refuses with [`QrFlowError::Offline`]
//! and nothing is queued.

use super::customer::CustomerCode;
use super::mpm::{DataObject, MerchantAccount, MerchantPayload, MerchantProfile, PaymentRequest};
use crate::sync::SyncError;
use kernel::money::{Amount, Currency};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The acquirer, as the flows need it: one signed call. [`crate::sync::Client`]
/// is the real one.
pub trait Acquirer {
    fn call(&mut self, method: &str, path: &str, body: &Value) -> Result<Value, SyncError>;
}

impl Acquirer for crate::sync::Client {
    fn call(&mut self, method: &str, path: &str, body: &Value) -> Result<Value, SyncError> {
        crate::sync::Client::call(self, method, path, body)
    }
}

/// Time, injected: the system clock, or a virtual one in tests.
pub trait Waiter {
    fn now_ms(&self) -> u64;
    fn sleep(&mut self, d: Duration);
}

/// The system clock and `thread::sleep`.
#[derive(Debug, Default)]
pub struct SystemWaiter;

impl Waiter for SystemWaiter {
    fn now_ms(&self) -> u64 {
        crate::sync::now_ms()
    }
    fn sleep(&mut self, d: Duration) {
        std::thread::sleep(d);
    }
}

/// The merchant's "Cancel" for a sale in progress, from another thread
/// (the app's button). The flow checks it between queries, at least every
/// [`CANCEL_CHECK`], then cancels the order at the acquirer, which reverses
/// a payment that landed meanwhile: one end, decided by the acquirer.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    pub fn new() -> CancelToken {
        CancelToken::default()
    }
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// How long a press of Cancel may wait to be seen.
pub const CANCEL_CHECK: Duration = Duration::from_millis(100);

/// Sleeps `d`, in slices, returning early once `cancel` is set.
fn sleep_unless_cancelled(waiter: &mut dyn Waiter, d: Duration, cancel: &CancelToken) {
    let end = waiter
        .now_ms()
        .saturating_add(u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let slice = u64::try_from(CANCEL_CHECK.as_millis()).unwrap_or(100);
    loop {
        let now = waiter.now_ms();
        if cancel.is_cancelled() || now >= end {
            return;
        }
        waiter.sleep(Duration::from_millis(end.saturating_sub(now).min(slice)));
    }
}

/// How often and how long to ask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Polling {
    /// First wait before a query.
    pub first: Duration,
    /// Each wait is this many percent of the one before (150 = x1.5).
    pub growth_percent: u32,
    /// Longest wait between queries.
    pub max: Duration,
    /// Give up on the customer after this long, then cancel.
    pub timeout: Duration,
    /// Sends of one request whose answer is lost before we give up on it.
    pub attempts: u32,
}

impl Default for Polling {
    fn default() -> Polling {
        Polling {
            first: Duration::from_secs(1),
            growth_percent: 150,
            max: Duration::from_secs(5),
            timeout: Duration::from_secs(120),
            attempts: 4,
        }
    }
}

impl Polling {
    fn next(&self, d: Duration) -> Duration {
        let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let grown = ms.saturating_mul(u64::from(self.growth_percent)) / 100;
        Duration::from_millis(grown).min(self.max).max(d)
    }
}

/// What the merchant-presented code must carry, from the acquirer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MerchantAccountInfo {
    pub template_id: u8,
    pub gui: String,
    pub merchant_account: String,
    pub merchant_name: String,
    pub merchant_city: String,
    pub country_code: String,
    pub mcc: String,
}

/// A QR order as the acquirer answers it (`QrOrder` in openapi.yaml).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub order_id: String,
    pub out_trade_no: String,
    pub seq: u32,
    pub kind: String,
    pub status: String,
    #[serde(default)]
    pub reason: String,
    pub amount_minor: u64,
    pub currency: u16,
    pub bill_number: String,
    #[serde(default)]
    pub created_ms: i64,
    #[serde(default)]
    pub expires_ms: i64,
    #[serde(default)]
    pub wallet: Option<String>,
    #[serde(default)]
    pub masked_code: Option<String>,
    #[serde(default)]
    pub payment_id: Option<String>,
    #[serde(default)]
    pub fee_minor: Option<i64>,
    #[serde(default)]
    pub net_minor: Option<i64>,
    #[serde(default)]
    pub business_date: Option<String>,
    #[serde(default)]
    pub settlement_date: Option<String>,
    #[serde(default)]
    pub merchant: Option<MerchantAccountInfo>,
}

impl Order {
    fn is_open(&self) -> bool {
        matches!(self.status.as_str(), "NOTPAY" | "USERPAYING")
    }
}

/// What happened, for the app to show as it happens.
#[derive(Debug)]
pub enum QrEvent<'a> {
    /// Show this merchant-presented payload to the customer.
    Show { payload: &'a str, order: &'a Order },
    /// The order's status changed (first answer included).
    Status(&'a Order),
    /// We gave up waiting (or the merchant pressed Cancel) and are
    /// cancelling.
    Cancelling { why: &'a str },
}

/// Which way the code went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum QrFlow {
    MerchantPresented,
    ConsumerPresented,
}

/// How a QR payment ended, for the merchant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum QrOutcome {
    /// The wallet paid; the money settles like a card payment.
    Paid,
    /// The wallet refused (balance, expired code, customer declined).
    Declined,
    /// Cancelled before anything was paid (our timeout, or the merchant).
    Cancelled,
    /// Nobody paid the order in its lifetime.
    Expired,
    /// Paid, then cancelled: the payment was reversed.
    Reversed,
    /// We could not learn the end state (answers lost); query the order by
    /// its seq later. Nothing may be handed over.
    Unknown,
}

/// Everything history and receipts need about one QR payment.
#[derive(Debug, Clone, Serialize)]
pub struct QrResult {
    pub flow: QrFlow,
    pub outcome: QrOutcome,
    pub terminal_id: String,
    /// The terminal's sequence number and the acquirer's idempotency key
    /// built from it.
    pub seq: u32,
    pub out_trade_no: String,
    pub order_id: Option<String>,
    /// The acquirer's last status (`SUCCESS`, `USERPAYING`, ...).
    pub acquirer_status: Option<String>,
    /// `alipay`, `wechat_pay`, `unionpay`, `emv_cpm`.
    pub wallet: Option<String>,
    /// The customer's code, masked; never in clear.
    pub masked_code: Option<String>,
    pub amount_minor: u64,
    /// ISO 4217 numeric.
    pub currency: u16,
    pub bill_number: Option<String>,
    pub payment_id: Option<String>,
    pub fee_minor: Option<i64>,
    pub net_minor: Option<i64>,
    pub business_date: Option<String>,
    pub settlement_date: Option<String>,
    /// The merchant-presented payload that was shown.
    pub payload: Option<String>,
    /// The acquirer's reason for the status.
    pub reason: String,
    /// One line for the merchant.
    pub message: String,
}

/// Why a QR payment could not be attempted or followed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QrFlowError {
    /// The acquirer cannot be reached; nothing was sent and nothing queued.
    #[error("QR payments need the acquirer online and are never queued offline; nothing was charged: {0}")]
    Offline(String),
    /// The scanned text is no customer code.
    #[error("{0}")]
    Code(#[from] super::CustomerCodeError),
    /// The acquirer refused the request (`{ code, message }`).
    #[error("the acquirer refused the QR payment ({code}): {message}")]
    Refused { code: String, message: String },
    /// The acquirer's order could not be turned into a code, or its answer
    /// had the wrong shape.
    #[error("acquirer answered something unusable: {0}")]
    Protocol(String),
}

/// One sale: what both flows start from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sale {
    pub terminal_id: String,
    /// A fresh sequence number from the terminal's durable counter.
    pub seq: u32,
    pub amount_minor: u64,
    /// ISO 4217 numeric.
    pub currency: u16,
}

impl Sale {
    fn out_trade_no(&self) -> String {
        format!("{}-{:010}", self.terminal_id, self.seq)
    }
}

/// A request that may have been sent: its answer, or how it failed.
enum Sent {
    Answer(Box<Order>),
    /// Not one attempt reached the acquirer.
    Unsent(String),
    /// Sent at least once; every answer was lost.
    Lost(String),
}

/// Sends one idempotent request, again with the same body while its answer
/// is lost (the acquirer answers a repeat with the order as it stands).
fn send(
    acq: &mut dyn Acquirer,
    waiter: &mut dyn Waiter,
    poll: &Polling,
    path: &str,
    body: &Value,
) -> Result<Sent, QrFlowError> {
    let mut maybe_sent = false;
    let mut last = String::new();
    let mut wait = poll.first;
    for attempt in 0..poll.attempts.max(1) {
        if attempt > 0 {
            waiter.sleep(wait);
            wait = poll.next(wait);
        }
        match acq.call("POST", path, body) {
            Ok(v) => {
                return serde_json::from_value(v)
                    .map(|o| Sent::Answer(Box::new(o)))
                    .map_err(|e| QrFlowError::Protocol(format!("{path}: {e}")))
            }
            // Nothing went out: an offline refusal needs no second try.
            Err(SyncError::Unreachable(why)) if !maybe_sent => return Ok(Sent::Unsent(why)),
            Err(SyncError::Unreachable(why)) | Err(SyncError::NoAnswer(why)) => {
                maybe_sent = true;
                last = why;
            }
            Err(SyncError::Refused { code, message, .. }) => {
                return Err(QrFlowError::Refused { code, message })
            }
            Err(SyncError::Protocol(why)) => return Err(QrFlowError::Protocol(why)),
            Err(SyncError::Local(why)) => return Err(QrFlowError::Protocol(why)),
        }
    }
    Ok(Sent::Lost(last))
}

/// The merchant-presented payload for an order.
pub fn payload_for(order: &Order, terminal_label: Option<&str>) -> Result<String, QrFlowError> {
    let m = order.merchant.as_ref().ok_or_else(|| {
        QrFlowError::Protocol("order without merchant account information".into())
    })?;
    let bad =
        |e: &dyn std::fmt::Display| QrFlowError::Protocol(format!("order {}: {e}", order.order_id));
    let currency = Currency::from_numeric(order.currency).map_err(|e| bad(&e))?;
    let amount = Amount::new(order.amount_minor, currency).map_err(|e| bad(&e))?;
    let profile = MerchantProfile {
        name: m.merchant_name.clone(),
        city: m.merchant_city.clone(),
        country: m.country_code.clone(),
        mcc: m.mcc.clone(),
        postal_code: None,
        accounts: vec![MerchantAccount::Template {
            id: m.template_id,
            gui: m.gui.clone(),
            fields: vec![DataObject::primitive(1, m.merchant_account.clone())],
        }],
        language: None,
    };
    MerchantPayload::for_payment(
        &profile,
        &PaymentRequest {
            amount,
            bill_number: Some(order.bill_number.clone()),
            reference_label: Some(order.order_id.clone()),
            terminal_label: terminal_label.map(str::to_string),
        },
    )
    .encode()
    .map_err(|e| bad(&e))
}

fn outcome_of(status: &str) -> QrOutcome {
    match status {
        "SUCCESS" => QrOutcome::Paid,
        "FAIL" => QrOutcome::Declined,
        "CLOSED" => QrOutcome::Cancelled,
        "EXPIRED" => QrOutcome::Expired,
        "REVERSED" => QrOutcome::Reversed,
        _ => QrOutcome::Unknown,
    }
}

fn message_of(outcome: QrOutcome, order: Option<&Order>) -> String {
    let reason = order.map(|o| o.reason.as_str()).unwrap_or("");
    match outcome {
        QrOutcome::Paid => format!(
            "paid with {}",
            order
                .and_then(|o| o.wallet.as_deref())
                .unwrap_or("a wallet")
        ),
        QrOutcome::Declined => format!("declined by the wallet: {reason}"),
        QrOutcome::Cancelled => format!("not paid: {reason}"),
        QrOutcome::Expired => "not paid: the order expired".into(),
        QrOutcome::Reversed => format!("not paid: {reason}"),
        QrOutcome::Unknown => "state unknown: the acquirer's answers were lost; do not hand over the goods, query this order later".into(),
    }
}

fn result(
    flow: QrFlow,
    sale: &Sale,
    order: Option<&Order>,
    outcome: QrOutcome,
    masked_code: Option<String>,
    payload: Option<String>,
    message: Option<String>,
) -> QrResult {
    QrResult {
        flow,
        outcome,
        terminal_id: sale.terminal_id.clone(),
        seq: sale.seq,
        out_trade_no: order.map_or_else(|| sale.out_trade_no(), |o| o.out_trade_no.clone()),
        order_id: order.map(|o| o.order_id.clone()),
        acquirer_status: order.map(|o| o.status.clone()),
        wallet: order.and_then(|o| o.wallet.clone()),
        masked_code: order.and_then(|o| o.masked_code.clone()).or(masked_code),
        amount_minor: sale.amount_minor,
        currency: sale.currency,
        bill_number: order.map(|o| o.bill_number.clone()),
        payment_id: order.and_then(|o| o.payment_id.clone()),
        fee_minor: order.and_then(|o| o.fee_minor),
        net_minor: order.and_then(|o| o.net_minor),
        business_date: order.and_then(|o| o.business_date.clone()),
        settlement_date: order.and_then(|o| o.settlement_date.clone()),
        payload,
        reason: order.map(|o| o.reason.clone()).unwrap_or_default(),
        message: message.unwrap_or_else(|| message_of(outcome, order)),
    }
}

/// Queries an open order until it ends or `deadline_ms` passes; returns the
/// last order seen (maybe still open).
fn follow(
    acq: &mut dyn Acquirer,
    waiter: &mut dyn Waiter,
    poll: &Polling,
    mut order: Order,
    deadline_ms: u64,
    cancel: &CancelToken,
    on_event: &mut dyn FnMut(&QrEvent<'_>),
) -> Result<Order, QrFlowError> {
    let mut wait = poll.first;
    let by_seq = json!({ "seq": order.seq });
    while order.is_open() && !cancel.is_cancelled() {
        let now = waiter.now_ms();
        if now >= deadline_ms {
            break;
        }
        let left = Duration::from_millis(deadline_ms.saturating_sub(now));
        sleep_unless_cancelled(waiter, wait.min(left), cancel);
        if cancel.is_cancelled() {
            break;
        }
        wait = poll.next(wait);
        // A lost answer is retried at the next tick: a query changes
        // nothing that a repeat could double.
        match acq.call("POST", "/v1/qr/query", &by_seq) {
            Ok(v) => {
                let next: Order = serde_json::from_value(v)
                    .map_err(|e| QrFlowError::Protocol(format!("query: {e}")))?;
                if next.status != order.status {
                    on_event(&QrEvent::Status(&next));
                }
                order = next;
            }
            Err(SyncError::Unreachable(_)) | Err(SyncError::NoAnswer(_)) => {}
            Err(SyncError::Refused { code, message, .. }) => {
                return Err(QrFlowError::Refused { code, message })
            }
            Err(SyncError::Protocol(why)) | Err(SyncError::Local(why)) => {
                return Err(QrFlowError::Protocol(why))
            }
        }
    }
    Ok(order)
}

/// Cancels an order that is still open after our timeout or the
/// merchant's Cancel. The cancel reverses a payment that landed in the
/// meantime.
fn cancel_open(
    acq: &mut dyn Acquirer,
    waiter: &mut dyn Waiter,
    poll: &Polling,
    order: Order,
    by_merchant: bool,
    on_event: &mut dyn FnMut(&QrEvent<'_>),
) -> Result<(Order, bool), QrFlowError> {
    if !order.is_open() {
        return Ok((order, true));
    }
    let (why, reason) = if by_merchant {
        ("the merchant cancelled the sale", "merchant")
    } else {
        ("the customer did not pay in time", "timeout")
    };
    on_event(&QrEvent::Cancelling { why });
    let body = json!({ "seq": order.seq, "reason": reason });
    match send(acq, waiter, poll, "/v1/qr/cancel", &body)? {
        Sent::Answer(o) => {
            on_event(&QrEvent::Status(&o));
            Ok((*o, true))
        }
        Sent::Unsent(_) | Sent::Lost(_) => Ok((order, false)),
    }
}

/// Ends a flow from the last order seen: open after a failed cancel means
/// we do not know.
fn finish(
    flow: QrFlow,
    sale: &Sale,
    order: &Order,
    settled: bool,
    masked_code: Option<String>,
    payload: Option<String>,
) -> QrResult {
    let outcome = if settled {
        outcome_of(&order.status)
    } else {
        QrOutcome::Unknown
    };
    result(flow, sale, Some(order), outcome, masked_code, payload, None)
}

/// Merchant-presented: create the order, show its code, wait for a wallet
/// to pay it, cancel on timeout.
pub fn merchant_presented(
    acq: &mut dyn Acquirer,
    waiter: &mut dyn Waiter,
    poll: &Polling,
    sale: &Sale,
    on_event: &mut dyn FnMut(&QrEvent<'_>),
) -> Result<QrResult, QrFlowError> {
    merchant_presented_cancellable(acq, waiter, poll, sale, &CancelToken::new(), on_event)
}

/// [`merchant_presented`] that the merchant can cancel with `cancel`.
pub fn merchant_presented_cancellable(
    acq: &mut dyn Acquirer,
    waiter: &mut dyn Waiter,
    poll: &Polling,
    sale: &Sale,
    cancel: &CancelToken,
    on_event: &mut dyn FnMut(&QrEvent<'_>),
) -> Result<QrResult, QrFlowError> {
    let start = waiter.now_ms();
    let ttl_s = poll.timeout.as_secs().clamp(1, 3_600);
    let body = json!({ "seq": sale.seq, "amount_minor": sale.amount_minor,
        "currency": sale.currency, "expires_in_s": ttl_s });
    let order = match send(acq, waiter, poll, "/v1/qr/orders", &body)? {
        Sent::Answer(o) => *o,
        Sent::Unsent(why) => return Err(QrFlowError::Offline(why)),
        // An order nobody saw the code of cannot be paid: nothing to undo.
        Sent::Lost(why) => {
            return Err(QrFlowError::Offline(format!(
                "no answer to the order: {why}"
            )))
        }
    };
    let payload = payload_for(&order, Some(&sale.terminal_id))?;
    on_event(&QrEvent::Show {
        payload: &payload,
        order: &order,
    });
    on_event(&QrEvent::Status(&order));
    let deadline =
        start.saturating_add(u64::try_from(poll.timeout.as_millis()).unwrap_or(u64::MAX));
    let order = follow(acq, waiter, poll, order, deadline, cancel, on_event)?;
    let (order, settled) = cancel_open(acq, waiter, poll, order, cancel.is_cancelled(), on_event)?;
    Ok(finish(
        QrFlow::MerchantPresented,
        sale,
        &order,
        settled,
        None,
        Some(payload),
    ))
}

/// Consumer-presented: charge the scanned code; while the customer confirms
/// in the wallet, query; cancel (which reverses) on timeout.
pub fn consumer_presented(
    acq: &mut dyn Acquirer,
    waiter: &mut dyn Waiter,
    poll: &Polling,
    sale: &Sale,
    scanned: &str,
    on_event: &mut dyn FnMut(&QrEvent<'_>),
) -> Result<QrResult, QrFlowError> {
    consumer_presented_cancellable(
        acq,
        waiter,
        poll,
        sale,
        scanned,
        &CancelToken::new(),
        on_event,
    )
}

/// [`consumer_presented`] that the merchant can cancel with `cancel`
/// while the customer confirms in the wallet.
pub fn consumer_presented_cancellable(
    acq: &mut dyn Acquirer,
    waiter: &mut dyn Waiter,
    poll: &Polling,
    sale: &Sale,
    scanned: &str,
    cancel: &CancelToken,
    on_event: &mut dyn FnMut(&QrEvent<'_>),
) -> Result<QrResult, QrFlowError> {
    let start = waiter.now_ms();
    let code = CustomerCode::parse(scanned)?;
    let masked = code.wallet().map(|(_, c)| c.masked());
    let body = json!({ "seq": sale.seq, "amount_minor": sale.amount_minor,
        "currency": sale.currency, "code": scanned.trim() });
    let order = match send(acq, waiter, poll, "/v1/qr/micropay", &body)? {
        Sent::Answer(o) => *o,
        Sent::Unsent(why) => return Err(QrFlowError::Offline(why)),
        Sent::Lost(_) => {
            // The wallet may have been charged: try to cancel under the
            // same seq, which reverses it if so.
            let probe = Order {
                order_id: String::new(),
                out_trade_no: sale.out_trade_no(),
                seq: sale.seq,
                kind: "cpm".into(),
                status: "USERPAYING".into(),
                reason: String::new(),
                amount_minor: sale.amount_minor,
                currency: sale.currency,
                bill_number: sale.out_trade_no(),
                created_ms: 0,
                expires_ms: 0,
                wallet: None,
                masked_code: masked.clone(),
                payment_id: None,
                fee_minor: None,
                net_minor: None,
                business_date: None,
                settlement_date: None,
                merchant: None,
            };
            return match cancel_open(acq, waiter, poll, probe, false, on_event) {
                Ok((o, true)) => Ok(finish(
                    QrFlow::ConsumerPresented,
                    sale,
                    &o,
                    true,
                    masked,
                    None,
                )),
                Ok((_, false)) | Err(QrFlowError::Refused { .. }) => Ok(result(
                    QrFlow::ConsumerPresented,
                    sale,
                    None,
                    QrOutcome::Unknown,
                    masked,
                    None,
                    None,
                )),
                Err(e) => Err(e),
            };
        }
    };
    on_event(&QrEvent::Status(&order));
    let deadline =
        start.saturating_add(u64::try_from(poll.timeout.as_millis()).unwrap_or(u64::MAX));
    let order = follow(acq, waiter, poll, order, deadline, cancel, on_event)?;
    let (order, settled) = cancel_open(acq, waiter, poll, order, cancel.is_cancelled(), on_event)?;
    Ok(finish(
        QrFlow::ConsumerPresented,
        sale,
        &order,
        settled,
        masked,
        None,
    ))
}

/// Where the terminal is and who it is, as for `softpos pay`.
#[derive(Debug, Clone)]
pub struct TerminalOptions {
    pub acquirer: String,
    pub data_dir: std::path::PathBuf,
    pub activation_code: Option<String>,
    /// SHA-256 of this app's binary, as attestation reports it.
    pub binary_sha256: String,
}

/// What a QR sale asks for, before the terminal gives it a seq.
#[derive(Debug, Clone)]
pub struct QrSaleRequest {
    pub amount_minor: u64,
    /// ISO 4217, alphabetic or numeric; must be the terminal's.
    pub currency: String,
    pub polling: Polling,
}

/// Opens (enrolling on first use) the terminal, checks the sale against its
/// signed configuration and takes a seq from its durable counter (the one
/// card payments use, so no two payments share one).
pub fn prepare(
    opts: &TerminalOptions,
    req: &QrSaleRequest,
) -> Result<(crate::sync::Client, Sale), crate::PosError> {
    use crate::PosError;
    let (client, mut queue) = crate::pay::open_terminal(
        &opts.data_dir,
        &opts.acquirer,
        opts.activation_code.as_deref(),
        &opts.binary_sha256,
    )?;
    let config = client.identity().config().clone();
    let currency =
        Currency::parse(&req.currency).map_err(|e| PosError::Usage(format!("--currency: {e}")))?;
    if currency.numeric != config.currency {
        return Err(PosError::Usage(format!(
            "--currency {}: this terminal is configured for currency {}",
            req.currency, config.currency
        )));
    }
    if req.amount_minor == 0 || req.amount_minor > config.max_amount_minor {
        return Err(PosError::Usage(format!(
            "--amount must be 1 to {} minor units",
            config.max_amount_minor
        )));
    }
    let seq = queue.next_tsc().map_err(|e| PosError::Io(e.to_string()))?;
    let sale = Sale {
        terminal_id: config.terminal_id.clone(),
        seq,
        amount_minor: req.amount_minor,
        currency: config.currency,
    };
    Ok((client, sale))
}

/// A whole QR sale for the app and the CLI: open the terminal, send the
/// cancels an interrupted earlier sale still owes, take a seq, record that
/// this sale owes a cancel until its end is known ([`super::flow_owed`]),
/// run the flow. `scanned` is the customer's code for a consumer-presented
/// sale, `None` for a merchant-presented one.
pub fn run_sale(
    opts: &TerminalOptions,
    req: &QrSaleRequest,
    scanned: Option<&str>,
    on_event: &mut dyn FnMut(&QrEvent<'_>),
) -> Result<QrResult, crate::PosError> {
    run_sale_cancellable(opts, req, scanned, &CancelToken::new(), on_event)
}

/// [`run_sale`] that the merchant can cancel with `cancel` (from another
/// thread) while the customer has not paid: the order is cancelled at the
/// acquirer, which reverses a payment that landed meanwhile, and the end
/// is recorded once like any other.
pub fn run_sale_cancellable(
    opts: &TerminalOptions,
    req: &QrSaleRequest,
    scanned: Option<&str>,
    cancel: &CancelToken,
    on_event: &mut dyn FnMut(&QrEvent<'_>),
) -> Result<QrResult, crate::PosError> {
    use crate::PosError;
    // A misread code is the cashier's to rescan: refused before the
    // terminal spends a seq on it.
    if let Some(code) = scanned {
        CustomerCode::parse(code).map_err(|e| PosError::Io(e.to_string()))?;
    }
    let (mut client, sale) = prepare(opts, req)?;
    let mut owed = super::flow_owed::OwedCancels::open(&opts.data_dir)?;
    owed.settle(&mut client)?;
    owed.arm(sale.seq)?;
    let mut waiter = SystemWaiter;
    let r = match scanned {
        Some(code) => consumer_presented_cancellable(
            &mut client,
            &mut waiter,
            &req.polling,
            &sale,
            code,
            cancel,
            on_event,
        ),
        None => merchant_presented_cancellable(
            &mut client,
            &mut waiter,
            &req.polling,
            &sale,
            cancel,
            on_event,
        ),
    };
    // Only a known end releases the sale; anything else leaves the cancel
    // owed (a cancel of an order that never reached the acquirer, or of
    // one already closed, changes nothing).
    if matches!(&r, Ok(res) if res.outcome != QrOutcome::Unknown) {
        owed.disarm(sale.seq)?;
    }
    let r = r.map_err(|e| PosError::Io(e.to_string()))?;
    let fee_bps = client.identity().config().fee_bps;
    crate::history::History::open_in(&opts.data_dir)
        .and_then(|mut h| crate::history::record_qr(&mut h, &r, fee_bps, crate::sync::now_ms()))
        .map_err(|e| {
            PosError::Io(format!(
                "QR payment {:?} not written to the history: {e}",
                r.outcome
            ))
        })?;
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    /// Scripted answers per path, and a log of what was sent.
    struct Script {
        answers: VecDeque<(&'static str, Result<Value, SyncError>)>,
        sent: Vec<(String, Value)>,
    }

    impl Acquirer for Script {
        fn call(&mut self, _: &str, path: &str, body: &Value) -> Result<Value, SyncError> {
            self.sent.push((path.to_string(), body.clone()));
            match self.answers.pop_front() {
                Some((p, a)) => {
                    assert_eq!(p, path, "unexpected request");
                    a
                }
                None => panic!("no answer scripted for {path}"),
            }
        }
    }

    struct Virtual {
        now: u64,
    }

    impl Waiter for Virtual {
        fn now_ms(&self) -> u64 {
            self.now
        }
        fn sleep(&mut self, d: Duration) {
            self.now += u64::try_from(d.as_millis()).unwrap();
        }
    }

    fn order(status: &str) -> Value {
        json!({ "order_id": "QABC", "out_trade_no": "T1-0000000007", "seq": 7, "kind": "cpm",
            "status": status, "reason": "r", "amount_minor": 500, "currency": 978,
            "bill_number": "T1-0000000007", "wallet": "alipay", "masked_code": "2812********0000",
            "payment_id": if status == "SUCCESS" { json!("pay_1") } else { Value::Null },
            "fee_minor": if status == "SUCCESS" { json!(8) } else { Value::Null } })
    }

    fn sale() -> Sale {
        Sale {
            terminal_id: "T1".into(),
            seq: 7,
            amount_minor: 500,
            currency: 978,
        }
    }

    const ALIPAY: &str = "2812345678901230000";

    fn run(
        script: Vec<(&'static str, Result<Value, SyncError>)>,
        timeout_s: u64,
    ) -> (Result<QrResult, QrFlowError>, Script, u64) {
        let mut acq = Script {
            answers: script.into(),
            sent: Vec::new(),
        };
        let mut clock = Virtual { now: 1_000 };
        let poll = Polling {
            timeout: Duration::from_secs(timeout_s),
            ..Polling::default()
        };
        let r = consumer_presented(&mut acq, &mut clock, &poll, &sale(), ALIPAY, &mut |_| {});
        (r, acq, clock.now)
    }

    fn lost() -> Result<Value, SyncError> {
        Err(SyncError::NoAnswer("reset".into()))
    }

    #[test]
    fn a_lost_answer_is_resent_with_the_same_seq() {
        let (r, acq, _) = run(
            vec![
                ("/v1/qr/micropay", lost()),
                ("/v1/qr/micropay", Ok(order("SUCCESS"))),
            ],
            30,
        );
        let r = r.unwrap();
        assert_eq!(r.outcome, QrOutcome::Paid);
        assert_eq!(r.fee_minor, Some(8));
        assert_eq!(acq.sent.len(), 2);
        assert_eq!(acq.sent[0].1, acq.sent[1].1, "the very same request");
        assert!(!serde_json::to_string(&r).unwrap().contains(ALIPAY));
    }

    #[test]
    fn offline_is_refused_at_once_and_nothing_else_is_sent() {
        let (r, acq, _) = run(
            vec![(
                "/v1/qr/micropay",
                Err(SyncError::Unreachable("refused".into())),
            )],
            30,
        );
        assert!(matches!(r, Err(QrFlowError::Offline(_))), "{r:?}");
        assert_eq!(acq.sent.len(), 1);
    }

    #[test]
    fn userpaying_is_queried_until_success() {
        let (r, acq, _) = run(
            vec![
                ("/v1/qr/micropay", Ok(order("USERPAYING"))),
                ("/v1/qr/query", Ok(order("USERPAYING"))),
                ("/v1/qr/query", lost()),
                ("/v1/qr/query", Ok(order("SUCCESS"))),
            ],
            30,
        );
        assert_eq!(r.unwrap().outcome, QrOutcome::Paid);
        assert_eq!(acq.sent.len(), 4);
    }

    /// A wallet that never confirms; the cancel answers `cancel_answer`.
    struct Stubborn {
        sent: Vec<String>,
        cancel_answer: &'static str,
    }

    impl Acquirer for Stubborn {
        fn call(&mut self, _: &str, path: &str, _: &Value) -> Result<Value, SyncError> {
            self.sent.push(path.to_string());
            match path {
                "/v1/qr/cancel" => Ok(order(self.cancel_answer)),
                _ => Ok(order("USERPAYING")),
            }
        }
    }

    #[test]
    fn timeout_cancels_and_a_late_payment_is_reversed() {
        let poll = Polling {
            timeout: Duration::from_secs(10),
            ..Polling::default()
        };
        for (answer, outcome) in [
            ("REVERSED", QrOutcome::Reversed),
            ("CLOSED", QrOutcome::Cancelled),
        ] {
            let mut acq = Stubborn {
                sent: Vec::new(),
                cancel_answer: answer,
            };
            let mut clock = Virtual { now: 0 };
            let mut events = Vec::new();
            let r = consumer_presented(&mut acq, &mut clock, &poll, &sale(), ALIPAY, &mut |e| {
                events.push(format!("{e:?}"))
            })
            .unwrap();
            assert_eq!(r.outcome, outcome);
            // Cancelled once the deadline passed, not before, and once.
            assert!((10_000..11_000).contains(&clock.now), "{}", clock.now);
            assert_eq!(acq.sent.last().map(String::as_str), Some("/v1/qr/cancel"));
            assert_eq!(acq.sent.iter().filter(|p| *p == "/v1/qr/cancel").count(), 1);
            let queries = acq.sent.iter().filter(|p| *p == "/v1/qr/query").count();
            assert!((4..=8).contains(&queries), "{queries} queries in 10 s");
            assert!(events.iter().any(|e| e.starts_with("Cancelling")));
        }
    }

    /// A wallet that never confirms, whose merchant presses Cancel at the
    /// second query.
    struct Impatient {
        sent: Vec<(String, Value)>,
        cancel: CancelToken,
        cancel_answer: &'static str,
    }

    impl Acquirer for Impatient {
        fn call(&mut self, _: &str, path: &str, body: &Value) -> Result<Value, SyncError> {
            self.sent.push((path.to_string(), body.clone()));
            if self
                .sent
                .iter()
                .filter(|(p, _)| p == "/v1/qr/query")
                .count()
                == 2
            {
                self.cancel.cancel();
            }
            match path {
                "/v1/qr/cancel" => Ok(order(self.cancel_answer)),
                _ => Ok(order("USERPAYING")),
            }
        }
    }

    #[test]
    fn the_merchants_cancel_stops_the_wait_and_cancels_once() {
        let poll = Polling {
            timeout: Duration::from_secs(120),
            ..Polling::default()
        };
        for (answer, outcome) in [
            ("CLOSED", QrOutcome::Cancelled),
            // The customer paid between the last query and the cancel.
            ("REVERSED", QrOutcome::Reversed),
        ] {
            let mut acq = Impatient {
                sent: Vec::new(),
                cancel: CancelToken::new(),
                cancel_answer: answer,
            };
            let token = acq.cancel.clone();
            let mut clock = Virtual { now: 0 };
            let mut whys = Vec::new();
            let r = consumer_presented_cancellable(
                &mut acq,
                &mut clock,
                &poll,
                &sale(),
                ALIPAY,
                &token,
                &mut |e| {
                    if let QrEvent::Cancelling { why } = e {
                        whys.push(why.to_string());
                    }
                },
            )
            .unwrap();
            assert_eq!(r.outcome, outcome);
            assert!(clock.now < 10_000, "long before the timeout: {}", clock.now);
            let cancels: Vec<_> = acq
                .sent
                .iter()
                .filter(|(p, _)| p == "/v1/qr/cancel")
                .collect();
            assert_eq!(cancels.len(), 1);
            assert_eq!(cancels[0].1["reason"], "merchant");
            assert_eq!(
                acq.sent.last().map(|(p, _)| p.as_str()),
                Some("/v1/qr/cancel")
            );
            assert_eq!(whys, ["the merchant cancelled the sale"]);
        }
        // Tampered twin: without the Cancel the same wallet runs to the
        // timeout, and the cancel says so.
        let mut acq = Stubborn {
            sent: Vec::new(),
            cancel_answer: "CLOSED",
        };
        let mut clock = Virtual { now: 0 };
        let short = Polling {
            timeout: Duration::from_secs(10),
            ..Polling::default()
        };
        consumer_presented(&mut acq, &mut clock, &short, &sale(), ALIPAY, &mut |_| {}).unwrap();
        assert!(clock.now >= 10_000);
    }

    #[test]
    fn a_cancel_that_gets_no_answer_leaves_the_state_unknown() {
        let poll = Polling {
            timeout: Duration::from_secs(1),
            attempts: 2,
            ..Polling::default()
        };
        let mut acq = Script {
            answers: vec![
                ("/v1/qr/micropay", Ok(order("USERPAYING"))),
                ("/v1/qr/query", Ok(order("USERPAYING"))),
                ("/v1/qr/cancel", lost()),
                ("/v1/qr/cancel", lost()),
            ]
            .into(),
            sent: Vec::new(),
        };
        let mut clock = Virtual { now: 0 };
        let r =
            consumer_presented(&mut acq, &mut clock, &poll, &sale(), ALIPAY, &mut |_| {}).unwrap();
        assert_eq!(r.outcome, QrOutcome::Unknown);
        assert!(r.message.contains("do not hand over"));
    }

    #[test]
    fn a_bad_code_never_reaches_the_acquirer() {
        let mut acq = Script {
            answers: VecDeque::new(),
            sent: Vec::new(),
        };
        let mut clock = Virtual { now: 0 };
        let r = consumer_presented(
            &mut acq,
            &mut clock,
            &Polling::default(),
            &sale(),
            "9912345678901234567",
            &mut |_| {},
        );
        assert!(matches!(r, Err(QrFlowError::Code(_))));
        assert!(acq.sent.is_empty());
    }

    #[test]
    fn the_payload_carries_the_order() {
        let mut o: Order = serde_json::from_value(order("NOTPAY")).unwrap();
        o.kind = "mpm".into();
        o.merchant = Some(MerchantAccountInfo {
            template_id: 26,
            gui: "com.softpos.acquirer".into(),
            merchant_account: "mer_1".into(),
            merchant_name: "Tea House".into(),
            merchant_city: "SOFTPOS".into(),
            country_code: "XX".into(),
            mcc: "5814".into(),
        });
        let p = payload_for(&o, Some("T1")).unwrap();
        let parsed = crate::qr::mpm::parse(&p).unwrap().payload;
        let add = parsed.additional.unwrap();
        assert_eq!(add.bill_number.as_deref(), Some("T1-0000000007"));
        assert_eq!(add.reference_label.as_deref(), Some("QABC"));
        assert_eq!(parsed.amount.unwrap().minor, 500);
        assert_eq!(parsed.mcc, "5814");
        // Tampered twin: a payload edited after the CRC fails to parse.
        let edited = p.replacen("Tea House", "Tea Housf", 1);
        assert!(crate::qr::mpm::parse(&edited).is_err());
        // An order without merchant information cannot become a code.
        o.merchant = None;
        assert!(matches!(
            payload_for(&o, None),
            Err(QrFlowError::Protocol(_))
        ));
    }
}
