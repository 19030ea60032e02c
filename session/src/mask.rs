//! Masking of cardholder data in recorded bytes: PAN, track data and names
//! are overwritten in place, so every TLV length stays what it was and the
//! masked recording still parses exactly like the original.
//!
//! A masked PAN keeps its first six and last four digits; the digits
//! between become zeros, except one chosen so the Luhn check still passes:
//! a kernel that checks the PAN reads a masked recording the same way.

use kernel::tlv::{self, Tag};

const PAN: u32 = 0x5A;
const TRACK2: u32 = 0x57;
const TRACK1: u32 = 0x56;
const TRACK2_MC: u32 = 0x9F6B;
const NAME: u32 = 0x5F20;
const NAME_EXT: u32 = 0x9F0B;
const TRACK1_DISCRETIONARY: u32 = 0x9F1F;

/// Masks the cardholder data found in a set of APDUs.
///
/// PANs are first collected from every TLV-parseable response, then each
/// occurrence of their BCD digits anywhere (even in bytes that do not
/// parse) is replaced, so a malformed answer cannot smuggle one through.
#[derive(Debug, Default)]
pub struct Masker {
    /// (clear cn digits, masked cn digits) for every PAN seen, as BCD bytes
    /// without the trailing `F` pad.
    pans: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Masker {
    pub fn new() -> Self {
        Masker::default()
    }

    /// Learns the PANs in one response (tag 5A and the PAN of tracks).
    pub fn learn(&mut self, response: &[u8]) {
        let mut found: Vec<String> = Vec::new();
        let _ = tlv::walk(response, &mut |t, _| match t.tag.value() {
            PAN => {
                if let Some(d) = kernel::bcd::decode_cn(t.value) {
                    found.push(d);
                }
            }
            TRACK2 | TRACK2_MC => {
                let digits = track2_pan_digits(t.value);
                if !digits.is_empty() {
                    found.push(digits);
                }
            }
            TRACK1 => {
                if let Some(d) = track1_pan(t.value) {
                    found.push(d);
                }
            }
            _ => {}
        });
        for d in found {
            if d.len() < 12 {
                continue;
            }
            let masked = mask_digits(&d);
            // Only whole bytes can be searched; an odd digit count leaves the
            // last digit (kept in clear anyway) out of the pattern.
            let clear = pack_digits(&d);
            let masked = pack_digits(&masked);
            if !self.pans.iter().any(|(c, _)| *c == clear) {
                self.pans.push((clear, masked));
            }
        }
    }

    /// The masked copy of an APDU (command or response).
    pub fn mask(&self, apdu: &[u8]) -> Vec<u8> {
        let mut out = apdu.to_vec();
        mask_tlv_in_place(apdu, &mut out);
        for (clear, masked) in &self.pans {
            replace_all(&mut out, clear, masked);
        }
        out
    }
}

/// Masks one exchange's worth of bytes without prior learning: TLV fields
/// only. Traces use it for bytes of unknown origin.
pub fn mask_apdu(apdu: &[u8]) -> Vec<u8> {
    let mut m = Masker::new();
    m.learn(apdu);
    m.mask(apdu)
}

/// Whether a tag's value is masked in recordings and traces.
pub fn is_masked_tag(tag: Tag) -> bool {
    matches!(
        tag.value(),
        PAN | TRACK2 | TRACK1 | TRACK2_MC | NAME | NAME_EXT | TRACK1_DISCRETIONARY
    ) || kernel::tags::is_sensitive(tag)
}

fn mask_tlv_in_place(src: &[u8], out: &mut [u8]) {
    let base = src.as_ptr() as usize;
    let mut spans: Vec<(usize, usize, Tag)> = Vec::new();
    // A response ends with its status word, which may not parse as TLV:
    // try the whole buffer, then without the last two bytes. Walking stops
    // at the first malformed object; the PAN search covers the rest.
    let body = src.get(..src.len().saturating_sub(2)).unwrap_or(&[]);
    for input in [src, body] {
        spans.clear();
        let complete = tlv::walk(input, &mut |t, _| {
            if !t.tag.is_constructed() && is_masked_tag(t.tag) {
                let off = (t.value.as_ptr() as usize).saturating_sub(base);
                spans.push((off, t.value.len(), t.tag));
            }
        })
        .is_ok();
        if complete {
            break;
        }
    }
    for (off, len, tag) in spans {
        let Some(value) = src.get(off..off.saturating_add(len)) else {
            continue;
        };
        let masked = mask_value(tag, value);
        if let Some(slot) = out.get_mut(off..off.saturating_add(len)) {
            if masked.len() == slot.len() {
                slot.copy_from_slice(&masked);
            }
        }
    }
}

/// The masked value of one sensitive data object, same length.
pub fn mask_value(tag: Tag, value: &[u8]) -> Vec<u8> {
    match tag.value() {
        PAN => {
            let digits = kernel::bcd::decode_cn(value).unwrap_or_default();
            let mut out = pack_digits(&mask_digits(&digits));
            out.resize(value.len(), 0xFF);
            if digits.len() % 2 == 1 {
                if let Some(last) = out.get_mut(digits.len() / 2) {
                    *last |= 0x0F;
                }
            }
            out
        }
        TRACK2 | TRACK2_MC => mask_track2(value),
        TRACK1 => mask_track1(value),
        _ => value
            .iter()
            .map(|b| match b {
                b' ' | b'/' => *b,
                0x20..=0x7E => b'X',
                _ => 0,
            })
            .collect(),
    }
}

/// Keeps the first six (or four, for short PANs) and last four digits; the
/// others become zero except one that restores the Luhn check.
pub fn mask_digits(d: &str) -> String {
    let n = d.len();
    let head = if n >= 16 {
        6
    } else {
        4.min(n.saturating_sub(4))
    };
    let tail_start = n.saturating_sub(4);
    if tail_start <= head {
        return d.to_string();
    }
    let mut digits: Vec<u8> = d.bytes().map(|b| b.saturating_sub(b'0')).collect();
    for x in digits.iter_mut().take(tail_start).skip(head) {
        *x = 0;
    }
    let fix = tail_start.saturating_sub(1);
    for candidate in 0..10 {
        if let Some(x) = digits.get_mut(fix) {
            *x = candidate;
        }
        if luhn_ok(&digits) {
            break;
        }
    }
    digits.iter().map(|x| char::from(b'0' + x)).collect()
}

fn luhn_ok(digits: &[u8]) -> bool {
    let mut sum: u32 = 0;
    for (i, d) in digits.iter().rev().enumerate() {
        let mut d = u32::from(*d);
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    sum.is_multiple_of(10)
}

fn pack_digits(d: &str) -> Vec<u8> {
    d.as_bytes()
        .chunks(2)
        .filter_map(|c| match c {
            [a, b] => Some((a.wrapping_sub(b'0') << 4) | (b.wrapping_sub(b'0') & 0x0F)),
            _ => None,
        })
        .collect()
}

fn nibbles(value: &[u8]) -> Vec<u8> {
    value.iter().flat_map(|b| [b >> 4, b & 0x0F]).collect()
}

fn from_nibbles(n: &[u8]) -> Vec<u8> {
    n.chunks(2)
        .map(|c| match c {
            [a, b] => (a << 4) | b,
            [a] => (a << 4) | 0x0F,
            _ => 0xFF,
        })
        .collect()
}

fn track2_pan_digits(value: &[u8]) -> String {
    nibbles(value)
        .iter()
        .take_while(|n| **n <= 9)
        .map(|n| char::from(b'0' + n))
        .collect()
}

/// Track 2: PAN, `D`, expiry YYMM, service code, discretionary data, `F`.
/// Expiry and service code stay (a kernel reads them); the PAN is masked
/// and the discretionary data (where dynamic CVVs live) zeroed.
fn mask_track2(value: &[u8]) -> Vec<u8> {
    let mut n = nibbles(value);
    let pan_len = n.iter().take_while(|x| **x <= 9).count();
    let pan: String = n
        .iter()
        .take(pan_len)
        .map(|x| char::from(b'0' + x))
        .collect();
    let masked = mask_digits(&pan);
    for (slot, m) in n.iter_mut().zip(masked.bytes()) {
        *slot = m.saturating_sub(b'0');
    }
    // Separator, 4 expiry digits, 3 service code digits are kept.
    let keep_until = pan_len.saturating_add(8);
    for x in n.iter_mut().skip(keep_until) {
        if *x <= 9 {
            *x = 0;
        }
    }
    from_nibbles(&n)
}

fn track1_pan(value: &[u8]) -> Option<String> {
    let s = std::str::from_utf8(value).ok()?;
    let rest = s.strip_prefix('B').or_else(|| s.strip_prefix('%'))?;
    let rest = rest.strip_prefix('B').unwrap_or(rest);
    let pan: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    Some(pan)
}

/// Track 1: `B` PAN `^` NAME `^` YYMM SSS discretionary. The PAN is masked,
/// the name replaced, the discretionary data zeroed.
fn mask_track1(value: &[u8]) -> Vec<u8> {
    let mut out = value.to_vec();
    let mut field = 0;
    let mut pan_start = None;
    let mut pan_end = None;
    let mut after_second = None;
    for (i, b) in value.iter().enumerate() {
        if *b == b'^' {
            field += 1;
            if field == 1 {
                pan_end = Some(i);
            } else if field == 2 {
                after_second = Some(i + 1);
            }
        } else if field == 0 && pan_start.is_none() && b.is_ascii_digit() {
            pan_start = Some(i);
        }
    }
    if let (Some(s), Some(e)) = (pan_start, pan_end.or(Some(value.len()))) {
        if let Some(pan) = value.get(s..e).and_then(|p| std::str::from_utf8(p).ok()) {
            if pan.bytes().all(|b| b.is_ascii_digit()) {
                let masked = mask_digits(pan);
                if let Some(slot) = out.get_mut(s..e) {
                    slot.copy_from_slice(masked.as_bytes());
                }
            }
        }
    }
    let mut field = 0;
    for (i, b) in out.iter_mut().enumerate() {
        if *b == b'^' {
            field += 1;
            continue;
        }
        if field == 1 && *b != b' ' && *b != b'/' {
            *b = b'X';
        }
        if field >= 2
            && after_second.is_some_and(|a| i >= a.saturating_add(7))
            && b.is_ascii_digit()
        {
            *b = b'0';
        }
    }
    out
}

fn replace_all(haystack: &mut [u8], needle: &[u8], with: &[u8]) {
    if needle.is_empty() || needle.len() != with.len() {
        return;
    }
    let mut i: usize = 0;
    while let Some(window) = haystack.get(i..i.saturating_add(needle.len())) {
        if window == needle {
            if let Some(slot) = haystack.get_mut(i..i.saturating_add(needle.len())) {
                slot.copy_from_slice(with);
            }
            i = i.saturating_add(needle.len());
        } else {
            i = i.saturating_add(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_pan_keeps_ends_and_luhn() {
        let m = mask_digits("5413330089600044");
        assert_eq!(&m[..6], "541333");
        assert_eq!(&m[12..], "0044");
        assert_ne!(m, "5413330089600044");
        assert!(kernel::Pan::parse(&m).is_ok(), "{m} must pass Luhn");
        // Tampered twin: the clear PAN's middle digits are gone.
        assert!(!m.contains("00896"));
    }

    #[test]
    fn masks_response_keeping_lengths() {
        // READ RECORD of binaryfoo's contactless Mastercard (public test card).
        let r = hex::decode("702C5711541333008960004 4D14122010123409172 5A0854133300896000445F200C455445432F50415950415353 9000".replace(' ', "")).unwrap();
        let mut m = Masker::new();
        m.learn(&r);
        let out = m.mask(&r);
        assert_eq!(out.len(), r.len());
        let hexed = hex::encode_upper(&out);
        assert!(!hexed.contains("5413330089600044"), "{hexed}");
        assert!(!hexed.contains("330089"));
        assert!(hexed.contains("D1412201"), "expiry and service code kept");
        assert!(!hexed.contains("455445432F"), "name masked");
        assert!(tlv::parse_all(out.get(..out.len() - 2).unwrap()).is_ok());
        // The same PAN in bytes that are not TLV is caught too.
        let raw = hex::decode("0054133300896000449000").unwrap();
        assert!(!hex::encode_upper(m.mask(&raw)).contains("33008960"));
    }
}
