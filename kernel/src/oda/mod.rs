//! Offline data authentication (EMV Book 2 §5–6, Book C-2 and C-3): CA key
//! store, issuer and ICC certificate recovery, SDA, DDA, fDDA and CDA.
//!
//! INTERFACE CONTRACT (the kernel state machine calls exactly these):
//! - `CaKeyStore::{test, live, all, from_keys, find}`
//! - `OdaInput` collects what the card gave.
//! - `recover_icc_key(&store, &input, date)` → `IccPublicKey` (checks issuer
//!   and ICC certificates: format, hash, expiry, PAN match, revocation).
//! - `verify_sda(&store, &input, date)` → `Ok(dac)`.
//! - `verify_dynamic_signature(&icc_key, sdad, dynamic_terminal_data)` →
//!   recovered ICC dynamic data (DDA and fDDA: format 05).
//! - `verify_cda(&icc_key, sdad, &CdaInput)` (format 05 with CID, AC and
//!   transaction data hash).

mod keys;

pub use keys::{CaKeyStore, CaPublicKey};

/// Why offline data authentication failed. Each says what a QA engineer
/// needs to see.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OdaError {
    #[error("CA public key {rid} index {index:02X} is not known to the terminal")]
    UnknownCaKey { rid: String, index: u8 },
    #[error("CA public key {rid} index {index:02X} expired")]
    CaKeyExpired { rid: String, index: u8 },
    #[error("card data needed for ODA is missing: {0}")]
    Missing(&'static str),
    #[error("{what} certificate is malformed: {why}")]
    BadCertificate {
        what: &'static str,
        why: &'static str,
    },
    #[error("{0} certificate hash does not match")]
    HashMismatch(&'static str),
    #[error("{0} certificate has expired")]
    Expired(&'static str),
    #[error("issuer certificate does not match the PAN")]
    PanMismatch,
    #[error("issuer certificate is on the revocation list")]
    Revoked,
    #[error("signed data is malformed: {0}")]
    BadSignature(&'static str),
    #[error("signed data hash does not match")]
    SignatureHashMismatch,
}
