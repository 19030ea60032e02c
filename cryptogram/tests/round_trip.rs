//! The card's cryptogram verifies at the issuer, and stops verifying when
//! anything it covers changes.
// Test helpers outside #[test] functions panic on malformed vector files
// on purpose: that is a broken test, not a runtime path.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use cryptogram::{
    ac_input, generate_ac, generate_arpc, verify_ac, verify_arpc, Cvn, IssuerResponse, Padding,
};

/// Public test card numbers (EMVCo / scheme test PANs) and test keys only.
const IMK: [u8; 16] = [
    0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF, 0xFE, 0xDC, 0xBA, 0x98, 0x76, 0x54, 0x32, 0x10,
];

fn card(cvn: Cvn) -> (&'static str, Vec<u8>) {
    match cvn {
        Cvn::Visa10 => ("4761739001010010", hex::decode("06010A03A00000").unwrap()),
        Cvn::Visa18 => (
            "4761739001010010",
            hex::decode("06011203A000000F0100000000000000000000000000").unwrap(),
        ),
        Cvn::Mastercard16 => (
            "5413330089020011",
            hex::decode("0110A00001220000000000000000000000FF").unwrap(),
        ),
        Cvn::Mastercard17 => (
            "5413330089020011",
            hex::decode("0111A04001220000000000000000000000FF0001").unwrap(),
        ),
    }
}

fn tags(iad: &[u8], atc: [u8; 2], un: [u8; 4]) -> HashMap<u32, Vec<u8>> {
    [
        (0x9F02, hex::decode("000000001234").unwrap()),
        (0x9F03, vec![0; 6]),
        (0x9F1A, vec![0x08, 0x26]),
        (0x95, vec![0, 0, 0, 0x80, 0]),
        (0x5F2A, vec![0x09, 0x78]),
        (0x9A, vec![0x26, 0x11, 0x23]),
        (0x9C, vec![0]),
        (0x9F37, un.to_vec()),
        (0x82, vec![0x19, 0x80]),
        (0x9F36, atc.to_vec()),
        (0x9F10, iad.to_vec()),
    ]
    .into_iter()
    .collect()
}

#[test]
fn generate_then_verify_and_every_changed_byte_fails() {
    for cvn in Cvn::ALL {
        let (pan, iad) = card(cvn);
        assert_eq!(Cvn::from_iad(&iad), Some(cvn));
        for (atc, un) in [([0, 1], [0xDE, 0xAD, 0xBE, 0xEF]), ([0xFF, 0xFE], [0; 4])] {
            let t = tags(&iad, atc, un);
            let get = |tag: u32| t.get(&tag).cloned();
            let input = ac_input(cvn, &get).unwrap();
            let ac = generate_ac(cvn, &IMK, pan, 0x01, atc, un, &input).unwrap();
            assert!(verify_ac(cvn, &IMK, pan, 0x01, atc, un, &input, ac).unwrap());

            for i in 0..input.len() {
                for bit in [0x01u8, 0x80] {
                    let mut changed = input.clone();
                    changed[i] ^= bit;
                    assert!(
                        !verify_ac(cvn, &IMK, pan, 0x01, atc, un, &changed, ac).unwrap(),
                        "{cvn}: byte {i} bit {bit:02X}"
                    );
                }
            }
            // Appending a byte or dropping the last one also fails, except
            // where padding method 1 (Visa CVN 10) cannot tell: trailing zero
            // bytes inside the last block are the padding. CVN 10 input has a
            // fixed length, so the issuer never meets that ambiguity.
            let mut longer = input.clone();
            longer.push(0x5A);
            assert!(!verify_ac(cvn, &IMK, pan, 0x01, atc, un, &longer, ac).unwrap());
            let shorter = &input[..input.len() - 1];
            let ambiguous = cvn.padding() == Padding::Method1 && input.last() == Some(&0);
            assert_eq!(
                verify_ac(cvn, &IMK, pan, 0x01, atc, un, shorter, ac).unwrap(),
                ambiguous,
                "{cvn}"
            );
            // Another ATC changes every session key but Visa CVN 10's.
            let other_atc = [atc[0], atc[1] ^ 0x01];
            let verifies = verify_ac(cvn, &IMK, pan, 0x01, other_atc, un, &input, ac).unwrap();
            assert_eq!(verifies, cvn == Cvn::Visa10, "{cvn}");
            // Another card (PSN, IMK) fails.
            assert!(!verify_ac(cvn, &IMK, pan, 0x02, atc, un, &input, ac).unwrap());
            let mut imk = IMK;
            imk[3] ^= 0x10;
            assert!(!verify_ac(cvn, &imk, pan, 0x01, atc, un, &input, ac).unwrap());

            // The issuer answers; the card accepts that answer only.
            let response = match cvn {
                Cvn::Visa18 => IssuerResponse::Csu {
                    csu: [0x00, 0x80, 0x00, 0x00],
                    prop_auth_data: vec![0x12, 0x34],
                },
                _ => IssuerResponse::Arc([0x00, 0x10]),
            };
            let tag91 = generate_arpc(cvn, &IMK, pan, 0x01, atc, un, ac, &response).unwrap();
            assert_eq!(
                verify_arpc(cvn, &IMK, pan, 0x01, atc, un, ac, &tag91).unwrap(),
                Some(response)
            );
            for i in 0..tag91.len() {
                let mut changed = tag91.clone();
                changed[i] ^= 0x04;
                assert_eq!(
                    verify_arpc(cvn, &IMK, pan, 0x01, atc, un, ac, &changed).unwrap(),
                    None,
                    "{cvn}: tag 91 byte {i}"
                );
            }
        }
    }
}

#[test]
fn bad_card_data_is_an_error_not_a_panic() {
    for cvn in Cvn::ALL {
        assert!(generate_ac(cvn, &IMK, "", 0, [0; 2], [0; 4], &[]).is_err());
        assert!(generate_ac(cvn, &IMK, "54133300890200１", 0, [0; 2], [0; 4], &[]).is_err());
        assert!(generate_ac(cvn, &IMK, "5413330089020011", 0xAA, [0; 2], [0; 4], &[]).is_err());
        assert!(verify_ac(cvn, &IMK, "abc", 0, [0; 2], [0; 4], &[], [0; 8]).is_err());
        assert!(verify_arpc(
            cvn,
            &IMK,
            "5413330089020011",
            0,
            [0; 2],
            [0; 4],
            [0; 8],
            &[]
        )
        .is_err());
        // Empty input is still a well-defined MAC.
        assert!(generate_ac(cvn, &IMK, "5413330089020011", 0, [0; 2], [0; 4], &[]).is_ok());
    }
}
