//! The kernel against the virtual cards beyond the recorded corpus (see
//! `tests/corpus.rs` for every profile's outcome): what the outcome carries,
//! cryptograms an issuer can recompute, the ATC, and kernel-only outcomes.

use kernel::tags::t;
use kernel::{OdaStatus, OutcomeKind};
use softpos_tests::{tap_with, Terminal};

use OdaStatus::{Failed, Passed};
use OutcomeKind::*;
use Terminal::OnlineOnly;

#[test]
fn outcomes_carry_what_the_merchant_needs() {
    let tap = tap_with("visa-cvn18", 1500, OnlineOnly).unwrap();
    let o = &tap.outcome;
    assert_eq!(o.kernel, Some(3));
    assert_eq!(o.masked_pan.as_ref().unwrap().as_str(), "476173******0119");
    assert_eq!(
        o.ui.message,
        kernel::outcome::Message::AuthorisingPleaseWait
    );
    // The serialised record never holds the PAN or track data.
    let json = serde_json::to_string(o).unwrap();
    assert!(!json.contains("4761739001010119"), "{json}");
    assert!(!json.contains("\"57\""), "{json}");

    assert_eq!(
        o.card_read.map(|u| u.message),
        Some(kernel::outcome::Message::CardReadOkRemoveCard)
    );

    let removed = tap_with("visa-removed", 1500, OnlineOnly).unwrap().outcome;
    assert!(removed.card_read.is_none());
    assert_eq!(
        removed.parameters.start,
        Some(kernel::outcome::RestartPoint::B)
    );
    let other = tap_with("visa-gpo-6984", 1500, OnlineOnly).unwrap().outcome;
    assert!(other.parameters.prefer_contact_chip);
    assert_eq!(
        removed.ui.message,
        kernel::outcome::Message::PresentCardAgain
    );
}

/// The cryptogram in the data record is the one an issuer computes from
/// the profile's `imk_ac` and the record's own data.
#[test]
fn cryptograms_verify_at_the_issuer() {
    for profile in [
        "visa-cvn18",
        "visa-cvn10",
        "mastercard-cvn16",
        "mastercard-cvn17",
        "unionpay",
    ] {
        let p = cardsim::Profile::builtin(profile).unwrap();
        let tap = tap_with(profile, 1500, OnlineOnly).unwrap();
        let rec = &tap.outcome.data_record;
        let get = |tag: u32| rec.get(kernel::Tag::new(tag).unwrap()).map(<[u8]>::to_vec);
        let input = cryptogram::ac_input(p.cvn, &get).unwrap();
        let atc: [u8; 2] = rec.get(t::ATC).unwrap().try_into().unwrap();
        let un: [u8; 4] = rec.get(t::UN).unwrap().try_into().unwrap();
        let ac: [u8; 8] = rec.get(t::AC).unwrap().try_into().unwrap();
        let digits = p.pan.expose_digits();
        let ok =
            cryptogram::verify_ac(p.cvn, &p.imk_ac, digits, p.psn, atc, un, &input, ac).unwrap();
        assert!(ok, "{profile}: ARQC does not verify");
        // A tampered amount must not verify.
        let mut bad = input.clone();
        bad[5] ^= 0x01;
        assert!(
            !cryptogram::verify_ac(p.cvn, &p.imk_ac, digits, p.psn, atc, un, &bad, ac).unwrap()
        );
    }
}

/// The ATC advances from one tap to the next on the same card.
#[test]
fn atc_advances() {
    let p = cardsim::Profile::builtin("visa-cvn18").unwrap();
    let mut card = cardsim::VirtualCard::new(&p).unwrap();
    let inputs = kernel::testing::example_inputs(1500);
    let config = softpos_tests::config_for(&card, OnlineOnly);
    let a = softpos_tests::tap_card(&mut card, config.clone(), inputs.clone()).unwrap();
    card.reset();
    let b = softpos_tests::tap_card(&mut card, config, inputs).unwrap();
    let atc = |o: &kernel::Outcome| {
        u16::from_be_bytes(o.data_record.get(t::ATC).unwrap().try_into().unwrap())
    };
    assert_eq!(atc(&b.outcome), atc(&a.outcome) + 1);
}

/// A reader that does ODA for online authorisations (TTQ byte 1 b1)
/// checks the fDDA signature a Visa card sends with its ARQC; a forged
/// certificate shows as ODA failed but still goes online.
#[test]
fn fdda_for_online_when_the_reader_asks() {
    for (profile, oda) in [("visa-cvn18", Passed), ("visa-expired-cert", Failed)] {
        let p = cardsim::Profile::builtin(profile).unwrap();
        let mut card = cardsim::VirtualCard::new(&p).unwrap();
        let mut config = softpos_tests::config_for(&card, OnlineOnly);
        config.tags.insert(t::TTQ, vec![0x37, 0x00, 0x40, 0x00]);
        let tap = softpos_tests::tap_card(&mut card, config, kernel::testing::example_inputs(1500))
            .unwrap();
        assert_eq!(
            (tap.outcome.kind, tap.outcome.oda),
            (OnlineRequest, oda),
            "{profile}"
        );
        assert_eq!(tap.outcome.oda_method, Some(kernel::OdaMethod::Fdda));
    }
}

/// Without Entry Point (a transcript that starts at final selection), a
/// card refusing GPO with 6985 ends in the kernel's own Select Next; a
/// phone answering 6986 asks the cardholder to look at it.
#[test]
fn kernel_outcomes_without_entry_point() {
    let p = cardsim::Profile::builtin("visa-gpo-6985").unwrap();
    let mut card = cardsim::VirtualCard::new(&p).unwrap();
    let config = softpos_tests::config_for(&card, OnlineOnly);
    let mut inputs = kernel::testing::example_inputs(1500);
    inputs.start = kernel::Start::FinalSelection;
    let tap = softpos_tests::tap_card(&mut card, config, inputs).unwrap();
    assert_eq!(tap.outcome.kind, SelectNext);
    assert_eq!(tap.exchanges.len(), 2);

    let phone = tap_with("visa-gpo-6986", 1500, OnlineOnly).unwrap().outcome;
    assert_eq!(
        phone.ui.message,
        kernel::outcome::Message::SeePhoneForInstructions
    );
}

/// No `{:?}` of an outcome or a step shows the card number or track data.
#[test]
fn debug_output_masks_card_data() {
    let o = tap_with("visa-cvn18", 1500, OnlineOnly).unwrap().outcome;
    let text = format!("{o:?}");
    assert!(!text.contains("4761739001010119"), "{text}");
    assert!(!text.contains("476173900101"), "{text}");
    assert!(text.contains("476173******0119"));
}

/// A phone that declines because the cardholder must act on it (DF4B)
/// asks for a second tap: End Application with "See phone", not Declined.
#[test]
fn mastercard_phone_asks_to_see_phone() {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("sessions/cardsim/k2-mc-decline.session.json"),
    )
    .unwrap();
    let mut session = session::Session::parse(&text).unwrap();
    let gac = session.exchanges.last_mut().unwrap();
    let r = &mut gac.r.0;
    // 77 LL ... 90 00 → append DF4B 03 000100 inside the template.
    assert_eq!(r[0], 0x77);
    let extra = [0xDF, 0x4B, 0x03, 0x00, 0x01, 0x00];
    let body_end = r.len() - 2;
    r.splice(body_end..body_end, extra);
    assert!(r[1] < 0x80 - 6u8, "short-form length expected");
    r[1] += 6u8;
    let report = session::replay(&session);
    let o = report.outcome.unwrap();
    assert_eq!(o.kind, EndApplication);
    assert_eq!(
        o.ui.message,
        kernel::outcome::Message::SeePhoneForInstructions
    );
    assert!(o.ui_on_restart.is_some());
    assert_eq!(o.parameters.start, Some(kernel::outcome::RestartPoint::B));
}

/// Kernel 2 applies its own contactless transaction limit after GPO: the
/// higher one (DF8125) for a phone that verifies the cardholder, the
/// lower one (DF8124) for a card.
#[test]
fn kernel2_transaction_limits_depend_on_on_device_cvm() {
    let run = |profile: &str, amount: u64| {
        let p = cardsim::Profile::builtin(profile).unwrap();
        let mut card = cardsim::VirtualCard::new(&p).unwrap();
        let mut config = softpos_tests::config_for(&card, OnlineOnly);
        for aid in &mut config.aids {
            aid.transaction_limit = None;
        }
        let tag = |v| kernel::Tag::new(v).unwrap();
        config.tags.insert(tag(0xDF8124), vec![0, 0, 0, 0x10, 0, 0]); // 1 000.00
        config.tags.insert(tag(0xDF8125), vec![0, 0, 0, 0x50, 0, 0]); // 5 000.00
        softpos_tests::tap_card(&mut card, config, kernel::testing::example_inputs(amount))
            .unwrap()
            .outcome
    };
    assert_eq!(run("mastercard-cvn16", 90_000).kind, OnlineRequest);
    assert_eq!(run("mastercard-cvn16", 200_000).kind, EndApplication);
    let phone = run("mastercard-cdcvm", 200_000);
    assert_eq!((phone.kind, phone.cvm), (OnlineRequest, kernel::Cvm::Cdcvm));
    assert_eq!(run("mastercard-cdcvm", 600_000).kind, EndApplication);
}
