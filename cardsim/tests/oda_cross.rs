//! The independent cross-check: what the virtual cards sign (written from
//! EMV Book 2 here) must verify with the kernel's ODA verifier (written
//! separately from the same book), and tampering must make it fail.
// Test helpers outside #[test] functions panic on purpose: a failed
// expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use cardsim::{Profile, VirtualCard};
use common::*;
use kernel::apdu::CommandApdu;
use kernel::oda::{self, CaKeyStore, CdaInput, OdaError, OdaInput, RevocationList};

fn card(name: &str) -> VirtualCard {
    VirtualCard::new(&Profile::builtin(name).unwrap()).unwrap()
}

fn static_data(flow: &Flow) -> Vec<u8> {
    let records: Vec<(u8, &[u8])> = flow
        .oda_records
        .iter()
        .map(|(sfi, r)| (*sfi, r.as_slice()))
        .collect();
    oda::static_data::build(
        &records,
        flow.record_tag(0x9F4A).as_deref(),
        &flow.gpo.must(0x82),
    )
    .unwrap()
}

struct Owned {
    issuer_cert: Vec<u8>,
    issuer_rem: Vec<u8>,
    issuer_exp: Vec<u8>,
    icc_cert: Vec<u8>,
    icc_rem: Vec<u8>,
    icc_exp: Vec<u8>,
    pan: Vec<u8>,
    sda: Vec<u8>,
    ca_index: u8,
}

fn owned(flow: &Flow) -> Owned {
    Owned {
        issuer_cert: flow.record_tag(0x90).unwrap(),
        issuer_rem: flow.record_tag(0x92).unwrap_or_default(),
        issuer_exp: flow.record_tag(0x9F32).unwrap(),
        icc_cert: flow.record_tag(0x9F46).unwrap(),
        icc_rem: flow.record_tag(0x9F48).unwrap_or_default(),
        icc_exp: flow.record_tag(0x9F47).unwrap(),
        pan: flow.record_tag(0x5A).unwrap(),
        sda: static_data(flow),
        ca_index: flow.record_tag(0x8F).unwrap()[0],
    }
}

fn input<'a>(o: &'a Owned, rid: [u8; 5], date: [u8; 3]) -> OdaInput<'a> {
    OdaInput {
        rid,
        ca_index: o.ca_index,
        issuer_cert: &o.issuer_cert,
        issuer_remainder: &o.issuer_rem,
        issuer_exponent: &o.issuer_exp,
        icc_cert: &o.icc_cert,
        icc_remainder: &o.icc_rem,
        icc_exponent: &o.icc_exp,
        pan_cn: &o.pan,
        static_data: &o.sda,
        transaction_date: date,
    }
}

fn store(card: &VirtualCard) -> CaKeyStore {
    CaKeyStore::from_keys(vec![card.ca_public_key()])
}

fn fdda_data(flow: &Flow, un: [u8; 4], amount: u64) -> Vec<u8> {
    oda::fdda_terminal_data(
        un,
        amount_bcd(amount),
        CURRENCY,
        flow.gpo.get(0x9F69).as_deref(),
    )
}

#[test]
fn kernel_verifies_fdda_of_every_qvsdc_card() {
    for name in [
        "visa-cvn18",
        "visa-offline",
        "visa-cdcvm",
        "unionpay",
        "unionpay-offline",
    ] {
        let mut c = card(name);
        let flow = run_to_records(&mut c, TTQ_ONLINE_ODA, 2500);
        let o = owned(&flow);
        let rid = c.ca_public_key().rid;
        let key = oda::recover_icc_key(&store(&c), &RevocationList::new(), &input(&o, rid, DATE))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let sdad = flow.gpo.must(0x9F4B);
        let dd = oda::verify_dynamic(&key, &sdad, &fdda_data(&flow, UN, 2500))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(dd.icc_dynamic_number, flow.gpo.must(0x9F36), "{name}");

        // Tampered twins.
        assert_eq!(
            oda::verify_dynamic(&key, &sdad, &fdda_data(&flow, [0; 4], 2500)).unwrap_err(),
            OdaError::SignatureHashMismatch,
            "{name}: other UN"
        );
        assert_eq!(
            oda::verify_dynamic(&key, &sdad, &fdda_data(&flow, UN, 2499)).unwrap_err(),
            OdaError::SignatureHashMismatch,
            "{name}: other amount"
        );
        let mut bad = sdad.clone();
        bad[40] ^= 0x01;
        assert!(oda::verify_dynamic(&key, &bad, &fdda_data(&flow, UN, 2500)).is_err());
    }
}

#[test]
fn kernel_verifies_cda_of_every_mchip_card() {
    for (name, p1, cid) in [
        ("mastercard-cvn16", 0x90, 0x80),
        ("mastercard-cvn17", 0x90, 0x80),
        ("mastercard-cdcvm", 0x90, 0x80),
        ("mastercard-offline", 0x50, 0x40),
    ] {
        let mut c = card(name);
        let flow = run_to_records(&mut c, [0; 4], 2500);
        let o = owned(&flow);
        let rid = c.ca_public_key().rid;
        let key = oda::recover_icc_key(&store(&c), &RevocationList::new(), &input(&o, rid, DATE))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let cdol = flow.record_tag(0x8C).unwrap();
        let cdol_data = dol_data(&cdol, [0; 4], 2500);
        let r = send(&mut c, &CommandApdu::generate_ac(p1, &cdol_data));
        assert_eq!(r.sw, 0x9000);
        let template = find(&r.data, 0x77).unwrap();
        let (sdad, others) = oda::split_generate_ac_response(&template).unwrap();
        let cda = CdaInput {
            un: UN,
            pdol_data: &flow.pdol_data,
            cdol1_data: &cdol_data,
            cdol2_data: &[],
            response_tlvs_without_sdad: &others,
            cid: r.must(0x9F27)[0],
            ac: None,
        };
        let dd = oda::verify_cda(&key, &sdad, &cda).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(dd.cid, Some(cid), "{name}");

        // Tampered twins.
        let mut other_cdol = cdol_data.clone();
        other_cdol[5] ^= 1;
        assert_eq!(
            oda::verify_cda(
                &key,
                &sdad,
                &CdaInput {
                    cdol1_data: &other_cdol,
                    ..cda
                }
            )
            .unwrap_err(),
            OdaError::TransactionDataHashMismatch,
            "{name}"
        );
        assert_eq!(
            oda::verify_cda(&key, &sdad, &CdaInput { un: [0; 4], ..cda }).unwrap_err(),
            OdaError::SignatureHashMismatch,
            "{name}"
        );
        assert!(matches!(
            oda::verify_cda(
                &key,
                &sdad,
                &CdaInput {
                    cid: cid ^ 0xC0,
                    ..cda
                }
            )
            .unwrap_err(),
            OdaError::CidMismatch { .. }
        ));
        assert_eq!(
            oda::verify_cda(
                &key,
                &sdad,
                &CdaInput {
                    ac: Some([0; 8]),
                    ..cda
                }
            )
            .unwrap_err(),
            OdaError::AcMismatch
        );
    }
}

#[test]
fn kernel_refuses_the_chain_when_tampered_expired_or_untrusted() {
    let mut c = card("visa-offline");
    let flow = run_to_records(&mut c, TTQ_ONLINE, 2500);
    let rid = c.ca_public_key().rid;
    let rl = RevocationList::new();
    let o = owned(&flow);
    assert!(oda::recover_icc_key(&store(&c), &rl, &input(&o, rid, DATE)).is_ok());

    // Our test CA is not among the published test keys: a terminal must be told.
    assert!(matches!(
        oda::recover_icc_key(&CaKeyStore::test(), &rl, &input(&o, rid, DATE)).unwrap_err(),
        OdaError::UnknownCaKey { .. }
    ));
    // ICC certificate expires 12/28 with the card: a 2029 transaction fails.
    assert!(matches!(
        oda::recover_icc_key(&store(&c), &rl, &input(&o, rid, [0x29, 0x01, 0x15])).unwrap_err(),
        OdaError::Expired(_)
    ));
    // Another static data (say a changed AIP) breaks the ICC certificate hash.
    let mut t = owned(&flow);
    *t.sda.last_mut().unwrap() ^= 0x01;
    assert!(matches!(
        oda::recover_icc_key(&store(&c), &rl, &input(&t, rid, DATE)).unwrap_err(),
        OdaError::HashMismatch(_)
    ));
    // Flipped byte in the issuer certificate.
    let mut t = owned(&flow);
    t.issuer_cert[50] ^= 0x01;
    assert!(oda::recover_icc_key(&store(&c), &rl, &input(&t, rid, DATE)).is_err());
    // Another PAN.
    let mut t = owned(&flow);
    t.pan[7] ^= 0x01;
    assert!(oda::recover_icc_key(&store(&c), &rl, &input(&t, rid, DATE)).is_err());

    // The expired-certificate behaviour.
    for (name, ttq) in [
        ("visa-expired-cert", TTQ_ONLINE),
        ("mastercard-expired-cert", [0; 4]),
    ] {
        let mut c = card(name);
        let flow = run_to_records(&mut c, ttq, 2500);
        let o = owned(&flow);
        assert!(
            matches!(
                oda::recover_icc_key(&store(&c), &rl, &input(&o, c.ca_public_key().rid, DATE)),
                Err(OdaError::Expired(_))
            ),
            "{name}"
        );
    }
}
