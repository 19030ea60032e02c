//! EMV application cryptograms and issuer authentication, as the card and
//! the issuer compute them.
//!
//! The virtual cards (`cardsim`) use this crate to produce ARQC/TC/AAC and
//! to check ARPCs; the acquirer's issuer simulator uses it to verify
//! cryptograms and to answer with an ARPC. It covers Visa CVN 10 and 18 and
//! Mastercard M/Chip CVN 16 and 17: ICC master key derivation (EMV Book 2
//! A1.4.1 option A, and option B where Visa CVN 18 needs it), session keys, the data each CVN MACs, ISO/IEC 9797-1
//! MAC algorithm 3 and ARPC methods 1 and 2. The sources of each algorithm
//! are named on the item that implements it.
//!
//! It must never log, print or serialise a key: keys are plain
//! [`Key16`] arrays in the function signatures so that callers can keep
//! them in whatever zeroising holder they like ([`SecretKey`] is one whose
//! `Debug` shows only the key check value). It does no I/O, reads no clock
//! and draws no random numbers; it does not depend on `kernel`, so tags are
//! passed as `u32` (`0x9F02`). Nothing a card or a network sends may make it
//! panic.
#![forbid(unsafe_code)]
#![deny(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

mod ac;
mod arpc;
mod cvn;
mod derive;
mod error;
mod key;
mod mac;

pub use ac::{ac_input, generate_ac, verify_ac};
pub use arpc::{
    arpc_key, arpc_method1, arpc_method2, generate_arpc, issuer_authentication_data,
    parse_issuer_authentication_data, verify_arpc, Arpc, IssuerResponse,
};
pub use cvn::{ArpcMethod, Cvn};
pub use derive::{
    derive_icc_master_key, derive_icc_master_key_for, derive_icc_master_key_option_b, session_key,
};
pub use error::CryptoError;
pub use key::{Key16, SecretKey};
pub use mac::{mac_alg3, Padding};
