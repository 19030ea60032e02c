//! `softpos readers` and `softpos tap --reader pcsc:<name>` as a user runs
//! them, against pcscd's vpcd reader with a `cardsim` card in it. Same
//! requirements as `pcsc_transactions.rs` (`--features pcsc`, a running
//! pcscd with vpcd, `SOFTPOS_PCSC_TESTS=1`, `--test-threads=1`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[cfg(feature = "pcsc")]
#[path = "support/acquirer.rs"]
mod support;

const SKIP: &str = "skipped: set SOFTPOS_PCSC_TESTS=1 (scripts/pcscd.sh start)";

#[cfg(not(feature = "pcsc"))]
#[test]
fn pcsc_cli_tests_need_the_pcsc_feature() {
    println!("skipped: build with --features pcsc ({SKIP})");
}

#[cfg(feature = "pcsc")]
mod live {
    use super::SKIP;
    use cardsim::vpcd::{Ended, VpcdClient, DEFAULT_PORT};
    use cardsim::{Profile, VirtualCard};
    use std::net::{Ipv4Addr, SocketAddr};
    use std::process::{Command, Output};
    use std::sync::{Mutex, MutexGuard};
    use std::time::Duration;

    static READER_LOCK: Mutex<()> = Mutex::new(());

    fn enabled() -> Option<MutexGuard<'static, ()>> {
        match std::env::var("SOFTPOS_PCSC_TESTS") {
            Ok(v) if !v.is_empty() && v != "0" => {
                Some(READER_LOCK.lock().unwrap_or_else(|e| e.into_inner()))
            }
            _ => {
                println!("{SKIP}");
                None
            }
        }
    }

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

    fn card(name: &str) -> VirtualCard {
        VirtualCard::new(&Profile::builtin(name).unwrap()).unwrap()
    }

    fn vpcd_addr() -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, DEFAULT_PORT))
    }

    /// Waits until pcscd reports the vpcd reader empty again.
    fn field_empty() {
        let mut r = pos::reader::pcsc::PcscReader::open("Virtual PCD 00 00").unwrap();
        assert!(r.wait_for_removal(Duration::from_secs(5)).unwrap());
    }

    #[test]
    fn readers_lists_the_vpcd_reader_and_its_card() {
        let Some(_g) = enabled() else { return };
        field_empty();
        let o = softpos(&["readers"]);
        assert!(o.status.success(), "{}", text(&o));
        let t = text(&o);
        assert!(t.contains("PC/SC (--reader pcsc:<name>):"), "{t}");
        assert!(t.contains("pcsc:Virtual PCD 00 00  (no card)"), "{t}");

        let served = VpcdClient::new(card("visa-cvn18"))
            .spawn(vpcd_addr())
            .unwrap();
        let mut r = pos::reader::pcsc::PcscReader::open("Virtual PCD 00 00").unwrap();
        r.wait_for_card(Duration::from_secs(5)).unwrap();
        r.release();
        let t = text(&softpos(&["readers"]));
        assert!(
            t.contains("pcsc:Virtual PCD 00 00  (card present, ATR 3B8F8001804F0CA0"),
            "{t}"
        );
        served.remove().unwrap();
        field_empty();
    }

    #[test]
    fn tap_over_pcsc_records_a_session_that_replays() {
        let Some(_g) = enabled() else { return };
        field_empty();
        let served = VpcdClient::new(card("mastercard-cvn16"))
            .one_tap(true)
            .spawn(vpcd_addr())
            .unwrap();
        let dir = std::env::temp_dir().join(format!("softpos-pcsc-cli-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("pcsc.session.json");
        let f = file.to_string_lossy().into_owned();
        let o = softpos(&[
            "tap",
            "--reader",
            "pcsc:PCD 00 00",
            "--amount",
            "1500",
            "--record",
            &f,
        ]);
        let t = text(&o);
        assert!(o.status.success(), "{t}");
        assert!(
            t.contains("SoftPOS tap: card \"pcsc:Virtual PCD 00 00\""),
            "{t}"
        );
        assert!(t.contains("Amount       15.00 CNY"), "{t}");
        // Masked by default: the PAN is not in the recording.
        let recorded = std::fs::read_to_string(&file).unwrap();
        assert!(!recorded.contains("5413330089010434"));
        assert!(recorded.contains("\"reader\": \"pcsc:Virtual PCD 00 00\""));
        let (_, ended) = served.remove().unwrap();
        assert_eq!(ended, Ended::TapDone);
        field_empty();

        let o = softpos(&["replay", &f]);
        assert!(o.status.success(), "{}", text(&o));
        assert!(text(&o).contains("1 passed, 0 failed"));
        // Tampered twin: another amount in the recording's inputs makes the
        // kernel send other commands, and the replay fails.
        let tampered = recorded.replacen("\"amount\": 1500", "\"amount\": 1501", 1);
        assert_ne!(tampered, recorded);
        let g = dir.join("tampered.session.json");
        std::fs::write(&g, tampered).unwrap();
        let o = softpos(&["replay", &g.to_string_lossy()]);
        assert!(!o.status.success(), "{}", text(&o));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn unknown_reader_and_empty_field_say_what_to_do() {
        let Some(_g) = enabled() else { return };
        field_empty();
        let o = softpos(&["tap", "--reader", "pcsc:no such reader"]);
        assert!(!o.status.success());
        let t = text(&o);
        assert!(
            t.contains("no PC/SC reader matches \"no such reader\""),
            "{t}"
        );
        assert!(t.contains("\"Virtual PCD 00 00\""), "{t}");
        let o = softpos(&["tap", "--reader", "pcsc:Virtual"]);
        assert!(
            text(&o).contains("matches several PC/SC readers"),
            "{}",
            text(&o)
        );
    }

    #[test]
    fn pay_over_pcsc_is_authorized_by_the_acquirer() {
        let Some(_g) = enabled() else { return };
        field_empty();
        let acq = crate::support::LocalAcquirer::start(&crate::support::sha256_file(env!(
            "CARGO_BIN_EXE_softpos"
        )));
        let served = VpcdClient::new(card("visa-cvn18"))
            .one_tap(true)
            .spawn(vpcd_addr())
            .unwrap();
        let o = acq.softpos_pay("pcsc:PCD 00 00", 1250);
        let t = text(&o);
        assert!(o.status.success(), "{t}");
        assert!(t.contains("present one card to Virtual PCD 00 00"), "{t}");
        assert!(t.contains("Result       APPROVED"), "{t}");
        let (_, ended) = served.remove().unwrap();
        assert_eq!(ended, Ended::TapDone);
        field_empty();
        // The acquirer holds it, under this terminal, once.
        let stored = acq.stored(&crate::support::terminal_id_in(&t));
        assert_eq!(stored.len(), 1, "{stored:?}");
        assert_eq!(stored[0]["amount_minor"], 1250);
    }
}
