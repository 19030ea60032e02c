//! Virtual EMV contactless cards for tests, demos and QA: a Visa-like qVSDC
//! card (Kernel 3), a Mastercard-like M/Chip card (Kernel 2) and a
//! UnionPay-like qUICS card (Kernel 7), each personalised from a profile
//! (`profiles/*.toml`) with its own test CA → issuer → ICC RSA chain, real
//! fDDA/CDA signatures, real ARQC/TC/AAC cryptograms and an ATC that advances.
//! Behaviours (decline, offline approval, CVMs, bad status words, malformed
//! TLV, expired certificate, removal, slow answers) are chosen in the profile.
//!
//! A [`VirtualCard`] takes raw command APDUs and returns raw response APDUs,
//! so a terminal cannot tell it from a card behind a reader.
//!
//! ```
//! use cardsim::{Profile, VirtualCard};
//!
//! let mut card = VirtualCard::new(&Profile::builtin("visa-cvn18")?)?;
//! let ppse = hex::decode("00A404000E325041592E5359532E444446303100")?;
//! let answer = card.transmit(&ppse)?;
//! assert_eq!(answer[answer.len() - 2..], [0x90, 0x00]);
//! // A terminal trusts the card's test CA explicitly.
//! let ca = card.ca_public_key();
//! assert_eq!((ca.rid, ca.index), ([0xA0, 0, 0, 0, 0x03], 0xE1));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! It must never hold a real card's data or a real key: every key under
//! `keys/` is a published test key, every PAN a public test number. It
//! sleeps for no one: slow cards report their delay instead.
#![forbid(unsafe_code)]

mod card;
pub mod pki;
pub mod profile;
pub mod vpcd;

/// The cryptogram crate, under one name for the whole crate.
use cryptogram as crypto;

pub use card::{CardRemoved, VirtualCard};
pub use profile::{Behaviour, Kind, Profile, WrongSw};

/// Why a virtual card could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CardSimError {
    #[error("no built-in card profile named {0:?}")]
    UnknownProfile(String),
    #[error("card profile is not valid: {0}")]
    Profile(String),
    #[error(transparent)]
    Pki(#[from] pki::PkiError),
}
