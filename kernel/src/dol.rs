//! Data Object Lists (PDOL, CDOL1, CDOL2, DDOL, UDOL): parsing the card's
//! list and building the terminal's answer by the rules of EMV Book 3 §5.4.

use crate::tags::{self, Format};
use crate::tlv::{parse_tag, Tag, TlvError};

/// One requested data object: which tag and how many bytes the card wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DolEntry {
    pub tag: Tag,
    pub len: usize,
}

/// Why a DOL cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DolError {
    #[error("malformed DOL: {0}")]
    Tlv(#[from] TlvError),
    #[error("DOL length entry is missing or uses more than one byte")]
    BadLength,
    #[error("DOL asks for {0} bytes in all, more than a command can carry")]
    TooLong(usize),
}

/// A DOL may never ask for more than fits in one short APDU.
pub const MAX_DOL_DATA: usize = 252;

/// Parses a DOL: a sequence of tags each followed by a one-byte length.
pub fn parse(dol: &[u8]) -> Result<Vec<DolEntry>, DolError> {
    let mut rest = dol;
    let mut out = Vec::new();
    let mut total: usize = 0;
    while !rest.is_empty() {
        let (tag, after) = parse_tag(rest)?;
        let (&len, after) = after.split_first().ok_or(DolError::BadLength)?;
        // Lengths above 127 would be multi-byte BER lengths, never used in DOLs.
        if len & 0x80 != 0 {
            return Err(DolError::BadLength);
        }
        total = total.saturating_add(usize::from(len));
        out.push(DolEntry {
            tag,
            len: usize::from(len),
        });
        rest = after;
    }
    if total > MAX_DOL_DATA {
        return Err(DolError::TooLong(total));
    }
    Ok(out)
}

/// Builds the concatenated values for a DOL. `source` answers what the
/// terminal knows for a tag; unknown or constructed tags give zeros.
pub fn build<'a>(entries: &[DolEntry], source: impl Fn(Tag) -> Option<&'a [u8]>) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.iter().map(|e| e.len).sum());
    for e in entries {
        let value = if e.tag.is_constructed() {
            None
        } else {
            source(e.tag)
        };
        fit(
            value.unwrap_or(&[]),
            e.len,
            tags::format(e.tag),
            value.is_none(),
            &mut out,
        );
    }
    out
}

/// Pads or truncates one value to `len` by its format (Book 3 §5.4):
/// numeric values are right-justified (leading zeros, leftmost bytes cut),
/// compressed numeric values are padded with trailing `F`, everything else
/// is left-justified with trailing zeros and cut on the right.
fn fit(value: &[u8], len: usize, format: Format, absent: bool, out: &mut Vec<u8>) {
    if absent {
        out.extend(std::iter::repeat_n(0u8, len));
        return;
    }
    match format {
        Format::N => {
            if value.len() >= len {
                out.extend_from_slice(value.get(value.len().saturating_sub(len)..).unwrap_or(&[]));
            } else {
                out.extend(std::iter::repeat_n(0u8, len.saturating_sub(value.len())));
                out.extend_from_slice(value);
            }
        }
        Format::Cn | Format::An | Format::Ans | Format::B | Format::Template => {
            let pad = if format == Format::Cn { 0xFF } else { 0x00 };
            let take = value.len().min(len);
            out.extend_from_slice(value.get(..take).unwrap_or(&[]));
            out.extend(std::iter::repeat_n(pad, len.saturating_sub(take)));
        }
    }
}

/// Total bytes a DOL asks for.
pub fn data_len(entries: &[DolEntry]) -> usize {
    entries.iter().map(|e| e.len).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tags::t;

    #[test]
    fn builds_with_padding_and_truncation() {
        // 9F02 asked as 4 bytes (numeric: keep the rightmost), 5A as 10 (cn:
        // pad F), 50 as 2 (ans: keep leftmost), DF01 unknown/absent: zeros.
        let dol = hex::decode("9F0204 5A0A 5002 DF0103".replace(' ', "")).unwrap();
        let entries = parse(&dol).unwrap();
        assert_eq!(entries.len(), 4);
        let amount = [0x00, 0x00, 0x00, 0x01, 0x23, 0x45];
        let pan = [0x47, 0x61, 0x73, 0x90, 0x01, 0x01, 0x01, 0x19];
        let out = build(&entries, |tag| match tag {
            t if t == t::AMOUNT => Some(&amount[..]),
            t if t == t::PAN => Some(&pan[..]),
            t if t == t::LABEL => Some(&b"VISA"[..]),
            _ => None,
        });
        assert_eq!(
            hex::encode_upper(out),
            "000123454761739001010119FFFF5649000000"
        );
    }

    #[test]
    fn numeric_is_left_padded() {
        let entries = parse(&[0x9F, 0x02, 0x08]).unwrap();
        let out = build(&entries, |_| Some(&[0x12, 0x34][..]));
        assert_eq!(out, [0, 0, 0, 0, 0, 0, 0x12, 0x34]);
    }

    #[test]
    fn rejects_bad_dols() {
        assert_eq!(parse(&[0x9F, 0x02]).unwrap_err(), DolError::BadLength);
        assert_eq!(parse(&[0x9F, 0x02, 0x81]).unwrap_err(), DolError::BadLength);
        assert!(parse(&[0x9F]).is_err());
        let big: Vec<u8> = (0..3).flat_map(|_| [0xDF, 0x01, 0x7F]).collect();
        assert_eq!(parse(&big).unwrap_err(), DolError::TooLong(381));
    }
}
