//! The app's use cases without a window: the demo acquirer in-process, a
//! fresh data directory, and the events a window would receive.

// Helpers outside #[test] fns are test code too; clippy.toml only covers the fns.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use softpos_app::core::{scan, scan_image, Core, Options, Sink};
use softpos_app::demo::{self, DemoAcquirer};
use softpos_app::types::{
    AppStatus, AttestationStatus, ErrorCode, HistoryQuery, PayStatus, PaymentEvent, PaymentResult,
    QrPaymentEvent, UiMessage,
};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

const BINARY: &str = "9f2c1e0b7a4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b";

#[derive(Default)]
struct Recorded {
    payments: Mutex<Vec<PaymentEvent>>,
    statuses: Mutex<Vec<AppStatus>>,
    qr: Mutex<Vec<QrPaymentEvent>>,
    /// Set: a shown QR order is paid by the demo customer with this code.
    pay_shown: Option<(String, String)>,
}

impl Sink for Recorded {
    fn payment(&self, e: &PaymentEvent) {
        self.payments.lock().unwrap().push(e.clone());
    }
    fn status(&self, s: &AppStatus) {
        self.statuses.lock().unwrap().push(s.clone());
    }
    fn qr(&self, e: &QrPaymentEvent) {
        if let (QrPaymentEvent::Show { order_id, .. }, Some((base, code))) = (e, &self.pay_shown) {
            let url = format!("{base}/v1/demo/qr/orders/{order_id}/pay");
            let body = serde_json::json!({ "code": code }).to_string();
            std::thread::spawn(move || {
                std::thread::sleep(std::time::Duration::from_millis(300));
                ureq::post(&url)
                    .set("content-type", "application/json")
                    .send_string(&body)
                    .unwrap();
            });
        }
        self.qr.lock().unwrap().push(e.clone());
    }
}

impl Recorded {
    fn take(&self) -> Vec<PaymentEvent> {
        std::mem::take(&mut *self.payments.lock().unwrap())
    }
}

struct Env {
    dir: PathBuf,
    acquirer: Option<DemoAcquirer>,
    core: Arc<Core>,
}

impl Drop for Env {
    fn drop(&mut self) {
        drop(self.acquirer.take());
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn fresh_dir() -> PathBuf {
    let n = hex::encode(acquirer::util::random_bytes::<8>());
    std::env::temp_dir().join(format!("softpos-app-test-{n}"))
}

/// A demo acquirer that allows `allowed`, and an app that reports `ours`.
fn env_with(allowed: &str, ours: &str) -> Env {
    let dir = fresh_dir();
    let acq = demo::start(&dir.join("demo"), allowed).unwrap();
    let core = Core::open(Options {
        data_dir: dir.clone(),
        acquirer_url: acq.url.clone(),
        demo: true,
        prefilled_code: Some(acq.activation_code.clone()),
        binary_sha256: ours.into(),
        reader_override: Some("sim:visa-cvn18".into()),
    })
    .unwrap();
    Env {
        dir,
        acquirer: Some(acq),
        core,
    }
}

fn enrolled() -> Env {
    let env = env_with(BINARY, BINARY);
    let code = env.core.status().prefilled_code.unwrap();
    env.core.enroll(&code).unwrap();
    env
}

fn set_card(core: &Core, card: &str) {
    let mut s = core.status().settings;
    s.virtual_card = card.into();
    core.save_settings(s).unwrap();
}

/// One payment with `card`; the events it produced.
fn pay(core: &Core, sink: &Recorded, card: &str, amount: u64) -> Vec<PaymentEvent> {
    set_card(core, card);
    core.start_payment(amount, sink).unwrap();
    core.present_card(sink).unwrap();
    sink.take()
}

fn result(events: &[PaymentEvent]) -> &PaymentResult {
    match events.last() {
        Some(PaymentEvent::Done { result }) => result,
        other => panic!("no result: {other:?}"),
    }
}

fn messages(events: &[PaymentEvent]) -> Vec<UiMessage> {
    events
        .iter()
        .map(|e| match e {
            PaymentEvent::Ui { ui } => ui.message,
            PaymentEvent::Done { result } => result.ui.message,
            PaymentEvent::Failed { .. } => UiMessage::ProcessingError,
        })
        .collect()
}

#[test]
fn enrollment_shows_the_merchant_and_a_wrong_code_is_refused() {
    let env = env_with(BINARY, BINARY);
    let s = env.core.status();
    assert!(s.demo);
    assert!(s.enrollment.is_none());
    let err = env.core.enroll("WRONG-CODE").unwrap_err();
    assert_eq!(err.code, ErrorCode::ActivationRefused);
    let s = env.core.enroll(&s.prefilled_code.unwrap()).unwrap();
    let e = s.enrollment.unwrap();
    assert_eq!(e.merchant_name, "Demo Grocery");
    assert_eq!(e.mcc, "5411");
    assert_eq!(e.currency.alpha, "EUR");
    assert_eq!(e.currency.exponent, 2);
    assert_eq!(s.settings.reader.as_deref(), Some("sim"));
    // Reopening the data directory finds the enrolled terminal.
    let again = Core::open(Options {
        data_dir: env.dir.clone(),
        acquirer_url: s.acquirer_url.clone(),
        demo: true,
        prefilled_code: None,
        binary_sha256: BINARY.into(),
        reader_override: None,
    })
    .unwrap();
    assert_eq!(
        again.status().enrollment.unwrap().terminal_id,
        e.terminal_id
    );
}

#[test]
fn approved_online_walks_the_book_a_steps() {
    let env = enrolled();
    let sink = Recorded::default();
    let events = pay(&env.core, &sink, "visa-cvn18", 2500);
    assert_eq!(
        messages(&events),
        vec![
            UiMessage::PresentCard,
            UiMessage::Processing,
            UiMessage::CardReadOkRemoveCard,
            UiMessage::AuthorisingPleaseWait,
            UiMessage::Approved,
        ]
    );
    let r = result(&events);
    assert_eq!(r.status, PayStatus::Approved);
    assert!(r.auth_code.is_some());
    assert_eq!(r.ui.hold_ms, 1500);
    // The PAN only ever appears masked.
    let pan = r.masked_pan.clone().unwrap();
    assert!(pan.contains('*'), "{pan}");
    let json = serde_json::to_string(&events).unwrap();
    assert!(!json.contains("4761739001010119"));
    assert_eq!(env.core.status().attestation, AttestationStatus::Passed);
    // Another payment may start now; a second one while waiting may not.
    env.core.start_payment(100, &sink).unwrap();
    let busy = env.core.start_payment(100, &sink).unwrap_err();
    assert_eq!(busy.code, ErrorCode::Busy);
}

#[test]
fn declined_by_the_card() {
    let env = enrolled();
    let sink = Recorded::default();
    let r = result(&pay(&env.core, &sink, "visa-decline", 1999)).clone();
    assert_eq!(r.status, PayStatus::Declined);
    assert_eq!(r.ui.message, UiMessage::NotAuthorised);
    assert!(!r.retry);
}

#[test]
fn a_card_removed_too_early_asks_for_it_again() {
    let env = enrolled();
    let sink = Recorded::default();
    let r = result(&pay(&env.core, &sink, "visa-removed", 700)).clone();
    assert_eq!(r.status, PayStatus::NotCompleted);
    assert_eq!(r.ui.message, UiMessage::PresentCardAgain);
    assert!(r.retry);
    // The same payment goes on with the card presented again.
    set_card(&env.core, "visa-cvn18");
    env.core.present_card(&sink).unwrap();
    let r = result(&sink.take()).clone();
    assert_eq!(r.status, PayStatus::Approved);
    assert_eq!(r.amount_minor, 700);
}

#[test]
fn offline_payment_is_queued_then_synced() {
    let env = enrolled();
    let sink = Recorded::default();
    // Attest while online, as a terminal does on its first sale.
    assert_eq!(
        result(&pay(&env.core, &sink, "visa-cvn18", 100)).status,
        PayStatus::Approved
    );
    env.core.set_network(false).unwrap();
    let r = result(&pay(&env.core, &sink, "visa-cvn18", 1200)).clone();
    assert_eq!(r.status, PayStatus::AcceptedOffline);
    let s = env.core.status();
    assert_eq!(s.offline.queued, 1);
    assert!(!s.offline.network_on);
    assert!(
        !env.core.wants_sync(),
        "no sync attempts while the network is off"
    );
    // Over the offline limit (50.00): declined, nothing queued.
    let r = result(&pay(&env.core, &sink, "visa-cvn18", 6000)).clone();
    assert_eq!(r.status, PayStatus::Declined);
    assert_eq!(env.core.status().offline.queued, 1);
    env.core.set_network(true).unwrap();
    assert!(env.core.wants_sync());
    let s = env.core.sync().unwrap();
    assert_eq!(s.offline.queued, 0);
    assert!(s.offline.last_sync_ms.is_some());
    assert!(s.offline.notices.is_empty());
}

#[test]
fn refused_attestation_blocks_payments_with_the_reason() {
    let other = "00".repeat(32);
    let env = env_with(BINARY, &other);
    let code = env.core.status().prefilled_code.unwrap();
    env.core.enroll(&code).unwrap();
    let sink = Recorded::default();
    let err = env.core.start_payment(2500, &sink).unwrap_err();
    assert_eq!(err.code, ErrorCode::AttestationBlocked);
    match env.core.status().attestation {
        AttestationStatus::Blocked { code, .. } => assert!(!code.is_empty()),
        other => panic!("not blocked: {other:?}"),
    }
    assert!(sink.take().is_empty(), "no Present Card when blocked");
    assert!(!sink.statuses.lock().unwrap().is_empty());
}

#[test]
fn amounts_outside_the_limits_are_refused() {
    let env = enrolled();
    let sink = Recorded::default();
    assert_eq!(
        env.core.start_payment(0, &sink).unwrap_err().code,
        ErrorCode::InvalidAmount
    );
    let max = env.core.status().enrollment.unwrap().max_amount_minor;
    assert_eq!(
        env.core.start_payment(max + 1, &sink).unwrap_err().code,
        ErrorCode::InvalidAmount
    );
    assert!(env.core.start_payment(max, &sink).is_ok());
}

#[test]
fn merchant_qr_parses_back_and_customer_codes_are_recognised() {
    let env = enrolled();
    let q = env.core.merchant_qr(888).unwrap();
    assert!(q.payload.starts_with("000201"));
    assert!(q.svg.contains("<svg"));
    let parsed = scan(&q.payload).unwrap();
    assert_eq!(parsed.kind, "merchant");
    assert!(parsed.summary.contains("8.88"), "{}", parsed.summary);
    // Tampered twin: one changed character breaks the CRC.
    let tampered = q.payload.replacen("Demo", "Dema", 1);
    assert_eq!(scan(&tampered).unwrap_err().code, ErrorCode::InvalidCode);

    let w = scan("134567890123456789\n").unwrap();
    assert_eq!(w.kind, "wechat_pay");
    assert!(!w.summary.contains("134567890123456789"));
    assert_eq!(scan("not a code").unwrap_err().code, ErrorCode::InvalidCode);
    assert_eq!(
        env.core.merchant_qr(0).unwrap_err().code,
        ErrorCode::InvalidAmount
    );
}

#[test]
fn a_camera_frame_with_a_code_is_read() {
    let frame = pos::qr::render::png("134567890123456789", 300).unwrap();
    let code = scan_image(&frame).unwrap();
    assert_eq!(code.kind, "wechat_pay");
    // Tampered twin: a frame cut short is no image, and says so.
    let cut = &frame[..frame.len() / 2];
    assert_eq!(scan_image(cut).unwrap_err().code, ErrorCode::InvalidCode);
}

#[test]
fn settings_are_checked_and_kept() {
    let env = enrolled();
    let mut s = env.core.status().settings;
    s.language = "zh-CN".into();
    s.receipt_header = "Demo Grocery\nMain St 1".into();
    env.core.save_settings(s.clone()).unwrap();
    let mut bad = s.clone();
    bad.language = "fr".into();
    assert_eq!(
        env.core.save_settings(bad).unwrap_err().code,
        ErrorCode::Usage
    );
    let mut bad = s.clone();
    bad.reader = Some("pcsc:nothing".into());
    assert_eq!(
        env.core.save_settings(bad).unwrap_err().code,
        ErrorCode::NoReader
    );
    let text = std::fs::read_to_string(env.dir.join("settings.json")).unwrap();
    assert!(text.contains("zh-CN"));
}

fn all(core: &Core) -> Vec<softpos_app::types::HistoryRow> {
    core.history(&HistoryQuery::default()).unwrap()
}

#[test]
fn card_payments_are_written_to_the_history() {
    let env = enrolled();
    let sink = Recorded::default();
    let ok = result(&pay(&env.core, &sink, "visa-cvn18", 2500)).clone();
    let declined = result(&pay(&env.core, &sink, "visa-decline", 1999)).clone();
    // Try Again ends no payment: nothing to record.
    let again = result(&pay(&env.core, &sink, "visa-removed", 700)).clone();
    assert!(again.retry);
    env.core.cancel_payment().unwrap();
    let rows = all(&env.core);
    assert_eq!(rows.len(), 2, "{rows:?}");
    let approved = rows.iter().find(|r| r.tsc == ok.tsc).unwrap();
    assert_eq!(approved.status, "approved");
    assert_eq!(approved.kind, "purchase");
    assert_eq!(approved.amount_minor, 2500);
    assert!(approved.payer.contains('*') && approved.payer.ends_with("0119"));
    assert!(approved.can_refund && approved.can_void);
    let d = rows.iter().find(|r| r.amount_minor == 1999).unwrap();
    assert_eq!(d.status, "declined");
    assert!(!d.can_refund && !d.can_void);
    assert_eq!(declined.status, PayStatus::Declined);
    // No clear PAN anywhere in what the window gets.
    assert!(!serde_json::to_string(&rows)
        .unwrap()
        .contains("4761739001010119"));
}

#[test]
fn history_filters_narrow_and_bad_filters_are_refused() {
    let env = enrolled();
    let sink = Recorded::default();
    pay(&env.core, &sink, "visa-cvn18", 2500);
    pay(&env.core, &sink, "mastercard-decline", 1999);
    let q = |status: &str, last4: &str| HistoryQuery {
        status: Some(status.into()),
        last4: Some(last4.into()),
        ..HistoryQuery::default()
    };
    assert_eq!(env.core.history(&q("approved", "")).unwrap().len(), 1);
    assert_eq!(env.core.history(&q("declined", "")).unwrap().len(), 1);
    assert_eq!(env.core.history(&q("voided", "")).unwrap().len(), 0);
    assert_eq!(env.core.history(&q("", "0119")).unwrap().len(), 1);
    assert_eq!(env.core.history(&q("declined", "0434")).unwrap().len(), 1);
    assert_eq!(env.core.history(&q("approved", "0434")).unwrap().len(), 0);
    assert_eq!(env.core.history(&q("", "9999")).unwrap().len(), 0);
    let today = all(&env.core)[0].business_date.clone();
    let day = |from: &str| HistoryQuery {
        from: Some(from.into()),
        to: Some(from.into()),
        kind: Some("purchase".into()),
        ..HistoryQuery::default()
    };
    assert_eq!(env.core.history(&day(&today)).unwrap().len(), 2);
    assert_eq!(env.core.history(&day("2000-01-01")).unwrap().len(), 0);
    for bad in [q("paid", ""), q("", "12a4"), day("2026-1-01")] {
        assert_eq!(env.core.history(&bad).unwrap_err().code, ErrorCode::Usage);
    }
}

#[test]
fn receipts_show_save_and_print() {
    let env = enrolled();
    let sink = Recorded::default();
    let tsc = result(&pay(&env.core, &sink, "visa-cvn18", 2500))
        .tsc
        .unwrap();
    let r = env.core.receipt(tsc).unwrap();
    assert!(r.html.contains("Demo Grocery"), "{}", r.html);
    assert!(r.text.contains("25.00"), "{}", r.text);
    assert!(!r.html.contains("4761739001010119"));
    assert_eq!(
        env.core.receipt(tsc + 100).unwrap_err().code,
        ErrorCode::NotFound
    );
    let saved = env.core.save_receipt_pdf(tsc).unwrap();
    let pdf = std::fs::read(&saved.path).unwrap();
    assert!(pdf.starts_with(b"%PDF-1.4"));
    assert!(saved.path.starts_with(env.dir.to_str().unwrap()));
    assert_eq!(saved.bytes, pdf.len() as u64);
    // No printer configured: said so, nothing written.
    assert_eq!(
        env.core.print_receipt(tsc).unwrap_err().code,
        ErrorCode::NoPrinter
    );
    let printer = env.dir.join("printer.bin");
    let mut s = env.core.status().settings;
    s.printer_device = printer.display().to_string();
    env.core.save_settings(s).unwrap();
    let printed = env.core.print_receipt(tsc).unwrap();
    let bytes = std::fs::read(&printer).unwrap();
    assert_eq!(bytes.len() as u64, printed.bytes);
    // ESC @ (initialise) first, a cut (GS V) at the end.
    assert_eq!(bytes.get(..2), Some(&[0x1b, 0x40][..]));
    assert!(bytes.windows(2).any(|w| w == [0x1d, 0x56]));
}

#[test]
fn refund_void_and_the_days_totals() {
    let env = enrolled();
    let sink = Recorded::default();
    let a = result(&pay(&env.core, &sink, "visa-cvn18", 2500))
        .tsc
        .unwrap();
    let b = result(&pay(&env.core, &sink, "visa-cvn18", 1000))
        .tsc
        .unwrap();
    let refund = env.core.refund(a, Some(500)).unwrap();
    assert_eq!((refund.kind.as_str(), refund.amount_minor), ("refund", 500));
    // More than is left is refused; so is refunding a refund.
    assert_eq!(
        env.core.refund(a, Some(2001)).unwrap_err().code,
        ErrorCode::Refused
    );
    assert_eq!(
        env.core.refund(refund.tsc.unwrap(), None).unwrap_err().code,
        ErrorCode::Refused
    );
    assert_eq!(
        env.core.refund(999, None).unwrap_err().code,
        ErrorCode::NotFound
    );
    let voided = env.core.void(b).unwrap();
    assert_eq!(voided.status, "voided");
    assert!(!voided.can_refund && !voided.can_void);
    assert_eq!(env.core.void(b).unwrap_err().code, ErrorCode::Refused);
    let rows = all(&env.core);
    let orig = rows.iter().find(|r| r.tsc == Some(a)).unwrap();
    assert_eq!(orig.refunded_minor, 500);
    let t = env.core.totals(None).unwrap();
    // Settled: the purchase (+2500) and the refund (-500); the void is out.
    assert_eq!(t.settled_count, 2);
    assert_eq!(t.gross_minor, 2000);
    assert_eq!(t.net_minor, t.gross_minor - t.fees_minor);
    assert!(t
        .groups
        .iter()
        .any(|g| g.status == "voided" && g.count == 1));
    let other = env.core.totals(Some("2000-01-01")).unwrap();
    assert_eq!((other.settled_count, other.gross_minor), (0, 0));
    assert_eq!(
        env.core.totals(Some("yesterday")).unwrap_err().code,
        ErrorCode::Usage
    );
}

fn fast_qr(core: &Core, timeout_ms: u64) {
    core.set_qr_polling(pos::qr::flow::Polling {
        first: std::time::Duration::from_millis(100),
        max: std::time::Duration::from_millis(300),
        timeout: std::time::Duration::from_millis(timeout_ms),
        ..pos::qr::flow::Polling::default()
    });
}

fn alipay(nn: u8) -> String {
    let r = u64::from_be_bytes(acquirer::util::random_bytes::<8>()) % 100_000_000_000_000;
    format!("28{r:014}{nn:02}")
}

#[test]
fn merchant_presented_qr_is_paid_through_the_acquirer_and_recorded() {
    let env = enrolled();
    fast_qr(&env.core, 10_000);
    let sink = Recorded {
        pay_shown: Some((env.acquirer.as_ref().unwrap().url.clone(), alipay(0))),
        ..Recorded::default()
    };
    let r = env.core.qr_sale(1500, None, &sink).unwrap();
    assert_eq!(r.outcome, "paid", "{r:?}");
    assert_eq!(r.wallet.as_deref(), Some("alipay"));
    let events = sink.qr.lock().unwrap().clone();
    let QrPaymentEvent::Show {
        payload,
        svg,
        amount_minor,
        ..
    } = &events[0]
    else {
        panic!("{events:?}")
    };
    assert_eq!(*amount_minor, 1500);
    assert!(svg.starts_with("<svg") || svg.starts_with("<?xml"), "{svg}");
    assert_eq!(scan(payload).unwrap().kind, "merchant");
    assert!(matches!(&events[1], QrPaymentEvent::Status { status, .. } if status == "NOTPAY"));
    assert!(matches!(events.last(), Some(QrPaymentEvent::Done { .. })));
    let rows = env.core.history(&HistoryQuery {
        kind: Some("qr".into()),
        ..HistoryQuery::default()
    });
    let rows = rows.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].status.as_str(), rows[0].tsc),
        ("approved", Some(r.seq))
    );
    // A QR sale is refunded and voided from the history like a card sale.
    assert!(rows[0].can_refund && rows[0].can_void);
}

#[test]
fn an_unpaid_qr_order_is_cancelled_and_recorded_declined() {
    let env = enrolled();
    fast_qr(&env.core, 800);
    let sink = Recorded::default();
    let r = env.core.qr_sale(900, None, &sink).unwrap();
    assert_eq!(r.outcome, "cancelled", "{r:?}");
    let events = sink.qr.lock().unwrap().clone();
    assert!(events
        .iter()
        .any(|e| matches!(e, QrPaymentEvent::Cancelling { .. })));
    assert_eq!(all(&env.core)[0].status, "declined");
}

#[test]
fn a_scanned_customer_code_is_charged_by_micropay() {
    let env = enrolled();
    fast_qr(&env.core, 10_000);
    let sink = Recorded::default();
    let paid = env.core.qr_sale(990, Some(&alipay(0)), &sink).unwrap();
    assert_eq!(paid.outcome, "paid");
    assert!(paid.masked_code.unwrap().contains('*'));
    // Tampered twins: insufficient balance declines; a misread code is
    // refused before anything is sent; offline refuses at once.
    let poor = env.core.qr_sale(990, Some(&alipay(90)), &sink).unwrap();
    assert_eq!(poor.outcome, "declined");
    let misread = env.core.qr_sale(990, Some("hello"), &sink).unwrap_err();
    assert_eq!(misread.code, ErrorCode::InvalidCode);
    env.core.set_network(false).unwrap();
    let offline = env.core.qr_sale(990, Some(&alipay(0)), &sink).unwrap_err();
    assert_eq!(offline.code, ErrorCode::Refused);
    assert!(
        offline.message.contains("never queued offline"),
        "{}",
        offline.message
    );
    env.core.set_network(true).unwrap();
    let rows = all(&env.core);
    let statuses: Vec<_> = rows.iter().map(|r| r.status.as_str()).collect();
    assert_eq!(rows.len(), 2, "{statuses:?}");
    assert!(statuses.contains(&"approved") && statuses.contains(&"declined"));
    assert!(matches!(
        sink.qr.lock().unwrap().last(),
        Some(QrPaymentEvent::Failed { .. })
    ));
    // QR sales take seqs from the card payments' counter: a card payment
    // afterwards gets the next one and is approved.
    let card = result(&pay(&env.core, &sink, "visa-cvn18", 300)).clone();
    assert_eq!(card.status, PayStatus::Approved);
    assert!(
        card.tsc > Some(poor.seq),
        "{:?} after {}",
        card.tsc,
        poor.seq
    );
}

fn day(offset: i64) -> String {
    pos::history::format_day(i64::try_from(pos::sync::now_ms() / 86_400_000).unwrap() + offset)
}

#[test]
fn the_acquirers_statement_and_the_merchant_information_review() {
    let env = enrolled();
    let sink = Recorded::default();
    let a = result(&pay(&env.core, &sink, "visa-cvn18", 2500))
        .tsc
        .unwrap();
    result(&pay(&env.core, &sink, "visa-cvn18", 1000));
    env.core.refund(a, Some(500)).unwrap();

    // This month by default: the acquirer's lines, fees and payout date.
    let s = env.core.statement(None, None).unwrap();
    assert_eq!(s.from, format!("{}-01", &day(0)[..7]));
    assert_eq!(s.to, day(0));
    assert_eq!(s.merchant_name, "Demo Grocery");
    assert_eq!(s.count, 3);
    assert_eq!(s.lines.len(), 3);
    let first = &s.lines[0];
    assert_eq!(
        (first.kind.as_str(), first.mcc.as_str()),
        ("purchase", "5411")
    );
    assert_eq!(
        (first.amount_minor, first.fee_bps, first.fee_minor),
        (2500, 150, 38)
    );
    assert_eq!(first.net_minor, 2462);
    assert_eq!(first.settlement_date, day(1));
    assert!(!first.settled);
    assert!(first.payer.contains("****"));
    assert_eq!(s.lines[2].net_minor, -500);
    assert_eq!(s.gross_minor, 3000);
    assert_eq!(s.net_minor, s.gross_minor - s.fees_minor);
    assert_eq!(s.settlement_account, "******************3000");
    assert_eq!(s.payouts.len(), 1);
    assert_eq!(s.payouts[0].net_minor, s.net_minor);
    assert!(s.chain_verified);
    // Each line points at the terms it was charged under.
    let terms = first.terms_seq.unwrap();
    let entry = s.terms.iter().find(|t| t.seq == terms).unwrap();
    assert_eq!(
        (entry.kind.as_str(), entry.fee_bps),
        ("onboarded", Some(150))
    );
    // A period elsewhere is empty; a bad or backward one is refused.
    let old = env
        .core
        .statement(Some("2000-01-01"), Some("2000-01-31"))
        .unwrap();
    assert!(old.lines.is_empty());
    assert_eq!(
        env.core
            .statement(Some("2026-02-30"), None)
            .unwrap_err()
            .code,
        ErrorCode::Usage
    );
    assert_eq!(
        env.core
            .statement(Some(&day(0)), Some("2000-01-01"))
            .unwrap_err()
            .code,
        ErrorCode::Usage
    );
    assert_eq!(
        env.core
            .statement(Some("2000-01-01"), Some(&day(0)))
            .unwrap_err()
            .code,
        ErrorCode::Refused,
        "more than a year"
    );

    // The demo merchant's review is due in two weeks: the reminder shows.
    let info = env.core.merchant_info().unwrap();
    assert_eq!(info.merchant_name, "Demo Grocery");
    assert_eq!(info.mcc_description, "Grocery Stores and Supermarkets");
    assert_eq!(info.fee_bps, 150);
    assert_eq!(info.settlement_account_masked, "******************3000");
    assert_eq!(info.acquirer_name, "SoftPOS Demo Acquirer");
    let review = info.review.unwrap();
    assert_eq!(
        (review.due.as_str(), review.days_left),
        (day(14).as_str(), 14)
    );
    assert!(review.reminder && !review.overdue);

    // Offline, the confirmation cannot go through and nothing moves.
    env.core.set_network(false).unwrap();
    assert_eq!(
        env.core.confirm_merchant_info().unwrap_err().code,
        ErrorCode::AcquirerUnreachable
    );
    assert_eq!(
        env.core.merchant_info().unwrap().review.unwrap().due,
        day(14)
    );
    env.core.set_network(true).unwrap();

    let info = env.core.confirm_merchant_info().unwrap();
    let review = info.review.unwrap();
    assert_eq!(review.due, day(365));
    assert!(!review.reminder);
    // Payments still go through on the re-signed configuration, and the
    // statement's history now holds the confirmation.
    assert_eq!(
        result(&pay(&env.core, &sink, "visa-cvn18", 700)).status,
        PayStatus::Approved
    );
    let s = env.core.statement(None, None).unwrap();
    assert_eq!(s.count, 4);
    assert!(s.chain_verified);
    let last = s.lines.last().unwrap();
    let terms = s
        .terms
        .iter()
        .find(|t| Some(t.seq) == last.terms_seq)
        .unwrap();
    assert_eq!(terms.kind, "info_confirmed");
}

#[test]
fn statement_and_review_need_an_enrolled_terminal() {
    let env = env_with(BINARY, BINARY);
    assert_eq!(
        env.core.statement(None, None).unwrap_err().code,
        ErrorCode::NotEnrolled
    );
    assert_eq!(
        env.core.merchant_info().unwrap_err().code,
        ErrorCode::NotEnrolled
    );
}
#[test]
fn a_qr_sale_is_refunded_in_part_then_in_full_and_not_beyond() {
    let env = enrolled();
    fast_qr(&env.core, 10_000);
    let sink = Recorded::default();
    let paid = env.core.qr_sale(1_000, Some(&alipay(0)), &sink).unwrap();
    assert_eq!(paid.outcome, "paid");
    let part = env.core.refund(paid.seq, Some(400)).unwrap();
    assert_eq!((part.kind.as_str(), part.amount_minor), ("refund", 400));
    assert_eq!(part.channel, "qr");
    assert!(
        !part.can_refund && !part.can_void,
        "a refund is not refunded"
    );
    let sale = env
        .core
        .history(&HistoryQuery {
            kind: Some("qr".into()),
            ..HistoryQuery::default()
        })
        .unwrap()
        .remove(0);
    assert_eq!(sale.refunded_minor, 400);
    // Partly refunded: still refundable, no longer voidable.
    assert!(sale.can_refund && !sale.can_void);
    assert_eq!(
        env.core.refund(paid.seq, Some(601)).unwrap_err().code,
        ErrorCode::Refused
    );
    let rest = env.core.refund(paid.seq, None).unwrap();
    assert_eq!(rest.amount_minor, 600);
    assert!(env.core.refund(paid.seq, None).is_err());
    let receipt = env.core.receipt(rest.tsc.unwrap()).unwrap();
    assert!(
        receipt.text.to_uppercase().contains("REFUND"),
        "{}",
        receipt.text
    );
}

#[test]
fn a_paid_qr_sale_is_voided_from_the_history() {
    let env = enrolled();
    fast_qr(&env.core, 10_000);
    let sink = Recorded::default();
    let paid = env.core.qr_sale(700, Some(&alipay(0)), &sink).unwrap();
    let voided = env.core.void(paid.seq).unwrap();
    assert_eq!(voided.status, "reversed");
    assert!(!voided.can_refund && !voided.can_void);
    assert_eq!(
        env.core.void(paid.seq).unwrap_err().code,
        ErrorCode::Refused
    );
}

#[test]
fn the_merchant_cancels_a_shown_qr_code_before_payment() {
    let env = enrolled();
    fast_qr(&env.core, 60_000);
    let core = env.core.clone();
    let sink = Arc::new(Recorded::default());
    let s2 = sink.clone();
    let started = std::time::Instant::now();
    let sale = std::thread::spawn(move || core.qr_sale(500, None, &*s2));
    // Cancel once the code is shown.
    while !sink
        .qr
        .lock()
        .unwrap()
        .iter()
        .any(|e| matches!(e, QrPaymentEvent::Show { .. }))
    {
        assert!(started.elapsed() < std::time::Duration::from_secs(20));
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    env.core.cancel_qr().unwrap();
    let r = sale.join().unwrap().unwrap();
    assert_eq!(r.outcome, "cancelled", "{r:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    let events = sink.qr.lock().unwrap().clone();
    assert!(events
        .iter()
        .any(|e| matches!(e, QrPaymentEvent::Cancelling { why } if why.contains("merchant"))));
    assert!(matches!(events.last(), Some(QrPaymentEvent::Done { .. })));
    let rows = all(&env.core);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status, "declined");
    assert!(!rows[0].can_refund);
    // Nothing in progress: a stray Cancel is harmless.
    env.core.cancel_qr().unwrap();
}
