//! Single and triple DES block operations and ISO/IEC 9797-1 MAC
//! algorithm 3 (the "retail MAC"), as EMV Book 2 A1.2 uses it.

use des::cipher::{BlockDecrypt, BlockEncrypt, KeyInit};
use des::{Des, TdesEde2};
use zeroize::Zeroize;

use crate::key::Key16;

/// How the MAC input is padded to a multiple of eight bytes
/// (ISO/IEC 9797-1 clause 6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Padding {
    /// Method 1: append zero bytes up to a multiple of eight (none if the
    /// input already is one; empty input becomes one zero block). Visa CVN
    /// 10 uses it.
    Method1,
    /// Method 2: append `80`, then zero bytes up to a multiple of eight.
    /// EMV Book 2 A1.2.1 and every other CVN here use it.
    Method2,
}

/// Enciphers one block with two-key TDES (EDE, K1 = left half, K2 = right
/// half).
pub(crate) fn tdes_encrypt(key: &Key16, block: [u8; 8]) -> [u8; 8] {
    let cipher = TdesEde2::new(key.into());
    let mut b = block.into();
    cipher.encrypt_block(&mut b);
    b.into()
}

/// Splits a double-length key into its two eight-byte halves.
pub(crate) fn split_key(key: &Key16) -> ([u8; 8], [u8; 8]) {
    let [a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p] = *key;
    ([a, b, c, d, e, f, g, h], [i, j, k, l, m, n, o, p])
}

/// The two single-DES ciphers of a double-length key.
fn des_halves(key: &Key16) -> (Des, Des) {
    let (mut left, mut right) = split_key(key);
    let halves = (Des::new(&left.into()), Des::new(&right.into()));
    left.zeroize();
    right.zeroize();
    halves
}

fn xor_into(acc: &mut [u8; 8], block: &[u8]) {
    for (a, b) in acc.iter_mut().zip(block) {
        *a ^= *b;
    }
}

/// ISO/IEC 9797-1 MAC algorithm 3 with DES and a double-length key: single
/// DES CBC-MAC under K1 over the padded data, then the last block is
/// deciphered under K2 and enciphered again under K1. The full eight bytes
/// are returned; callers truncate (ARPC method 2 keeps four).
///
/// Source: ISO/IEC 9797-1:2011 clause 7.4 (output transformation 3), as
/// required by EMV 4.4 Book 2 A1.2.1 for application cryptograms.
pub fn mac_alg3(key: &Key16, data: &[u8], padding: Padding) -> [u8; 8] {
    let (k1, k2) = des_halves(key);
    let mut chain = [0u8; 8];
    let mut chunks = data.chunks_exact(8);
    for block in &mut chunks {
        xor_into(&mut chain, block);
        encrypt_in_place(&k1, &mut chain);
    }
    let rest = chunks.remainder();
    // Build the final, padded block(s) from whatever did not fill a block.
    let needs_final_block = match padding {
        Padding::Method1 => !rest.is_empty() || data.is_empty(),
        Padding::Method2 => true,
    };
    if needs_final_block {
        let mut last = [0u8; 8];
        for (slot, byte) in last.iter_mut().zip(rest) {
            *slot = *byte;
        }
        if padding == Padding::Method2 {
            // rest.len() < 8, so the marker always fits in this block.
            if let Some(slot) = last.get_mut(rest.len()) {
                *slot = 0x80;
            }
        }
        xor_into(&mut chain, &last);
        encrypt_in_place(&k1, &mut chain);
        last.zeroize();
    }
    let mut b = chain.into();
    k2.decrypt_block(&mut b);
    k1.encrypt_block(&mut b);
    b.into()
}

fn encrypt_in_place(cipher: &Des, block: &mut [u8; 8]) {
    let mut b = (*block).into();
    cipher.encrypt_block(&mut b);
    *block = b.into();
}

#[cfg(test)]
mod tests {
    use super::*;

    const K: Key16 = [
        0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF, 0xFE, 0xDC, 0xBA, 0x98, 0x76, 0x54, 0x32,
        0x10,
    ];

    #[test]
    fn tdes_known_answer() {
        // Key 0123456789ABCDEF FEDCBA9876543210 on zeros: key check digits
        // 08D7 (pyemv 1.5.0 tests/test_kd_hsm.py, checked there on an HSM).
        let out = tdes_encrypt(&K, [0; 8]);
        assert_eq!(out[..2], [0x08, 0xD7]);
    }

    #[test]
    fn method2_always_adds_a_block_on_full_blocks() {
        let data = [0x11u8; 16];
        let mut padded2 = data.to_vec();
        padded2.extend([0x80, 0, 0, 0, 0, 0, 0, 0]);
        // Method 2 over data equals method 1 over the explicitly padded data,
        // and method 1 adds nothing to whole blocks.
        assert_eq!(
            mac_alg3(&K, &data, Padding::Method2),
            mac_alg3(&K, &padded2, Padding::Method1)
        );
        assert_ne!(
            mac_alg3(&K, &data, Padding::Method1),
            mac_alg3(&K, &data, Padding::Method2)
        );
    }

    #[test]
    fn padding_method1_zero_fills_partial_block() {
        let data = [0x42u8; 11];
        let mut padded = data.to_vec();
        padded.resize(16, 0);
        assert_eq!(
            mac_alg3(&K, &data, Padding::Method1),
            mac_alg3(&K, &padded, Padding::Method1)
        );
    }

    #[test]
    fn empty_input_is_one_padding_block() {
        assert_eq!(
            mac_alg3(&K, &[], Padding::Method1),
            mac_alg3(&K, &[0u8; 8], Padding::Method1)
        );
        assert_eq!(
            mac_alg3(&K, &[], Padding::Method2),
            mac_alg3(&K, &[0x80, 0, 0, 0, 0, 0, 0, 0], Padding::Method1)
        );
    }

    #[test]
    fn equal_halves_degenerate_to_single_des_cbc_mac() {
        // With K1 = K2 the output transformation cancels, leaving plain
        // DES CBC-MAC; TDES with K1 = K2 is single DES.
        let mut k = [0u8; 16];
        k[..8].copy_from_slice(&K[..8]);
        k[8..].copy_from_slice(&K[..8]);
        let data = [0x5Au8; 8];
        assert_eq!(
            mac_alg3(&k, &data, Padding::Method1),
            tdes_encrypt(&k, data)
        );
    }
}
