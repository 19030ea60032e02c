//! Hand-driven transactions against every kind of virtual card: the card
//! answers like a card, its cryptograms recompute from the profile's
//! `imk_ac`, its ATC advances and each behaviour does what it says.
// Test helpers outside #[test] functions panic on purpose: a failed
// expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use cardsim::pki::{rsa_public, sha1};
use cardsim::{CardRemoved, Profile, VirtualCard};
use common::*;
use kernel::apdu::CommandApdu;

/// Where a test terminal's data comes from.
type Terminal = dyn Fn(u32) -> Option<Vec<u8>>;

fn card(name: &str) -> VirtualCard {
    VirtualCard::new(&Profile::builtin(name).unwrap()).unwrap()
}

fn raw(card: &mut VirtualCard, hex_cmd: &str) -> Resp {
    let out = card.transmit(&hex::decode(hex_cmd).unwrap()).unwrap();
    let (data, sw) = out.split_at(out.len() - 2);
    Resp {
        data: data.to_vec(),
        sw: u16::from_be_bytes([sw[0], sw[1]]),
    }
}

/// Book 2 §5–6 by hand with the RSA public operation: recovers the issuer
/// and ICC keys and checks both certificate hashes. Returns (ICC modulus,
/// ICC exponent, ICC certificate expiry MMYY).
fn recover_chain(card: &VirtualCard, flow: &Flow) -> (Vec<u8>, Vec<u8>, [u8; 2]) {
    let ca = card.ca_public_key();
    assert_eq!(flow.record_tag(0x8F).unwrap(), vec![ca.index]);
    let cert = flow.record_tag(0x90).unwrap();
    let rem = flow.record_tag(0x92).unwrap_or_default();
    let exp = flow.record_tag(0x9F32).unwrap();
    let rec = rsa_public(&ca.modulus, &ca.exponent, &cert).unwrap();
    let n = rec.len();
    assert_eq!((rec[0], rec[1], rec[n - 1]), (0x6A, 0x02, 0xBC));
    assert_eq!(
        &rec[n - 21..n - 1],
        &sha1(&[&rec[1..n - 21], &rem, &exp]),
        "issuer certificate hash"
    );
    let pan = flow.record_tag(0x5A).unwrap();
    let id = &rec[2..6];
    for (i, b) in id.iter().enumerate() {
        if *b != 0xFF {
            assert_eq!(*b, pan[i], "issuer identifier matches the PAN");
        }
    }
    let issuer_len = rec[13] as usize;
    let mut issuer_mod = rec[15..15 + (n - 36).min(issuer_len)].to_vec();
    issuer_mod.extend_from_slice(&rem);
    assert_eq!(issuer_mod.len(), issuer_len);

    let cert = flow.record_tag(0x9F46).unwrap();
    let rem = flow.record_tag(0x9F48).unwrap_or_default();
    let exp_icc = flow.record_tag(0x9F47).unwrap();
    let rec = rsa_public(&issuer_mod, &exp, &cert).unwrap();
    let n = rec.len();
    assert_eq!((rec[0], rec[1], rec[n - 1]), (0x6A, 0x04, 0xBC));
    // Static data: the value of each ODA record's template 70, then the AIP (9F4A = 82).
    let mut static_data = Vec::new();
    for (_, r) in &flow.oda_records {
        static_data.extend_from_slice(&find(r, 0x70).unwrap());
    }
    assert_eq!(flow.record_tag(0x9F4A).unwrap(), vec![0x82]);
    static_data.extend_from_slice(&flow.gpo.must(0x82));
    assert_eq!(
        &rec[n - 21..n - 1],
        &sha1(&[&rec[1..n - 21], &rem, &exp_icc, &static_data]),
        "ICC certificate hash"
    );
    let mut pan_f = pan.clone();
    pan_f.resize(10, 0xFF);
    assert_eq!(&rec[2..12], &pan_f[..]);
    let icc_len = rec[19] as usize;
    let mut icc_mod = rec[21..21 + (n - 42).min(icc_len)].to_vec();
    icc_mod.extend_from_slice(&rem);
    assert_eq!(icc_mod.len(), icc_len);
    (icc_mod, exp_icc, [rec[12], rec[13]])
}

/// Checks a format-05 SDAD and returns the ICC dynamic data it carries.
fn check_sdad(modulus: &[u8], exponent: &[u8], sdad: &[u8], terminal_dynamic: &[u8]) -> Vec<u8> {
    let rec = rsa_public(modulus, exponent, sdad).unwrap();
    let n = rec.len();
    assert_eq!(
        (rec[0], rec[1], rec[2], rec[n - 1]),
        (0x6A, 0x05, 0x01, 0xBC)
    );
    assert_eq!(
        &rec[n - 21..n - 1],
        &sha1(&[&rec[1..n - 21], terminal_dynamic]),
        "SDAD hash"
    );
    let ldd = rec[3] as usize;
    rec[4..4 + ldd].to_vec()
}

fn visa_terminal(ttq: [u8; 4], amount: u64) -> impl Fn(u32) -> Option<Vec<u8>> {
    move |tag| {
        let v = terminal_value(tag, ttq, amount);
        (!v.is_empty()).then_some(v)
    }
}

#[test]
fn visa_cvn18_online_with_fdda() {
    let mut card = card("visa-cvn18");
    let profile = card.profile().clone();
    let flow = run_to_records(&mut card, TTQ_ONLINE_ODA, 2500);

    assert_eq!(flow.ppse.must(0x9F2A), vec![0x03]);
    assert_eq!(flow.ppse.must(0x4F), hex::decode("A0000000031010").unwrap());
    assert_eq!(flow.ppse.must(0x87), vec![0x01]);
    assert_eq!(flow.fci.must(0x84), hex::decode("A0000000031010").unwrap());
    assert_eq!(
        flow.fci.must(0x9F38),
        hex::decode(cardsim::profile::DEFAULT_QVSDC_PDOL).unwrap()
    );

    let g = &flow.gpo;
    assert_eq!(g.data[0], 0x77, "format 2");
    assert_eq!(g.must(0x9F27), vec![0x80], "ARQC");
    assert_eq!(g.must(0x9F36), vec![0x00, 0x11], "ATC 16 + 1");
    let iad = g.must(0x9F10);
    assert_eq!(
        cryptogram::Cvn::from_iad(&iad),
        Some(cryptogram::Cvn::Visa18)
    );
    assert_eq!(g.must(0x5F34), vec![0x01]);
    assert!(hex::encode_upper(g.must(0x57)).starts_with("4761739001010119D2812201"));

    let ac = recompute_ac(
        &profile,
        &visa_terminal(TTQ_ONLINE_ODA, 2500),
        &g.must(0x82),
        &g.must(0x9F36),
        &iad,
    );
    assert_eq!(g.must(0x9F26), ac.to_vec());
    // Tampered twin: another amount gives another cryptogram.
    let other = recompute_ac(
        &profile,
        &visa_terminal(TTQ_ONLINE_ODA, 2501),
        &g.must(0x82),
        &g.must(0x9F36),
        &iad,
    );
    assert_ne!(g.must(0x9F26), other.to_vec());

    let (icc_mod, icc_exp, expiry) = recover_chain(&card, &flow);
    assert_eq!(
        expiry,
        [0x12, 0x28],
        "ICC certificate expires with the card"
    );
    let cad = g.must(0x9F69);
    assert_eq!(cad.len(), 7);
    assert_eq!(cad[0], 0x01, "fDDA version 01");
    assert_eq!(&cad[5..7], &g.must(0x9F6C)[..]);
    let tdd = [&UN[..], &amount_bcd(2500), &CURRENCY, &cad].concat();
    let dyn_data = check_sdad(&icc_mod, &icc_exp, &g.must(0x9F4B), &tdd);
    assert_eq!(
        dyn_data,
        vec![0x02, 0x00, 0x11],
        "ICC dynamic number is the ATC"
    );
}

#[test]
#[should_panic(expected = "SDAD hash")]
fn visa_fdda_fails_for_another_unpredictable_number() {
    let mut card = card("visa-cvn18");
    let flow = run_to_records(&mut card, TTQ_ONLINE_ODA, 2500);
    let (icc_mod, icc_exp, _) = recover_chain(&card, &flow);
    let tdd = [
        &[0, 0, 0, 0][..],
        &amount_bcd(2500),
        &CURRENCY,
        &flow.gpo.must(0x9F69),
    ]
    .concat();
    check_sdad(&icc_mod, &icc_exp, &flow.gpo.must(0x9F4B), &tdd);
}

#[test]
fn visa_online_without_reader_oda_has_no_sdad() {
    let mut card = card("visa-cvn18");
    let flow = run_to_records(&mut card, TTQ_ONLINE, 2500);
    assert_eq!(flow.gpo.must(0x9F27), vec![0x80]);
    assert!(flow.gpo.get(0x9F4B).is_none());
    assert!(flow.gpo.get(0x9F69).is_none());
}

#[test]
fn atc_advances_per_transaction_and_survives_reset() {
    let mut card = card("visa-cvn18");
    assert_eq!(card.atc(), 16);
    let mut acs = Vec::new();
    for expected in 17..=20u16 {
        let flow = run_to_records(&mut card, TTQ_ONLINE, 1000);
        assert_eq!(flow.gpo.must(0x9F36), expected.to_be_bytes().to_vec());
        assert_eq!(card.atc(), expected);
        acs.push(flow.gpo.must(0x9F26));
        card.reset();
    }
    acs.dedup();
    assert_eq!(acs.len(), 4, "each ATC gives a new cryptogram");
    assert_eq!(
        send(&mut card, &CommandApdu::get_data(0x9F36)).data,
        vec![0x9F, 0x36, 0x02, 0x00, 0x14]
    );
}

#[test]
fn visa_cvn10_has_no_oda_and_recomputes() {
    let mut card = card("visa-cvn10");
    let profile = card.profile().clone();
    let flow = run_to_records(&mut card, TTQ_ONLINE_ODA, 700);
    let g = &flow.gpo;
    assert_eq!(g.must(0x82), vec![0x00, 0x00]);
    assert!(g.get(0x9F4B).is_none(), "no fDDA without DDA in the AIP");
    let iad = g.must(0x9F10);
    assert_eq!(
        cryptogram::Cvn::from_iad(&iad),
        Some(cryptogram::Cvn::Visa10)
    );
    let ac = recompute_ac(
        &profile,
        &visa_terminal(TTQ_ONLINE_ODA, 700),
        &g.must(0x82),
        &g.must(0x9F36),
        &iad,
    );
    assert_eq!(g.must(0x9F26), ac.to_vec());
}

#[test]
fn visa_offline_approves_with_fdda_within_its_rules() {
    let mut card = card("visa-offline");
    let profile = card.profile().clone();
    let flow = run_to_records(&mut card, TTQ_ONLINE, 2500);
    let g = &flow.gpo;
    assert_eq!(g.must(0x9F27), vec![0x40], "TC");
    let iad = g.must(0x9F10);
    assert_eq!(iad[4], 0x90, "CVR says TC");
    let ac = recompute_ac(
        &profile,
        &visa_terminal(TTQ_ONLINE, 2500),
        &g.must(0x82),
        &g.must(0x9F36),
        &iad,
    );
    assert_eq!(g.must(0x9F26), ac.to_vec());
    let (m, e, _) = recover_chain(&card, &flow);
    let tdd = [&UN[..], &amount_bcd(2500), &CURRENCY, &g.must(0x9F69)].concat();
    check_sdad(&m, &e, &g.must(0x9F4B), &tdd);

    // Reader requires an online cryptogram: ARQC.
    card.reset();
    let flow = run_to_records(&mut card, TTQ_ONLINE_REQUIRED, 2500);
    assert_eq!(flow.gpo.must(0x9F27), vec![0x80]);
    // Above the card's offline limit (100.00): ARQC.
    card.reset();
    let flow = run_to_records(&mut card, TTQ_ONLINE, 10001);
    assert_eq!(flow.gpo.must(0x9F27), vec![0x80]);
}

#[test]
fn visa_decline_returns_aac() {
    let mut card = card("visa-decline");
    let profile = card.profile().clone();
    let flow = run_to_records(&mut card, TTQ_ONLINE_ODA, 2500);
    let g = &flow.gpo;
    assert_eq!(g.must(0x9F27), vec![0x00]);
    assert!(g.get(0x9F4B).is_none(), "no signature over an AAC");
    let iad = g.must(0x9F10);
    let ac = recompute_ac(
        &profile,
        &visa_terminal(TTQ_ONLINE_ODA, 2500),
        &g.must(0x82),
        &g.must(0x9F36),
        &iad,
    );
    assert_eq!(g.must(0x9F26), ac.to_vec());
}

#[test]
fn visa_cvm_bits_follow_the_profile_and_the_reader() {
    let ctq = |name: &str, ttq: [u8; 4]| {
        let mut c = card(name);
        run_to_records(&mut c, ttq, 5000).gpo.must(0x9F6C)
    };
    assert_eq!(ctq("visa-cvn18", TTQ_ONLINE), vec![0x20, 0x00]);
    assert_eq!(ctq("visa-cdcvm", TTQ_ONLINE), vec![0x20, 0x80]);
    // Reader without CDCVM support: the card cannot claim it.
    assert_eq!(
        ctq("visa-cdcvm", [0x36, 0x00, 0x00, 0x00]),
        vec![0x20, 0x00]
    );
    assert_eq!(ctq("visa-online-pin", TTQ_ONLINE), vec![0xA0, 0x00]);
    assert_eq!(ctq("visa-signature", TTQ_ONLINE), vec![0x60, 0x00]);
}

fn mc_gac(card: &mut VirtualCard, p1: u8, amount: u64) -> (Vec<u8>, Resp) {
    let cdol = find(
        &card
            .transmit(&CommandApdu::read_record(1, 1).to_bytes())
            .unwrap(),
        0x8C,
    )
    .unwrap();
    let data = dol_data(&cdol, [0; 4], amount);
    let r = send(card, &CommandApdu::generate_ac(p1, &data));
    (data, r)
}

fn mc_terminal(amount: u64) -> impl Fn(u32) -> Option<Vec<u8>> {
    visa_terminal([0; 4], amount)
}

#[test]
fn mastercard_cvn16_cda_online() {
    let mut card = card("mastercard-cvn16");
    let profile = card.profile().clone();
    let flow = run_to_records(&mut card, [0; 4], 2500);
    assert_eq!(flow.ppse.must(0x9F2A), vec![0x02]);
    assert!(flow.fci.get(0x9F38).is_none(), "no PDOL: GPO data is 83 00");
    assert!(flow.pdol_data.is_empty());
    assert_eq!(flow.gpo.must(0x82), vec![0x19, 0x80]);
    assert!(
        flow.gpo.get(0x9F26).is_none(),
        "M/Chip GPO has no cryptogram"
    );
    assert_eq!(
        flow.record_tag(0x8E).unwrap(),
        hex::decode("000000000000000042031E031F03").unwrap()
    );
    assert!(flow.record_tag(0x57).is_some());

    let (cdol_data, r) = mc_gac(&mut card, 0x90, 2500);
    assert_eq!(r.sw, 0x9000);
    assert_eq!(r.data[0], 0x77);
    assert_eq!(r.must(0x9F27), vec![0x80]);
    assert!(
        r.get(0x9F26).is_none(),
        "with CDA the AC is inside the SDAD"
    );
    let iad = r.must(0x9F10);
    assert_eq!(
        cryptogram::Cvn::from_iad(&iad),
        Some(cryptogram::Cvn::Mastercard16)
    );

    let (m, e, _) = recover_chain(&card, &flow);
    let dd = check_sdad(&m, &e, &r.must(0x9F4B), &UN);
    assert_eq!(dd[0], 8, "8-byte ICC dynamic number");
    assert_eq!(dd[9], 0x80, "signed CID");
    let ac = recompute_ac(
        &profile,
        &mc_terminal(2500),
        &flow.gpo.must(0x82),
        &r.must(0x9F36),
        &iad,
    );
    assert_eq!(&dd[10..18], &ac[..], "signed AC recomputes from imk_ac");
    // Transaction data hash: PDOL data || CDOL1 data || response TLVs but the SDAD.
    let template = find(&r.data, 0x77).unwrap();
    let mut others = Vec::new();
    for t in kernel::tlv::TlvIter::new(&template) {
        let t = t.unwrap();
        if t.tag.value() != 0x9F4B {
            others.extend_from_slice(t.raw);
        }
    }
    assert_eq!(&dd[18..38], &sha1(&[&flow.pdol_data, &cdol_data, &others]));
    assert_ne!(
        &dd[18..38],
        &sha1(&[&flow.pdol_data, &cdol_data[1..], &others])
    );

    // One GENERATE AC per transaction.
    let (_, again) = mc_gac(&mut card, 0x80, 2500);
    assert_eq!(again.sw, 0x6985);
}

#[test]
fn mastercard_without_cda_request_returns_clear_ac() {
    for name in ["mastercard-cvn16", "mastercard-cvn17"] {
        let mut card = card(name);
        let profile = card.profile().clone();
        let flow = run_to_records(&mut card, [0; 4], 4200);
        let (_, r) = mc_gac(&mut card, 0x80, 4200);
        assert_eq!(r.must(0x9F27), vec![0x80]);
        assert!(r.get(0x9F4B).is_none());
        let ac = recompute_ac(
            &profile,
            &mc_terminal(4200),
            &flow.gpo.must(0x82),
            &r.must(0x9F36),
            &r.must(0x9F10),
        );
        assert_eq!(r.must(0x9F26), ac.to_vec(), "{name}");
        let wrong = recompute_ac(
            &profile,
            &mc_terminal(4201),
            &flow.gpo.must(0x82),
            &r.must(0x9F36),
            &r.must(0x9F10),
        );
        assert_ne!(r.must(0x9F26), wrong.to_vec());
    }
}

#[test]
fn mastercard_offline_gives_tc_only_when_asked_and_within_limit() {
    let mut c = card("mastercard-offline");
    run_to_records(&mut c, [0; 4], 2500);
    let (_, r) = mc_gac(&mut c, 0x50, 2500);
    assert_eq!(r.must(0x9F27), vec![0x40]);
    assert!(r.get(0x9F4B).is_some());

    c.reset();
    run_to_records(&mut c, [0; 4], 20000);
    let (_, r) = mc_gac(&mut c, 0x50, 20000);
    assert_eq!(r.must(0x9F27), vec![0x80], "above limit: ARQC");

    c.reset();
    run_to_records(&mut c, [0; 4], 2500);
    let (_, r) = mc_gac(&mut c, 0x00, 2500);
    assert_eq!(r.must(0x9F27), vec![0x00], "terminal asked AAC");
    assert!(r.get(0x9F4B).is_none());

    // A card that does not approve offline answers a TC request with an ARQC.
    let mut c = card("mastercard-cvn16");
    run_to_records(&mut c, [0; 4], 2500);
    let (_, r) = mc_gac(&mut c, 0x50, 2500);
    assert_eq!(r.must(0x9F27), vec![0x80]);
}

#[test]
fn mastercard_decline_returns_aac_without_signature() {
    let mut c = card("mastercard-decline");
    let profile = c.profile().clone();
    let flow = run_to_records(&mut c, [0; 4], 2500);
    let (_, r) = mc_gac(&mut c, 0x90, 2500);
    assert_eq!(r.must(0x9F27), vec![0x00]);
    assert!(r.get(0x9F4B).is_none());
    let ac = recompute_ac(
        &profile,
        &mc_terminal(2500),
        &flow.gpo.must(0x82),
        &r.must(0x9F36),
        &r.must(0x9F10),
    );
    assert_eq!(r.must(0x9F26), ac.to_vec());
}

#[test]
fn mastercard_cdcvm_sets_the_aip_bit() {
    let mut c = card("mastercard-cdcvm");
    let flow = run_to_records(&mut c, [0; 4], 2500);
    assert_eq!(flow.gpo.must(0x82), vec![0x1B, 0x80]);
    // The AIP is signed as static data: the chain still verifies.
    recover_chain(&c, &flow);
}

#[test]
fn unionpay_qvsdc_like_flow() {
    let mut c = card("unionpay");
    let profile = c.profile().clone();
    let flow = run_to_records(&mut c, TTQ_ONLINE_ODA, 8800);
    assert_eq!(flow.ppse.must(0x9F2A), vec![0x07]);
    assert_eq!(
        flow.ppse.must(0x4F),
        hex::decode("A000000333010101").unwrap()
    );
    let g = &flow.gpo;
    assert_eq!(g.must(0x9F27), vec![0x80]);
    let iad = g.must(0x9F10);
    let ac = recompute_ac(
        &profile,
        &visa_terminal(TTQ_ONLINE_ODA, 8800),
        &g.must(0x82),
        &g.must(0x9F36),
        &iad,
    );
    assert_eq!(g.must(0x9F26), ac.to_vec());
    let (m, e, _) = recover_chain(&c, &flow);
    assert_eq!(c.ca_public_key().rid, [0xA0, 0, 0, 0x03, 0x33]);
    let tdd = [&UN[..], &amount_bcd(8800), &CURRENCY, &g.must(0x9F69)].concat();
    check_sdad(&m, &e, &g.must(0x9F4B), &tdd);

    let mut c = card("unionpay-offline");
    assert_eq!(
        run_to_records(&mut c, TTQ_ONLINE, 8800).gpo.must(0x9F27),
        vec![0x40]
    );
}

#[test]
fn expired_certificate_behaviour_issues_an_expired_icc_certificate() {
    for name in ["visa-expired-cert", "mastercard-expired-cert"] {
        let mut c = card(name);
        let flow = run_to_records(&mut c, TTQ_ONLINE, 2500);
        let (_, _, expiry) = recover_chain(&c, &flow);
        assert_eq!(expiry, [0x01, 0x20], "{name}: January 2020");
    }
}

#[test]
fn malformed_tlv_behaviour_breaks_only_its_instruction() {
    let mut c = card("visa-malformed-gpo");
    send(&mut c, &CommandApdu::select(b"2PAY.SYS.DDF01"));
    let fci = send(
        &mut c,
        &CommandApdu::select(&hex::decode("A0000000031010").unwrap()),
    );
    assert!(kernel::tlv::parse_all(&fci.data).is_ok());
    let pdol = dol_data(&fci.must(0x9F38), TTQ_ONLINE, 100);
    let g = send(&mut c, &CommandApdu::gpo(&pdol));
    assert_eq!(g.sw, 0x9000);
    assert!(
        kernel::tlv::parse_all(&g.data).is_err(),
        "GPO answer must be broken TLV"
    );
    let r = send(&mut c, &CommandApdu::read_record(1, 1));
    assert!(kernel::tlv::parse_all(&r.data).is_ok());

    let mut c = card("mastercard-malformed-gac");
    run_to_records(&mut c, [0; 4], 100);
    let (_, r) = mc_gac(&mut c, 0x90, 100);
    assert!(kernel::tlv::parse_all(&r.data).is_err());
}

#[test]
fn wrong_sw_behaviour_hits_the_nth_command_of_a_tap() {
    let mut c = card("visa-record-6a83");
    send(&mut c, &CommandApdu::select(b"2PAY.SYS.DDF01"));
    send(
        &mut c,
        &CommandApdu::select(&hex::decode("A0000000031010").unwrap()),
    );
    send(
        &mut c,
        &CommandApdu::gpo(&dol_data(
            &hex::decode(cardsim::profile::DEFAULT_QVSDC_PDOL).unwrap(),
            TTQ_ONLINE,
            1,
        )),
    );
    assert_eq!(send(&mut c, &CommandApdu::read_record(1, 1)).sw, 0x6A83);
    assert_eq!(send(&mut c, &CommandApdu::read_record(1, 1)).sw, 0x9000);
    // A new tap counts again.
    c.reset();
    let _ = run_to_records_expect_fail(&mut c);
}

fn run_to_records_expect_fail(c: &mut VirtualCard) -> u16 {
    send(c, &CommandApdu::select(b"2PAY.SYS.DDF01"));
    send(
        c,
        &CommandApdu::select(&hex::decode("A0000000031010").unwrap()),
    );
    send(
        c,
        &CommandApdu::gpo(&dol_data(
            &hex::decode(cardsim::profile::DEFAULT_QVSDC_PDOL).unwrap(),
            TTQ_ONLINE,
            1,
        )),
    );
    let sw = send(c, &CommandApdu::read_record(1, 1)).sw;
    assert_eq!(sw, 0x6A83);
    sw
}

#[test]
fn removal_behaviour_leaves_the_field_until_the_next_tap() {
    let mut c = card("visa-removed");
    let ppse = CommandApdu::select(b"2PAY.SYS.DDF01").to_bytes();
    assert!(c.transmit(&ppse).is_ok());
    assert!(c.transmit(&ppse).is_ok());
    assert_eq!(c.transmit(&ppse), Err(CardRemoved));
    assert_eq!(c.transmit(&ppse), Err(CardRemoved));
    c.reset();
    assert!(c.transmit(&ppse).is_ok());

    // M/Chip: gone exactly when GENERATE AC comes, after 6 answers.
    let mut c = card("mastercard-removed");
    run_to_records(&mut c, [0; 4], 100);
    let gac = CommandApdu::generate_ac(0x80, &[0; 41]).to_bytes();
    assert_eq!(c.transmit(&gac), Err(CardRemoved));
}

#[test]
fn slow_card_reports_its_delay() {
    let mut fast = card("visa-cvn18");
    let mut slow = card("visa-slow");
    let cmd = CommandApdu::select(b"2PAY.SYS.DDF01").to_bytes();
    fast.transmit(&cmd).unwrap();
    slow.transmit(&cmd).unwrap();
    assert!(fast.delay_ms() < 100);
    assert_eq!(slow.delay_ms(), fast.delay_ms() + 600);
    let started = std::time::Instant::now();
    slow.transmit(&cmd).unwrap();
    assert!(
        started.elapsed().as_millis() < 500,
        "reports, does not sleep"
    );
}

#[test]
fn chained_card_answers_61xx_and_get_response_fetches_in_pieces() {
    let mut plain = card("mastercard-cvn16");
    let mut chained = card("mastercard-chained");
    let ppse = CommandApdu::select(b"2PAY.SYS.DDF01");
    let want = plain.transmit(&ppse.to_bytes()).unwrap();
    let first = chained.transmit(&ppse.to_bytes()).unwrap();
    assert_eq!(first, vec![0x61, u8::try_from(want.len() - 2).unwrap()]);
    // Fetch 10 bytes, then the rest.
    let part = chained
        .transmit(&CommandApdu::get_response(10).to_bytes())
        .unwrap();
    assert_eq!(&part[..10], &want[..10]);
    assert_eq!(&part[10..], &[0x61, u8::try_from(want.len() - 12).unwrap()]);
    let rest = chained
        .transmit(&CommandApdu::get_response(0).to_bytes())
        .unwrap();
    assert_eq!(&rest[..rest.len() - 2], &want[10..want.len() - 2]);
    assert_eq!(&rest[rest.len() - 2..], &[0x90, 0x00]);
    // Nothing left to fetch.
    let none = chained
        .transmit(&CommandApdu::get_response(0).to_bytes())
        .unwrap();
    assert_eq!(none, vec![0x69, 0x85]);
    // Big records (certificates) come as 6100 = 256 or more... or their length.
    chained
        .transmit(&CommandApdu::select(&hex::decode("A0000000041010").unwrap()).to_bytes())
        .unwrap();
    chained
        .transmit(&CommandApdu::get_response(0).to_bytes())
        .unwrap();
    let r = chained
        .transmit(&CommandApdu::read_record(2, 1).to_bytes())
        .unwrap();
    assert_eq!(r[0], 0x61);
}

#[test]
fn status_words_for_everything_else() {
    let mut c = card("visa-cvn18");
    assert_eq!(
        raw(&mut c, "80A8000002830000").sw,
        0x6985,
        "GPO before SELECT"
    );
    assert_eq!(
        raw(&mut c, "00B2010C00").sw,
        0x6985,
        "READ RECORD before SELECT"
    );
    assert_eq!(
        raw(&mut c, "0084000008").sw,
        0x6D00,
        "GET CHALLENGE unsupported"
    );
    assert_eq!(
        raw(&mut c, "B0A404000E325041592E5359532E444446303100").sw,
        0x6E00
    );
    assert_eq!(
        raw(&mut c, "00A4040007A000000004101000").sw,
        0x6A82,
        "other AID"
    );
    assert_eq!(
        raw(&mut c, "00A404000E315041592E5359532E444446303100").sw,
        0x6A82,
        "contact PSE"
    );
    assert_eq!(raw(&mut c, "00A4").sw, 0x6700, "truncated APDU");
    // Partial AID selection works, next occurrence does not exist.
    assert_eq!(raw(&mut c, "00A4040005A00000000300").sw, 0x9000);
    assert_eq!(raw(&mut c, "00A4040205A00000000300").sw, 0x6A82);
    assert_eq!(raw(&mut c, "00A4040005A00000000300").sw, 0x9000);
    assert_eq!(
        raw(&mut c, "80A8000002830000").sw,
        0x6700,
        "PDOL data missing"
    );
    assert_eq!(raw(&mut c, "80A80000029F0000").sw, 0x6700, "not tag 83");
    let pdol = dol_data(
        &hex::decode(cardsim::profile::DEFAULT_QVSDC_PDOL).unwrap(),
        TTQ_ONLINE,
        1,
    );
    assert_eq!(send(&mut c, &CommandApdu::gpo(&pdol)).sw, 0x9000);
    assert_eq!(raw(&mut c, "00B2050C00").sw, 0x6A83, "no record 5");
    assert_eq!(raw(&mut c, "00B2011C00").sw, 0x6A83, "no SFI 3");
    assert_eq!(
        raw(&mut c, "00B2010800").sw,
        0x6A86,
        "P2 not a SFI reference"
    );
    assert_eq!(
        send(&mut c, &CommandApdu::generate_ac(0x80, &[0; 33])).sw,
        0x6985,
        "qVSDC: no GENERATE AC"
    );
    assert_eq!(send(&mut c, &CommandApdu::get_data(0x9F4F)).sw, 0x6A88);
    assert_eq!(
        send(&mut c, &CommandApdu::get_data(0x9F17)).data,
        vec![0x9F, 0x17, 0x01, 0x03]
    );
    assert_eq!(
        send(&mut c, &CommandApdu::gpo(&pdol)).sw,
        0x6985,
        "second GPO"
    );

    let mut m = card("mastercard-cvn16");
    raw(&mut m, "00A4040007A000000004101000");
    assert_eq!(
        send(&mut m, &CommandApdu::generate_ac(0x80, &[0; 41])).sw,
        0x6985,
        "GAC before GPO"
    );
    assert_eq!(
        raw(&mut m, "80A8000003830100").sw,
        0x6700,
        "no PDOL: 83 00 only"
    );
    assert_eq!(raw(&mut m, "80A80000028300").sw, 0x9000);
    assert_eq!(
        send(&mut m, &CommandApdu::generate_ac(0x80, &[0; 40])).sw,
        0x6700,
        "CDOL1 data length"
    );
    assert_eq!(
        send(&mut m, &CommandApdu::generate_ac(0xC0, &[0; 41])).sw,
        0x6A86,
        "RFU cryptogram type"
    );
}

#[test]
fn every_builtin_profile_runs_a_transaction() {
    for name in Profile::builtin_names() {
        let mut c = card(name);
        let profile = c.profile().clone();
        if profile.behaviour.remove_after.is_some()
            || profile.behaviour.wrong_sw.is_some()
            || profile.behaviour.malformed_tlv_on.is_some()
            || profile.behaviour.chained
            || profile.behaviour.wrong_le
        {
            continue; // covered by their own tests
        }
        let flow = run_to_records(&mut c, TTQ_ONLINE_ODA, 1500);
        let (terminal, resp): (Box<Terminal>, Resp) = if profile.kind.is_qvsdc() {
            (Box::new(visa_terminal(TTQ_ONLINE_ODA, 1500)), flow.gpo)
        } else {
            let (_, r) = mc_gac(&mut c, 0x80, 1500);
            (Box::new(mc_terminal(1500)), r)
        };
        let iad = resp.must(0x9F10);
        assert_eq!(cryptogram::Cvn::from_iad(&iad), Some(profile.cvn), "{name}");
        let ac = recompute_ac(&profile, &*terminal, &c.aip(), &resp.must(0x9F36), &iad);
        assert_eq!(resp.must(0x9F26), ac.to_vec(), "{name}");
    }
}

#[test]
fn making_a_card_is_quick_enough_for_test_suites() {
    let p = Profile::builtin("mastercard-cvn16").unwrap();
    let started = std::time::Instant::now();
    for _ in 0..5 {
        VirtualCard::new(&p).unwrap();
    }
    let per_card = started.elapsed() / 5;
    eprintln!("VirtualCard::new: {per_card:?} per card");
    // Three RSA signatures with CRT; a debug build takes tens of milliseconds.
    assert!(per_card < std::time::Duration::from_secs(2), "{per_card:?}");
}

#[test]
fn wrong_le_card_answers_6cxx_and_accepts_the_resend() {
    let mut plain = card("visa-cvn18");
    let mut c = card("visa-wrong-le");
    for card in [&mut plain, &mut c] {
        send(card, &CommandApdu::select(b"2PAY.SYS.DDF01"));
        send(
            card,
            &CommandApdu::select(&hex::decode("A0000000031010").unwrap()),
        );
    }
    let want = send(&mut plain, &CommandApdu::read_record(1, 1));
    let rr = CommandApdu::read_record(1, 1);
    let first = send(&mut c, &rr);
    assert_eq!(first.sw, 0x6C00 | u16::try_from(want.data.len()).unwrap());
    assert!(first.data.is_empty());
    let again = send(&mut c, &rr.with_le(u8::try_from(want.data.len()).unwrap()));
    assert_eq!(again.sw, 0x9000);
    assert_eq!(again.data, want.data);
    // Tampered twin: a wrong non-zero Le is refused too.
    assert_eq!(send(&mut c, &rr.with_le(5)).sw, first.sw);
    assert_eq!(send(&mut c, &CommandApdu::get_data(0x9F36)).sw, 0x6C05);
}

#[test]
fn exhausted_atc_blocks_gpo() {
    let text = include_str!("../profiles/visa-cvn18.toml").replace("atc = 16", "atc = 65535");
    let mut c = VirtualCard::new(&Profile::from_toml_str(&text).unwrap()).unwrap();
    send(&mut c, &CommandApdu::select(b"2PAY.SYS.DDF01"));
    send(
        &mut c,
        &CommandApdu::select(&hex::decode("A0000000031010").unwrap()),
    );
    let pdol = dol_data(
        &hex::decode(cardsim::profile::DEFAULT_QVSDC_PDOL).unwrap(),
        TTQ_ONLINE,
        1,
    );
    assert_eq!(send(&mut c, &CommandApdu::gpo(&pdol)).sw, 0x6985);
    assert_eq!(c.atc(), 65535);
}

#[test]
fn no_primitive_object_is_sent_twice() {
    // Book 3 §10.2 / Annex B: a terminal may reject a card that returns the
    // same primitive data object twice across GPO and records.
    for name in Profile::builtin_names() {
        let mut c = card(name);
        let b = &c.profile().behaviour;
        if b.remove_after.is_some() || b.wrong_sw.is_some() || b.malformed_tlv_on.is_some() {
            continue;
        }
        if b.chained || b.wrong_le {
            continue;
        }
        let flow = run_to_records(&mut c, TTQ_ONLINE_ODA, 1500);
        let mut seen = std::collections::HashSet::new();
        let mut check = |data: &[u8]| {
            kernel::tlv::walk(data, &mut |t, _| {
                if !t.tag.is_constructed() {
                    assert!(
                        seen.insert(t.tag.value()),
                        "{name}: tag {:X} twice",
                        t.tag.value()
                    );
                }
            })
            .unwrap();
        };
        check(&flow.gpo.data);
        for (_, r) in &flow.records {
            check(r);
        }
    }
}
