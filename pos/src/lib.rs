//! The SoftPOS terminal runtime, usable without a GUI: readers, the card
//! loop that drives the kernel, and the use cases behind the `softpos` CLI
//! (and, later, the app's Tauri commands).
//!
//! It must never print, log or record a clear PAN except a test card's when
//! asked to, never panic on what a card, a reader or a file sends, and it
//! keeps all card I/O in [`card::run`].
#![forbid(unsafe_code)]

pub mod card;
pub mod clock;
pub mod history;
pub mod pay;
pub mod qa;
pub mod qr;
pub mod queue;
pub mod reader;
pub mod receipt;
pub mod sync;
pub mod tap;

/// What went wrong, grouped by what the user can do about it; each maps to
/// the CLI's exit code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PosError {
    /// The command line asked for something that does not exist.
    #[error("{0}")]
    Usage(String),
    /// Our own configuration is wrong (a bug or a broken build).
    #[error("configuration: {0}")]
    Config(String),
    #[error("{0}")]
    Io(String),
    #[error("{0}")]
    Import(String),
}

impl PosError {
    /// 2 for usage, 1 for everything else (3 for our own configuration).
    pub fn exit_code(&self) -> u8 {
        match self {
            PosError::Usage(_) => 2,
            PosError::Config(_) => 3,
            PosError::Io(_) | PosError::Import(_) => 1,
        }
    }
}
