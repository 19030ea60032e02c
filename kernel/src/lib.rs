//! The SoftPOS EMV contactless kernel.
//!
//! Entry point (EMV Book B), Kernel 2 (Mastercard), Kernel 3 (Visa) and
//! offline data authentication, as a sans-I/O state machine: it is given
//! the terminal configuration and the transaction inputs, emits command
//! APDUs, consumes response APDUs and ends with an [`Outcome`].
//!
//! It must never touch a reader, a clock, a file, a socket or a random
//! number generator, and nothing a card sends may make it panic.
#![forbid(unsafe_code)]
#![deny(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

pub mod apdu;
pub mod bcd;
pub mod carddata;
pub mod config;
pub mod cvm;
pub mod dol;
pub mod entry;
pub mod money;
pub mod oda;
mod odaflow;
pub mod outcome;
pub mod pan;
pub mod tags;
pub mod testing;
pub mod tlv;
pub mod transaction;
pub mod tvr;

pub use apdu::{CommandApdu, ResponseApdu, StatusWord};
pub use config::{AidConfig, Start, TerminalConfig, TransactionInputs};
pub use money::{Amount, Currency};
pub use outcome::{Cvm, OdaMethod, OdaStatus, Outcome, OutcomeKind};
pub use pan::{MaskedPan, Pan};
pub use tlv::{Tag, Tlv};
pub use transaction::{KernelError, Step, Transaction};
