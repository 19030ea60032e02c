//! Replay against sessions recorded from virtual cards, and their tampered
//! twins: each tampering must fail with the report the spec asks for.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use kernel::{Amount, Currency, ResponseApdu, Start, Step, Transaction, TransactionInputs};
use session::{replay, Failure, Hex, Recorder, Run, Session, TagKey, TerminalSpec};

const TERMINAL: &str = r#"{
  "tags": { "9F1A": "0156", "5F2A": "0156", "5F36": "02", "9F35": "22", "9F33": "E0F8C8",
            "9F40": "6000F0A001", "9F66": "36004000", "9F15": "5411", "9F09": "0002", "DF8117": "00" },
  "aids": [
    { "aid": "A0000000031010", "kernel": 3, "partial": true, "floor_limit": 5000, "cvm_limit": 30000, "transaction_limit": 500000 },
    { "aid": "A0000000041010", "kernel": 2, "partial": true, "floor_limit": 5000, "cvm_limit": 30000, "transaction_limit": 500000,
      "tac_denial": "0000000000", "tac_online": "F45084800C", "tac_default": "F45084800C" }
  ],
  "ca_keys": "test"
}"#;

/// Runs `profile` once and records it as a session.
fn record(profile: &str, keep_test_pan: bool) -> Session {
    let profile = cardsim::Profile::builtin(profile).unwrap();
    let mut card = cardsim::VirtualCard::new(&profile).unwrap();
    let terminal: TerminalSpec = serde_json::from_str(TERMINAL).unwrap();
    let mut config = terminal.to_config().unwrap();
    let ca = card.ca_public_key();
    config.ca_keys = kernel::oda::CaKeyStore::from_keys(vec![ca.clone()]);
    let inputs = TransactionInputs {
        tx_type: 0,
        amount: Amount::new(2500, Currency::from_numeric(156).unwrap()).unwrap(),
        amount_other: 0,
        date: [0x26, 0x11, 0x23],
        time: [0x10, 0x15, 0x00],
        unpredictable_numbers: vec![[0xA1, 0xB2, 0xC3, 0xD4], [0x11, 0x22, 0x33, 0x44]],
        start: Start::Ppse,
    };
    let (mut tx, mut step) = Transaction::start(config.clone(), inputs.clone()).unwrap();
    let mut rec = Recorder::new();
    let outcome = loop {
        match step {
            Step::Done(o) => break o,
            Step::Transmit(c) => {
                let Ok(r) = card.transmit(&c.to_bytes()) else {
                    rec.card_removed();
                    break Box::new(tx.card_removed());
                };
                rec.record(&c.to_bytes(), &r, Some(u64::from(card.delay_ms())));
                step = tx.handle(ResponseApdu::parse(&r).unwrap()).unwrap();
            }
        }
    };
    let mut terminal = TerminalSpec::from_config(&config);
    terminal.ca_keys =
        session::CaKeysSpec::from_store(&kernel::oda::CaKeyStore::from_keys(vec![ca]));
    Session::from_run(Run {
        title: Some("test".into()),
        source: Some("cardsim:test".into()),
        recorded_at: None,
        reader: Some("sim".into()),
        terminal,
        inputs: &inputs,
        card_removed: rec.was_card_removed(),
        exchanges: rec.into_exchanges(),
        outcome: &outcome,
        keep_test_pan,
    })
}

fn reparse(s: &Session) -> Session {
    Session::parse(&s.to_json_pretty()).unwrap()
}

#[test]
fn recorded_session_replays() {
    for profile in [
        "mastercard-cvn16",
        "mastercard-decline",
        "visa-cvn18",
        "visa-record-6a83",
        "visa-malformed-gpo",
    ] {
        let s = reparse(&record(profile, true));
        assert!(!s.exchanges.is_empty());
        let report = replay(&s);
        assert!(report.passed(), "{profile}: {report}");
        assert_eq!(report.used, s.exchanges.len());
        assert_eq!(
            report.outcome.unwrap().kind.as_str(),
            s.expect.as_ref().unwrap().outcome.as_deref().unwrap()
        );
    }
}

#[test]
fn mastercard_recording_expects_cryptogram_and_oda() {
    let s = record("mastercard-cvn16", true);
    let e = s.expect.as_ref().unwrap();
    assert_eq!(e.outcome.as_deref(), Some("online_request"));
    assert_eq!(e.oda.as_deref(), Some("passed"));
    assert!(e
        .data_record
        .contains_key(&TagKey(kernel::Tag::from_u32_unchecked(0x9F26))));
    assert!(!e
        .data_record
        .contains_key(&TagKey(kernel::Tag::from_u32_unchecked(0x5A))));
}

#[test]
fn changed_unpredictable_number_diverges_at_gpo_or_gen_ac() {
    let mut s = record("mastercard-cvn16", true);
    s.transaction.unpredictable_numbers[0] = Hex(vec![0, 0, 0, 0]);
    let report = replay(&s);
    assert!(!report.passed());
    let Failure::Divergence(d) = &report.failures[0] else {
        panic!("expected a divergence: {report}");
    };
    let exchange = &s.exchanges[d.index];
    assert_eq!(Some(exchange.c.0.clone()), d.expected);
    assert_ne!(d.expected.as_ref(), Some(&d.actual));
    assert!(
        d.differences.iter().any(|l| l.starts_with("9F37 Unpredictable Number: expected A1B2C3D4, actual 00000000")),
        "{:?}",
        d.differences
    );
    let line = report.to_string();
    assert!(line.starts_with("FAIL divergence at exchange #"), "{line}");
}

#[test]
fn changed_amount_is_decoded_by_the_cards_dol() {
    let mut s = record("visa-cvn18", true);
    s.transaction.amount = 2600;
    let report = replay(&s);
    let Failure::Divergence(d) = &report.failures[0] else {
        panic!("expected a divergence: {report}");
    };
    assert!(
        d.differences.iter().any(|l| l.contains(
            "9F02 Amount, Authorised (Numeric): expected 000000002500, actual 000000002600"
        )),
        "{:?}",
        d.differences
    );
}

#[test]
fn truncated_recording_diverges_with_no_expected_command() {
    let mut s = record("mastercard-cvn16", true);
    let last = s.exchanges.pop().unwrap();
    let report = replay(&s);
    let Failure::Divergence(d) = &report.failures[0] else {
        panic!("expected a divergence: {report}");
    };
    assert_eq!(d.index, s.exchanges.len());
    assert_eq!(d.expected, None);
    assert_eq!(d.actual, last.c.0);
}

#[test]
fn extra_exchanges_are_reported_unused() {
    let mut s = record("mastercard-cvn16", true);
    let n = s.exchanges.len();
    s.exchanges.push(s.exchanges[0].clone());
    let report = replay(&s);
    assert_eq!(
        report.failures,
        vec![Failure::Unused { first: n, count: 1 }]
    );
}

#[test]
fn each_expect_field_is_checked() {
    let mut s = record("mastercard-cvn16", true);
    let e = s.expect.as_mut().unwrap();
    e.outcome = Some("approved".into());
    e.cvm = Some("signature".into());
    e.oda = Some("failed".into());
    e.data_record.insert(
        TagKey(kernel::Tag::from_u32_unchecked(0x9F26)),
        Hex(vec![0; 8]),
    );
    e.data_record.insert(
        TagKey(kernel::Tag::from_u32_unchecked(0x9F7C)),
        Hex(vec![1]),
    );
    let report = replay(&s);
    let fields: Vec<&str> = report
        .failures
        .iter()
        .map(|f| match f {
            Failure::Expect { field, .. } => field.as_str(),
            other => panic!("unexpected {other}"),
        })
        .collect();
    assert_eq!(
        fields,
        [
            "outcome",
            "cvm",
            "oda",
            "data_record.9F26",
            "data_record.9F7C"
        ]
    );
    assert!(report
        .to_string()
        .contains("expect.data_record.9F7C: expected 01, actual absent"));
}

#[test]
fn tampered_response_changes_the_result() {
    // A flipped byte in the signed CDA data: ODA must fail, so the recorded
    // expectation no longer holds.
    let mut s = record("mastercard-cvn16", true);
    let last = s.exchanges.last_mut().unwrap();
    let n = last.r.0.len();
    last.r.0[n - 10] ^= 0x01;
    let report = replay(&s);
    assert!(!report.passed(), "{report}");
}

#[test]
fn bad_sessions_fail_cleanly() {
    let mut s = record("visa-cvn18", true);
    s.transaction.currency = Hex(vec![0x09, 0x99]);
    let report = replay(&s);
    assert!(
        matches!(&report.failures[0], Failure::Setup(m) if m.contains("transaction.currency")),
        "{report}"
    );
    let mut s = record("visa-cvn18", true);
    s.exchanges[0].r = Hex(vec![0x90]);
    let report = replay(&s);
    assert!(!report.passed());
}

#[test]
fn recordings_mask_the_pan_unless_asked() {
    let clear_pan = "5413330089010434";
    let masked = record("mastercard-cvn16", false).to_json_pretty();
    assert!(!masked.contains(clear_pan));
    assert!(
        !masked.contains("33008901"),
        "middle digits must not survive"
    );
    assert!(masked.contains("PAN, track data"));
    let kept = record("mastercard-cvn16", true).to_json_pretty();
    assert!(
        kept.contains(clear_pan),
        "tampered twin: keep_test_pan keeps it"
    );
    // Masking keeps every response a valid TLV of the same length.
    let (m, k) = (
        record("mastercard-cvn16", false),
        record("mastercard-cvn16", true),
    );
    for (a, b) in m.exchanges.iter().zip(&k.exchanges) {
        assert_eq!(a.r.0.len(), b.r.0.len());
    }
    let trace = serde_json::to_string(&session::trace(&k.exchanges)).unwrap();
    assert!(!trace.contains(clear_pan));
    assert!(trace.contains("541333******0434"));
}

/// A tiny deterministic generator: the same bytes on every run.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u8 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0.to_be_bytes()[3]
    }
}

#[test]
fn no_response_mutation_panics_replay_trace_or_masking() {
    let base = record("mastercard-chained", true);
    let mut rng = Lcg(7);
    for i in 0..base.exchanges.len() {
        let len = base.exchanges[i].r.0.len();
        // Every truncation keeping a status word, and random byte flips.
        for cut in (0..len.saturating_sub(2)).step_by(7) {
            let mut s = base.clone();
            let r = &mut s.exchanges[i].r.0;
            r.drain(cut..len - 2);
            let _ = replay(&s).to_string();
            let _ = session::trace(&s.exchanges);
        }
        for _ in 0..20 {
            let mut s = base.clone();
            let r = &mut s.exchanges[i].r.0;
            let at = usize::from(rng.next()) % r.len();
            r[at] ^= rng.next() | 1;
            let report = replay(&s);
            let _ = report.to_string();
            let masked = session::mask::Masker::new().mask(&s.exchanges[i].r.0);
            assert_eq!(masked.len(), s.exchanges[i].r.0.len());
        }
    }
    let garbage: Vec<u8> = (0..512).map(|_| rng.next()).collect();
    for w in garbage.windows(40).step_by(3) {
        let _ = session::mask::mask_apdu(w);
        let _ = session::trace::trace_one(
            0,
            w,
            w,
            None,
            &session::mask::Masker::new(),
            &mut Default::default(),
        );
    }
}

#[test]
fn card_removal_replays_only_when_recorded() {
    let s = record("visa-removed", true);
    assert!(s.card_removed);
    assert!(s.to_json_pretty().contains("\"card_removed\": true"));
    let report = replay(&reparse(&s));
    assert!(report.passed(), "{report}");
    assert_eq!(report.outcome.unwrap().kind.as_str(), "try_again");
    // Tampered twin: without the flag the recording simply ends early.
    let mut t = s.clone();
    t.card_removed = false;
    let report = replay(&t);
    assert!(
        matches!(&report.failures[0], Failure::Divergence(d) if d.expected.is_none()),
        "{report}"
    );
    // And a card that stayed never writes the field.
    assert!(!record("visa-cvn18", true)
        .to_json_pretty()
        .contains("card_removed"));
}
