//! Full transactions through the real `nfc1` transport and libnfc's real
//! `pn532_uart` driver, against a PN532 emulated on a pseudo-terminal
//! (`tests/support/pn532.rs`) with a `cardsim` card in its field. Each
//! run must end as the `sim` path ends for the same card and inputs, with
//! the same exchanges byte for byte, and its recording must replay.
//!
//! Needs `--features nfc` (nfc1 builds libnfc: `scripts/nfc-deps.sh`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[cfg(not(feature = "nfc"))]
#[test]
fn nfc_tests_skipped() {
    eprintln!(
        "skipped: pos built without the `nfc` feature; run `bash scripts/nfc-deps.sh` and \
         `cargo test -p pos --features nfc --test nfc_transactions`"
    );
}

#[cfg(feature = "nfc")]
#[path = "support/pn532.rs"]
mod pn532;

#[cfg(feature = "nfc")]
mod with_nfc {
    use super::pn532::{FieldCard, Pn532Emulator};
    use cardsim::{Profile, VirtualCard};
    use kernel::oda::{CaKeyStore, CaPublicKey};
    use kernel::{Amount, Currency, Outcome, OutcomeKind, Start, TransactionInputs};
    use pos::card::{self, Limits};
    use pos::reader::nfc::{NfcError, NfcReader};
    use pos::reader::sim::SimReader;
    use pos::reader::{Reply, Transport, TransportError};
    use session::{Recorder, Run, Session, TerminalSpec};
    use std::sync::Mutex;
    use std::time::{Duration, Instant};

    /// libnfc keeps global state (its driver list, its log); one test at a
    /// time talks to it, which also keeps the timings clean.
    static LIBNFC: Mutex<()> = Mutex::new(());

    const UID: [u8; 4] = [0x08, 0x12, 0x34, 0x56];

    fn lock() -> std::sync::MutexGuard<'static, ()> {
        LIBNFC.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn card(name: &str) -> VirtualCard {
        VirtualCard::new(&Profile::builtin(name).unwrap()).unwrap()
    }

    fn inputs(amount_minor: u64) -> TransactionInputs {
        TransactionInputs {
            tx_type: 0x00,
            amount: Amount::new(amount_minor, Currency::from_numeric(156).unwrap()).unwrap(),
            amount_other: 0,
            date: [0x26, 0x11, 0x23],
            time: [0x10, 0x15, 0x00],
            unpredictable_numbers: vec![
                [0x11, 0x22, 0x33, 0x44],
                [0x55, 0x66, 0x77, 0x88],
                [0x99, 0xAA, 0xBB, 0xCC],
                [0xDD, 0xEE, 0xFF, 0x01],
            ],
            start: Start::Ppse,
        }
    }

    /// One finished tap and its recording.
    struct Tapped {
        outcome: Outcome,
        session: Session,
        /// (command, response) pairs, without times.
        exchanges: Vec<(Vec<u8>, Vec<u8>)>,
        /// From the card's selection to the outcome.
        elapsed: Duration,
        /// The answer times the transport reported.
        apdu_ms: Vec<u64>,
        /// "ISO 14443-A" or "-B" on the nfc path, "sim" on the sim path.
        modulation: &'static str,
    }

    /// Drives the kernel over `transport` as `pos::tap` does, trusting the
    /// virtual card's CA, and records the run (test card: PAN kept).
    fn run_on(
        transport: &mut dyn Transport,
        ca: &CaPublicKey,
        amount_minor: u64,
        limits: Limits,
    ) -> Tapped {
        let mut terminal: TerminalSpec = pos::tap::default_terminal().unwrap();
        let mut config = terminal.to_config().unwrap();
        let mut keys = config.ca_keys.keys().to_vec();
        keys.push(ca.clone());
        config.ca_keys = CaKeyStore::from_keys(keys);
        let inputs = inputs(amount_minor);
        let started = Instant::now();
        let (mut tx, step) = kernel::Transaction::start(config, inputs.clone()).unwrap();
        let mut recorder = Recorder::new();
        let outcome = card::run_with_limits(&mut tx, step, transport, &mut recorder, limits);
        let elapsed = started.elapsed();
        terminal.ca_keys =
            session::CaKeysSpec::from_store(&CaKeyStore::from_keys(vec![ca.clone()]));
        let card_removed = recorder.was_card_removed();
        let exchanges = recorder.into_exchanges();
        let pairs = exchanges
            .iter()
            .map(|x| (x.c.0.clone(), x.r.0.clone()))
            .collect();
        let apdu_ms = exchanges.iter().filter_map(|x| x.ms).collect();
        let session = Session::from_run(Run {
            title: Some(format!("nfc test: {}", outcome.kind.as_str())),
            source: None,
            recorded_at: Some("2026-11-23T10:15:00Z".into()),
            reader: Some(transport.name()),
            terminal,
            inputs: &inputs,
            exchanges,
            card_removed,
            outcome: &outcome,
            keep_test_pan: true,
        });
        Tapped {
            outcome,
            session,
            exchanges: pairs,
            elapsed,
            apdu_ms,
            modulation: "sim",
        }
    }

    fn sim_tap(name: &str, amount_minor: u64, limits: Limits) -> Tapped {
        let c = card(name);
        let ca = c.ca_public_key();
        let mut reader = SimReader::new(c);
        run_on(&mut reader, &ca, amount_minor, limits)
    }

    /// A PN532 emulator with `name` in its field, or why the machine
    /// cannot host one (then the test is skipped with that reason).
    fn emulator(cards: Vec<FieldCard>) -> Option<Pn532Emulator> {
        match Pn532Emulator::start(cards) {
            Ok(e) => Some(e),
            Err(e) => {
                eprintln!("skipped: cannot open a pseudo-terminal for the PN532 emulator: {e}");
                None
            }
        }
    }

    fn open(emu: &Pn532Emulator) -> NfcReader {
        NfcReader::open(&emu.connstring())
            .unwrap_or_else(|e| panic!("libnfc pn532_uart on {}: {e}", emu.path()))
    }

    /// Opens the reader on the emulator, waits for the card, and runs.
    fn nfc_tap(emu: &Pn532Emulator, ca: &CaPublicKey, amount: u64, limits: Limits) -> Tapped {
        let mut reader = open(emu);
        let info = reader.wait_for_card(Duration::from_secs(2)).unwrap();
        assert_eq!(info.uid, UID.to_vec());
        if info.modulation == "ISO 14443-A" {
            assert_eq!(info.ats, vec![0x78, 0x80, 0x70, 0x02]);
        }
        Tapped {
            modulation: info.modulation,
            ..run_on(&mut reader, ca, amount, limits)
        }
    }

    fn json(o: &Outcome) -> serde_json::Value {
        serde_json::to_value(o).unwrap()
    }

    /// The recording survives a write and a read unchanged and replays to
    /// its outcome; a tampered copy does not.
    fn assert_replays(t: &Tapped) {
        let text = t.session.to_json_pretty();
        let parsed = Session::parse(&text).unwrap();
        assert_eq!(
            parsed.to_json_pretty(),
            text,
            "session changed on a round trip"
        );
        let report = session::replay(&parsed);
        assert!(report.passed(), "replay failed: {:?}", report.failures);
        let replayed = report.outcome.expect("replay has an outcome");
        assert_eq!(json(&replayed), json(&t.outcome));

        // Tampered twin: one bit of the first recorded command changed;
        // the kernel's real command no longer matches it.
        let mut tampered = parsed.clone();
        let first = tampered.exchanges.first_mut().expect("an exchange");
        let last = first.c.0.len() - 1;
        first.c.0[last] ^= 0x01;
        let report = session::replay(&tampered);
        assert!(!report.passed(), "a tampered recording replayed");
    }

    /// The whole comparison for one built-in card.
    fn same_as_sim(name: &str, amount: u64) {
        same_as_sim_in(name, amount, "ISO 14443-A", |c| FieldCard::new(c, UID));
    }

    fn same_as_sim_in(
        name: &str,
        amount: u64,
        modulation: &str,
        field: impl FnOnce(VirtualCard) -> FieldCard,
    ) {
        let _g = lock();
        let sim = sim_tap(name, amount, Limits::default());
        let c = card(name);
        let ca = c.ca_public_key();
        let Some(emu) = emulator(vec![field(c)]) else {
            return;
        };
        let nfc = nfc_tap(&emu, &ca, amount, Limits::default());
        assert_eq!(nfc.modulation, modulation);
        assert_eq!(json(&nfc.outcome), json(&sim.outcome), "{name}: outcome");
        assert_eq!(nfc.exchanges, sim.exchanges, "{name}: exchanges");
        assert!(nfc
            .session
            .reader
            .as_deref()
            .unwrap()
            .starts_with("nfc:pn532_uart:"));
        let stats = emu.stats();
        assert_eq!(stats.bad_frames, 0);
        // A card that left got the APDU it never answered.
        let unanswered = usize::from(nfc.session.card_removed);
        assert_eq!(stats.apdus as usize, nfc.exchanges.len() + unanswered);
        // libnfc's own start-up really went through the emulator.
        for cmd in [0x14u8, 0x00, 0x02, 0x12, 0x4A, 0x40] {
            assert!(
                stats.commands.contains_key(&cmd),
                "{name}: no command {cmd:02X}"
            );
        }
        assert_replays(&nfc);
    }

    #[test]
    fn visa_cvn18_approves_online_as_over_sim() {
        same_as_sim("visa-cvn18", 2500);
    }

    #[test]
    fn visa_offline_as_over_sim() {
        same_as_sim("visa-offline", 2500);
    }

    #[test]
    fn mastercard_cvn16_as_over_sim() {
        same_as_sim("mastercard-cvn16", 2500);
    }

    #[test]
    fn unionpay_as_over_sim() {
        same_as_sim("unionpay", 2500);
    }

    #[test]
    fn a_type_b_card_as_over_sim() {
        same_as_sim_in("visa-cvn18", 2500, "ISO 14443-B", |c| {
            FieldCard::new_type_b(c, UID)
        });
    }

    #[test]
    fn a_chained_card_as_over_sim() {
        same_as_sim("mastercard-chained", 2500);
    }

    #[test]
    fn visa_online_outcome_is_not_vacuous() {
        // Guards the comparisons above: the cards do reach a real end.
        let _g = lock();
        let c = card("visa-cvn18");
        let ca = c.ca_public_key();
        let Some(emu) = emulator(vec![FieldCard::new(c, UID)]) else {
            return;
        };
        let t = nfc_tap(&emu, &ca, 2500, Limits::default());
        assert_eq!(t.outcome.kind, OutcomeKind::OnlineRequest);
        assert!(t.exchanges.len() >= 3);
        assert_eq!(emu.first_card_atc(), Some(17));
    }

    #[test]
    fn card_removed_mid_transaction_is_try_again() {
        let _g = lock();
        let c = card("visa-cvn18");
        let ca = c.ca_public_key();
        let Some(emu) = emulator(vec![FieldCard::new(c, UID)]) else {
            return;
        };
        // PPSE and SELECT answered; the card leaves before GPO.
        emu.remove_after_apdus(2);
        let t = nfc_tap(&emu, &ca, 2500, Limits::default());
        assert_eq!(t.outcome.kind, OutcomeKind::TryAgain);
        assert_eq!(t.exchanges.len(), 2);
        assert!(t.session.card_removed);
        assert_replays(&t);
    }

    #[test]
    fn a_card_that_leaves_by_itself_ends_as_over_sim() {
        same_as_sim("visa-removed", 2500);
    }

    #[test]
    fn a_slow_card_within_the_deadlines_ends_as_over_sim() {
        // 600 ms more over every answer, really slept by the emulator.
        same_as_sim("visa-slow", 2500);
    }

    #[test]
    fn a_card_slower_than_the_deadline_is_try_again() {
        let _g = lock();
        let c = card("visa-cvn18");
        let ca = c.ca_public_key();
        let Some(emu) = emulator(vec![FieldCard::new(c, UID)]) else {
            return;
        };
        emu.set_extra_delay(Duration::from_millis(400));
        let mut reader = open(&emu);
        reader.wait_for_card(Duration::from_secs(2)).unwrap();
        // The transport itself reports a timeout, not a removal.
        let select_ppse = b"\x00\xA4\x04\x00\x0E2PAY.SYS.DDF01\x00";
        let err = reader
            .transceive(select_ppse, Duration::from_millis(150))
            .unwrap_err();
        assert_eq!(err, TransportError::Timeout { deadline_ms: 150 });
        drop(reader);

        // And the card loop turns it into Try Again.
        let limits = Limits {
            per_command: Duration::from_millis(150),
            ..Limits::default()
        };
        let t = nfc_tap(&emu, &ca, 2500, limits);
        assert_eq!(t.outcome.kind, OutcomeKind::TryAgain);
        assert!(t.exchanges.is_empty());
    }

    #[test]
    fn two_cards_in_the_field_is_a_collision() {
        let _g = lock();
        let Some(emu) = emulator(vec![
            FieldCard::new(card("visa-cvn18"), UID),
            FieldCard::new(card("mastercard-cvn16"), [0x08, 0x99, 0x88, 0x77]),
        ]) else {
            return;
        };
        let mut reader = open(&emu);
        let err = reader
            .wait_for_card(Duration::from_millis(500))
            .unwrap_err();
        assert_eq!(err, NfcError::Collision);
        assert!(err.to_string().contains("present one card only"));
        assert!(reader.card().is_none());
    }

    #[test]
    fn an_empty_field_times_out_and_says_so() {
        let _g = lock();
        let Some(emu) = emulator(vec![FieldCard::new(card("visa-cvn18"), UID)]) else {
            return;
        };
        emu.remove_cards();
        let mut reader = open(&emu);
        let start = Instant::now();
        let err = reader
            .wait_for_card(Duration::from_millis(300))
            .unwrap_err();
        assert!(matches!(err, NfcError::NoCard { .. }), "{err}");
        assert!(start.elapsed() >= Duration::from_millis(300));
        // No card selected: an exchange is refused, not sent.
        assert_eq!(
            reader.transceive(b"\x00\xA4\x04\x00\x00", Duration::from_millis(100)),
            Err(TransportError::CardRemoved)
        );
    }

    #[test]
    fn a_tag_without_iso14443_4_is_not_a_payment_card() {
        let _g = lock();
        let mut fc = FieldCard::new(card("visa-cvn18"), UID);
        // A MIFARE Classic-like tag: no ATS.
        fc.ats.clear();
        fc.sak = 0x08;
        let Some(emu) = emulator(vec![fc]) else {
            return;
        };
        let mut reader = open(&emu);
        let err = reader
            .wait_for_card(Duration::from_millis(300))
            .unwrap_err();
        assert!(matches!(err, NfcError::NotEmv { .. }), "{err}");
    }

    #[test]
    fn nothing_at_the_connstring_is_a_clear_error() {
        let _g = lock();
        let err = NfcReader::open("pn532_uart:/dev/softpos-no-such-port").unwrap_err();
        assert!(matches!(err, NfcError::NoDevice { .. }), "{err}");
        assert!(err.to_string().contains("does not exist"));
    }

    fn percentile(sorted: &[Duration], p: usize) -> Duration {
        let i = (sorted.len() * p).div_ceil(100).saturating_sub(1);
        sorted[i.min(sorted.len() - 1)]
    }

    /// Card detection to outcome, and the transport's own time per APDU,
    /// over nfc1 + libnfc + the PN532 emulator against sim, for the same
    /// card. The emulated card answers at once (no simulated card time),
    /// so what is measured is the transport.
    ///
    /// `cargo test -p pos --features nfc --test nfc_transactions -- --ignored --nocapture timing`
    #[test]
    #[ignore]
    fn timing() {
        let _g = lock();
        let runs = 50;
        let name = "visa-cvn18";
        let mut sim_total = Vec::new();
        let mut sim_apdu = Vec::new();
        for _ in 0..runs {
            let c = card(name);
            let ca = c.ca_public_key();
            let mut reader = Instant0(SimReader::new(c));
            let t = run_on(&mut reader, &ca, 2500, Limits::default());
            sim_total.push(t.elapsed);
            sim_apdu.push(t.elapsed / u32::try_from(t.exchanges.len()).unwrap());
        }
        let c = card(name);
        let ca = c.ca_public_key();
        let emu = emulator(vec![FieldCard::new(c, UID)]).expect("pty");
        emu.set_real_delays(false);
        let mut reader = open(&emu);
        let mut nfc_total = Vec::new();
        let mut nfc_apdu = Vec::new();
        let mut detect = Vec::new();
        for _ in 0..runs {
            let d = Instant::now();
            reader.wait_for_card(Duration::from_secs(2)).unwrap();
            detect.push(d.elapsed());
            let t = run_on(&mut reader, &ca, 2500, Limits::default());
            assert_eq!(t.outcome.kind, OutcomeKind::OnlineRequest);
            nfc_total.push(t.elapsed);
            let n = u32::try_from(t.apdu_ms.len()).unwrap();
            nfc_apdu.push(t.elapsed / n);
            reader.release();
        }
        for v in [
            &mut sim_total,
            &mut sim_apdu,
            &mut nfc_total,
            &mut nfc_apdu,
            &mut detect,
        ] {
            v.sort();
        }
        let row = |label: &str, v: &[Duration]| {
            println!(
                "{label:<44} median {:>9.3} ms   p95 {:>9.3} ms",
                percentile(v, 50).as_secs_f64() * 1e3,
                percentile(v, 95).as_secs_f64() * 1e3
            );
        };
        println!("{name}, {runs} runs each (card time not simulated)");
        row("sim: selection to outcome", &sim_total);
        row("sim: per APDU (incl. kernel)", &sim_apdu);
        row("nfc1+pn532_uart+emulator: poll+select", &detect);
        row("nfc1+pn532_uart+emulator: selection to outcome", &nfc_total);
        row(
            "nfc1+pn532_uart+emulator: per APDU (incl. kernel)",
            &nfc_apdu,
        );
        // A pty has no baud rate; a real PN532 on HSU runs at 115200 baud,
        // 10 bits a byte. Per exchange: the host frame (10 bytes around the
        // APDU: preamble, LEN, LCS, D4 40 Tg, DCS, postamble), the ACK (6)
        // and the answer frame (10 around the response).
        let t = run_on(
            &mut Instant0(SimReader::new(card(name))),
            &ca,
            2500,
            Limits::default(),
        );
        let bytes: usize = t
            .exchanges
            .iter()
            .map(|(c, r)| 26 + c.len() + r.len())
            .sum();
        println!(
            "serial time at 115200 baud for this tap's {} exchanges: {:.1} ms ({bytes} bytes)",
            t.exchanges.len(),
            bytes as f64 * 10.0 / 115.2
        );
    }

    /// The sim transport with its reported card time zeroed, so the timing
    /// compares transports and not the card model.
    struct Instant0(SimReader);

    impl Transport for Instant0 {
        fn name(&self) -> String {
            self.0.name()
        }
        fn transceive(&mut self, c: &[u8], d: Duration) -> Result<Reply, TransportError> {
            self.0
                .transceive(c, d)
                .map(|r| Reply { elapsed_ms: 0, ..r })
        }
    }
}
