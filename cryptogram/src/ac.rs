//! Application cryptograms (ARQC, TC, AAC): the data each CVN MACs, and
//! the MAC itself.

use subtle::ConstantTimeEq;
use zeroize::Zeroize;

use crate::cvn::Cvn;
use crate::derive::{derive_icc_master_key_for, session_key};
use crate::error::CryptoError;
use crate::key::Key16;
use crate::mac::mac_alg3;

/// The terminal and card data every CVN here starts with, in order, with
/// the length each must have: the minimum set of EMV 4.4 Book 2 8.1.1
/// (Table 26) as the card receives it through CDOL1 plus AIP and ATC.
const COMMON_TAGS: [(u32, usize); 10] = [
    (0x9F02, 6), // Amount, Authorised
    (0x9F03, 6), // Amount, Other
    (0x9F1A, 2), // Terminal Country Code
    (0x95, 5),   // Terminal Verification Results
    (0x5F2A, 2), // Transaction Currency Code
    (0x9A, 3),   // Transaction Date
    (0x9C, 1),   // Transaction Type
    (0x9F37, 4), // Unpredictable Number
    (0x82, 2),   // Application Interchange Profile
    (0x9F36, 2), // Application Transaction Counter
];

const IAD: u32 = 0x9F10;

/// Assembles the data the card MACs for `cvn`, taking each element from
/// `get(tag)`.
///
/// All CVNs start with 9F02 9F03 9F1A 95 5F2A 9A 9C 9F37 82 9F36 (values
/// only, fixed lengths, a missing or mis-sized one is an error), then:
///
/// - Visa CVN 10: the CVR, IAD bytes 4-7 (the CVR length byte `03` and
///   three CVR bytes).
/// - Visa CVN 18: the whole IAD (9F10 value).
/// - Mastercard CVN 16: the CVR, IAD bytes 3-8 (six bytes).
/// - Mastercard CVN 17: the CVR and then the counters, IAD bytes 11-18 for
///   an 18- or 20-byte IAD, bytes 11-26 for a 26- or 28-byte one (M/Chip
///   Advance with the longer counters); the trailing last-online-ATC of a
///   20/28-byte IAD is not MACed.
///
/// Sources: Visa VSDC Issuer Implementation Guide (Oct 2018) appendix H
/// example 1 as reproduced in jPOS `CVN10DataBuilderTest` and
/// `CVN18DataBuilderTest`; jPOS `CVNMCDataBuilder`/`IssuerApplicationData`
/// and pyemv 1.5.0 `MasterCardCVN16/17.generate_ac` for M/Chip.
pub fn ac_input(cvn: Cvn, get: &dyn Fn(u32) -> Option<Vec<u8>>) -> Result<Vec<u8>, CryptoError> {
    let mut out = Vec::with_capacity(64);
    for (tag, expected) in COMMON_TAGS {
        let value = get(tag).ok_or(CryptoError::MissingTag(tag))?;
        if value.len() != expected {
            return Err(CryptoError::WrongLength {
                tag,
                expected,
                got: value.len(),
            });
        }
        out.extend_from_slice(&value);
    }
    let iad = get(IAD).ok_or(CryptoError::MissingTag(IAD))?;
    let bad_iad = || CryptoError::BadIad {
        cvn,
        len: iad.len(),
    };
    match cvn {
        Cvn::Visa10 => {
            // Formats 0/1/3 are at least 7 bytes: length, DKI, CVN, CVR(4).
            if iad.len() < 7 {
                return Err(bad_iad());
            }
            out.extend_from_slice(iad.get(3..7).ok_or_else(bad_iad)?);
        }
        Cvn::Visa18 => {
            if iad.len() < 7 || iad.len() > 32 {
                return Err(bad_iad());
            }
            out.extend_from_slice(&iad);
        }
        Cvn::Mastercard16 | Cvn::Mastercard17 => {
            let counters = match iad.len() {
                18 | 20 => 10..18,
                26 | 28 => 10..26,
                _ => return Err(bad_iad()),
            };
            out.extend_from_slice(iad.get(2..8).ok_or_else(bad_iad)?);
            if cvn == Cvn::Mastercard17 {
                out.extend_from_slice(iad.get(counters).ok_or_else(bad_iad)?);
            }
        }
    }
    Ok(out)
}

/// Computes the application cryptogram a card holding the key derived from
/// `imk_ac` returns: ICC master key ([`derive_icc_master_key_for`](crate::derive_icc_master_key_for)), session
/// key for `cvn`, then
/// ISO/IEC 9797-1 MAC algorithm 3 over `input` with the CVN's padding.
///
/// `input` is normally [`ac_input`]'s output; `atc` and `un` must be the
/// values it contains (9F36, 9F37), since the session key depends on them.
pub fn generate_ac(
    cvn: Cvn,
    imk_ac: &Key16,
    pan_digits: &str,
    psn: u8,
    atc: [u8; 2],
    un: [u8; 4],
    input: &[u8],
) -> Result<[u8; 8], CryptoError> {
    let mut mk = derive_icc_master_key_for(cvn, imk_ac, pan_digits, psn)?;
    let mut sk = session_key(cvn, &mk, atc, un);
    let ac = mac_alg3(&sk, input, cvn.padding());
    mk.zeroize();
    sk.zeroize();
    Ok(ac)
}

/// Whether `ac` is the cryptogram [`generate_ac`] computes for these
/// inputs, compared in constant time.
#[allow(clippy::too_many_arguments)]
pub fn verify_ac(
    cvn: Cvn,
    imk_ac: &Key16,
    pan_digits: &str,
    psn: u8,
    atc: [u8; 2],
    un: [u8; 4],
    input: &[u8],
    ac: [u8; 8],
) -> Result<bool, CryptoError> {
    let expected = generate_ac(cvn, imk_ac, pan_digits, psn, atc, un, input)?;
    Ok(expected.ct_eq(&ac).into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn tags(iad: &[u8]) -> HashMap<u32, Vec<u8>> {
        let mut m: HashMap<u32, Vec<u8>> = COMMON_TAGS
            .iter()
            .map(|&(t, len)| (t, vec![0x11; len]))
            .collect();
        m.insert(IAD, iad.to_vec());
        m
    }

    #[test]
    fn missing_and_mis_sized_tags_are_errors_not_panics() {
        let iad = [0x06, 0x01, 0x12, 0x03, 0, 0, 0];
        for (tag, len) in COMMON_TAGS {
            let mut m = tags(&iad);
            m.remove(&tag);
            let get = |t: u32| m.get(&t).cloned();
            assert_eq!(
                ac_input(Cvn::Visa18, &get),
                Err(CryptoError::MissingTag(tag))
            );
            let mut m = tags(&iad);
            m.insert(tag, vec![0; len + 1]);
            let get = |t: u32| m.get(&t).cloned();
            assert!(matches!(
                ac_input(Cvn::Visa18, &get),
                Err(CryptoError::WrongLength { tag: t, .. }) if t == tag
            ));
        }
        let mut m = tags(&iad);
        m.remove(&IAD);
        let get = |t: u32| m.get(&t).cloned();
        assert_eq!(
            ac_input(Cvn::Visa10, &get),
            Err(CryptoError::MissingTag(IAD))
        );
    }

    #[test]
    fn short_or_odd_iads_are_rejected() {
        for cvn in Cvn::ALL {
            for len in [0usize, 1, 2, 6, 17, 19, 21, 27, 29] {
                let m = tags(&vec![0; len]);
                let get = |t: u32| m.get(&t).cloned();
                let r = ac_input(cvn, &get);
                let visa_ok = matches!(cvn, Cvn::Visa10 | Cvn::Visa18) && len >= 7;
                assert_eq!(r.is_ok(), visa_ok, "{cvn} len {len}");
            }
        }
    }

    #[test]
    fn mastercard17_takes_long_counters_from_long_iads() {
        let iad: Vec<u8> = (0u8..28).collect();
        let m = tags(&iad);
        let get = |t: u32| m.get(&t).cloned();
        let out = ac_input(Cvn::Mastercard17, &get).unwrap();
        assert_eq!(out.len(), 33 + 6 + 16);
        assert_eq!(
            &out[33..],
            &iad[2..8]
                .iter()
                .chain(&iad[10..26])
                .copied()
                .collect::<Vec<_>>()[..]
        );
    }
}
