//! BER-TLV as EMV Book 3 Annex B uses it: strict, borrowed, bounded.
//!
//! The parser never indexes a slice directly and never allocates while
//! parsing a single object. Every rejection names what was wrong so that a
//! trace can show a QA engineer why a card's answer was refused.

use std::fmt;

/// Deepest nesting of constructed objects we follow. Real EMV templates nest
/// three or four levels (`6F` → `A5` → `BF0C` → `61`); anything deeper is
/// garbage or an attack on the stack.
pub const MAX_DEPTH: usize = 8;

/// EMV tags are at most three bytes long in practice (e.g. `DF8117`).
pub const MAX_TAG_BYTES: usize = 3;

/// An EMV tag, kept as its encoded bytes packed big-endian into a `u32`
/// (`0x9F02`, `0x5A`, `0xDF8117`), so it prints exactly as specs write it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tag(u32);

impl Tag {
    /// Builds a tag from its packed value. Checks that the value is a well
    /// formed 1–3 byte BER tag.
    pub fn new(value: u32) -> Result<Tag, TlvError> {
        let bytes = Tag(value).to_bytes();
        match parse_tag(&bytes) {
            Ok((tag, rest)) if rest.is_empty() && tag.0 == value => Ok(tag),
            _ => Err(TlvError::BadTag),
        }
    }

    /// For constants in code, where the value is known to be well formed.
    pub const fn from_u32_unchecked(value: u32) -> Tag {
        Tag(value)
    }

    pub const fn value(self) -> u32 {
        self.0
    }

    /// The tag's encoded bytes, without leading zero bytes.
    pub fn to_bytes(self) -> Vec<u8> {
        let b = self.0.to_be_bytes();
        let skip = b.iter().take(3).take_while(|x| **x == 0).count();
        b.iter().skip(skip).copied().collect()
    }

    /// Bit 6 of the first byte: the value is itself a sequence of TLVs.
    pub fn is_constructed(self) -> bool {
        self.to_bytes().first().is_some_and(|b| b & 0x20 != 0)
    }

    /// Parses upper- or lower-case hex, e.g. `"9F02"`.
    pub fn from_hex(s: &str) -> Result<Tag, TlvError> {
        let bytes = hex::decode(s.trim()).map_err(|_| TlvError::BadTag)?;
        match parse_tag(&bytes) {
            Ok((tag, [])) => Ok(tag),
            _ => Err(TlvError::BadTag),
        }
    }
}

impl fmt::Debug for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.to_bytes() {
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}

/// Why a byte string is not valid BER-TLV.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TlvError {
    #[error("data ends inside a tag")]
    TruncatedTag,
    #[error("tag longer than {MAX_TAG_BYTES} bytes")]
    TagTooLong,
    #[error("malformed tag")]
    BadTag,
    #[error("data ends inside a length")]
    TruncatedLength,
    #[error("length field uses the indefinite form, which EMV forbids")]
    IndefiniteLength,
    #[error("length field longer than 3 bytes")]
    LengthTooLong,
    #[error("length is not minimally encoded")]
    NonCanonicalLength,
    #[error("value claims {claimed} bytes but only {available} remain")]
    TruncatedValue { claimed: usize, available: usize },
    #[error("constructed objects nested deeper than {MAX_DEPTH}")]
    TooDeep,
    #[error("value is longer than 65535 bytes")]
    ValueTooLong,
}

/// One parsed data object, borrowing from the input.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Tlv<'a> {
    pub tag: Tag,
    pub value: &'a [u8],
    /// The whole encoding (tag, length and value) as it appeared, needed for
    /// ODA where records are hashed exactly as the card sent them.
    pub raw: &'a [u8],
}

impl fmt::Debug for Tlv<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.tag, hex::encode_upper(self.value))
    }
}

impl<'a> Tlv<'a> {
    /// The children of a constructed object.
    pub fn children(&self) -> TlvIter<'a> {
        TlvIter::new(self.value)
    }
}

/// Reads one tag. EMV: if the low five bits of the first byte are all set,
/// more bytes follow, each with bit 8 set while another follows.
pub fn parse_tag(input: &[u8]) -> Result<(Tag, &[u8]), TlvError> {
    let (&first, mut rest) = input.split_first().ok_or(TlvError::TruncatedTag)?;
    let mut value = u32::from(first);
    if first & 0x1F != 0x1F {
        return Ok((Tag(value), rest));
    }
    for n in 1..MAX_TAG_BYTES {
        let (&b, r) = rest.split_first().ok_or(TlvError::TruncatedTag)?;
        rest = r;
        // ISO 8825: the first subsequent byte may not be 0x80 (a leading
        // zero group), which would make a second encoding of the same tag.
        if n == 1 && b == 0x80 {
            return Err(TlvError::BadTag);
        }
        value = (value << 8) | u32::from(b);
        if b & 0x80 == 0 {
            return Ok((Tag(value), rest));
        }
    }
    Err(TlvError::TagTooLong)
}

/// Reads a definite length. EMV allows 1 to 3 length bytes (`81`, `82`).
fn parse_length(input: &[u8]) -> Result<(usize, &[u8]), TlvError> {
    let (&first, rest) = input.split_first().ok_or(TlvError::TruncatedLength)?;
    match first {
        0x00..=0x7F => Ok((usize::from(first), rest)),
        0x80 => Err(TlvError::IndefiniteLength),
        0x81 => {
            let (&b, rest) = rest.split_first().ok_or(TlvError::TruncatedLength)?;
            // Cards in the field do send `81 xx` for xx < 128 (seen in real
            // Mastercard records), so accept it: the length is unambiguous.
            Ok((usize::from(b), rest))
        }
        0x82 => match rest {
            [hi, lo, rest @ ..] => {
                let len = usize::from(*hi) << 8 | usize::from(*lo);
                if len < 0x80 {
                    return Err(TlvError::NonCanonicalLength);
                }
                Ok((len, rest))
            }
            _ => Err(TlvError::TruncatedLength),
        },
        _ => Err(TlvError::LengthTooLong),
    }
}

/// Parses exactly one data object from the front of `input`, returning it
/// and what follows.
pub fn parse_one(input: &[u8]) -> Result<(Tlv<'_>, &[u8]), TlvError> {
    let (tag, after_tag) = parse_tag(input)?;
    let (len, after_len) = parse_length(after_tag)?;
    if len > after_len.len() {
        return Err(TlvError::TruncatedValue {
            claimed: len,
            available: after_len.len(),
        });
    }
    let (value, rest) = after_len.split_at(len);
    let raw_len = input.len().saturating_sub(rest.len());
    let raw = input.get(..raw_len).ok_or(TlvError::TruncatedValue {
        claimed: len,
        available: after_len.len(),
    })?;
    Ok((Tlv { tag, value, raw }, rest))
}

/// Iterates the data objects of a byte string. EMV Book 3 allows `00` and
/// `FF` padding between objects; they are skipped.
#[derive(Clone)]
pub struct TlvIter<'a> {
    rest: &'a [u8],
    failed: bool,
}

impl<'a> TlvIter<'a> {
    pub fn new(input: &'a [u8]) -> Self {
        TlvIter {
            rest: input,
            failed: false,
        }
    }
}

impl<'a> Iterator for TlvIter<'a> {
    type Item = Result<Tlv<'a>, TlvError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        while let [0x00 | 0xFF, rest @ ..] = self.rest {
            self.rest = rest;
        }
        if self.rest.is_empty() {
            return None;
        }
        match parse_one(self.rest) {
            Ok((tlv, rest)) => {
                self.rest = rest;
                Some(Ok(tlv))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

/// Parses a whole byte string as a sequence of objects, checking every
/// constructed object recursively so that a later lookup cannot trip over
/// garbage hidden in a template.
pub fn parse_all(input: &[u8]) -> Result<Vec<Tlv<'_>>, TlvError> {
    let mut out = Vec::new();
    for tlv in TlvIter::new(input) {
        let tlv = tlv?;
        validate_nested(&tlv, 1)?;
        out.push(tlv);
    }
    Ok(out)
}

fn validate_nested(tlv: &Tlv<'_>, depth: usize) -> Result<(), TlvError> {
    if !tlv.tag.is_constructed() {
        return Ok(());
    }
    if depth >= MAX_DEPTH {
        return Err(TlvError::TooDeep);
    }
    for child in tlv.children() {
        validate_nested(&child?, depth.saturating_add(1))?;
    }
    Ok(())
}

/// Visits every primitive object at any depth, depth first, in order.
/// Constructed objects are visited too, before their children.
pub fn walk<'a>(input: &'a [u8], visit: &mut dyn FnMut(&Tlv<'a>, usize)) -> Result<(), TlvError> {
    walk_inner(input, 0, visit)
}

fn walk_inner<'a>(
    input: &'a [u8],
    depth: usize,
    visit: &mut dyn FnMut(&Tlv<'a>, usize),
) -> Result<(), TlvError> {
    if depth >= MAX_DEPTH {
        return Err(TlvError::TooDeep);
    }
    for tlv in TlvIter::new(input) {
        let tlv = tlv?;
        visit(&tlv, depth);
        if tlv.tag.is_constructed() {
            walk_inner(tlv.value, depth.saturating_add(1), visit)?;
        }
    }
    Ok(())
}

/// Finds the first object with `tag` at any depth.
pub fn find(input: &[u8], tag: Tag) -> Result<Option<Tlv<'_>>, TlvError> {
    let mut found = None;
    walk(input, &mut |t, _| {
        if found.is_none() && t.tag == tag {
            found = Some(*t);
        }
    })?;
    Ok(found)
}

/// Appends the encoding of a length.
pub fn encode_length(len: usize, out: &mut Vec<u8>) -> Result<(), TlvError> {
    let len = u16::try_from(len).map_err(|_| TlvError::ValueTooLong)?;
    let [hi, lo] = len.to_be_bytes();
    match len {
        0..=0x7F => out.push(lo),
        0x80..=0xFF => out.extend_from_slice(&[0x81, lo]),
        _ => out.extend_from_slice(&[0x82, hi, lo]),
    }
    Ok(())
}

/// Appends one object in minimal encoding.
pub fn encode(tag: Tag, value: &[u8], out: &mut Vec<u8>) -> Result<(), TlvError> {
    out.extend_from_slice(&tag.to_bytes());
    encode_length(value.len(), out)?;
    out.extend_from_slice(value);
    Ok(())
}

/// Encodes one object into a fresh vector.
pub fn encode_to_vec(tag: Tag, value: &[u8]) -> Result<Vec<u8>, TlvError> {
    let mut out = Vec::with_capacity(value.len().saturating_add(5));
    encode(tag, value, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_nested_fci() {
        let fci = hex::decode("6F1C8407A0000000041010A511500F505043204D434420303420207632309000")
            .unwrap();
        let body = &fci[..fci.len() - 2];
        let all = parse_all(body).unwrap();
        assert_eq!(all.len(), 1);
        let label = find(body, Tag(0x50)).unwrap().unwrap();
        assert_eq!(label.value, b"PPC MCD 04  v20");
        let aid = find(body, Tag(0x84)).unwrap().unwrap();
        assert_eq!(aid.value, hex::decode("A0000000041010").unwrap());
    }

    #[test]
    fn rejects_bad_encodings() {
        assert_eq!(parse_one(&[]).unwrap_err(), TlvError::TruncatedTag);
        assert_eq!(parse_one(&[0x9F]).unwrap_err(), TlvError::TruncatedTag);
        assert_eq!(
            parse_one(&[0x9F, 0x80, 0x01, 0x00]).unwrap_err(),
            TlvError::BadTag
        );
        assert_eq!(
            parse_one(&[0xDF, 0x81, 0x81, 0x01]).unwrap_err(),
            TlvError::TagTooLong
        );
        assert_eq!(parse_one(&[0x5A]).unwrap_err(), TlvError::TruncatedLength);
        assert_eq!(
            parse_one(&[0x5A, 0x80]).unwrap_err(),
            TlvError::IndefiniteLength
        );
        assert_eq!(
            parse_one(&[0x5A, 0x83, 0, 0, 1]).unwrap_err(),
            TlvError::LengthTooLong
        );
        assert_eq!(
            parse_one(&[0x5A, 0x82, 0, 5]).unwrap_err(),
            TlvError::NonCanonicalLength
        );
        assert_eq!(
            parse_one(&[0x5A, 0x03, 1]).unwrap_err(),
            TlvError::TruncatedValue {
                claimed: 3,
                available: 1
            }
        );
        // A template whose child is truncated fails as a whole.
        assert!(parse_all(&[0x70, 0x03, 0x5A, 0x05, 0x01]).is_err());
    }

    #[test]
    fn rejects_deep_nesting() {
        let mut data = vec![0x5A, 0x00];
        for _ in 0..20 {
            let mut outer = vec![0x70];
            encode_length(data.len(), &mut outer).unwrap();
            outer.extend_from_slice(&data);
            data = outer;
        }
        assert_eq!(parse_all(&data).unwrap_err(), TlvError::TooDeep);
    }

    #[test]
    fn tag_properties() {
        assert_eq!(Tag::from_hex("9f02").unwrap().to_string(), "9F02");
        assert_eq!(Tag::from_hex("DF8117").unwrap().value(), 0xDF8117);
        assert!(Tag::from_hex("9F").is_err());
        assert!(Tag::from_hex("70").unwrap().is_constructed());
        assert!(!Tag::from_hex("5A").unwrap().is_constructed());
        assert!(Tag::new(0x9F02).is_ok());
        assert!(Tag::new(0x9F82).is_err());
    }

    #[test]
    fn skips_padding_between_objects() {
        let data = [0x00, 0x5A, 0x01, 0x42, 0xFF, 0xFF, 0x50, 0x00];
        let all = parse_all(&data).unwrap();
        assert_eq!(all.len(), 2);
    }

    fn arb_tag() -> impl Strategy<Value = Tag> {
        prop_oneof![
            (0u32..=0xFF).prop_filter("single byte", |b| *b & 0x1F != 0x1F
                && *b != 0
                && *b != 0xFF),
            (0u32..=0xFF, 0x01u32..0x7F)
                .prop_map(|(a, b)| ((a | 0x1F) << 8) | b)
                .prop_filter("not padding", |v| v >> 8 != 0xFF),
        ]
        .prop_map(|v| Tag(v & !0x2000_0000))
        .prop_filter("primitive", |t| !t.is_constructed())
    }

    proptest! {
        #[test]
        fn encode_parse_round_trip(tag in arb_tag(), value in proptest::collection::vec(any::<u8>(), 0..600)) {
            let enc = encode_to_vec(tag, &value).unwrap();
            let (tlv, rest) = parse_one(&enc).unwrap();
            prop_assert!(rest.is_empty());
            prop_assert_eq!(tlv.tag, tag);
            prop_assert_eq!(tlv.value, &value[..]);
            prop_assert_eq!(tlv.raw, &enc[..]);
        }

        #[test]
        fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse_all(&data);
            let _ = find(&data, Tag(0x5A));
        }
    }
}
