//! Hex strings as the session format writes them: read in either case with
//! spaces ignored, written in upper case.

use kernel::Tag;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::fmt;

/// Bytes carried as a hex string.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Hex(pub Vec<u8>);

impl Hex {
    pub fn as_slice(&self) -> &[u8] {
        &self.0
    }

    /// Parses hex, case-insensitive, ignoring ASCII whitespace.
    pub fn parse(s: &str) -> Result<Hex, String> {
        decode(s).map(Hex)
    }
}

/// Decodes hex text without building an intermediate string when there is
/// no whitespace to strip: replay parses thousands of files a second.
pub fn decode(s: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(s.len() / 2);
    let mut high: Option<u8> = None;
    for (i, b) in s.bytes().enumerate() {
        let nibble = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            b'A'..=b'F' => b - b'A' + 10,
            b' ' | b'\t' | b'\n' | b'\r' => continue,
            _ => {
                return Err(format!(
                    "not hex: {:?} at position {i}",
                    char::from(b).escape_default().to_string()
                ))
            }
        };
        match high.take() {
            None => high = Some(nibble),
            Some(h) => out.push((h << 4) | nibble),
        }
    }
    if high.is_some() {
        return Err("odd number of hex digits".into());
    }
    Ok(out)
}

impl fmt::Debug for Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode_upper(&self.0))
    }
}

impl fmt::Display for Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode_upper(&self.0))
    }
}

impl From<Vec<u8>> for Hex {
    fn from(v: Vec<u8>) -> Self {
        Hex(v)
    }
}

impl From<&[u8]> for Hex {
    fn from(v: &[u8]) -> Self {
        Hex(v.to_vec())
    }
}

impl Serialize for Hex {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode_upper(&self.0))
    }
}

struct HexVisitor;

impl Visitor<'_> for HexVisitor {
    type Value = Hex;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a hex string")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Hex, E> {
        Hex::parse(v).map_err(E::custom)
    }
}

impl<'de> Deserialize<'de> for Hex {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(HexVisitor)
    }
}

/// An EMV tag used as a JSON object key ("9F1A").
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TagKey(pub Tag);

impl fmt::Debug for TagKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Serialize for TagKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_string())
    }
}

struct TagVisitor;

impl Visitor<'_> for TagVisitor {
    type Value = TagKey;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an EMV tag in hex, e.g. \"9F1A\"")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<TagKey, E> {
        let bytes = decode(v).map_err(|e| E::custom(format!("tag {v:?}: {e}")))?;
        match kernel::tlv::parse_tag(&bytes) {
            Ok((tag, [])) => Ok(TagKey(tag)),
            _ => Err(E::custom(format!("{v:?} is not a well-formed EMV tag"))),
        }
    }
}

impl<'de> Deserialize<'de> for TagKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(TagVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_any_case_and_spaces_writes_upper() {
        let h: Hex = serde_json::from_str("\"9f 1a 0156\"").unwrap();
        assert_eq!(h.0, vec![0x9F, 0x1A, 0x01, 0x56]);
        assert_eq!(serde_json::to_string(&h).unwrap(), "\"9F1A0156\"");
        assert!(serde_json::from_str::<Hex>("\"9F1\"").is_err());
        assert!(serde_json::from_str::<Hex>("\"9G\"").is_err());
        let t: TagKey = serde_json::from_str("\"df8117\"").unwrap();
        assert_eq!(t.0.value(), 0xDF8117);
        assert!(serde_json::from_str::<TagKey>("\"9F\"").is_err());
        assert!(serde_json::from_str::<TagKey>("\"9F1A00\"").is_err());
    }
}
