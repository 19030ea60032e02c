//! What can go wrong; none of the variants carries a key or a PAN.

use crate::cvn::Cvn;

/// Why a cryptogram operation could not be carried out.
///
/// A cryptogram that does not verify is not an error: `verify_*` functions
/// return `Ok(false)` for it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// The PAN is not 8 to 19 decimal digits. The PAN itself is left out
    /// so that the error can be logged.
    #[error("PAN must be 8 to 19 decimal digits")]
    BadPan,
    /// The PAN sequence number (tag 5F34) is not two BCD digits.
    #[error("PAN sequence number {0:#04x} is not two BCD digits")]
    BadPsn(u8),
    /// A data element the CVN MACs is absent.
    #[error("tag {0:04X} is missing from the cryptogram input")]
    MissingTag(u32),
    /// A data element has a length other than the one the CVN requires.
    #[error("tag {tag:04X} is {got} bytes long, expected {expected}")]
    WrongLength {
        /// The tag, e.g. `0x9F02`.
        tag: u32,
        /// The length the CVN requires.
        expected: usize,
        /// The length found.
        got: usize,
    },
    /// The Issuer Application Data (9F10) does not have the layout the CVN
    /// implies, so the CVR or counters cannot be taken from it.
    #[error("issuer application data of {len} bytes does not fit {cvn}")]
    BadIad {
        /// The CVN the IAD was read for.
        cvn: Cvn,
        /// The IAD length found.
        len: usize,
    },
    /// The ARPC or the issuer response belongs to the other ARPC method than
    /// the one the CVN uses.
    #[error("{cvn} uses the other ARPC method")]
    ArpcMethodMismatch {
        /// The CVN whose method was not followed.
        cvn: Cvn,
    },
    /// Proprietary authentication data for ARPC method 2 is at most 8 bytes
    /// (EMV Book 2 8.2.2).
    #[error("proprietary authentication data is {0} bytes, at most 8 allowed")]
    PropAuthDataTooLong(usize),
    /// Issuer Authentication Data (tag 91) of a length the CVN's ARPC
    /// method does not allow.
    #[error("issuer authentication data of {len} bytes does not fit {cvn}")]
    BadIssuerAuthData {
        /// The CVN the data was read for.
        cvn: Cvn,
        /// The length found.
        len: usize,
    },
    /// A key given as text is not 32 hexadecimal digits.
    #[error("a double-length key must be 32 hexadecimal digits")]
    BadKeyText,
    /// A CVN name that is none of `visa-10`, `visa-18`, `mastercard-16`,
    /// `mastercard-17`.
    #[error("unknown cryptogram version {0:?}")]
    UnknownCvn(String),
}
