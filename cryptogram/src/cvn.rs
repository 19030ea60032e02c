//! Cryptogram Version Numbers: which keys, data and padding a card uses.

use std::fmt;
use std::str::FromStr;

use crate::error::CryptoError;
use crate::mac::Padding;

/// A Cryptogram Version Number this crate implements.
///
/// | CVN | master key | AC session key | AC data (after the 10 EMV minimum tags) | padding | ARPC |
/// |-----|------------|----------------|------------------------------------------|---------|------|
/// | Visa 10 (`0A`) | option A | none: the ICC master key | CVR, IAD bytes 4-7 | method 1 | method 1, MK |
/// | Visa 18 (`12`) | option B (= A for PAN <= 16 digits) | EMV common SK, R = ATC‖00..00 | whole IAD | method 2 | method 2, SK |
/// | Mastercard 16 (`10`) | option A | Mastercard SKD, R = ATC‖0000‖UN | CVR, IAD bytes 3-8 | method 2 | method 1, MK |
/// | Mastercard 17 (`11`) | option A | Mastercard SKD, R = ATC‖0000‖UN | CVR and counters | method 2 | method 1, MK |
///
/// Sources: Visa VSDC Contact & Contactless Issuer Implementation Guide
/// (Oct 2018) appendix H as quoted in jPOS `CVN10DataBuilderTest` /
/// `CVN18DataBuilderTest`; pyemv 1.5.0 `pyemv/cvn.py` (classes `VisaCVN10`,
/// `VisaCVN18`, `MasterCardCVN16`, `MasterCardCVN17`, whose values were
/// checked against an HSM in `tests/test_cvn_hsm.py`); jPOS
/// `IssuerApplicationData` / `MChipCryptogram` for the M/Chip CVN bits
/// (bit 1: counters in the AC; bits 3-2 = 00: Mastercard proprietary SKD).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cvn {
    /// Visa CVN 10 (VIS 1.4/1.5, `0A`).
    Visa10,
    /// Visa CVN 18 (VIS 1.5 / qVSDC, `12`).
    Visa18,
    /// Mastercard M/Chip CVN 16 (`10`): proprietary SKD, no counters.
    Mastercard16,
    /// Mastercard M/Chip CVN 17 (`11`): proprietary SKD, with counters.
    Mastercard17,
}

/// How the issuer proves itself to the card (EMV Book 2 8.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArpcMethod {
    /// Book 2 8.2.1: 8-byte ARPC over ARQC XOR ARC; tag 91 = ARPC‖ARC.
    Method1,
    /// Book 2 8.2.2: 4-byte MAC over ARQC‖CSU‖proprietary data; tag 91 =
    /// ARPC‖CSU‖proprietary data.
    Method2,
}

impl Cvn {
    /// Every CVN, for tests and for listing in configuration help.
    pub const ALL: [Cvn; 4] = [
        Cvn::Visa10,
        Cvn::Visa18,
        Cvn::Mastercard16,
        Cvn::Mastercard17,
    ];

    /// The CVN byte as carried in the Issuer Application Data.
    pub fn number(self) -> u8 {
        match self {
            Cvn::Visa10 => 0x0A,
            Cvn::Visa18 => 0x12,
            Cvn::Mastercard16 => 0x10,
            Cvn::Mastercard17 => 0x11,
        }
    }

    /// The padding applied to the AC input before the MAC.
    pub fn padding(self) -> Padding {
        match self {
            Cvn::Visa10 => Padding::Method1,
            Cvn::Visa18 | Cvn::Mastercard16 | Cvn::Mastercard17 => Padding::Method2,
        }
    }

    /// The ARPC method the card expects.
    pub fn arpc_method(self) -> ArpcMethod {
        match self {
            Cvn::Visa18 => ArpcMethod::Method2,
            Cvn::Visa10 | Cvn::Mastercard16 | Cvn::Mastercard17 => ArpcMethod::Method1,
        }
    }

    /// The CVN an Issuer Application Data (tag 9F10) names, if it names one
    /// of ours unambiguously.
    ///
    /// Visa formats 0/1/3 (VIS 1.5): byte 1 is the length of the Visa part
    /// (`06`), byte 2 the key index, byte 3 the CVN, byte 4 the CVR length
    /// (`03`); 7 to 23 bytes in all. Mastercard M/Chip 4 and Advance: byte
    /// 1 key index, byte 2 the CVN, 18, 20, 26 or 28 bytes in all (jPOS
    /// `IssuerApplicationData`). An IAD that fits both readings (possible
    /// only for 18 or 20 bytes) gives `None`: the caller then decides from
    /// the AID.
    pub fn from_iad(iad: &[u8]) -> Option<Cvn> {
        let visa = match iad {
            [0x06, _, cvn, 0x03, ..] if (7..=23).contains(&iad.len()) => match cvn {
                0x0A => Some(Cvn::Visa10),
                0x12 => Some(Cvn::Visa18),
                _ => None,
            },
            _ => None,
        };
        let mastercard = match iad {
            [_, cvn, ..] if matches!(iad.len(), 18 | 20 | 26 | 28) => match cvn {
                0x10 => Some(Cvn::Mastercard16),
                0x11 => Some(Cvn::Mastercard17),
                _ => None,
            },
            _ => None,
        };
        match (visa, mastercard) {
            (Some(v), None) => Some(v),
            (None, Some(m)) => Some(m),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Cvn::Visa10 => "visa-10",
            Cvn::Visa18 => "visa-18",
            Cvn::Mastercard16 => "mastercard-16",
            Cvn::Mastercard17 => "mastercard-17",
        }
    }
}

/// `visa-10`, `visa-18`, `mastercard-16`, `mastercard-17`.
impl fmt::Display for Cvn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Accepts exactly the names [`Display`](fmt::Display) writes, ignoring
/// ASCII case.
impl FromStr for Cvn {
    type Err = CryptoError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Cvn::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| CryptoError::UnknownCvn(s.chars().take(32).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for cvn in Cvn::ALL {
            assert_eq!(cvn.to_string().parse::<Cvn>().unwrap(), cvn);
        }
        assert_eq!("Visa-18".parse::<Cvn>().unwrap(), Cvn::Visa18);
        assert!("visa-22".parse::<Cvn>().is_err());
        assert!("visa18".parse::<Cvn>().is_err());
        assert!("".parse::<Cvn>().is_err());
    }

    #[test]
    fn from_iad_reads_public_examples() {
        // jPOS CVN10DataBuilderTest / CVN18DataBuilderTest (Visa VSDC IIG).
        assert_eq!(
            Cvn::from_iad(&[0x06, 0x01, 0x0A, 0x03, 0, 0, 0]),
            Some(Cvn::Visa10)
        );
        assert_eq!(
            Cvn::from_iad(&[0x06, 0x01, 0x12, 0x03, 0, 0, 0]),
            Some(Cvn::Visa18)
        );
        // pyemv tests/test_cvn_hsm.py comments: M/Chip IADs.
        let mc16 = [
            0x01, 0x10, 0xA0, 0x00, 0x03, 0x22, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF,
        ];
        assert_eq!(Cvn::from_iad(&mc16), Some(Cvn::Mastercard16));
        let mut mc17 = mc16;
        mc17[1] = 0x11;
        assert_eq!(Cvn::from_iad(&mc17), Some(Cvn::Mastercard17));
        // Tampered twins: other CVNs, wrong lengths, truncations.
        assert_eq!(Cvn::from_iad(&[0x06, 0x01, 0x16, 0x03, 0, 0, 0]), None);
        assert_eq!(Cvn::from_iad(&[0x06, 0x01, 0x12, 0x03, 0, 0]), None);
        assert_eq!(Cvn::from_iad(&mc17[..17]), None);
        mc17[1] = 0x14;
        assert_eq!(Cvn::from_iad(&mc17), None);
        assert_eq!(Cvn::from_iad(&[]), None);
        // Visa format 2 (32 bytes, CVN 22) is not ours.
        let mut f2 = [0u8; 32];
        f2[0] = 0x1F;
        f2[1] = 0x22;
        assert_eq!(Cvn::from_iad(&f2), None);
    }

    #[test]
    fn from_iad_refuses_to_guess_when_both_layouts_fit() {
        let mut both = [0u8; 18];
        both[..4].copy_from_slice(&[0x06, 0x10, 0x12, 0x03]);
        assert_eq!(Cvn::from_iad(&both), None);
    }
}
