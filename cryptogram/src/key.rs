//! Double-length TDES keys and a holder that keeps them out of logs.

use std::fmt;
use std::str::FromStr;

use zeroize::Zeroize;

use crate::error::CryptoError;
use crate::mac::tdes_encrypt;

/// A double-length (two-key, 16-byte) TDES key: left half K1, right half K2.
///
/// A plain array so that each caller can keep it in its own zeroising
/// holder; never format one with `{:?}` or `{:x}` in a log line.
pub type Key16 = [u8; 16];

/// A [`Key16`] that is wiped on drop and whose `Debug` shows only its key
/// check value (the first three bytes of TDES(key, 0^8), which banks print
/// on key ceremony forms precisely because it does not reveal the key).
// No PartialEq: comparing keys is not something callers should need, and
// a derived one would not be constant-time.
#[derive(Clone)]
pub struct SecretKey(Key16);

impl SecretKey {
    /// Wraps a key.
    pub fn new(key: Key16) -> Self {
        Self(key)
    }

    /// The key bytes, for passing to the functions of this crate.
    pub fn expose(&self) -> &Key16 {
        &self.0
    }

    /// Key check value: the first three bytes of the key enciphering eight
    /// zero bytes. Safe to show; identifies which key is loaded.
    pub fn check_value(&self) -> [u8; 3] {
        let [a, b, c, ..] = tdes_encrypt(&self.0, [0u8; 8]);
        [a, b, c]
    }
}

impl Drop for SecretKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl From<Key16> for SecretKey {
    fn from(key: Key16) -> Self {
        Self(key)
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c] = self.check_value();
        write!(f, "SecretKey(kcv={a:02X}{b:02X}{c:02X})")
    }
}

/// Parses 32 hexadecimal digits, the way test keys are written in
/// configuration files.
impl FromStr for SecretKey {
    type Err = CryptoError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.len() != 32 {
            return Err(CryptoError::BadKeyText);
        }
        let mut key = [0u8; 16];
        for (out, pair) in key.iter_mut().zip(s.as_bytes().chunks_exact(2)) {
            let [hi, lo] = pair else {
                return Err(CryptoError::BadKeyText);
            };
            match (hex_nibble(*hi), hex_nibble(*lo)) {
                (Some(h), Some(l)) => *out = (h << 4) | l,
                _ => {
                    key.zeroize();
                    return Err(CryptoError::BadKeyText);
                }
            }
        }
        Ok(Self(key))
    }
}

fn hex_nibble(c: u8) -> Option<u8> {
    char::from(c)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// Sets the least significant bit of every byte so that each byte has odd
/// parity, as DES keys are conventionally stored (EMV Book 2 A1.4.1 and
/// A1.3.1 both ask for it on derived keys). DES ignores these bits, so this
/// changes the key bytes but never the cipher.
pub(crate) fn adjust_odd_parity(key: &mut Key16) {
    for byte in key.iter_mut() {
        let upper_ones = (*byte & 0xFE).count_ones();
        *byte = (*byte & 0xFE) | u8::from(upper_ones % 2 == 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parity_adjust_sets_odd_parity_and_keeps_upper_bits() {
        let mut key = [
            0x00, 0x01, 0xFE, 0xFF, 0x80, 0x81, 0x7F, 0x7E, 0x12, 0x13, 0x34, 0x35, 0xAA, 0xAB,
            0x55, 0x54,
        ];
        let before = key;
        adjust_odd_parity(&mut key);
        for (b, a) in before.iter().zip(key.iter()) {
            assert_eq!(a.count_ones() % 2, 1, "{a:02X} not odd");
            assert_eq!(a & 0xFE, b & 0xFE);
        }
    }

    #[test]
    fn debug_shows_only_check_value() {
        // KCV of 0123456789ABCDEFFEDCBA9876543210 starts 08D7 (pyemv
        // tests/test_kd_hsm.py).
        let key: SecretKey = "0123456789ABCDEFFEDCBA9876543210".parse().unwrap();
        let shown = format!("{key:?}");
        assert!(shown.starts_with("SecretKey(kcv=08D7"), "{shown}");
        assert!(!shown.contains("0123456789"), "{shown}");
        assert!(!shown.to_ascii_uppercase().contains("FEDCBA"), "{shown}");
    }

    #[test]
    fn key_text_must_be_32_hex_digits() {
        assert!("0123456789ABCDEFFEDCBA987654321"
            .parse::<SecretKey>()
            .is_err());
        assert!("0123456789ABCDEFFEDCBA98765432100"
            .parse::<SecretKey>()
            .is_err());
        assert!("0123456789ABCDEFFEDCBA987654321G"
            .parse::<SecretKey>()
            .is_err());
        assert!("0123456789ABCDEFFEDCBA98765432+0"
            .parse::<SecretKey>()
            .is_err());
        let k: SecretKey = "0123456789abcdeffedcba9876543210".parse().unwrap();
        assert_eq!(k.expose()[..2], [0x01, 0x23]);
    }
}
