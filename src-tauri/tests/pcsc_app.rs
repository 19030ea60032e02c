//! The app paying over a real PC/SC stack: pcscd with vsmartcard's vpcd
//! reader, whose card is a `cardsim` virtual card served over TCP, and the
//! demo acquirer in-process. Needs `bash scripts/pcscd.sh start`,
//! `SOFTPOS_PCSC_TESTS=1` and `--test-threads=1` (one reader for all);
//! without them each test prints why it skipped.

// Helpers outside #[test] fns are test code too; clippy.toml only covers the fns.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use cardsim::vpcd::{Ended, VpcdClient, DEFAULT_PORT};
use cardsim::{Profile, VirtualCard};
use softpos_app::core::{Core, Options, Sink};
use softpos_app::demo::{self, DemoAcquirer};
use softpos_app::types::{
    AppStatus, ErrorCode, HistoryQuery, HwSource, PayStatus, PaymentEvent, QrPaymentEvent,
    UiMessage,
};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

const BINARY: &str = "9f2c1e0b7a4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b";
const VPCD: &str = "pcsc:Virtual PCD 00 00";

static READER_LOCK: Mutex<()> = Mutex::new(());

fn enabled() -> Option<MutexGuard<'static, ()>> {
    match std::env::var("SOFTPOS_PCSC_TESTS") {
        Ok(v) if !v.is_empty() && v != "0" => {
            Some(READER_LOCK.lock().unwrap_or_else(|e| e.into_inner()))
        }
        _ => {
            println!("skipped: set SOFTPOS_PCSC_TESTS=1 (scripts/pcscd.sh start)");
            None
        }
    }
}

#[derive(Default)]
struct Recorded {
    payments: Mutex<Vec<PaymentEvent>>,
}

impl Sink for Recorded {
    fn payment(&self, e: &PaymentEvent) {
        self.payments.lock().unwrap().push(e.clone());
    }
    fn status(&self, _: &AppStatus) {}
    fn qr(&self, _: &QrPaymentEvent) {}
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

fn enrolled_on(reader: &str) -> Env {
    let n = hex::encode(acquirer::util::random_bytes::<8>());
    let dir = std::env::temp_dir().join(format!("softpos-app-pcsc-{n}"));
    let acq = demo::start(&dir.join("demo"), BINARY).unwrap();
    let core = Core::open(Options {
        data_dir: dir.clone(),
        acquirer_url: acq.url.clone(),
        demo: true,
        prefilled_code: Some(acq.activation_code.clone()),
        binary_sha256: BINARY.into(),
        reader_override: None,
    })
    .unwrap();
    core.enroll(&acq.activation_code).unwrap();
    let mut s = core.status().settings;
    s.reader = Some(reader.into());
    core.save_settings(s).unwrap();
    Env {
        dir,
        acquirer: Some(acq),
        core,
    }
}

fn serve(profile: &str) -> cardsim::vpcd::Served {
    let card = VirtualCard::new(&Profile::builtin(profile).unwrap()).unwrap();
    VpcdClient::new(card)
        .one_tap(true)
        .spawn(SocketAddr::from((Ipv4Addr::LOCALHOST, DEFAULT_PORT)))
        .unwrap()
}

/// Waits until pcscd reports the vpcd reader empty again.
fn field_empty() {
    let mut r = pos::reader::pcsc::PcscReader::open("Virtual PCD 00 00").unwrap();
    assert!(r.wait_for_removal(Duration::from_secs(5)).unwrap());
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
fn the_reader_list_shows_the_vpcd_reader_beside_the_simulator() {
    let Some(_g) = enabled() else { return };
    let env = enrolled_on("sim");
    let s = env.core.refresh_readers();
    let ids: Vec<&str> = s.readers.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids.first(), Some(&"sim"));
    assert!(ids.contains(&VPCD), "{ids:?}");
    // pcscd answered: no PC/SC note. (libnfc finds no USB device here.)
    assert!(
        s.reader_notes.iter().all(|n| n.source != HwSource::Pcsc),
        "{:?}",
        s.reader_notes
    );
}

#[test]
fn a_card_on_the_pcsc_reader_pays_through_the_acquirer() {
    let Some(_g) = enabled() else { return };
    field_empty();
    let env = enrolled_on(VPCD);
    assert!(env.core.uses_hardware_reader());
    let sink = Recorded::default();
    env.core.start_payment(1250, &sink).unwrap();
    let served = serve("visa-cvn18");
    env.core.wait_for_hardware_card(&sink).unwrap();
    let events = sink.take();
    let m = messages(&events);
    assert_eq!(m.first(), Some(&UiMessage::PresentCard), "{m:?}");
    assert!(m.contains(&UiMessage::Processing), "{m:?}");
    assert!(m.contains(&UiMessage::CardReadOkRemoveCard), "{m:?}");
    let Some(PaymentEvent::Done { result }) = events.last() else {
        panic!("no result: {events:?}");
    };
    assert_eq!(result.status, PayStatus::Approved, "{result:?}");
    assert_eq!(result.amount_minor, 1250);
    assert!(result.auth_code.is_some());
    // Masked: the test card's PAN never reaches the window.
    assert!(!format!("{events:?}").contains("4761739001010119"));
    let (_, ended) = served.remove().unwrap();
    assert_eq!(ended, Ended::TapDone);
    field_empty();
    let rows = env.core.history(&HistoryQuery::default()).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].amount_minor, 1250);
}

#[test]
fn a_cancelled_wait_charges_nothing_and_an_unknown_reader_fails_clearly() {
    let Some(_g) = enabled() else { return };
    field_empty();
    let env = enrolled_on(VPCD);
    let sink = Arc::new(Recorded::default());
    env.core.start_payment(700, sink.as_ref()).unwrap();
    let (core, s2) = (Arc::clone(&env.core), Arc::clone(&sink));
    let waiter = std::thread::spawn(move || core.wait_for_hardware_card(s2.as_ref()));
    std::thread::sleep(Duration::from_millis(800));
    env.core.cancel_payment().unwrap();
    waiter.join().unwrap().unwrap();
    let events = sink.take();
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, PaymentEvent::Done { .. })),
        "{events:?}"
    );
    assert!(env
        .core
        .history(&HistoryQuery::default())
        .unwrap()
        .is_empty());

    // A PC/SC reader pcscd does not list cannot be chosen.
    let mut s = env.core.status().settings;
    s.reader = Some("pcsc:no such reader".into());
    let err = env.core.save_settings(s.clone()).unwrap_err();
    assert_eq!(err.code, ErrorCode::NoReader);
    // A serial PN532 can (libnfc never scans serial ports), and a wrong
    // one fails the payment with libnfc's reason.
    s.reader = Some("nfc:pn532_uart:/dev/softpos-no-such-tty".into());
    env.core.save_settings(s).unwrap();
    env.core.start_payment(700, sink.as_ref()).unwrap();
    let err = env.core.wait_for_hardware_card(sink.as_ref()).unwrap_err();
    assert_eq!(err.code, ErrorCode::NoReader);
    assert!(err.message.contains("no libnfc reader"), "{}", err.message);
    assert!(matches!(
        sink.take().last(),
        Some(PaymentEvent::Failed { .. })
    ));
    // The failed wait ended the payment: a new one may start.
    env.core.start_payment(700, sink.as_ref()).unwrap();
}
