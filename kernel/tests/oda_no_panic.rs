//! Whatever a card sends, ODA answers with an error, never a panic, and
//! never accepts random data as a valid signature.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use kernel::oda::{self, static_data, CaKeyStore, CaPublicKey, CdaInput, OdaInput, RevocationList};
use proptest::prelude::*;

const MC_RID: [u8; 5] = [0xA0, 0x00, 0x00, 0x00, 0x04];

fn input<'a>(
    cert: &'a [u8],
    rem: &'a [u8],
    exp: &'a [u8],
    icc: &'a [u8],
    pan: &'a [u8],
    date: [u8; 3],
) -> OdaInput<'a> {
    OdaInput {
        rid: MC_RID,
        ca_index: 0xEF,
        issuer_cert: cert,
        issuer_remainder: rem,
        issuer_exponent: exp,
        icc_cert: icc,
        icc_remainder: rem,
        icc_exponent: exp,
        pan_cn: pan,
        static_data: rem,
        transaction_date: date,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_certificates_are_refused(
        cert in proptest::collection::vec(any::<u8>(), 240..=250),
        rem in proptest::collection::vec(any::<u8>(), 0..40),
        exp in proptest::collection::vec(any::<u8>(), 0..4),
        icc in proptest::collection::vec(any::<u8>(), 0..200),
        pan in proptest::collection::vec(any::<u8>(), 0..12),
        date in any::<[u8; 3]>(),
    ) {
        let store = CaKeyStore::all();
        let input = input(&cert, &rem, &exp, &icc, &pan, date);
        prop_assert!(oda::recover_icc_key(&store, &RevocationList::new(), &input).is_err());
        prop_assert!(oda::verify_sda(&store, &RevocationList::new(), &input, &icc).is_err());
    }

    #[test]
    fn recover_never_panics(
        modulus in proptest::collection::vec(any::<u8>(), 0..64),
        exponent in proptest::collection::vec(any::<u8>(), 0..3),
        data in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        if let Ok(out) = oda::recover(&modulus, &exponent, &data) {
            prop_assert_eq!(out.len(), modulus.len());
        }
    }

    #[test]
    fn small_random_keys_never_panic(
        modulus in proptest::collection::vec(any::<u8>(), 0..48),
        cert_seed in any::<u8>(),
    ) {
        // A CA key too short for any certificate layout.
        let key = CaPublicKey::new(MC_RID, 0xEF, modulus.clone(), vec![3]);
        let store = CaKeyStore::from_keys(vec![key]);
        let cert = vec![cert_seed; modulus.len()];
        let pan = [0x54, 0x13, 0x33];
        let input = input(&cert, &[], &[3], &cert, &pan, [0x20, 0x01, 0x01]);
        prop_assert!(oda::recover_icc_key(&store, &RevocationList::new(), &input).is_err());
    }

    #[test]
    fn key_file_parser_never_panics(text in ".{0,400}") {
        let _ = CaKeyStore::parse(&text);
    }

    #[test]
    fn static_data_never_panics(
        sfi in any::<u8>(),
        record in proptest::collection::vec(any::<u8>(), 0..64),
        list in proptest::collection::vec(any::<u8>(), 0..4),
        aip in proptest::collection::vec(any::<u8>(), 0..3),
    ) {
        let _ = static_data::build(&[(sfi, &record)], Some(&list), &aip);
    }

    #[test]
    fn generate_ac_split_never_panics(value in proptest::collection::vec(any::<u8>(), 0..96)) {
        let _ = oda::split_generate_ac_response(&value);
    }
}

// A real ICC key (contactless Mastercard session) against random SDADs.
#[test]
fn random_sdads_are_refused() {
    let lines: Vec<Vec<u8>> = include_str!("../vectors/oda/contactless-mastercard-in.txt")
        .lines()
        .map(|l| hex::decode(l.trim()).unwrap())
        .collect();
    let find = |tag: u32| -> Vec<u8> {
        for l in &lines {
            if let Ok(Some(t)) = kernel::tlv::find(
                l.get(..l.len().saturating_sub(2)).unwrap_or(&[]),
                kernel::tlv::Tag::new(tag).unwrap(),
            ) {
                return t.value.to_vec();
            }
        }
        panic!("{tag:X}");
    };
    // Line 5 answers READ RECORD SFI 2 record 1, the one ODA record.
    let record = &lines[5][..lines[5].len() - 2];
    let mut sd = Vec::new();
    static_data::append_record(2, record, &mut sd).unwrap();
    sd.extend_from_slice(&find(0x82));
    let (cert, exp, icc, rem, icc_exp, pan) = (
        find(0x90),
        find(0x9F32),
        find(0x9F46),
        find(0x9F48),
        find(0x9F47),
        find(0x5A),
    );
    let input = OdaInput {
        rid: MC_RID,
        ca_index: 0xEF,
        issuer_cert: &cert,
        issuer_remainder: &[],
        issuer_exponent: &exp,
        icc_cert: &icc,
        icc_remainder: &rem,
        icc_exponent: &icc_exp,
        pan_cn: &pan,
        static_data: &sd,
        transaction_date: [0x12, 0x03, 0x15],
    };
    let key = oda::recover_icc_key(&CaKeyStore::all(), &RevocationList::new(), &input).unwrap();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(64));
    runner
        .run(&proptest::collection::vec(any::<u8>(), 0..=150), |sdad| {
            prop_assert!(oda::verify_dynamic(&key, &sdad, &[1, 2, 3, 4]).is_err());
            let cda = CdaInput {
                un: [1, 2, 3, 4],
                pdol_data: &[],
                cdol1_data: &sdad,
                cdol2_data: &[],
                response_tlvs_without_sdad: &sdad,
                cid: 0x40,
                ac: None,
            };
            prop_assert!(oda::verify_cda(&key, &sdad, &cda).is_err());
            Ok(())
        })
        .unwrap();
}
