//! Device attestation for SoftPOS terminals.
//!
//! The terminal side holds a device key (ECDSA P-256, software by default,
//! a TPM where there is one), collects evidence about the platform it runs
//! on and signs it over a fresh challenge. The acquirer side verifies that
//! evidence against a [`Policy`] and the enrolled [`TerminalState`], and
//! issues a short-lived [`AttestationToken`] that every later request
//! carries; each request is also signed by the device key
//! ([`request_signing_bytes`]).
//!
//! Every rejection carries a [`FailureCode`] and a message a merchant can
//! act on ("clock is 9 minutes off"), never a bare "attestation failed".
//!
//! This crate must never log, print, serialise or export a private key in
//! clear: a [`SoftwareDeviceKey`] is not `Clone`, its `Debug` shows only a
//! fingerprint of the public key, and it leaves the process only sealed
//! under a key-encryption key. It does no I/O apart from the platform probes
//! in [`collect_evidence`]; time, counters and storage are the caller's.
#![forbid(unsafe_code)]

mod error;
mod evidence;
mod key;
pub mod platform;
mod request;
mod verify;

pub use error::{AttestError, Failure, FailureCode};
pub use evidence::{
    build_evidence, collect_evidence, sign_evidence, Challenge, Evidence, EvidenceContext,
    SignedEvidence, EVIDENCE_DOMAIN,
};
pub use key::{DeviceKey, KeyKind, SoftwareDeviceKey};
pub use platform::PlatformFacts;
pub use request::{
    check_request_time, request_signing_bytes, sign_request, verify_request_signature,
    REQUEST_DOMAIN,
};
pub use verify::{
    AttestationToken, Policy, TerminalState, TokenClaims, Verdict, Verifier, MAX_FIELD_LEN,
    MAX_PLATFORM_SIGNS, MAX_TOKEN_LEN,
};
