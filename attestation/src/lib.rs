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
//! ```
//! use attestation::*;
//! use ring::rand::SystemRandom;
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let rng = SystemRandom::new();
//! let now = 1_763_870_400_000;
//! // Terminal, at enrollment: make a key, keep it sealed, send the public key.
//! let key = SoftwareDeviceKey::generate(&rng)?;
//! let sealed = key.seal(&[0x42; 32])?;
//! let key = SoftwareDeviceKey::unseal(&sealed, &[0x42; 32])?;
//! let mut terminal = TerminalState {
//!     terminal_id: "T-1".into(), public_key: key.public_key(), key_kind: key.kind(),
//!     last_counter: 0, config_sha256: "00".repeat(32), blocked: false,
//! };
//! // Acquirer: issue a challenge. Terminal: answer it.
//! let challenge = Challenge::new(&rng, now)?;
//! let ctx = EvidenceContext {
//!     terminal_id: "T-1".into(), app_version: "1.0.0".into(), reader: "virtual".into(),
//!     config_sha256: "00".repeat(32), key_kind: key.kind(),
//! };
//! let facts = PlatformFacts { app_binary_sha256: "ab".repeat(32), os: "linux".into(),
//!     os_version: "6.1".into(), debugger_attached: false, emulator: false, rooted: false,
//!     signs: vec![] };
//! let signed = sign_evidence(&key, build_evidence(&ctx, &facts, &challenge, now, 1))?;
//! // Acquirer: verify, store the verdict and the counter, hand out a token.
//! let verifier = Verifier::new(Policy {
//!     allowed_binaries: vec!["ab".repeat(32)], max_clock_skew_ms: 300_000,
//!     challenge_ttl_ms: 120_000, token_ttl_ms: 900_000,
//!     allow_debugger: false, allow_emulator: false, allow_rooted: false,
//! }, b"32 random bytes from the config!");
//! let verdict = verifier.verify(&signed, &terminal, &challenge, false, now + 50)?;
//! terminal.last_counter = verdict.counter;
//! let token = verifier.issue_token("T-1", &verdict, now + 50);
//! assert!(verifier.check_token(&token.token, "T-1", now + 60_000).is_ok());
//! // The same evidence again is a replay.
//! let again = verifier.verify(&signed, &terminal, &challenge, true, now + 60);
//! assert_eq!(again.unwrap_err().code, FailureCode::NonceReused);
//! # Ok(()) }
//! ```
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
pub use key::{ecdsa_p256_der_from_fixed, DeviceKey, KeyKind, SoftwareDeviceKey};
pub use platform::PlatformFacts;
pub use request::{
    check_request_time, request_signing_bytes, sign_request, verify_request_signature,
    REQUEST_DOMAIN,
};
pub use verify::{
    AttestationToken, Policy, TerminalState, TokenClaims, Verdict, Verifier, MAX_COUNTER,
    MAX_FIELD_LEN, MAX_PLATFORM_SIGNS, MAX_TOKEN_LEN,
};
