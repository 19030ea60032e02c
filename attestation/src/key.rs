//! Device keys.
//!
//! A device key is an ECDSA P-256 key made on the terminal at enrollment;
//! the acquirer keeps only its public half and the [`KeyKind`] it was told.
//!
//! # TPM-backed keys
//!
//! [`KeyKind::Tpm`] fits [`DeviceKey`] without changes. A TPM 2.0
//! implementation would hold a handle to a persistent, non-duplicable
//! signing key (`TPM2_Create` with `fixedTPM | fixedParent |
//! sensitiveDataOrigin | sign`, scheme ECDSA, curve NIST P-256, hash
//! SHA-256) under the storage root key; the private half never leaves the
//! chip, so there is nothing to seal. `public_key` converts the `TPMS_ECC_POINT`
//! from `TPM2_ReadPublic` to the 65-byte uncompressed form
//! (`0x04 || x || y`, each left-padded to 32 bytes). `sign` hashes the
//! message with SHA-256 (in software or `TPM2_Hash`), calls `TPM2_Sign` and
//! DER-encodes the returned `(r, s)` as an ASN.1 `SEQUENCE { INTEGER r,
//! INTEGER s }`, which is exactly what [`SoftwareDeviceKey::sign`] produces
//! and what the verifier expects. Proving to the acquirer that the key
//! really lives in a TPM (`TPM2_Certify` under an attestation key chained
//! to the endorsement certificate) is a later enrollment step; until then
//! the acquirer records the kind it was told and rejects evidence whose
//! kind differs.

use crate::error::AttestError;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
use serde::{Deserialize, Serialize};
use std::fmt;
use zeroize::Zeroizing;

/// Where the device key lives. The acquirer records it at enrollment and
/// the evidence must repeat it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyKind {
    Software,
    Tpm,
}

impl KeyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Software => "software",
            Self::Tpm => "tpm",
        }
    }
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A terminal's signing identity. Implementations must never expose the
/// private key; `Send + Sync` so one key can serve concurrent requests.
pub trait DeviceKey: Send + Sync {
    fn kind(&self) -> KeyKind;
    /// The uncompressed P-256 point, 65 bytes starting with `0x04`.
    fn public_key(&self) -> Vec<u8>;
    /// ECDSA P-256 with SHA-256 over `msg`, ASN.1 DER encoded.
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, AttestError>;
}

/// Version tag of the sealed format; also the AEAD associated data, so a
/// blob cannot be reinterpreted as some other sealed format.
const SEAL_MAGIC: &[u8; 8] = b"SPDK\x00\x01\x00\x00";

/// A device key held in process memory, stored at rest only sealed.
///
/// Not `Clone`: one key, one owner. `Debug` shows a fingerprint of the
/// public key only. The PKCS#8 bytes are kept (zeroised on drop) because
/// ring cannot export a key pair and sealing needs them.
pub struct SoftwareDeviceKey {
    pair: EcdsaKeyPair,
    pkcs8: Zeroizing<Vec<u8>>,
    rng: SystemRandom,
}

impl SoftwareDeviceKey {
    /// Makes a fresh key from `rng`.
    pub fn generate(rng: &dyn SecureRandom) -> Result<Self, AttestError> {
        let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, rng)
            .map_err(|_| AttestError::KeyGeneration)?;
        Self::from_pkcs8(doc.as_ref())
    }

    fn from_pkcs8(pkcs8: &[u8]) -> Result<Self, AttestError> {
        let rng = SystemRandom::new();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8, &rng)
            .map_err(|e| AttestError::KeyRejected(e.to_string()))?;
        Ok(Self {
            pair,
            pkcs8: Zeroizing::new(pkcs8.to_vec()),
            rng,
        })
    }

    /// Encrypts the key for storage: `magic(8) || nonce(12) ||
    /// AES-256-GCM(PKCS#8) || tag(16)`, with a random nonce. Each call
    /// gives different bytes.
    pub fn seal(&self, kek: &[u8; 32]) -> Result<Vec<u8>, AttestError> {
        let key =
            LessSafeKey::new(UnboundKey::new(&AES_256_GCM, kek).map_err(|_| AttestError::Seal)?);
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).map_err(|_| AttestError::Random)?;
        let mut body = self.pkcs8.to_vec();
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(SEAL_MAGIC),
            &mut body,
        )
        .map_err(|_| AttestError::Seal)?;
        let mut out = Vec::with_capacity(SEAL_MAGIC.len() + NONCE_LEN + body.len());
        out.extend_from_slice(SEAL_MAGIC);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Reverses [`seal`](Self::seal). A wrong `kek`, a truncated or altered
    /// blob all give [`AttestError::Unseal`].
    pub fn unseal(sealed: &[u8], kek: &[u8; 32]) -> Result<Self, AttestError> {
        let rest = sealed
            .strip_prefix(SEAL_MAGIC.as_slice())
            .ok_or(AttestError::Unseal)?;
        if rest.len() < NONCE_LEN + AES_256_GCM.tag_len() {
            return Err(AttestError::Unseal);
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| AttestError::Unseal)?;
        let key =
            LessSafeKey::new(UnboundKey::new(&AES_256_GCM, kek).map_err(|_| AttestError::Unseal)?);
        let mut buf = Zeroizing::new(ciphertext.to_vec());
        let plain = key
            .open_in_place(nonce, Aad::from(SEAL_MAGIC), &mut buf)
            .map_err(|_| AttestError::Unseal)?;
        // An authentic blob holding a key ring rejects is still a broken blob
        // from the caller's point of view.
        Self::from_pkcs8(plain).map_err(|_| AttestError::Unseal)
    }

    /// First 8 bytes of SHA-256 of the public key, hex: enough to tell keys
    /// apart in logs without printing the key.
    pub fn fingerprint(&self) -> String {
        fingerprint(self.pair.public_key().as_ref())
    }
}

/// DER-encodes a fixed-width ECDSA P-256 signature `r || s` (64 bytes) as
/// `SEQUENCE { INTEGER r, INTEGER s }`. For [`DeviceKey`] implementations
/// whose hardware returns `r` and `s` separately (TPM 2.0 `TPM2_Sign`).
pub fn ecdsa_p256_der_from_fixed(rs: &[u8]) -> Result<Vec<u8>, AttestError> {
    if rs.len() != 64 {
        return Err(AttestError::Encoding(format!(
            "a P-256 r||s signature is 64 bytes, got {}",
            rs.len()
        )));
    }
    let (r, s) = rs.split_at(32);
    let mut body = der_unsigned_integer(r);
    body.extend(der_unsigned_integer(s));
    // At most 2 * (2 + 33) = 70 bytes, so the short length form always fits.
    let len = u8::try_from(body.len()).map_err(|_| AttestError::Encoding("too long".into()))?;
    let mut out = Vec::with_capacity(body.len() + 2);
    out.push(0x30);
    out.push(len);
    out.extend(body);
    Ok(out)
}

/// Minimal DER INTEGER for an unsigned big-endian value of at most 32
/// bytes: leading zeros stripped, one zero added back if the top bit is
/// set so it is not read as negative.
fn der_unsigned_integer(x: &[u8]) -> Vec<u8> {
    let first = x.iter().position(|&b| b != 0);
    let digits = match first {
        Some(i) => x.get(i..).unwrap_or_default(),
        None => &[0u8][..],
    };
    let pad = digits.first().is_some_and(|b| b & 0x80 != 0);
    let len = digits.len() + usize::from(pad);
    let mut out = Vec::with_capacity(len + 2);
    out.push(0x02);
    out.push(u8::try_from(len).unwrap_or(u8::MAX));
    if pad {
        out.push(0);
    }
    out.extend_from_slice(digits);
    out
}

pub(crate) fn fingerprint(public_key: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, public_key);
    hex::encode(digest.as_ref().get(..8).unwrap_or_default())
}

impl DeviceKey for SoftwareDeviceKey {
    fn kind(&self) -> KeyKind {
        KeyKind::Software
    }

    fn public_key(&self) -> Vec<u8> {
        self.pair.public_key().as_ref().to_vec()
    }

    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, AttestError> {
        self.pair
            .sign(&self.rng, msg)
            .map(|sig| sig.as_ref().to_vec())
            .map_err(|_| AttestError::Signing)
    }
}

impl fmt::Debug for SoftwareDeviceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SoftwareDeviceKey")
            .field("kind", &KeyKind::Software)
            .field("public_key_sha256_prefix", &self.fingerprint())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_ASN1};

    fn key() -> SoftwareDeviceKey {
        SoftwareDeviceKey::generate(&SystemRandom::new()).unwrap()
    }

    #[test]
    fn public_key_is_uncompressed_p256_and_signature_verifies() {
        let k = key();
        let pk = k.public_key();
        assert_eq!(pk.len(), 65);
        assert_eq!(pk[0], 0x04);
        let sig = k.sign(b"hello").unwrap();
        assert_eq!(sig[0], 0x30, "DER SEQUENCE");
        let v = UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, &pk);
        assert!(v.verify(b"hello", &sig).is_ok());
        assert!(v.verify(b"hellp", &sig).is_err());
    }

    #[test]
    fn seal_unseal_round_trip_keeps_the_key() {
        let k = key();
        let kek = [7u8; 32];
        let sealed = k.seal(&kek).unwrap();
        let back = SoftwareDeviceKey::unseal(&sealed, &kek).unwrap();
        assert_eq!(back.public_key(), k.public_key());
        assert_eq!(&*back.pkcs8, &*k.pkcs8);
        // Random nonce: sealing twice never gives the same bytes.
        assert_ne!(k.seal(&kek).unwrap(), sealed);
        // The plaintext must not appear in the sealed blob.
        assert!(!sealed
            .windows(k.pkcs8.len())
            .any(|w| w == k.pkcs8.as_slice()));
    }

    #[test]
    fn unseal_with_wrong_kek_fails() {
        let k = key();
        let sealed = k.seal(&[7u8; 32]).unwrap();
        let mut wrong = [7u8; 32];
        wrong[31] ^= 1;
        assert_eq!(
            SoftwareDeviceKey::unseal(&sealed, &wrong).unwrap_err(),
            AttestError::Unseal
        );
    }

    #[test]
    fn unseal_rejects_every_single_byte_flip_and_truncation() {
        let k = key();
        let kek = [9u8; 32];
        let sealed = k.seal(&kek).unwrap();
        for i in 0..sealed.len() {
            let mut t = sealed.clone();
            t[i] ^= 0x01;
            assert!(SoftwareDeviceKey::unseal(&t, &kek).is_err(), "flip at {i}");
        }
        for n in 0..sealed.len() {
            assert!(
                SoftwareDeviceKey::unseal(&sealed[..n], &kek).is_err(),
                "len {n}"
            );
        }
    }

    #[test]
    fn debug_prints_no_key_bytes() {
        let k = key();
        let dbg = format!("{k:?}");
        let alt = format!("{k:#?}");
        let pkcs8_hex = hex::encode(&*k.pkcs8);
        let pk_hex = hex::encode(k.public_key());
        for s in [&dbg, &alt] {
            assert!(s.starts_with("SoftwareDeviceKey"));
            assert!(!s.to_lowercase().contains(&pkcs8_hex));
            assert!(!s.to_lowercase().contains(&pk_hex));
            // No 32-byte window of the PKCS#8 (where the scalar lives) in hex.
            for w in k.pkcs8.windows(32) {
                assert!(!s.to_lowercase().contains(&hex::encode(w)));
            }
            assert!(!s.contains("pkcs8"));
        }
        assert!(dbg.contains(&k.fingerprint()));
    }

    #[test]
    fn fixed_signature_converts_to_the_der_ring_verifies() {
        let k = key();
        let der = k.sign(b"msg").unwrap();
        // Recover r||s from ring's DER, then round-trip it back.
        let fixed = {
            use ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING;
            let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &k.pkcs8, &k.rng)
                .unwrap();
            pair.sign(&k.rng, b"msg").unwrap().as_ref().to_vec()
        };
        let converted = ecdsa_p256_der_from_fixed(&fixed).unwrap();
        let v = UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, k.public_key());
        assert!(v.verify(b"msg", &der).is_ok());
        assert!(v.verify(b"msg", &converted).is_ok());
        assert!(v.verify(b"msg!", &converted).is_err());
        assert!(ecdsa_p256_der_from_fixed(&fixed[..63]).is_err());
    }

    #[test]
    fn der_integer_edge_cases() {
        assert_eq!(der_unsigned_integer(&[0, 0, 1]), vec![2, 1, 1]);
        assert_eq!(der_unsigned_integer(&[0x80]), vec![2, 2, 0, 0x80]);
        assert_eq!(der_unsigned_integer(&[0, 0]), vec![2, 1, 0]);
        assert_eq!(der_unsigned_integer(&[0x7f, 0xff]), vec![2, 2, 0x7f, 0xff]);
    }

    #[test]
    fn key_kind_serde_names() {
        assert_eq!(
            serde_json::to_string(&KeyKind::Software).unwrap(),
            "\"software\""
        );
        assert_eq!(serde_json::to_string(&KeyKind::Tpm).unwrap(), "\"tpm\"");
        assert!(serde_json::from_str::<KeyKind>("\"Tpm\"").is_err());
    }
}
