//! Binary-coded decimal helpers for EMV numeric (n) and compressed numeric
//! (cn) fields.

/// Writes `value` right-justified as BCD into `out`; digits that do not fit
/// are dropped from the left (callers check ranges first).
pub fn encode_u64(mut value: u64, out: &mut [u8]) {
    for byte in out.iter_mut().rev() {
        let lo = (value % 10) as u8;
        value /= 10;
        let hi = (value % 10) as u8;
        value /= 10;
        *byte = (hi << 4) | lo;
    }
}

/// Reads BCD digits as a string; `None` if any nibble is not a digit.
pub fn decode_digits(bytes: &[u8]) -> Option<String> {
    let mut s = String::with_capacity(bytes.len().saturating_mul(2));
    for b in bytes {
        for nib in [b >> 4, b & 0x0F] {
            if nib > 9 {
                return None;
            }
            s.push(char::from(b'0'.saturating_add(nib)));
        }
    }
    Some(s)
}

/// Reads BCD as a number; `None` on a non-digit nibble or overflow.
pub fn decode_u64(bytes: &[u8]) -> Option<u64> {
    let mut v: u64 = 0;
    for b in bytes {
        for nib in [b >> 4, b & 0x0F] {
            if nib > 9 {
                return None;
            }
            v = v.checked_mul(10)?.checked_add(u64::from(nib))?;
        }
    }
    Some(v)
}

/// Reads compressed numeric digits, stopping at the first `F` pad nibble.
/// `None` if a non-digit other than trailing `F` appears.
pub fn decode_cn(bytes: &[u8]) -> Option<String> {
    let mut s = String::new();
    let mut ended = false;
    for b in bytes {
        for nib in [b >> 4, b & 0x0F] {
            match (nib, ended) {
                (0..=9, false) => s.push(char::from(b'0'.saturating_add(nib))),
                (0xF, _) => ended = true,
                _ => return None,
            }
        }
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bcd_round_trip() {
        let mut out = [0u8; 6];
        encode_u64(123456, &mut out);
        assert_eq!(out, [0, 0, 0, 0x12, 0x34, 0x56]);
        assert_eq!(decode_u64(&out), Some(123456));
        assert_eq!(decode_u64(&[0x1A]), None);
        assert_eq!(decode_cn(&[0x12, 0x3F, 0xFF]).as_deref(), Some("123"));
        assert_eq!(decode_cn(&[0x1F, 0x23]), None);
    }
}
