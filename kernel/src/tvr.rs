//! Terminal Verification Results and terminal action analysis (Book 3
//! §10.7): the terminal's own view of what went wrong, compared with the
//! issuer's and acquirer's action codes.

use crate::config::AidConfig;
use crate::outcome::OdaMethod;
use crate::tlv::Tag;
use crate::transaction::TacIac;
use std::collections::BTreeMap;

/// A TVR bit: (byte index 0–4, mask).
pub type Bit = (usize, u8);

pub const ODA_NOT_PERFORMED: Bit = (0, 0x80);
pub const ICC_DATA_MISSING: Bit = (0, 0x20);
pub const DDA_FAILED: Bit = (0, 0x08);
pub const CDA_FAILED: Bit = (0, 0x04);
pub const VERSION_MISMATCH: Bit = (1, 0x80);
pub const EXPIRED_APPLICATION: Bit = (1, 0x40);
pub const NOT_YET_EFFECTIVE: Bit = (1, 0x20);
pub const SERVICE_NOT_ALLOWED: Bit = (1, 0x10);
pub const CVM_FAILED: Bit = (2, 0x80);
pub const UNRECOGNISED_CVM: Bit = (2, 0x40);
pub const ONLINE_PIN_ENTERED: Bit = (2, 0x04);
pub const FLOOR_LIMIT_EXCEEDED: Bit = (3, 0x80);

/// The TVR plus what the kernel learned about ODA along the way.
#[derive(Debug, Clone, Default)]
pub struct Tvr {
    bytes: [u8; 5],
    /// The ODA method tried and whether it passed.
    pub oda: Option<(OdaMethod, bool)>,
    /// Why ODA could not even be attempted.
    pub oda_note: Option<String>,
}

impl Tvr {
    pub fn set(&mut self, (byte, mask): Bit) {
        if let Some(b) = self.bytes.get_mut(byte) {
            *b |= mask;
        }
    }

    pub fn bytes(&self) -> [u8; 5] {
        self.bytes
    }
}

fn five(v: Option<&[u8]>) -> Option<[u8; 5]> {
    v.and_then(|v| <[u8; 5]>::try_from(v).ok())
}

fn any_common(tvr: &[u8; 5], code: &[u8; 5]) -> bool {
    tvr.iter().zip(code).any(|(a, b)| a & b != 0)
}

/// Decides the cryptogram to ask for: AAC (0x00), ARQC (0x80) or TC (0x40).
/// Issuer codes absent from the card take Book 3's defaults (denial all
/// zero, online and default all ones).
pub(crate) fn action_analysis(
    tvr: &[u8; 5],
    aid: Option<&AidConfig>,
    tags: &BTreeMap<Tag, Vec<u8>>,
    iac: TacIac<'_>,
    online_capable: bool,
    online_only: bool,
) -> u8 {
    let tag = |v: u32| {
        tags.get(&Tag::from_u32_unchecked(v))
            .and_then(|v| five(Some(v)))
    };
    let tac_denial = aid
        .and_then(|a| a.tac_denial)
        .or_else(|| tag(0xDF8121))
        .unwrap_or([0; 5]);
    let tac_online = aid
        .and_then(|a| a.tac_online)
        .or_else(|| tag(0xDF8122))
        .unwrap_or([0; 5]);
    let tac_default = aid
        .and_then(|a| a.tac_default)
        .or_else(|| tag(0xDF8120))
        .unwrap_or([0; 5]);
    let iac_denial = five(iac.denial).unwrap_or([0; 5]);
    let iac_online = five(iac.online).unwrap_or([0xFF; 5]);
    let iac_default = five(iac.default).unwrap_or([0xFF; 5]);
    if any_common(tvr, &tac_denial) || any_common(tvr, &iac_denial) {
        return 0x00;
    }
    // Book C-2 taa.4.1: an online-only terminal asks for an ARQC once the
    // denial codes are clear.
    if online_only {
        return 0x80;
    }
    if online_capable {
        if any_common(tvr, &tac_online) || any_common(tvr, &iac_online) {
            return 0x80;
        }
        return 0x40;
    }
    if any_common(tvr, &tac_default) || any_common(tvr, &iac_default) {
        return 0x00;
    }
    0x40
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(tvr: [u8; 5], online: Option<&[u8]>, denial: Option<&[u8]>, online_capable: bool) -> u8 {
        action_analysis(
            &tvr,
            None,
            &BTreeMap::new(),
            TacIac {
                denial,
                online,
                default: None,
            },
            online_capable,
            false,
        )
    }

    #[test]
    fn action_analysis_follows_book3() {
        // Nothing wrong, IAC online all zero → TC.
        assert_eq!(run([0; 5], Some(&[0; 5]), None, true), 0x40);
        // Floor limit exceeded and IAC online says so → ARQC.
        assert_eq!(
            run([0, 0, 0, 0x80, 0], Some(&[0, 0, 0, 0x80, 0]), None, true),
            0x80
        );
        // IAC online absent → defaults to all ones → ARQC on any bit.
        assert_eq!(run([0, 0, 0, 0x80, 0], None, None, true), 0x80);
        // Denial code hits → AAC.
        assert_eq!(
            run([0, 0x40, 0, 0, 0], None, Some(&[0, 0x40, 0, 0, 0]), true),
            0x00
        );
        // Online-only terminal: ARQC even when nothing is wrong.
        assert_eq!(
            action_analysis(
                &[0; 5],
                None,
                &BTreeMap::new(),
                TacIac {
                    denial: None,
                    online: Some(&[0; 5]),
                    default: None
                },
                true,
                true
            ),
            0x80
        );
        // Offline-only terminal with default IAC → AAC on any bit.
        assert_eq!(run([0, 0, 0, 0x80, 0], None, None, false), 0x00);
    }
}
