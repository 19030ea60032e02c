//! What the card has told the kernel so far, with the rules Book 3 sets on
//! it: a primitive object may appear only once, and records named for ODA
//! are kept exactly as sent.

use crate::outcome::Reason;
use crate::tlv::{self, Tag};
use std::collections::BTreeMap;

/// Data objects from the card, by tag.
#[derive(Clone, Default)]
pub struct CardData {
    tags: BTreeMap<Tag, Vec<u8>>,
}

impl std::fmt::Debug for CardData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        crate::outcome::debug_masked(self.tags.iter(), f)
    }
}

impl CardData {
    pub fn get(&self, tag: Tag) -> Option<&[u8]> {
        self.tags.get(&tag).map(Vec::as_slice)
    }

    pub fn has(&self, tag: Tag) -> bool {
        self.tags.contains_key(&tag)
    }

    /// Stores every primitive object inside `template` (at any depth).
    /// A second occurrence of the same primitive is a broken rule (Book 3
    /// §10.2: redundant primitive data objects terminate the transaction).
    pub fn absorb(&mut self, template: &[u8], what: &str) -> Result<(), Reason> {
        let mut found: Vec<(Tag, Vec<u8>)> = Vec::new();
        tlv::walk(template, &mut |t, _| {
            if !t.tag.is_constructed() {
                found.push((t.tag, t.value.to_vec()));
            }
        })
        .map_err(|e| Reason::CardSentGarbage(format!("{what}: {e}")))?;
        for (tag, value) in found {
            if self.tags.contains_key(&tag) {
                return Err(Reason::CardBrokeRule(format!(
                    "{what}: tag {tag} ({}) sent twice",
                    crate::tags::name(tag)
                )));
            }
            self.tags.insert(tag, value);
        }
        Ok(())
    }

    /// Stores one object, replacing an earlier value (used for objects the
    /// kernel itself fixes, like the selected AID).
    pub fn set(&mut self, tag: Tag, value: Vec<u8>) {
        self.tags.insert(tag, value);
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Tag, &Vec<u8>)> {
        self.tags.iter()
    }
}

/// One entry of the Application File Locator: records `first..=last` of
/// short file `sfi`, the first `oda` of which take part in ODA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AflEntry {
    pub sfi: u8,
    pub first: u8,
    pub last: u8,
    pub oda: u8,
}

/// Parses an AFL (Book 3 §10.2), rejecting what a card may not send.
pub fn parse_afl(afl: &[u8]) -> Result<Vec<AflEntry>, Reason> {
    if afl.is_empty() || !afl.len().is_multiple_of(4) {
        return Err(Reason::CardSentGarbage(format!(
            "AFL of {} bytes is not a non-empty multiple of 4",
            afl.len()
        )));
    }
    let mut out = Vec::with_capacity(afl.len() / 4);
    for chunk in afl.chunks_exact(4) {
        let [b0, first, last, oda] = [chunk.first(), chunk.get(1), chunk.get(2), chunk.get(3)]
            .map(|b| b.copied().unwrap_or(0));
        let sfi = b0 >> 3;
        let entry = AflEntry {
            sfi,
            first,
            last,
            oda,
        };
        let count = last.checked_sub(first).map(|d| d.saturating_add(1));
        let valid = (1..=30).contains(&sfi)
            && b0 & 0x07 == 0
            && first != 0
            && count.is_some_and(|c| oda <= c);
        if !valid {
            return Err(Reason::CardSentGarbage(format!(
                "AFL entry {} is invalid",
                hex::encode_upper(chunk)
            )));
        }
        out.push(entry);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn afl_parsing() {
        let afl = hex::decode("08010100100101011801020020010200").unwrap();
        let e = parse_afl(&afl).unwrap();
        assert_eq!(e.len(), 4);
        assert_eq!(
            e[2],
            AflEntry {
                sfi: 3,
                first: 1,
                last: 2,
                oda: 0
            }
        );
        assert!(parse_afl(&[0x08, 0x01, 0x01]).is_err());
        assert!(parse_afl(&[0x08, 0x00, 0x01, 0x00]).is_err());
        assert!(parse_afl(&[0x08, 0x02, 0x01, 0x00]).is_err());
        assert!(parse_afl(&[0x08, 0x01, 0x01, 0x02]).is_err());
        assert!(parse_afl(&[0x00, 0x01, 0x01, 0x00]).is_err());
    }

    #[test]
    fn duplicates_are_refused() {
        let mut d = CardData::default();
        d.absorb(&[0x5A, 0x01, 0x11], "record").unwrap();
        assert!(d.absorb(&[0x5A, 0x01, 0x11], "record").is_err());
        assert!(d.absorb(&[0x5F, 0x24], "record").is_err());
    }
}
