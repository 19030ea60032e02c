//! Key derivation: issuer master key -> ICC master key -> session key.

use zeroize::Zeroize;

use crate::cvn::Cvn;
use crate::error::CryptoError;
use crate::key::{adjust_odd_parity, Key16};
use crate::mac::tdes_encrypt;

/// Derives the ICC master key a card holds from the issuer master key,
/// EMV 4.4 Book 2 A1.4.1 option A.
///
/// `X` = the rightmost 16 digits of PAN‖PSN (left-padded with zeros when
/// shorter), packed as 8 bytes BCD; `Y` = `X` XOR `FF..FF`;
/// `MK = TDES(IMK)[X] ‖ TDES(IMK)[Y]`, with odd parity set on every byte.
///
/// `psn` is the raw value of tag 5F34 (n2, one BCD byte: `0x01` is PSN
/// 01); cards without 5F34 use `0x00`. `pan_digits` is 8 to 19 ASCII
/// digits without padding `F`.
///
/// Visa CVN 18 uses option B for PANs of more than 16 digits; see
/// [`derive_icc_master_key_for`], which [`generate_ac`](crate::generate_ac)
/// and the ARPC functions use.
pub fn derive_icc_master_key(imk: &Key16, pan_digits: &str, psn: u8) -> Result<Key16, CryptoError> {
    check_pan_psn(pan_digits, psn)?;
    let digits = pan_digits
        .bytes()
        .map(|b| b.wrapping_sub(b'0'))
        .chain([psn >> 4, psn & 0x0F]);
    let count = pan_digits.len().wrapping_add(2);
    Ok(option_a_from_digits(imk, digits, count))
}

/// EMV 4.4 Book 2 A1.4.2 option B, for PANs of more than 16 digits (for 16
/// or fewer it is option A).
///
/// SHA-1 over PAN‖PSN in BCD (left-padded with one zero nibble to a whole
/// number of bytes); the 16 digits of `X` are the hash's decimal nibbles in
/// order, followed if too few by its nibbles A-F turned into 0-5; then as
/// option A with that `X`.
pub fn derive_icc_master_key_option_b(
    imk: &Key16,
    pan_digits: &str,
    psn: u8,
) -> Result<Key16, CryptoError> {
    if pan_digits.len() <= 16 {
        return derive_icc_master_key(imk, pan_digits, psn);
    }
    check_pan_psn(pan_digits, psn)?;
    let mut nibbles: Vec<u8> = Vec::with_capacity(22);
    if pan_digits.len() % 2 == 1 {
        nibbles.push(0);
    }
    nibbles.extend(pan_digits.bytes().map(|b| b.wrapping_sub(b'0')));
    nibbles.extend([psn >> 4, psn & 0x0F]);
    let mut packed: Vec<u8> = nibbles
        .chunks_exact(2)
        .map(|pair| match pair {
            [hi, lo] => (hi << 4) | lo,
            _ => 0,
        })
        .collect();
    let hash = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &packed);
    packed.zeroize();
    nibbles.zeroize();
    let hash_nibbles = || hash.as_ref().iter().flat_map(|b| [b >> 4, b & 0x0F]);
    let decimal = hash_nibbles().filter(|n| *n <= 9);
    let letters = hash_nibbles()
        .filter(|n| *n > 9)
        .map(|n| n.wrapping_sub(10));
    Ok(option_a_from_digits(imk, decimal.chain(letters), 16))
}

/// The ICC master key derivation `cvn` prescribes: option B for Visa CVN 18
/// (identical to option A for PANs of 16 digits or fewer), option A for the
/// others (pyemv 1.5.0 `pyemv/cvn.py`: `VisaCVN18` uses `derive_icc_mk_b`,
/// the other classes `derive_icc_mk_a`).
pub fn derive_icc_master_key_for(
    cvn: Cvn,
    imk: &Key16,
    pan_digits: &str,
    psn: u8,
) -> Result<Key16, CryptoError> {
    match cvn {
        Cvn::Visa18 => derive_icc_master_key_option_b(imk, pan_digits, psn),
        Cvn::Visa10 | Cvn::Mastercard16 | Cvn::Mastercard17 => {
            derive_icc_master_key(imk, pan_digits, psn)
        }
    }
}

fn check_pan_psn(pan_digits: &str, psn: u8) -> Result<(), CryptoError> {
    if !(8..=19).contains(&pan_digits.len()) || !pan_digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CryptoError::BadPan);
    }
    if psn >> 4 > 9 || psn & 0x0F > 9 {
        return Err(CryptoError::BadPsn(psn));
    }
    Ok(())
}

/// Option A's final steps: keep the rightmost 16 of `count` digits
/// (left-padding with zeros when fewer), pack them as `X`, and encipher `X`
/// and its complement under the IMK.
fn option_a_from_digits(imk: &Key16, digits: impl Iterator<Item = u8>, count: usize) -> Key16 {
    let mut nibbles = [0u8; 16];
    let skip = count.saturating_sub(16);
    let start = 16usize.saturating_sub(count);
    for (slot, digit) in nibbles.iter_mut().skip(start).zip(digits.skip(skip)) {
        *slot = digit;
    }
    let mut x = [0u8; 8];
    for (byte, pair) in x.iter_mut().zip(nibbles.chunks_exact(2)) {
        if let [hi, lo] = pair {
            *byte = (hi << 4) | lo;
        }
    }
    let mut y = x.map(|b| !b);
    let mut mk = join(tdes_encrypt(imk, x), tdes_encrypt(imk, y));
    adjust_odd_parity(&mut mk);
    nibbles.zeroize();
    x.zeroize();
    y.zeroize();
    mk
}

/// The key the card MACs the AC data with, for one transaction.
///
/// - Visa CVN 10: none; the ICC master key itself (pyemv `VisaCVN10`).
/// - Visa CVN 18: EMV common session key derivation, Book 2 A1.3.1, with
///   R = ATC‖00 00 00 00 00 00: SK = TDES(MK)[R with byte 3 = F0] ‖
///   TDES(MK)[R with byte 3 = 0F].
/// - Mastercard CVN 16/17: the Mastercard proprietary session key
///   derivation of M/Chip 4 and M/Chip Advance (CVN bits 3-2 = 00), the
///   same F0/0F construction with R = ATC‖00 00‖UN (pyemv
///   `MasterCardCVN16._derive_sk_ac_mastercard`, checked against an HSM in
///   its `tests/test_cvn_hsm.py`; jPOS `SKDMethod.MCHIP`). CVN 20/21 would
///   use the EMV common derivation instead.
///
/// Odd parity is set on the result; it does not change the MAC.
pub fn session_key(cvn: Cvn, icc_mk: &Key16, atc: [u8; 2], un: [u8; 4]) -> Key16 {
    let [a0, a1] = atc;
    let [u0, u1, u2, u3] = un;
    match cvn {
        Cvn::Visa10 => *icc_mk,
        Cvn::Visa18 => common_session_key(icc_mk, [a0, a1, 0, 0, 0, 0, 0, 0]),
        Cvn::Mastercard16 | Cvn::Mastercard17 => {
            common_session_key(icc_mk, [a0, a1, 0, 0, u0, u1, u2, u3])
        }
    }
}

/// EMV Book 2 A1.3.1 for an 8-byte diversification value R: the third byte
/// is replaced by F0 for the left half and 0F for the right half.
fn common_session_key(mk: &Key16, r: [u8; 8]) -> Key16 {
    let [r0, r1, _, r3, r4, r5, r6, r7] = r;
    let left = tdes_encrypt(mk, [r0, r1, 0xF0, r3, r4, r5, r6, r7]);
    let right = tdes_encrypt(mk, [r0, r1, 0x0F, r3, r4, r5, r6, r7]);
    let mut sk = join(left, right);
    adjust_odd_parity(&mut sk);
    sk
}

fn join(left: [u8; 8], right: [u8; 8]) -> Key16 {
    let [a, b, c, d, e, f, g, h] = left;
    let [i, j, k, l, m, n, o, p] = right;
    [a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p]
}

#[cfg(test)]
mod tests {
    use super::*;

    const IMK: Key16 = [
        0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF, 0xFE, 0xDC, 0xBA, 0x98, 0x76, 0x54, 0x32,
        0x10,
    ];

    #[test]
    fn pan_must_be_digits_of_sane_length() {
        for bad in [
            "",
            "1234567",
            "12345678901234567890",
            "541333001234567F",
            "5413 3300",
        ] {
            assert_eq!(
                derive_icc_master_key(&IMK, bad, 0),
                Err(CryptoError::BadPan),
                "{bad:?}"
            );
        }
        assert!(derive_icc_master_key(&IMK, "12345678", 0).is_ok());
        assert!(derive_icc_master_key(&IMK, "1234567890123456789", 0).is_ok());
    }

    #[test]
    fn psn_must_be_bcd() {
        for bad in [0x0A, 0xA0, 0xFF, 0x1F] {
            assert_eq!(
                derive_icc_master_key(&IMK, "1234567890123456", bad),
                Err(CryptoError::BadPsn(bad))
            );
        }
    }

    #[test]
    fn short_pans_are_left_padded_with_zeros() {
        // PAN 12345678 PSN 01 -> X = 0000001234567801. Prepending zeros to
        // the PAN therefore must not change the key.
        assert_eq!(
            derive_icc_master_key(&IMK, "12345678", 0x01).unwrap(),
            derive_icc_master_key(&IMK, "0000000012345678", 0x01).unwrap()
        );
    }

    #[test]
    fn long_pans_keep_the_rightmost_digits() {
        // 19-digit PAN: the three leftmost digits do not take part.
        assert_eq!(
            derive_icc_master_key(&IMK, "9991234567890123456", 0x01).unwrap(),
            derive_icc_master_key(&IMK, "1111234567890123456", 0x01).unwrap()
        );
        assert_ne!(
            derive_icc_master_key(&IMK, "9991234567890123456", 0x01).unwrap(),
            derive_icc_master_key(&IMK, "9991234567890123457", 0x01).unwrap()
        );
    }

    #[test]
    fn option_b_is_option_a_up_to_16_digits_and_checks_its_input() {
        for pan in ["12345678", "476173900101001", "4761739001010010"] {
            assert_eq!(
                derive_icc_master_key_option_b(&IMK, pan, 0x01).unwrap(),
                derive_icc_master_key(&IMK, pan, 0x01).unwrap()
            );
        }
        assert_ne!(
            derive_icc_master_key_option_b(&IMK, "47617390010100101", 0x01).unwrap(),
            derive_icc_master_key(&IMK, "47617390010100101", 0x01).unwrap()
        );
        assert_eq!(
            derive_icc_master_key_option_b(&IMK, "4761739001010010A", 0x01),
            Err(CryptoError::BadPan)
        );
        assert_eq!(
            derive_icc_master_key_option_b(&IMK, "47617390010100101", 0x1A),
            Err(CryptoError::BadPsn(0x1A))
        );
        assert_eq!(
            derive_icc_master_key_option_b(&IMK, "12345678901234567890", 0),
            Err(CryptoError::BadPan)
        );
    }

    #[test]
    fn visa10_session_key_is_the_master_key() {
        let mk = derive_icc_master_key(&IMK, "4761739001010010", 0x01).unwrap();
        assert_eq!(session_key(Cvn::Visa10, &mk, [0, 1], [1, 2, 3, 4]), mk);
    }

    #[test]
    fn visa18_ignores_un_and_mastercard_does_not() {
        let mk = derive_icc_master_key(&IMK, "4761739001010010", 0x01).unwrap();
        assert_eq!(
            session_key(Cvn::Visa18, &mk, [0, 1], [1, 2, 3, 4]),
            session_key(Cvn::Visa18, &mk, [0, 1], [9, 9, 9, 9])
        );
        assert_ne!(
            session_key(Cvn::Mastercard16, &mk, [0, 1], [1, 2, 3, 4]),
            session_key(Cvn::Mastercard16, &mk, [0, 1], [1, 2, 3, 5])
        );
        assert_eq!(
            session_key(Cvn::Mastercard16, &mk, [0, 1], [1, 2, 3, 4]),
            session_key(Cvn::Mastercard17, &mk, [0, 1], [1, 2, 3, 4])
        );
    }
}
