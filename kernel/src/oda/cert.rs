//! Issuer and ICC public key certificates (EMV Book 2 §5.3 and §6.4).
//!
//! A key read from the card is unverified until its certificate has been
//! recovered with the key one level up and every check has passed; only
//! then does an [`IssuerPublicKey`] or [`IccPublicKey`] exist. Their fields
//! are private and they have no other constructor.

use super::date::{self, Day};
use super::keys::{CaPublicKey, RevocationList};
use super::rsa::{recover_as, sha1};
use super::OdaError;

const HEADER: u8 = 0x6A;
const TRAILER: u8 = 0xBC;
const SHA1_ALGORITHM: u8 = 0x01;
const RSA_ALGORITHM: u8 = 0x01;
const HASH_LEN: usize = 20;

/// Bytes of a recovered certificate, read without indexing that can panic.
pub(crate) struct Recovered<'a> {
    pub(crate) what: &'static str,
    pub(crate) bytes: &'a [u8],
}

impl<'a> Recovered<'a> {
    pub(crate) fn byte(&self, at: usize) -> Result<u8, OdaError> {
        self.bytes.get(at).copied().ok_or(self.short())
    }

    pub(crate) fn range(&self, from: usize, to: usize) -> Result<&'a [u8], OdaError> {
        self.bytes.get(from..to).ok_or(self.short())
    }

    fn short(&self) -> OdaError {
        OdaError::BadCertificate {
            what: self.what,
            why: "too short for its format",
        }
    }

    fn bad(&self, why: &'static str) -> OdaError {
        OdaError::BadCertificate {
            what: self.what,
            why,
        }
    }

    /// Header 6A, trailer BC and the expected format byte, in the order of
    /// Book 2 (trailer, header, format).
    pub(crate) fn check_frame(&self, format: u8) -> Result<(), OdaError> {
        if self.bytes.last() != Some(&TRAILER) {
            return Err(self.bad("recovered data trailer is not BC (wrong key or corrupted data)"));
        }
        if self.byte(0)? != HEADER {
            return Err(self.bad("recovered data header is not 6A (wrong key or corrupted data)"));
        }
        if self.byte(1)? != format {
            return Err(self.bad("wrong certificate format byte"));
        }
        Ok(())
    }

    /// Offset of the 20-byte hash: it sits just before the trailer.
    pub(crate) fn hash_at(&self) -> Result<usize, OdaError> {
        self.bytes
            .len()
            .checked_sub(HASH_LEN.saturating_add(1))
            .ok_or(self.short())
    }

    /// Checks the hash algorithm byte is SHA-1 and that SHA-1 over the
    /// signed part (format byte up to the hash) and `extra` matches.
    pub(crate) fn check_hash(
        &self,
        algorithm_at: usize,
        extra: &[&[u8]],
        mismatch: OdaError,
    ) -> Result<(), OdaError> {
        if self.byte(algorithm_at)? != SHA1_ALGORITHM {
            return Err(self.bad("hash algorithm is not SHA-1 (01)"));
        }
        let at = self.hash_at()?;
        let mut parts: Vec<&[u8]> = vec![self.range(1, at)?];
        parts.extend_from_slice(extra);
        let expected = self.range(at, at.saturating_add(HASH_LEN))?;
        if sha1(&parts).as_slice() != expected {
            return Err(mismatch);
        }
        Ok(())
    }
}

/// The PAN's digits from its `cn` encoding (trailing F padding removed).
fn pan_digits(pan_cn: &[u8]) -> Result<String, OdaError> {
    let digits = hex::encode_upper(pan_cn);
    let digits = digits.trim_end_matches('F');
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(OdaError::Missing(
            "a valid PAN (5A) to compare with the certificates",
        ));
    }
    Ok(digits.to_owned())
}

/// EMV Book 2 §11.2 allows only 3 and 65537 as issuer and ICC exponents;
/// refusing others also bounds the cost of the RSA operations a card can
/// make the terminal do.
fn check_exponent(exponent: &[u8], what: &'static str) -> Result<(), OdaError> {
    match exponent {
        [3] | [1, 0, 1] => Ok(()),
        _ => Err(OdaError::BadKey(what)),
    }
}

/// Builds the public key from the certificate's key field and the
/// remainder, after checking the lengths the certificate declares.
fn assemble_key(
    cert: &Recovered<'_>,
    key_len: usize,
    key_field: &[u8],
    remainder: &[u8],
    declared_exponent_len: usize,
    exponent: &[u8],
    remainder_name: &'static str,
) -> Result<Vec<u8>, OdaError> {
    if key_len == 0 {
        return Err(cert.bad("declares a public key of length zero"));
    }
    if declared_exponent_len != exponent.len() {
        return Err(cert.bad("declared exponent length differs from the exponent the card sent"));
    }
    if key_len <= key_field.len() {
        let key = key_field.get(..key_len).ok_or(cert.short())?;
        return Ok(key.to_vec());
    }
    let needed = key_len.saturating_sub(key_field.len());
    if remainder.is_empty() {
        return Err(OdaError::Missing(remainder_name));
    }
    if remainder.len() != needed {
        return Err(OdaError::WrongLength {
            what: remainder_name,
            expected: needed,
            actual: remainder.len(),
        });
    }
    let mut key = key_field.to_vec();
    key.extend_from_slice(remainder);
    Ok(key)
}

fn check_not_expired(
    what: &'static str,
    mmyy: &[u8],
    today: Day,
) -> Result<date::YearMonth, OdaError> {
    let mmyy: [u8; 2] = mmyy.try_into().map_err(|_| OdaError::BadCertificate {
        what,
        why: "too short for its format",
    })?;
    let expiry = date::from_mmyy(mmyy).ok_or(OdaError::BadCertificate {
        what,
        why: "expiry date is not a valid MMYY",
    })?;
    if expiry < today.month() {
        return Err(OdaError::Expired(what));
    }
    Ok(expiry)
}

/// An issuer public key as read from the card (tags 90, 92, 9F32), not yet
/// checked against a CA key.
#[derive(Debug, Clone, Copy)]
pub struct UnverifiedIssuerKey<'a> {
    certificate: &'a [u8],
    remainder: &'a [u8],
    exponent: &'a [u8],
}

/// An issuer public key whose certificate was verified with a CA key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerPublicKey {
    modulus: Vec<u8>,
    exponent: Vec<u8>,
    rid: [u8; 5],
    ca_index: u8,
    serial: [u8; 3],
    expiry_mmyy: [u8; 2],
    issuer_identifier: [u8; 4],
}

impl IssuerPublicKey {
    pub fn modulus(&self) -> &[u8] {
        &self.modulus
    }
    pub fn exponent(&self) -> &[u8] {
        &self.exponent
    }
    pub fn rid(&self) -> [u8; 5] {
        self.rid
    }
    pub fn ca_index(&self) -> u8 {
        self.ca_index
    }
    /// Certificate serial number, as checked against the revocation list.
    pub fn serial(&self) -> [u8; 3] {
        self.serial
    }
    /// Certificate expiry, BCD MMYY.
    pub fn expiry_mmyy(&self) -> [u8; 2] {
        self.expiry_mmyy
    }
    /// Leftmost 3–8 PAN digits, `cn` padded with F.
    pub fn issuer_identifier(&self) -> [u8; 4] {
        self.issuer_identifier
    }
}

impl<'a> UnverifiedIssuerKey<'a> {
    /// `certificate` is tag 90, `remainder` tag 92 (empty when absent),
    /// `exponent` tag 9F32.
    pub fn new(certificate: &'a [u8], remainder: &'a [u8], exponent: &'a [u8]) -> Self {
        UnverifiedIssuerKey {
            certificate,
            remainder,
            exponent,
        }
    }

    /// Recovers the issuer certificate (format 02) with `ca` and checks it
    /// as EMV Book 2 §5.3 requires: length, trailer, header, format, hash,
    /// issuer identifier against the PAN, expiry against the transaction
    /// date (BCD YYMMDD), revocation, and the key algorithm.
    pub fn verify(
        self,
        ca: &CaPublicKey,
        pan_cn: &[u8],
        transaction_date: [u8; 3],
        revocations: &RevocationList,
    ) -> Result<IssuerPublicKey, OdaError> {
        const WHAT: &str = "issuer";
        let today = Day::from_yymmdd(transaction_date)?;
        check_exponent(
            self.exponent,
            "issuer public key exponent (9F32) is not 3 or 65537",
        )?;
        if let Some(expiry) = ca.expiry {
            if Day::from_yymmdd(expiry)? < today {
                return Err(OdaError::CaKeyExpired {
                    rid: hex::encode_upper(ca.rid),
                    index: ca.index,
                });
            }
        }
        let bytes = recover_as(
            "issuer certificate (90)",
            &ca.modulus,
            &ca.exponent,
            self.certificate,
        )?;
        let cert = Recovered {
            what: WHAT,
            bytes: &bytes,
        };
        cert.check_frame(0x02)?;
        let hash_at = cert.hash_at()?;
        let key_field = cert.range(15, hash_at)?;
        let modulus = assemble_key(
            &cert,
            usize::from(cert.byte(13)?),
            key_field,
            self.remainder,
            usize::from(cert.byte(14)?),
            self.exponent,
            "issuer public key remainder (92)",
        )?;
        cert.check_hash(
            11,
            &[self.remainder, self.exponent],
            OdaError::HashMismatch(WHAT),
        )?;

        let identifier: [u8; 4] = cert.range(2, 6)?.try_into().map_err(|_| cert.short())?;
        let id_digits = hex::encode_upper(identifier);
        let id_digits = id_digits.trim_end_matches('F');
        if !(3..=8).contains(&id_digits.len()) || !id_digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(cert.bad("issuer identifier is not 3 to 8 digits padded with F"));
        }
        if !pan_digits(pan_cn)?.starts_with(id_digits) {
            return Err(OdaError::PanMismatch);
        }

        let expiry = cert.range(6, 8)?;
        check_not_expired(WHAT, expiry, today)?;
        let serial: [u8; 3] = cert.range(8, 11)?.try_into().map_err(|_| cert.short())?;
        if revocations.contains(&ca.rid, ca.index, &serial) {
            return Err(OdaError::Revoked);
        }
        if cert.byte(12)? != RSA_ALGORITHM {
            return Err(cert.bad("public key algorithm is not RSA (01)"));
        }
        Ok(IssuerPublicKey {
            modulus,
            exponent: self.exponent.to_vec(),
            rid: ca.rid,
            ca_index: ca.index,
            serial,
            expiry_mmyy: expiry.try_into().map_err(|_| cert.short())?,
            issuer_identifier: identifier,
        })
    }
}

/// An ICC public key as read from the card (tags 9F46, 9F48, 9F47), not
/// yet checked against an issuer key.
#[derive(Debug, Clone, Copy)]
pub struct UnverifiedIccKey<'a> {
    certificate: &'a [u8],
    remainder: &'a [u8],
    exponent: &'a [u8],
}

/// An ICC public key whose certificate was verified with an issuer key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IccPublicKey {
    modulus: Vec<u8>,
    exponent: Vec<u8>,
    serial: [u8; 3],
    expiry_mmyy: [u8; 2],
}

impl IccPublicKey {
    pub fn modulus(&self) -> &[u8] {
        &self.modulus
    }
    pub fn exponent(&self) -> &[u8] {
        &self.exponent
    }
    pub fn serial(&self) -> [u8; 3] {
        self.serial
    }
    /// Certificate expiry, BCD MMYY.
    pub fn expiry_mmyy(&self) -> [u8; 2] {
        self.expiry_mmyy
    }
}

impl<'a> UnverifiedIccKey<'a> {
    /// `certificate` is tag 9F46, `remainder` tag 9F48 (empty when absent),
    /// `exponent` tag 9F47.
    pub fn new(certificate: &'a [u8], remainder: &'a [u8], exponent: &'a [u8]) -> Self {
        UnverifiedIccKey {
            certificate,
            remainder,
            exponent,
        }
    }

    /// Recovers the ICC certificate (format 04) with `issuer` and checks it
    /// as EMV Book 2 §6.4 requires; the hash covers `static_data`, the
    /// static data to be authenticated (see [`super::static_data`]).
    pub fn verify(
        self,
        issuer: &IssuerPublicKey,
        pan_cn: &[u8],
        static_data: &[u8],
        transaction_date: [u8; 3],
    ) -> Result<IccPublicKey, OdaError> {
        const WHAT: &str = "ICC";
        let today = Day::from_yymmdd(transaction_date)?;
        check_exponent(
            self.exponent,
            "ICC public key exponent (9F47) is not 3 or 65537",
        )?;
        let bytes = recover_as(
            "ICC certificate (9F46)",
            &issuer.modulus,
            &issuer.exponent,
            self.certificate,
        )?;
        let cert = Recovered {
            what: WHAT,
            bytes: &bytes,
        };
        cert.check_frame(0x04)?;
        let hash_at = cert.hash_at()?;
        let key_field = cert.range(21, hash_at)?;
        let modulus = assemble_key(
            &cert,
            usize::from(cert.byte(19)?),
            key_field,
            self.remainder,
            usize::from(cert.byte(20)?),
            self.exponent,
            "ICC public key remainder (9F48)",
        )?;
        cert.check_hash(
            17,
            &[self.remainder, self.exponent, static_data],
            OdaError::HashMismatch(WHAT),
        )?;
        let cert_pan = pan_digits(cert.range(2, 12)?)
            .map_err(|_| cert.bad("application PAN is not digits padded with F"))?;
        if cert_pan != pan_digits(pan_cn)? {
            return Err(OdaError::IccPanMismatch);
        }
        let expiry = cert.range(12, 14)?;
        check_not_expired(WHAT, expiry, today)?;
        if cert.byte(18)? != RSA_ALGORITHM {
            return Err(cert.bad("public key algorithm is not RSA (01)"));
        }
        Ok(IccPublicKey {
            modulus,
            exponent: self.exponent.to_vec(),
            serial: cert.range(14, 17)?.try_into().map_err(|_| cert.short())?,
            expiry_mmyy: expiry.try_into().map_err(|_| cert.short())?,
        })
    }
}
