//! "Print" on a system printer: a real cupsd with the file-backed queue
//! `softpos-test` that `bash scripts/cups.sh start` adds, and `lp`. Needs
//! `SOFTPOS_CUPS_TESTS=1`; without it the test prints why it skipped.

// Helpers outside #[test] fns are test code too; clippy.toml only covers the fns.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use softpos_app::core::{list_printers, Core, Options, Sink};
use softpos_app::demo::{self, DemoAcquirer};
use softpos_app::types::{AppStatus, ErrorCode, HwSource, PaymentEvent, QrPaymentEvent};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

const BINARY: &str = "9f2c1e0b7a4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b";
const OUT: &str = "/tmp/softpos-cups/printed";

struct Quiet;
impl Sink for Quiet {
    fn payment(&self, _: &PaymentEvent) {}
    fn status(&self, _: &AppStatus) {}
    fn qr(&self, _: &QrPaymentEvent) {}
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

/// An enrolled terminal with one approved payment (sequence number 1).
fn one_payment() -> (Env, u32) {
    let n = hex::encode(acquirer::util::random_bytes::<8>());
    let dir = std::env::temp_dir().join(format!("softpos-app-cups-{n}"));
    let acq = demo::start(&dir.join("demo"), BINARY).unwrap();
    let core = Core::open(Options {
        data_dir: dir.clone(),
        acquirer_url: acq.url.clone(),
        demo: true,
        prefilled_code: None,
        binary_sha256: BINARY.into(),
        reader_override: Some("sim:visa-cvn18".into()),
    })
    .unwrap();
    core.enroll(&acq.activation_code).unwrap();
    core.start_payment(990, &Quiet).unwrap();
    core.present_card(&Quiet).unwrap();
    let rows = core.history(&Default::default()).unwrap();
    let tsc = rows[0].tsc.unwrap();
    (
        Env {
            dir,
            acquirer: Some(acq),
            core,
        },
        tsc,
    )
}

fn set_printer(core: &Core, device: &str) {
    let mut s = core.status().settings;
    s.printer_device = device.into();
    core.save_settings(s).unwrap();
}

#[test]
fn a_receipt_reaches_the_cups_queue_and_a_missing_queue_is_named() {
    if std::env::var("SOFTPOS_CUPS_TESTS").map_or(true, |v| v.is_empty() || v == "0") {
        println!("skipped: set SOFTPOS_CUPS_TESTS=1 (bash scripts/cups.sh start)");
        return;
    }
    let listed = list_printers();
    assert!(
        listed.printers.iter().any(|p| p.id == "cups:softpos-test"),
        "{listed:?}"
    );
    assert!(listed.notes.is_empty(), "{:?}", listed.notes);

    let (env, tsc) = one_payment();
    let before = std::fs::metadata(OUT).map(|m| m.len()).unwrap_or(0);
    set_printer(&env.core, "cups:softpos-test");
    let sent = env.core.print_receipt(tsc).unwrap();
    assert!(
        sent.path.starts_with("cups:softpos-test (softpos-test-"),
        "{sent:?}"
    );
    // The backend appends the job as sent: the receipt's whole PDF.
    let start = Instant::now();
    let mut printed = Vec::new();
    while start.elapsed() < Duration::from_secs(15) {
        printed = std::fs::read(OUT).unwrap();
        if printed.len() as u64 >= before + sent.bytes {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let job = printed
        .get(usize::try_from(before).unwrap()..)
        .unwrap_or_default();
    assert_eq!(job.len() as u64, sent.bytes, "the job did not reach {OUT}");
    assert!(job.starts_with(b"%PDF-"));
    assert!(job.ends_with(b"%%EOF\n") || job.ends_with(b"%%EOF"));

    // Tampered twin: a queue CUPS does not have.
    set_printer(&env.core, "cups:softpos-no-such-queue");
    let err = env.core.print_receipt(tsc).unwrap_err();
    assert_eq!(err.code, ErrorCode::NoPrinter);
    assert!(
        err.message.contains("softpos-no-such-queue"),
        "{}",
        err.message
    );
    assert!(err.message.contains("does not exist"), "{}", err.message);
}

#[test]
fn an_empty_queue_name_is_refused_before_lp_runs() {
    let (env, tsc) = one_payment();
    for bad in ["cups:", "cups:-o"] {
        set_printer(&env.core, bad);
        let err = env.core.print_receipt(tsc).unwrap_err();
        assert_eq!(err.code, ErrorCode::NoPrinter, "{bad}");
    }
    // Whatever this machine has, every note is CUPS's.
    assert!(list_printers()
        .notes
        .iter()
        .all(|n| n.source == HwSource::Cups));
}
