// Generated from src-tauri/src/types.rs by `SOFTPOS_UPDATE_TYPES=1 cargo test`.
// Do not edit: the test fails when this file is stale.

export type AppStatus = { 
/**
 * Demo mode: embedded acquirer and virtual cards.
 */
demo: boolean, 
/**
 * `None` until the terminal is enrolled.
 */
enrollment: Enrollment | null, 
/**
 * The demo acquirer's fresh activation code, shown prefilled.
 */
prefilledCode: string | null, 
/**
 * The acquirer this terminal talks to.
 */
acquirerUrl: string, readers: Array<ReaderInfo>, 
/**
 * Why hardware readers may be missing from `readers` (pcscd not
 * running, nothing attached); empty when every scan found one.
 */
readerNotes: Array<HwNote>, 
/**
 * Virtual cards the simulator can present (demo mode).
 */
virtualCards: Array<VirtualCard>, settings: Settings, offline: OfflineStatus, attestation: AttestationStatus, };

export type Enrollment = { terminalId: string, merchantId: string, merchantName: string, mcc: string, acquirerUrl: string, currency: CurrencyInfo, maxAmountMinor: number, offlineLimitMinor: number, };

export type CurrencyInfo = { 
/**
 * ISO 4217 alphabetic code, "EUR".
 */
alpha: string, numeric: number, 
/**
 * Digits after the decimal point (2 for EUR, 0 for JPY).
 */
exponent: number, };

export type ReaderInfo = { 
/**
 * "sim", "pcsc:<name>", "nfc:<connstring>".
 */
id: string, label: string, simulated: boolean, };

export type VirtualCard = { 
/**
 * The cardsim profile name, "visa-cvn18".
 */
profile: string, description: string, };

export type Settings = { 
/**
 * Reader id from [`AppStatus::readers`]; `None` until chosen.
 */
reader: string | null, 
/**
 * The virtual card the simulator presents.
 */
virtualCard: string, 
/**
 * "en" or "zh-CN".
 */
language: string, sounds: boolean, 
/**
 * First lines of every receipt.
 */
receiptHeader: string, 
/**
 * Where "Print" writes a receipt's ESC/POS bytes (`/dev/usb/lp0`, a
 * serial port, a file), or "cups:<queue>" for a system printer (the
 * receipt's PDF goes to `lp`); empty when no printer is configured.
 */
printerDevice: string, };

export type OfflineStatus = { 
/**
 * Payments waiting to be sent to the acquirer.
 */
queued: number, 
/**
 * When a sync last reached the acquirer (ms since 1970).
 */
lastSyncMs: number | null, 
/**
 * Demo mode's network switch; always true outside demo mode.
 */
networkOn: boolean, 
/**
 * Payments accepted offline that the acquirer later declined.
 */
notices: Array<string>, };

export type AttestationStatus = { "state": "unknown" } | { "state": "passed" } | { "state": "blocked", code: string, message: string, };

export type CommandError = { code: ErrorCode, message: string, };

export type ErrorCode = "not_enrolled" | "activation_refused" | "acquirer_unreachable" | "attestation_blocked" | "invalid_amount" | "no_reader" | "busy" | "invalid_code" | "usage" | "not_found" | "refused" | "no_printer" | "internal";

export type UiMessage = "approved" | "not_authorised" | "please_enter_pin" | "processing_error" | "remove_card" | "welcome" | "present_card" | "processing" | "card_read_ok_remove_card" | "insert_or_swipe_card" | "present_one_card_only" | "approved_please_sign" | "authorising_please_wait" | "insert_swipe_or_try_another_card" | "please_insert_card" | "see_phone_for_instructions" | "present_card_again" | "none";

export type UiStatus = "not_ready" | "idle" | "ready_to_read" | "processing" | "card_read_successfully" | "processing_error";

export type UiRequest = { message: UiMessage, status: UiStatus, holdMs: number, };

export type PayStatus = "approved" | "accepted_offline" | "declined" | "reversed" | "not_completed";

export type PaymentResult = { status: PayStatus, 
/**
 * The kernel's outcome: "online_request", "try_again", ...
 */
cardOutcome: string, 
/**
 * What Book A says to show now.
 */
ui: UiRequest, amountMinor: number, maskedPan: string | null, authCode: string | null, tsc: number | null, 
/**
 * One English line from `pos`, shown small under the translated
 * headline.
 */
detail: string, 
/**
 * The payment may be retried by presenting a card again (Try Again).
 */
retry: boolean, };

export type PaymentEvent = { "kind": "ui", ui: UiRequest, } | { "kind": "done", result: PaymentResult, } | { "kind": "failed", error: CommandError, };

export type MerchantQr = { 
/**
 * The EMVCo payload, CRC included.
 */
payload: string, 
/**
 * The code drawn as an SVG document.
 */
svg: string, amountMinor: number, 
/**
 * How long the code is shown before it lapses.
 */
expiresInS: number, };

export type ScannedCode = { 
/**
 * "merchant", "emv_cpm", "alipay", "wechat_pay", "unionpay".
 */
kind: string, 
/**
 * Human summary; card numbers and wallet codes masked.
 */
summary: string, };

export type HistoryQuery = { 
/**
 * First business date, `YYYY-MM-DD`, inclusive.
 */
from: string | null, 
/**
 * Last business date, inclusive.
 */
to: string | null, 
/**
 * `approved`, `declined`, `accepted_offline`, `reversed`, `voided`,
 * `refused`.
 */
status: string | null, 
/**
 * `purchase`, `refund`, `qr`.
 */
kind: string | null, 
/**
 * Last four digits of the card number.
 */
last4: string | null, };

export type HistoryRow = { tsc: number | null, 
/**
 * `purchase`, `refund`, `qr`.
 */
kind: string, 
/**
 * As in [`HistoryQuery::status`].
 */
status: string, 
/**
 * `online`, `offline`, `card`, `qr`.
 */
channel: string, amountMinor: number, 
/**
 * ISO 4217 numeric.
 */
currency: number, 
/**
 * Masked card number or wallet; never a clear PAN.
 */
payer: string, businessDate: string, createdMs: number, refundedMinor: number, 
/**
 * Signed net after the acquirer's fee, once it has answered.
 */
netMinor: number | null, 
/**
 * One English line from `pos`.
 */
message: string, 
/**
 * Whether the refund and void buttons apply (an approved card or QR
 * sale with an acquirer payment ID and something left).
 */
canRefund: boolean, canVoid: boolean, };

export type ReceiptView = { tsc: number, 
/**
 * Self-contained HTML (`pos::receipt::Receipt::to_html`), shown in a
 * sandboxed frame.
 */
html: string, 
/**
 * The same receipt as plain text.
 */
text: string, };

export type HwSource = "pcsc" | "nfc" | "cups";

export type HwNoteKind = "not_running" | "permission" | "none_found" | "error";

export type HwNote = { source: HwSource, kind: HwNoteKind, detail: string, };

export type PrinterInfo = { 
/**
 * What goes into [`Settings::printer_device`]: "cups:<queue>".
 */
id: string, label: string, };

export type PrinterList = { printers: Array<PrinterInfo>, notes: Array<HwNote>, };

export type SavedReceipt = { path: string, bytes: number, };

export type TotalsGroup = { kind: string, status: string, count: number, amountMinor: number, };

export type DayTotals = { date: string, groups: Array<TotalsGroup>, 
/**
 * What the acquirer's settlement for the day should hold.
 */
settledCount: number, grossMinor: number, feesMinor: number, netMinor: number, 
/**
 * Accepted offline, not yet delivered.
 */
pendingCount: number, pendingMinor: number, };

export type QrPaymentResult = { 
/**
 * `paid`, `declined`, `cancelled`, `expired`, `reversed`, `unknown`.
 */
outcome: string, seq: number, orderId: string | null, wallet: string | null, 
/**
 * The customer's code, masked.
 */
maskedCode: string | null, amountMinor: number, paymentId: string | null, 
/**
 * One English line from `pos`.
 */
message: string, };

export type QrPaymentEvent = { "kind": "show", order_id: string, payload: string, svg: string, amount_minor: number, 
/**
 * When the order lapses, ms since 1970.
 */
expires_ms: number, } | { "kind": "status", status: string, reason: string, } | { "kind": "cancelling", why: string, } | { "kind": "done", result: QrPaymentResult, } | { "kind": "failed", error: CommandError, };

export type MerchantInfo = { merchantId: string, merchantName: string, mcc: string, 
/**
 * The MCC's description (ISO 18245), empty if unknown.
 */
mccDescription: string, acquirerName: string, 
/**
 * All but the last four characters masked.
 */
settlementAccountMasked: string, 
/**
 * Fee rate in basis points (150 = 1.50 %) per approved purchase.
 */
feeBps: number, 
/**
 * Fixed fee per approved purchase, minor units.
 */
feeFixedMinor: number, settlementDelayDays: number, currency: CurrencyInfo, 
/**
 * `None` for a configuration signed before reviews existed.
 */
review: ReviewStatus | null, };

export type ReviewStatus = { 
/**
 * `YYYY-MM-DD`.
 */
due: string, 
/**
 * Negative once overdue.
 */
daysLeft: number, 
/**
 * Due within 30 days or overdue: show the reminder.
 */
reminder: boolean, overdue: boolean, };

export type StatementLineView = { businessDate: string, createdMs: number, 
/**
 * `purchase`, `refund`, `qr`.
 */
kind: string, channel: string, mcc: string, 
/**
 * Masked card number or wallet code.
 */
payer: string, 
/**
 * Signed: refunds are negative.
 */
amountMinor: number, feeBps: number, feeMinor: number, netMinor: number, 
/**
 * Paid, or expected while `settled` is false.
 */
settlementDate: string, settled: boolean, 
/**
 * The history entry the line names (the history's head when taken).
 */
historySeq: number, 
/**
 * The entry stating the terms in force for it (see `terms`).
 */
termsSeq: number | null, };

export type TermsEntry = { seq: number, 
/**
 * `onboarded`, `change_acknowledged`, `info_confirmed`, ...
 */
kind: string, atMs: number, feeBps: number | null, mcc: string | null, 
/**
 * The first hex digits of the entry's chained hash.
 */
hashPrefix: string, };

export type PayoutView = { settlementDate: string, netMinor: number, settled: boolean, };

export type StatementView = { merchantName: string, from: string, to: string, 
/**
 * The acquirer's date when it made the statement.
 */
generated: string, settlementAccount: string, currency: CurrencyInfo, lines: Array<StatementLineView>, count: number, grossMinor: number, feesMinor: number, netMinor: number, payouts: Array<PayoutView>, 
/**
 * Settlement batches made in the period.
 */
batches: number, 
/**
 * The entries the lines' terms come from, oldest first.
 */
terms: Array<TermsEntry>, 
/**
 * The merchant's history chain, checked by this terminal.
 */
chainVerified: boolean, };
