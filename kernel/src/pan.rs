//! Card numbers. A [`Pan`] is Luhn-checked, masked when printed, zeroised on
//! drop and deliberately not `Serialize`: the only way to write one out is
//! [`Pan::masked`], or explicitly taking its digits.

use std::fmt;
use zeroize::Zeroize;

/// A primary account number held in clear, only as long as needed.
#[derive(Clone, PartialEq, Eq)]
pub struct Pan {
    digits: String,
}

/// Why a string is not a PAN.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PanError {
    #[error("a PAN has 12 to 19 digits, this has {0}")]
    Length(usize),
    #[error("a PAN has only digits")]
    NotDigits,
    #[error("the PAN's check digit is wrong (Luhn)")]
    Luhn,
}

impl Pan {
    /// Parses and Luhn-checks.
    pub fn parse(s: &str) -> Result<Pan, PanError> {
        let digits: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PanError::NotDigits);
        }
        if !(12..=19).contains(&digits.len()) {
            return Err(PanError::Length(digits.len()));
        }
        if !luhn_ok(&digits) {
            return Err(PanError::Luhn);
        }
        Ok(Pan { digits })
    }

    /// From the cn bytes of tag 5A (trailing `F` padding allowed).
    pub fn from_cn(bytes: &[u8]) -> Result<Pan, PanError> {
        let digits = crate::bcd::decode_cn(bytes).ok_or(PanError::NotDigits)?;
        let pan = Pan::parse(&digits);
        let mut digits = digits;
        digits.zeroize();
        pan
    }

    /// First six and last four, the rest masked: what receipts and logs show.
    pub fn masked(&self) -> MaskedPan {
        MaskedPan::from_digits(&self.digits)
    }

    /// The digits in clear. Named so that every use stands out in review.
    pub fn expose_digits(&self) -> &str {
        &self.digits
    }

    /// The cn encoding (padded with `F`), e.g. for ODA's PAN match.
    pub fn to_cn(&self) -> Vec<u8> {
        let mut nibbles: Vec<u8> = self
            .digits
            .bytes()
            .map(|b| b.saturating_sub(b'0'))
            .collect();
        if nibbles.len() % 2 == 1 {
            nibbles.push(0xF);
        }
        let out = nibbles
            .chunks(2)
            .map(|c| match c {
                [hi, lo] => (hi << 4) | lo,
                _ => 0xFF,
            })
            .collect();
        nibbles.zeroize();
        out
    }
}

impl Drop for Pan {
    fn drop(&mut self) {
        self.digits.zeroize();
    }
}

impl fmt::Debug for Pan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pan({})", self.masked())
    }
}

impl fmt::Display for Pan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.masked())
    }
}

/// A PAN with all but the first six and last four digits masked. Safe to
/// store, log and print.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct MaskedPan(String);

impl MaskedPan {
    fn from_digits(d: &str) -> MaskedPan {
        let n = d.len();
        let keep_tail = 4.min(n);
        let keep_head = if n >= 16 {
            6
        } else {
            4.min(n.saturating_sub(keep_tail))
        };
        let s = d
            .char_indices()
            .map(|(i, c)| {
                if i < keep_head || i >= n.saturating_sub(keep_tail) {
                    c
                } else {
                    '*'
                }
            })
            .collect();
        MaskedPan(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MaskedPan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn luhn_ok(digits: &str) -> bool {
    let mut sum: u32 = 0;
    for (i, b) in digits.bytes().rev().enumerate() {
        let mut d = u32::from(b.saturating_sub(b'0'));
        if i % 2 == 1 {
            d = d.saturating_mul(2);
            if d > 9 {
                d = d.saturating_sub(9);
            }
        }
        sum = sum.saturating_add(d);
    }
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_masks() {
        // A well-known public test PAN.
        let pan = Pan::parse("4761 7390 0101 0119").unwrap();
        assert_eq!(pan.masked().as_str(), "476173******0119");
        assert_eq!(format!("{pan:?}"), "Pan(476173******0119)");
        assert!(!format!("{pan}").contains("73900101"));
        assert_eq!(
            pan.to_cn(),
            vec![0x47, 0x61, 0x73, 0x90, 0x01, 0x01, 0x01, 0x19]
        );
        assert_eq!(
            Pan::from_cn(&[0x54, 0x13, 0x33, 0x00, 0x89, 0x60, 0x00, 0x44])
                .unwrap()
                .masked()
                .as_str(),
            "541333******0044"
        );
    }

    #[test]
    fn rejects() {
        assert_eq!(Pan::parse("4761739001010118").unwrap_err(), PanError::Luhn);
        assert_eq!(
            Pan::parse("47617a9001010119").unwrap_err(),
            PanError::NotDigits
        );
        assert_eq!(Pan::parse("4761").unwrap_err(), PanError::Length(4));
        assert!(Pan::from_cn(&[0x4A]).is_err());
    }
}
