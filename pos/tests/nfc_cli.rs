//! `softpos tap --reader nfc:<connstring>` and `softpos readers` as a user
//! runs them, against the PN532 emulator on a pty.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output};

#[cfg(feature = "nfc")]
#[path = "support/acquirer.rs"]
mod support;

fn softpos(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_softpos"))
        .args(args)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn readers_lists_libnfc_or_says_why_not() {
    let o = softpos(&["readers"]);
    assert!(o.status.success(), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("libnfc"), "{t}");
    if cfg!(feature = "nfc") {
        // No reader on a CI machine: the line says what to do.
        assert!(t.contains("nfc:") || t.contains("none:"), "{t}");
    } else {
        assert!(t.contains("--features nfc"), "{t}");
    }
}

#[test]
fn an_unknown_reader_is_a_usage_error() {
    let o = softpos(&["tap", "--reader", "bluetooth:x"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains("`nfc:<connstring>`") && t.contains("softpos readers"),
        "{t}"
    );
}

#[cfg(not(feature = "nfc"))]
#[test]
fn without_libnfc_the_nfc_reader_says_how_to_build_it() {
    let o = softpos(&["tap", "--reader", "nfc:pn532_uart:/dev/ttyUSB0"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--features nfc"));
}

#[cfg(feature = "nfc")]
#[path = "support/pn532.rs"]
mod pn532;

/// The PN532 emulator with one virtual card in its field, or `None` (the
/// test then skips) where no pseudo-terminal can be opened.
#[cfg(feature = "nfc")]
fn emulator(profile: &str, uid: [u8; 4]) -> Option<pn532::Pn532Emulator> {
    let card = cardsim::VirtualCard::new(&cardsim::Profile::builtin(profile).unwrap()).unwrap();
    match pn532::Pn532Emulator::start(vec![pn532::FieldCard::new(card, uid)]) {
        Ok(e) => Some(e),
        Err(e) => {
            eprintln!("skipped: cannot open a pseudo-terminal for the PN532 emulator: {e}");
            None
        }
    }
}

#[cfg(feature = "nfc")]
#[test]
fn tap_on_an_nfc_reader_records_a_session_that_replays() {
    let Some(emu) = emulator("visa-cvn18", [0x08, 1, 2, 3]) else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("softpos-nfc-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("nfc.session.json");
    let reader = format!("nfc:{}", emu.connstring());
    let o = softpos(&[
        "tap",
        "--reader",
        &reader,
        "--amount",
        "1500",
        "--record",
        file.to_str().unwrap(),
    ]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("SoftPOS tap: card \"nfc:pn532_uart:"), "{t}");
    assert!(t.contains("Outcome"), "{t}");
    // Masked by default: the test PAN is not in the file.
    let recorded = std::fs::read_to_string(&file).unwrap();
    assert!(!recorded.contains("4761739001010119"));
    assert!(recorded.contains("\"reader\": \"nfc:pn532_uart:"));
    assert!(emu.stats().apdus >= 3);

    let o = softpos(&["replay", file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("1 passed, 0 failed"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(feature = "nfc")]
#[test]
fn pay_over_an_nfc_reader_is_authorized_by_the_acquirer() {
    let Some(emu) = emulator("mastercard-cvn16", [0x08, 1, 2, 4]) else {
        return;
    };
    let acq = support::LocalAcquirer::start(&support::sha256_file(env!("CARGO_BIN_EXE_softpos")));
    let reader = format!("nfc:{}", emu.connstring());
    let o = acq.softpos_pay(&reader, 2000);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("card found"), "{t}");
    assert!(t.contains("Result       APPROVED"), "{t}");
    let stored = acq.stored(&support::terminal_id_in(&t));
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[0]["amount_minor"], 2000);
}
