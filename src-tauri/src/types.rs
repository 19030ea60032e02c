//! What crosses the bridge between the window and the shell: command
//! answers, errors and event payloads. TypeScript declarations for these
//! are generated into `ui/src/generated/types.ts`; a test fails when the
//! committed file is stale, so the two sides cannot drift apart.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// Everything the window needs to draw its screens after a start or a
/// change.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct AppStatus {
    /// Demo mode: embedded acquirer and virtual cards.
    pub demo: bool,
    /// `None` until the terminal is enrolled.
    pub enrollment: Option<Enrollment>,
    /// The demo acquirer's fresh activation code, shown prefilled.
    pub prefilled_code: Option<String>,
    /// The acquirer this terminal talks to.
    pub acquirer_url: String,
    pub readers: Vec<ReaderInfo>,
    /// Why hardware readers may be missing from `readers` (pcscd not
    /// running, nothing attached); empty when every scan found one.
    pub reader_notes: Vec<HwNote>,
    /// Virtual cards the simulator can present (demo mode).
    pub virtual_cards: Vec<VirtualCard>,
    pub settings: Settings,
    pub offline: OfflineStatus,
    pub attestation: AttestationStatus,
}

/// The merchant and terminal the acquirer's signed configuration names.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct Enrollment {
    pub terminal_id: String,
    pub merchant_id: String,
    pub merchant_name: String,
    pub mcc: String,
    pub acquirer_url: String,
    pub currency: CurrencyInfo,
    pub max_amount_minor: u64,
    pub offline_limit_minor: u64,
}

/// A currency as the amount keypad needs it.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct CurrencyInfo {
    /// ISO 4217 alphabetic code, "EUR".
    pub alpha: String,
    pub numeric: u16,
    /// Digits after the decimal point (2 for EUR, 0 for JPY).
    pub exponent: u8,
}

#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ReaderInfo {
    /// "sim", "pcsc:<name>", "nfc:<connstring>".
    pub id: String,
    pub label: String,
    pub simulated: bool,
}

#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct VirtualCard {
    /// The cardsim profile name, "visa-cvn18".
    pub profile: String,
    pub description: String,
}

/// The merchant's choices, kept in the app's data directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase", default)]
pub struct Settings {
    /// Reader id from [`AppStatus::readers`]; `None` until chosen.
    pub reader: Option<String>,
    /// The virtual card the simulator presents.
    pub virtual_card: String,
    /// "en" or "zh-CN".
    pub language: String,
    pub sounds: bool,
    /// First lines of every receipt.
    pub receipt_header: String,
    /// Where "Print" writes a receipt's ESC/POS bytes (`/dev/usb/lp0`, a
    /// serial port, a file), or "cups:<queue>" for a system printer (the
    /// receipt's PDF goes to `lp`); empty when no printer is configured.
    pub printer_device: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            reader: None,
            virtual_card: "visa-cvn18".into(),
            language: "en".into(),
            sounds: true,
            receipt_header: String::new(),
            printer_device: String::new(),
        }
    }
}

/// The store-and-forward queue at a glance.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct OfflineStatus {
    /// Payments waiting to be sent to the acquirer.
    pub queued: u64,
    /// When a sync last reached the acquirer (ms since 1970).
    pub last_sync_ms: Option<u64>,
    /// Demo mode's network switch; always true outside demo mode.
    pub network_on: bool,
    /// Payments accepted offline that the acquirer later declined.
    pub notices: Vec<String>,
}

/// Whether the acquirer lets this terminal take payments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum AttestationStatus {
    /// Not tried yet, or the acquirer was unreachable.
    Unknown,
    Passed,
    /// The acquirer refused the evidence: no payment can be taken.
    Blocked {
        code: String,
        message: String,
    },
}

/// Errors reach the window classified by a code, never to be matched as
/// text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS, thiserror::Error)]
#[serde(rename_all = "camelCase")]
#[error("{code:?}: {message}")]
pub struct CommandError {
    pub code: ErrorCode,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The terminal must be enrolled first.
    NotEnrolled,
    /// The acquirer refused the activation code.
    ActivationRefused,
    /// The acquirer cannot be reached.
    AcquirerUnreachable,
    /// Attestation failed: payments are blocked.
    AttestationBlocked,
    /// The amount is zero or above the terminal's limit.
    InvalidAmount,
    /// No reader is chosen, or the chosen one is not available.
    NoReader,
    /// Another payment is in progress, or none is.
    Busy,
    /// Not a QR code this terminal understands.
    InvalidCode,
    /// Demo-only command outside demo mode, or a bad argument.
    Usage,
    /// No payment under that sequence number in the history.
    NotFound,
    /// The acquirer refused a refund, void or QR payment.
    Refused,
    /// "Print" with no printer device configured.
    NoPrinter,
    /// Local storage or our own configuration failed.
    Internal,
}

impl CommandError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> CommandError {
        CommandError {
            code,
            message: message.into(),
        }
    }
}

/// Book A §7.2 messages, as the window translates them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum UiMessage {
    Approved,
    NotAuthorised,
    PleaseEnterPin,
    ProcessingError,
    RemoveCard,
    Welcome,
    PresentCard,
    Processing,
    CardReadOkRemoveCard,
    InsertOrSwipeCard,
    PresentOneCardOnly,
    ApprovedPleaseSign,
    AuthorisingPleaseWait,
    InsertSwipeOrTryAnotherCard,
    PleaseInsertCard,
    SeePhoneForInstructions,
    PresentCardAgain,
    None,
}

impl From<kernel::outcome::Message> for UiMessage {
    fn from(m: kernel::outcome::Message) -> Self {
        use kernel::outcome::Message as M;
        match m {
            M::Approved => UiMessage::Approved,
            M::NotAuthorised => UiMessage::NotAuthorised,
            M::PleaseEnterPin => UiMessage::PleaseEnterPin,
            M::ProcessingError => UiMessage::ProcessingError,
            M::RemoveCard => UiMessage::RemoveCard,
            M::Welcome => UiMessage::Welcome,
            M::PresentCard => UiMessage::PresentCard,
            M::Processing => UiMessage::Processing,
            M::CardReadOkRemoveCard => UiMessage::CardReadOkRemoveCard,
            M::InsertOrSwipeCard => UiMessage::InsertOrSwipeCard,
            M::PresentOneCardOnly => UiMessage::PresentOneCardOnly,
            M::ApprovedPleaseSign => UiMessage::ApprovedPleaseSign,
            M::AuthorisingPleaseWait => UiMessage::AuthorisingPleaseWait,
            M::InsertSwipeOrTryAnotherCard => UiMessage::InsertSwipeOrTryAnotherCard,
            M::PleaseInsertCard => UiMessage::PleaseInsertCard,
            M::SeePhoneForInstructions => UiMessage::SeePhoneForInstructions,
            M::PresentCardAgain => UiMessage::PresentCardAgain,
            M::None => UiMessage::None,
        }
    }
}

/// Book A §7.3 status: which of the four lights are on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum UiStatus {
    NotReady,
    Idle,
    ReadyToRead,
    Processing,
    CardReadSuccessfully,
    ProcessingError,
}

impl From<kernel::outcome::Status> for UiStatus {
    fn from(s: kernel::outcome::Status) -> Self {
        use kernel::outcome::Status as S;
        match s {
            S::NotReady => UiStatus::NotReady,
            S::Idle => UiStatus::Idle,
            S::ReadyToRead => UiStatus::ReadyToRead,
            S::Processing => UiStatus::Processing,
            S::CardReadSuccessfully => UiStatus::CardReadSuccessfully,
            S::ProcessingError => UiStatus::ProcessingError,
        }
    }
}

/// One Book A user-interface request, shown at least `holdMs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct UiRequest {
    pub message: UiMessage,
    pub status: UiStatus,
    pub hold_ms: u32,
}

impl From<kernel::outcome::UiRequest> for UiRequest {
    fn from(u: kernel::outcome::UiRequest) -> Self {
        UiRequest {
            message: u.message.into(),
            status: u.status.into(),
            hold_ms: u.hold_ms,
        }
    }
}

/// How a payment ended, for the merchant (`pos::pay::PayStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum PayStatus {
    Approved,
    AcceptedOffline,
    Declined,
    Reversed,
    NotCompleted,
}

impl From<&pos::pay::PayStatus> for PayStatus {
    fn from(s: &pos::pay::PayStatus) -> Self {
        use pos::pay::PayStatus as P;
        match s {
            P::Approved => PayStatus::Approved,
            P::AcceptedOffline => PayStatus::AcceptedOffline,
            P::Declined => PayStatus::Declined,
            P::Reversed => PayStatus::Reversed,
            P::NotCompleted => PayStatus::NotCompleted,
        }
    }
}

/// The end of one payment.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct PaymentResult {
    pub status: PayStatus,
    /// The kernel's outcome: "online_request", "try_again", ...
    pub card_outcome: String,
    /// What Book A says to show now.
    pub ui: UiRequest,
    pub amount_minor: u64,
    pub masked_pan: Option<String>,
    pub auth_code: Option<String>,
    pub tsc: Option<u32>,
    /// One English line from `pos`, shown small under the translated
    /// headline.
    pub detail: String,
    /// The payment may be retried by presenting a card again (Try Again).
    pub retry: bool,
}

/// The `payment` event: one step of the payment in progress.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PaymentEvent {
    /// Show this Book A request (Present Card, Processing, Remove Card,
    /// Authorising ...).
    Ui { ui: UiRequest },
    /// The payment ended.
    Done { result: PaymentResult },
    /// The payment could not run (reader failure, storage); nothing was
    /// charged.
    Failed { error: CommandError },
}

/// A merchant-presented code for one payment.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct MerchantQr {
    /// The EMVCo payload, CRC included.
    pub payload: String,
    /// The code drawn as an SVG document.
    pub svg: String,
    pub amount_minor: u64,
    /// How long the code is shown before it lapses.
    pub expires_in_s: u32,
}

/// What a scanned or typed code turned out to be.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ScannedCode {
    /// "merchant", "emv_cpm", "alipay", "wechat_pay", "unionpay".
    pub kind: String,
    /// Human summary; card numbers and wallet codes masked.
    pub summary: String,
}

/// What the history screen asks for; every field narrows, `None` means any.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, TS)]
#[serde(rename_all = "camelCase", default)]
pub struct HistoryQuery {
    /// First business date, `YYYY-MM-DD`, inclusive.
    pub from: Option<String>,
    /// Last business date, inclusive.
    pub to: Option<String>,
    /// `approved`, `declined`, `accepted_offline`, `reversed`, `voided`,
    /// `refused`.
    pub status: Option<String>,
    /// `purchase`, `refund`, `qr`.
    pub kind: Option<String>,
    /// Last four digits of the card number.
    pub last4: Option<String>,
}

/// One payment in the history list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct HistoryRow {
    pub tsc: Option<u32>,
    /// `purchase`, `refund`, `qr`.
    pub kind: String,
    /// As in [`HistoryQuery::status`].
    pub status: String,
    /// `online`, `offline`, `card`, `qr`.
    pub channel: String,
    pub amount_minor: u64,
    /// ISO 4217 numeric.
    pub currency: u16,
    /// Masked card number or wallet; never a clear PAN.
    pub payer: String,
    pub business_date: String,
    pub created_ms: u64,
    pub refunded_minor: u64,
    /// Signed net after the acquirer's fee, once it has answered.
    pub net_minor: Option<i64>,
    /// One English line from `pos`.
    pub message: String,
    /// Whether the refund and void buttons apply (an approved card or QR
    /// sale with an acquirer payment ID and something left).
    pub can_refund: bool,
    pub can_void: bool,
}

impl From<&pos::history::Record> for HistoryRow {
    fn from(r: &pos::history::Record) -> Self {
        use pos::history::{Kind, Status};
        // Card and QR sales: `pos` refunds and voids each through its own
        // acquirer call.
        let adjustable = r.status == Status::Approved
            && matches!(r.kind, Kind::Purchase | Kind::Qr)
            && r.payment_id.is_some();
        HistoryRow {
            tsc: r.tsc,
            kind: r.kind.as_str().into(),
            status: r.status.as_str().into(),
            channel: r.channel.clone(),
            amount_minor: r.amount_minor,
            currency: r.currency,
            payer: r.payer(),
            business_date: r.business_date.clone(),
            created_ms: r.created_ms,
            refunded_minor: r.refunded_minor,
            net_minor: r.net_minor,
            message: r.message.clone(),
            can_refund: adjustable && r.refunded_minor < r.amount_minor,
            can_void: adjustable && r.refunded_minor == 0,
        }
    }
}

/// One payment's receipt, as the window shows it.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ReceiptView {
    pub tsc: u32,
    /// Self-contained HTML (`pos::receipt::Receipt::to_html`), shown in a
    /// sandboxed frame.
    pub html: String,
    /// The same receipt as plain text.
    pub text: String,
}

/// Which scan a [`HwNote`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum HwSource {
    Pcsc,
    Nfc,
    Cups,
}

/// What a scan for readers or printers found wrong, for the window to
/// say in the merchant's language (with `detail` as the system said it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum HwNoteKind {
    /// The service (pcscd, cupsd) is not running or not installed.
    NotRunning,
    /// The service refuses this user.
    Permission,
    /// The service runs but has no reader or printer.
    NoneFound,
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct HwNote {
    pub source: HwSource,
    pub kind: HwNoteKind,
    pub detail: String,
}

/// A printer "Print" can use.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct PrinterInfo {
    /// What goes into [`Settings::printer_device`]: "cups:<queue>".
    pub id: String,
    pub label: String,
}

/// The system's printers (CUPS queues), and why there may be none.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct PrinterList {
    pub printers: Vec<PrinterInfo>,
    pub notes: Vec<HwNote>,
}

/// Where a receipt was written.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct SavedReceipt {
    pub path: String,
    pub bytes: u64,
}

/// Count and sum of one (kind, status) group of a day.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct TotalsGroup {
    pub kind: String,
    pub status: String,
    pub count: u64,
    pub amount_minor: u64,
}

/// One business day's totals (`pos::history::Totals`).
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct DayTotals {
    pub date: String,
    pub groups: Vec<TotalsGroup>,
    /// What the acquirer's settlement for the day should hold.
    pub settled_count: u64,
    pub gross_minor: i64,
    pub fees_minor: i64,
    pub net_minor: i64,
    /// Accepted offline, not yet delivered.
    pub pending_count: u64,
    pub pending_minor: u64,
}

impl From<&pos::history::Totals> for DayTotals {
    fn from(t: &pos::history::Totals) -> Self {
        DayTotals {
            date: t.date.clone(),
            groups: t
                .groups
                .iter()
                .map(|g| TotalsGroup {
                    kind: g.kind.clone(),
                    status: g.status.clone(),
                    count: g.count,
                    amount_minor: g.amount_minor,
                })
                .collect(),
            settled_count: t.settled_count,
            gross_minor: t.gross_minor,
            fees_minor: t.fees_minor,
            net_minor: t.net_minor,
            pending_count: t.pending_count,
            pending_minor: t.pending_minor,
        }
    }
}

/// How a QR payment with the acquirer ended (`pos::qr::flow::QrResult`).
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct QrPaymentResult {
    /// `paid`, `declined`, `cancelled`, `expired`, `reversed`, `unknown`.
    pub outcome: String,
    pub seq: u32,
    pub order_id: Option<String>,
    pub wallet: Option<String>,
    /// The customer's code, masked.
    pub masked_code: Option<String>,
    pub amount_minor: u64,
    pub payment_id: Option<String>,
    /// One English line from `pos`.
    pub message: String,
}

/// The `qr` event: one step of a QR payment with the acquirer.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum QrPaymentEvent {
    /// Show this merchant-presented code: the acquirer's order.
    Show {
        order_id: String,
        payload: String,
        svg: String,
        amount_minor: u64,
        /// When the order lapses, ms since 1970.
        expires_ms: i64,
    },
    /// The order's status at the acquirer (`NOTPAY`, `USERPAYING`,
    /// `SUCCESS`, ...).
    Status {
        status: String,
        reason: String,
    },
    /// Nobody paid in time: the terminal is cancelling the order.
    Cancelling {
        why: String,
    },
    Done {
        result: QrPaymentResult,
    },
    /// Nothing was charged (offline, refused, misread code).
    Failed {
        error: CommandError,
    },
}

/// The merchant's information as the acquirer's signed configuration
/// states it (Settings), with where its regular review stands.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct MerchantInfo {
    pub merchant_id: String,
    pub merchant_name: String,
    pub mcc: String,
    /// The MCC's description (ISO 18245), empty if unknown.
    pub mcc_description: String,
    pub acquirer_name: String,
    /// All but the last four characters masked.
    pub settlement_account_masked: String,
    /// Fee rate in basis points (150 = 1.50 %) per approved purchase.
    pub fee_bps: u32,
    /// Fixed fee per approved purchase, minor units.
    pub fee_fixed_minor: u64,
    pub settlement_delay_days: u32,
    pub currency: CurrencyInfo,
    /// `None` for a configuration signed before reviews existed.
    pub review: Option<ReviewStatus>,
}

/// When the merchant's information is next due for review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ReviewStatus {
    /// `YYYY-MM-DD`.
    pub due: String,
    /// Negative once overdue.
    pub days_left: i64,
    /// Due within 30 days or overdue: show the reminder.
    pub reminder: bool,
    pub overdue: bool,
}

impl From<pos::sync::ReviewState> for ReviewStatus {
    fn from(r: pos::sync::ReviewState) -> Self {
        ReviewStatus {
            due: r.due,
            days_left: r.days_left,
            reminder: r.reminder,
            overdue: r.overdue,
        }
    }
}

/// One line of the acquirer's statement.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct StatementLineView {
    pub business_date: String,
    pub created_ms: i64,
    /// `purchase`, `refund`, `qr`.
    pub kind: String,
    pub channel: String,
    pub mcc: String,
    /// Masked card number or wallet code.
    pub payer: String,
    /// Signed: refunds are negative.
    pub amount_minor: i64,
    pub fee_bps: i64,
    pub fee_minor: i64,
    pub net_minor: i64,
    /// Paid, or expected while `settled` is false.
    pub settlement_date: String,
    pub settled: bool,
    /// The history entry the line names (the history's head when taken).
    pub history_seq: i64,
    /// The entry stating the terms in force for it (see `terms`).
    pub terms_seq: Option<i64>,
}

/// A history entry that states the merchant's terms.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct TermsEntry {
    pub seq: i64,
    /// `onboarded`, `change_acknowledged`, `info_confirmed`, ...
    pub kind: String,
    pub at_ms: i64,
    pub fee_bps: Option<i64>,
    pub mcc: Option<String>,
    /// The first hex digits of the entry's chained hash.
    pub hash_prefix: String,
}

/// What reaches the settlement account on one date.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct PayoutView {
    pub settlement_date: String,
    pub net_minor: i64,
    pub settled: bool,
}

/// The acquirer's settlement statement of this merchant for a period.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct StatementView {
    pub merchant_name: String,
    pub from: String,
    pub to: String,
    /// The acquirer's date when it made the statement.
    pub generated: String,
    pub settlement_account: String,
    pub currency: CurrencyInfo,
    pub lines: Vec<StatementLineView>,
    pub count: u64,
    pub gross_minor: i64,
    pub fees_minor: i64,
    pub net_minor: i64,
    pub payouts: Vec<PayoutView>,
    /// Settlement batches made in the period.
    pub batches: u64,
    /// The entries the lines' terms come from, oldest first.
    pub terms: Vec<TermsEntry>,
    /// The merchant's history chain, checked by this terminal.
    pub chain_verified: bool,
}

impl StatementView {
    pub fn build(s: &pos::sync::Statement, currency: CurrencyInfo) -> StatementView {
        let mut terms: Vec<TermsEntry> = Vec::new();
        let lines = s
            .lines
            .iter()
            .map(|l| {
                let entry = s.terms_of(l);
                if let Some(e) = entry {
                    if !terms.iter().any(|t| t.seq == e.seq) {
                        terms.push(TermsEntry {
                            seq: e.seq,
                            kind: e.kind.clone(),
                            at_ms: e.at_ms,
                            fee_bps: e.body.get("fee_bps").and_then(serde_json::Value::as_i64),
                            mcc: e
                                .body
                                .get("mcc")
                                .and_then(serde_json::Value::as_str)
                                .map(str::to_string),
                            hash_prefix: e.hash.chars().take(12).collect(),
                        });
                    }
                }
                StatementLineView {
                    business_date: l.business_date.clone(),
                    created_ms: l.created_ms,
                    kind: l.kind.clone(),
                    channel: l.channel.clone(),
                    mcc: l.mcc.clone(),
                    payer: l.masked_pan.clone(),
                    amount_minor: l.amount_minor,
                    fee_bps: l.fee_bps,
                    fee_minor: l.fee_minor,
                    net_minor: l.net_minor,
                    settlement_date: l.settlement_date.clone(),
                    settled: l.settled,
                    history_seq: l.history_seq,
                    terms_seq: entry.map(|e| e.seq),
                }
            })
            .collect();
        terms.sort_by_key(|t| t.seq);
        StatementView {
            merchant_name: s.merchant_name.clone(),
            from: s.from.clone(),
            to: s.to.clone(),
            generated: s.generated.clone(),
            settlement_account: s.settlement_account.clone(),
            currency,
            lines,
            count: s.totals.count,
            gross_minor: s.totals.gross_minor,
            fees_minor: s.totals.fees_minor,
            net_minor: s.totals.net_minor,
            payouts: s
                .payouts
                .iter()
                .map(|p| PayoutView {
                    settlement_date: p.settlement_date.clone(),
                    net_minor: p.net_minor,
                    settled: p.settled,
                })
                .collect(),
            batches: u64::try_from(s.settlements.len()).unwrap_or(u64::MAX),
            terms,
            chain_verified: s.chain_verified(),
        }
    }
}

/// Every generated declaration, in file order.
pub fn typescript() -> String {
    use ts_rs::Config;
    // JSON numbers: amounts and timestamps stay far below 2^53.
    let cfg = Config::new().with_large_int("number");
    let decls = [
        AppStatus::decl(&cfg),
        Enrollment::decl(&cfg),
        CurrencyInfo::decl(&cfg),
        ReaderInfo::decl(&cfg),
        VirtualCard::decl(&cfg),
        Settings::decl(&cfg),
        OfflineStatus::decl(&cfg),
        AttestationStatus::decl(&cfg),
        CommandError::decl(&cfg),
        ErrorCode::decl(&cfg),
        UiMessage::decl(&cfg),
        UiStatus::decl(&cfg),
        UiRequest::decl(&cfg),
        PayStatus::decl(&cfg),
        PaymentResult::decl(&cfg),
        PaymentEvent::decl(&cfg),
        MerchantQr::decl(&cfg),
        ScannedCode::decl(&cfg),
        HistoryQuery::decl(&cfg),
        HistoryRow::decl(&cfg),
        ReceiptView::decl(&cfg),
        HwSource::decl(&cfg),
        HwNoteKind::decl(&cfg),
        HwNote::decl(&cfg),
        PrinterInfo::decl(&cfg),
        PrinterList::decl(&cfg),
        SavedReceipt::decl(&cfg),
        TotalsGroup::decl(&cfg),
        DayTotals::decl(&cfg),
        QrPaymentResult::decl(&cfg),
        QrPaymentEvent::decl(&cfg),
        MerchantInfo::decl(&cfg),
        ReviewStatus::decl(&cfg),
        StatementLineView::decl(&cfg),
        TermsEntry::decl(&cfg),
        PayoutView::decl(&cfg),
        StatementView::decl(&cfg),
    ];
    let mut out = String::from(
        "// Generated from src-tauri/src/types.rs by `SOFTPOS_UPDATE_TYPES=1 cargo test`.\n// Do not edit: the test fails when this file is stale.\n\n",
    );
    for d in decls {
        out.push_str("export ");
        out.push_str(&d);
        out.push_str("\n\n");
    }
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const GENERATED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../ui/src/generated/types.ts");

    #[test]
    fn generated_typescript_is_current() {
        let want = typescript();
        if std::env::var_os("SOFTPOS_UPDATE_TYPES").is_some() {
            std::fs::write(GENERATED, &want).unwrap();
        }
        let have = std::fs::read_to_string(GENERATED).unwrap_or_default();
        assert!(
            have == want,
            "ui/src/generated/types.ts is stale: run `SOFTPOS_UPDATE_TYPES=1 cargo test` in src-tauri"
        );
        // The check can fail: a changed declaration is noticed.
        assert_ne!(have.replace("holdMs", "hold_ms"), want);
    }

    #[test]
    fn payment_events_serialise_as_the_window_reads_them() {
        let e = PaymentEvent::Ui {
            ui: kernel::outcome::default_ui(kernel::OutcomeKind::Approved).into(),
        };
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["kind"], "ui");
        assert_eq!(v["ui"]["message"], "approved");
        assert_eq!(v["ui"]["status"], "card_read_successfully");
        assert_eq!(v["ui"]["holdMs"], 1500);
        let blocked = AttestationStatus::Blocked {
            code: "binary_not_allowed".into(),
            message: "x".into(),
        };
        let v = serde_json::to_value(&blocked).unwrap();
        assert_eq!(v["state"], "blocked");
        assert_ne!(v["state"], "passed");
    }
}
