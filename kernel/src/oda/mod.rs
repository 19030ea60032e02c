//! Offline data authentication (EMV Book 2 §5–6, Book C-2 and C-3): CA key
//! store, issuer and ICC certificate recovery, SDA, DDA, fDDA and CDA.
//!
//! Keys read from a card are types that carry their state: an
//! [`UnverifiedIssuerKey`] becomes an [`IssuerPublicKey`] only by
//! verification against a [`CaPublicKey`], an [`UnverifiedIccKey`] becomes
//! an [`IccPublicKey`] only by verification against an issuer key. Every
//! failure is an [`OdaError`] that names the check that failed.
//!
//! What the kernel state machine calls:
//! - [`static_data::build`] with the ODA records and the SDA tag list;
//! - [`recover_issuer_key`] / [`recover_icc_key`] with an [`OdaInput`];
//! - [`verify_sda`] (or [`verify_ssad`] with a recovered issuer key);
//! - [`verify_dynamic`] for DDA (DDOL data) and fDDA
//!   ([`fdda_terminal_data`]);
//! - [`verify_cda`] with a [`CdaInput`] ([`split_generate_ac_response`]
//!   separates the SDAD from the TLVs it covers).

mod cert;
mod date;
mod keys;
mod rsa;
mod signed;
pub mod static_data;

pub use cert::{IccPublicKey, IssuerPublicKey, UnverifiedIccKey, UnverifiedIssuerKey};
pub use keys::{
    CaKeyStore, CaPublicKey, Checksum, KeyClass, RejectedKey, RevocationList, RevokedCertificate,
};
pub use rsa::recover;
pub use signed::{
    fdda_terminal_data, split_generate_ac_response, verify_cda, verify_dynamic, verify_ssad,
    CdaInput, IccDynamicData,
};

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
    #[error("ICC certificate is for another PAN")]
    IccPanMismatch,
    #[error("issuer certificate is on the revocation list")]
    Revoked,
    #[error("signed data is malformed: {0}")]
    BadSignature(&'static str),
    #[error("signed data hash does not match")]
    SignatureHashMismatch,
    #[error("{what} is {actual} bytes, expected {expected}")]
    WrongLength {
        what: &'static str,
        expected: usize,
        actual: usize,
    },
    #[error("{0} is not smaller than the key modulus")]
    NotBelowModulus(&'static str),
    #[error("public key unusable: {0}")]
    BadKey(&'static str),
    #[error("transaction date is not a valid BCD YYMMDD")]
    BadDate,
    #[error("static data to be authenticated is malformed: {0}")]
    BadStaticData(&'static str),
    #[error("CDA: card signed CID {signed:02X} but returned CID {returned:02X}")]
    CidMismatch { signed: u8, returned: u8 },
    #[error("CDA: application cryptogram in the response is not the signed one")]
    AcMismatch,
    #[error("CDA: transaction data hash code does not match the data exchanged")]
    TransactionDataHashMismatch,
}

/// What the card gave for certificate recovery, borrowed from the records.
/// Absent optional tags (92, 9F48) are empty slices. For SDA the ICC
/// fields are unused and may be empty.
#[derive(Debug, Clone, Copy)]
pub struct OdaInput<'a> {
    /// The RID: first five bytes of the selected AID.
    pub rid: [u8; 5],
    /// CA Public Key Index (8F).
    pub ca_index: u8,
    /// Issuer Public Key Certificate (90).
    pub issuer_cert: &'a [u8],
    /// Issuer Public Key Remainder (92).
    pub issuer_remainder: &'a [u8],
    /// Issuer Public Key Exponent (9F32).
    pub issuer_exponent: &'a [u8],
    /// ICC Public Key Certificate (9F46).
    pub icc_cert: &'a [u8],
    /// ICC Public Key Remainder (9F48).
    pub icc_remainder: &'a [u8],
    /// ICC Public Key Exponent (9F47).
    pub icc_exponent: &'a [u8],
    /// Application PAN (5A), `cn` as read.
    pub pan_cn: &'a [u8],
    /// Static data to be authenticated ([`static_data::build`]).
    pub static_data: &'a [u8],
    /// Transaction Date (9A), BCD YYMMDD.
    pub transaction_date: [u8; 3],
}

/// Recovers and verifies the issuer public key with the CA key the card
/// names. Where the store holds several keys under that RID and index, the
/// one whose modulus length matches the certificate is used.
pub fn recover_issuer_key(
    store: &CaKeyStore,
    revocations: &RevocationList,
    input: &OdaInput<'_>,
) -> Result<IssuerPublicKey, OdaError> {
    if input.issuer_cert.is_empty() {
        return Err(OdaError::Missing("issuer public key certificate (90)"));
    }
    if input.issuer_exponent.is_empty() {
        return Err(OdaError::Missing("issuer public key exponent (9F32)"));
    }
    let unverified = UnverifiedIssuerKey::new(
        input.issuer_cert,
        input.issuer_remainder,
        input.issuer_exponent,
    );
    let mut first_error = OdaError::UnknownCaKey {
        rid: hex::encode_upper(input.rid),
        index: input.ca_index,
    };
    let mut candidates: Vec<&CaPublicKey> = store.candidates(&input.rid, input.ca_index).collect();
    // Try the keys of the certificate's length first; others only to report
    // the length mismatch.
    candidates.sort_by_key(|k| k.modulus.len() != input.issuer_cert.len());
    for ca in candidates {
        match unverified.verify(ca, input.pan_cn, input.transaction_date, revocations) {
            Ok(key) => return Ok(key),
            Err(e) => {
                if matches!(first_error, OdaError::UnknownCaKey { .. }) {
                    first_error = e;
                }
            }
        }
    }
    Err(first_error)
}

/// Recovers the issuer key, then the ICC key (DDA, fDDA, CDA).
pub fn recover_icc_key(
    store: &CaKeyStore,
    revocations: &RevocationList,
    input: &OdaInput<'_>,
) -> Result<IccPublicKey, OdaError> {
    if input.icc_cert.is_empty() {
        return Err(OdaError::Missing("ICC public key certificate (9F46)"));
    }
    if input.icc_exponent.is_empty() {
        return Err(OdaError::Missing("ICC public key exponent (9F47)"));
    }
    let issuer = recover_issuer_key(store, revocations, input)?;
    UnverifiedIccKey::new(input.icc_cert, input.icc_remainder, input.icc_exponent).verify(
        &issuer,
        input.pan_cn,
        input.static_data,
        input.transaction_date,
    )
}

/// Static data authentication: recovers the issuer key, then checks the
/// Signed Static Application Data (93). Returns the Data Authentication
/// Code (9F45).
pub fn verify_sda(
    store: &CaKeyStore,
    revocations: &RevocationList,
    input: &OdaInput<'_>,
    ssad: &[u8],
) -> Result<[u8; 2], OdaError> {
    if ssad.is_empty() {
        return Err(OdaError::Missing("signed static application data (93)"));
    }
    let issuer = recover_issuer_key(store, revocations, input)?;
    verify_ssad(&issuer, ssad, input.static_data)
}
