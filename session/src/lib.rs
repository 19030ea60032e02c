//! Recorded card sessions in the `softpos-card-session/1` format
//! (`shared/specs/card-session.md`): reading and writing them, replaying
//! them through the kernel, recording them from a live run, decoding them
//! for people, and importing other tools' transcripts.
//!
//! It must never write a clear PAN, track data or cardholder name into a
//! trace, and never into a recording unless the caller asks to keep a test
//! card's data. It does no I/O of its own: callers read and write files.
#![forbid(unsafe_code)]

pub mod format;
pub mod hexstr;
pub mod import;
pub mod mask;
pub mod record;
pub mod replay;
pub mod trace;

pub use format::{
    AidSpec, CaKeySet, CaKeySpec, CaKeysSpec, Exchange, Expect, Session, SessionError, StartSpec,
    TerminalSpec, TransactionSpec, FORMAT,
};
pub use hexstr::{Hex, TagKey};
pub use import::{from_binaryfoo, from_devnied, ImportError};
pub use record::{Recorder, Run};
pub use replay::{replay, Divergence, Failure, ReplayReport};
pub use trace::{trace, TraceEntry, TraceField};
