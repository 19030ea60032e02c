//! The signing side of EMV offline data authentication (EMV Book 2 §5–6,
//! Book C-3 for fDDA): test RSA private keys, issuer and ICC public key
//! certificates, and signed dynamic application data for DDA, fDDA and CDA.
//!
//! Written from the specification, independently of `kernel::oda`, so that
//! each side checks the other.

use num_bigint::BigUint;
use num_traits::Zero;
use serde::Deserialize;
use std::fmt;
use zeroize::Zeroize;

/// Why a key or a signature could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PkiError {
    #[error("key file is not valid: {0}")]
    KeyFile(String),
    #[error("key is inconsistent: {0}")]
    BadKey(&'static str),
    #[error("{0} does not fit in the signer's modulus")]
    TooLong(&'static str),
    #[error("block to sign must be as long as the modulus and smaller than it")]
    BadBlock,
}

/// Header and trailer of every EMV signed block (Book 2 tables 6, 14, 17).
const HEADER: u8 = 0x6A;
const TRAILER: u8 = 0xBC;
const PAD: u8 = 0xBB;
/// Hash algorithm indicator 01 = SHA-1, public key algorithm 01 = RSA.
const SHA1_ALG: u8 = 0x01;
const RSA_ALG: u8 = 0x01;
const HASH_LEN: usize = 20;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    rid: Option<String>,
    index: Option<String>,
    bits: usize,
    n: String,
    e: String,
    d: String,
    p: String,
    q: String,
    dp: String,
    dq: String,
    qinv: String,
}

/// An RSA private key in CRT form. Not `Clone` and masked in `Debug`:
/// even a test key is handled like a real one.
pub struct RsaPrivateKey {
    n: BigUint,
    e: BigUint,
    p: BigUint,
    q: BigUint,
    dp: BigUint,
    dq: BigUint,
    qinv: BigUint,
    n_len: usize,
    /// Set for a certification authority key: (RID, CA public key index).
    ca: Option<([u8; 5], u8)>,
}

impl fmt::Debug for RsaPrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RsaPrivateKey")
            .field("bits", &self.n.bits())
            .field("e", &self.e)
            .field("ca", &self.ca)
            .finish_non_exhaustive()
    }
}

fn big(field: &str, hex_str: &str) -> Result<BigUint, PkiError> {
    let mut bytes =
        hex::decode(hex_str.trim()).map_err(|e| PkiError::KeyFile(format!("{field}: {e}")))?;
    let n = BigUint::from_bytes_be(&bytes);
    bytes.zeroize();
    Ok(n)
}

impl RsaPrivateKey {
    /// Reads a key file (see `cardsim/keys/README.md`) and checks that its
    /// parts agree, so that a typo cannot produce silently wrong signatures.
    pub fn from_toml_str(text: &str) -> Result<RsaPrivateKey, PkiError> {
        let file: KeyFile =
            toml::from_str(text).map_err(|e| PkiError::KeyFile(e.message().to_string()))?;
        let n = big("n", &file.n)?;
        let e = big("e", &file.e)?;
        let d = big("d", &file.d)?;
        let p = big("p", &file.p)?;
        let q = big("q", &file.q)?;
        let dp = big("dp", &file.dp)?;
        let dq = big("dq", &file.dq)?;
        let qinv = big("qinv", &file.qinv)?;
        if n.bits() != file.bits as u64 || n.bits() % 8 != 0 {
            return Err(PkiError::BadKey(
                "modulus size is not the declared whole number of bytes",
            ));
        }
        if &p * &q != n {
            return Err(PkiError::BadKey("n is not p·q"));
        }
        let one = BigUint::from(1u8);
        let (p1, q1) = (&p - &one, &q - &one);
        if dp != &d % &p1 || dq != &d % &q1 || (&qinv * &q) % &p != one {
            return Err(PkiError::BadKey("CRT parts do not match d, p and q"));
        }
        // e·dp ≡ 1 (mod p−1) and e·dq ≡ 1 (mod q−1) is exactly what CRT
        // signing needs, and far cheaper than a trial exponentiation.
        if (&e * &dp) % &p1 != one || (&e * &dq) % &q1 != one {
            return Err(PkiError::BadKey("e and d are not inverse"));
        }
        let ca = match (file.rid, file.index) {
            (Some(rid), Some(index)) => {
                let rid: [u8; 5] = hex::decode(&rid)
                    .ok()
                    .and_then(|v| v.try_into().ok())
                    .ok_or(PkiError::BadKey("rid must be 5 bytes of hex"))?;
                let index = u8::from_str_radix(&index, 16)
                    .map_err(|_| PkiError::BadKey("index must be one byte of hex"))?;
                Some((rid, index))
            }
            (None, None) => None,
            _ => return Err(PkiError::BadKey("a CA key needs both rid and index")),
        };
        let n_len = file.bits / 8;
        Ok(RsaPrivateKey {
            n,
            e,
            p,
            q,
            dp,
            dq,
            qinv,
            n_len,
            ca,
        })
    }

    /// Modulus length in bytes (N_CA, N_I or N_IC in Book 2).
    pub fn modulus_len(&self) -> usize {
        self.n_len
    }

    /// The modulus, big-endian, exactly `modulus_len()` bytes.
    pub fn modulus(&self) -> Vec<u8> {
        to_fixed(&self.n, self.n_len)
    }

    /// The public exponent as the card stores it (tags 9F32, 9F47): 03 or 010001.
    pub fn exponent(&self) -> Vec<u8> {
        self.e.to_bytes_be()
    }

    /// RID and CA public key index when this is a CA key.
    pub fn ca_id(&self) -> Option<([u8; 5], u8)> {
        self.ca
    }

    /// The terminal's view of this CA key, so a test terminal can trust it.
    pub fn ca_public_key(&self) -> Option<kernel::oda::CaPublicKey> {
        self.ca.map(|(rid, index)| {
            let mut key =
                kernel::oda::CaPublicKey::new(rid, index, self.modulus(), self.exponent());
            key.class = kernel::oda::KeyClass::Test;
            key
        })
    }

    /// The RSA private operation (Garner's CRT), on a block exactly as long
    /// as the modulus. EMV signatures are "recovery" signatures: the whole
    /// block is signed, there is no padding scheme beyond Book 2's format.
    pub fn sign_raw(&self, block: &[u8]) -> Result<Vec<u8>, PkiError> {
        let m = BigUint::from_bytes_be(block);
        if block.len() != self.n_len || m >= self.n {
            return Err(PkiError::BadBlock);
        }
        let m1 = (&m % &self.p).modpow(&self.dp, &self.p);
        let m2 = (&m % &self.q).modpow(&self.dq, &self.q);
        // (m1 - m2) mod p, kept non-negative for unsigned arithmetic.
        let diff = ((&m1 + &self.p) - (&m2 % &self.p)) % &self.p;
        let h = (&self.qinv * diff) % &self.p;
        let s = m2 + h * &self.q;
        Ok(to_fixed(&s, self.n_len))
    }
}

/// The RSA public operation, what a terminal does to recover a signed
/// block. Used by the tests and by anyone who wants to check a card.
pub fn rsa_public(modulus: &[u8], exponent: &[u8], data: &[u8]) -> Option<Vec<u8>> {
    let n = BigUint::from_bytes_be(modulus);
    let e = BigUint::from_bytes_be(exponent);
    let s = BigUint::from_bytes_be(data);
    if n.is_zero() || data.len() != modulus.len() || s >= n {
        return None;
    }
    Some(to_fixed(&s.modpow(&e, &n), modulus.len()))
}

fn to_fixed(x: &BigUint, len: usize) -> Vec<u8> {
    let bytes = x.to_bytes_be();
    let mut out = vec![0u8; len.saturating_sub(bytes.len())];
    out.extend_from_slice(&bytes);
    out
}

/// SHA-1 over the concatenation of `parts`.
pub fn sha1(parts: &[&[u8]]) -> [u8; HASH_LEN] {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY);
    for p in parts {
        ctx.update(p);
    }
    let mut out = [0u8; HASH_LEN];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// A public key certificate as the card carries it: the certificate (tag
/// 90 or 9F46), the part of the modulus that did not fit (92 or 9F48,
/// possibly empty) and the exponent (9F32 or 9F47).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    pub certificate: Vec<u8>,
    pub remainder: Vec<u8>,
    pub exponent: Vec<u8>,
}

/// The fields that differ between an issuer certificate (format 02) and an
/// ICC certificate (format 04).
struct CertFields<'a> {
    format: u8,
    /// Issuer identifier (4 bytes) or application PAN (10 bytes), cn padded with F.
    subject: &'a [u8],
    expiry_mmyy: [u8; 2],
    serial: [u8; 3],
    /// Data hashed after the exponent: static data to authenticate (ICC only).
    extra: &'a [u8],
}

fn certify(
    signer: &RsaPrivateKey,
    subject_modulus: &[u8],
    subject_exponent: &[u8],
    f: &CertFields<'_>,
) -> Result<Certificate, PkiError> {
    let n = signer.modulus_len();
    // 6A + format..exponent length fields + hash + BC.
    let fixed = 2 + f.subject.len() + 2 + 3 + 4;
    let room = n
        .checked_sub(fixed + HASH_LEN + 1)
        .ok_or(PkiError::TooLong("certificate header"))?;
    let key_len = u8::try_from(subject_modulus.len()).map_err(|_| PkiError::TooLong("modulus"))?;
    let exp_len =
        u8::try_from(subject_exponent.len()).map_err(|_| PkiError::TooLong("exponent"))?;
    let (in_cert, remainder) = subject_modulus.split_at(subject_modulus.len().min(room));
    let mut body = Vec::with_capacity(n);
    body.push(f.format);
    body.extend_from_slice(f.subject);
    body.extend_from_slice(&f.expiry_mmyy);
    body.extend_from_slice(&f.serial);
    body.extend_from_slice(&[SHA1_ALG, RSA_ALG, key_len, exp_len]);
    body.extend_from_slice(in_cert);
    body.resize(body.len() + (room - in_cert.len()), PAD);
    let hash = sha1(&[&body, remainder, subject_exponent, f.extra]);
    let mut block = Vec::with_capacity(n);
    block.push(HEADER);
    block.extend_from_slice(&body);
    block.extend_from_slice(&hash);
    block.push(TRAILER);
    Ok(Certificate {
        certificate: signer.sign_raw(&block)?,
        remainder: remainder.to_vec(),
        exponent: subject_exponent.to_vec(),
    })
}

/// Issuer public key certificate, format 02 (Book 2 table 6), signed by the CA.
/// `issuer_id` is the leftmost 3–8 PAN digits padded with F.
pub fn issuer_certificate(
    ca: &RsaPrivateKey,
    issuer: &RsaPrivateKey,
    issuer_id: [u8; 4],
    expiry_mmyy: [u8; 2],
    serial: [u8; 3],
) -> Result<Certificate, PkiError> {
    certify(
        ca,
        &issuer.modulus(),
        &issuer.exponent(),
        &CertFields {
            format: 0x02,
            subject: &issuer_id,
            expiry_mmyy,
            serial,
            extra: &[],
        },
    )
}

/// ICC public key certificate, format 04 (Book 2 table 14), signed by the
/// issuer. Its hash covers the static data to be authenticated: the ODA
/// records named by the AFL and the AIP when 9F4A lists it.
pub fn icc_certificate(
    issuer: &RsaPrivateKey,
    icc: &RsaPrivateKey,
    pan_cn: [u8; 10],
    expiry_mmyy: [u8; 2],
    serial: [u8; 3],
    static_data: &[u8],
) -> Result<Certificate, PkiError> {
    certify(
        issuer,
        &icc.modulus(),
        &icc.exponent(),
        &CertFields {
            format: 0x04,
            subject: &pan_cn,
            expiry_mmyy,
            serial,
            extra: static_data,
        },
    )
}

/// Signed Dynamic Application Data, format 05 (Book 2 table 17), for DDA,
/// fDDA and CDA: the hash covers the block from the format byte to the
/// padding, followed by the terminal dynamic data (DDOL data for DDA;
/// UN‖amount‖currency‖9F69 for fDDA; the UN for CDA).
pub fn sign_dynamic(
    icc: &RsaPrivateKey,
    icc_dynamic_data: &[u8],
    terminal_dynamic_data: &[u8],
) -> Result<Vec<u8>, PkiError> {
    let n = icc.modulus_len();
    let ldd =
        u8::try_from(icc_dynamic_data.len()).map_err(|_| PkiError::TooLong("ICC dynamic data"))?;
    let pad = n
        .checked_sub(icc_dynamic_data.len() + 25)
        .ok_or(PkiError::TooLong("ICC dynamic data"))?;
    let mut body = Vec::with_capacity(n);
    body.extend_from_slice(&[0x05, SHA1_ALG, ldd]);
    body.extend_from_slice(icc_dynamic_data);
    body.resize(body.len() + pad, PAD);
    let hash = sha1(&[&body, terminal_dynamic_data]);
    let mut block = Vec::with_capacity(n);
    block.push(HEADER);
    block.extend_from_slice(&body);
    block.extend_from_slice(&hash);
    block.push(TRAILER);
    icc.sign_raw(&block)
}

/// ICC dynamic data for CDA (Book 2 table 19): ICC dynamic number length
/// and value, CID, application cryptogram, transaction data hash code.
pub fn cda_dynamic_data(
    icc_dynamic_number: &[u8],
    cid: u8,
    ac: [u8; 8],
    transaction_data_hash: [u8; HASH_LEN],
) -> Result<Vec<u8>, PkiError> {
    let len = u8::try_from(icc_dynamic_number.len())
        .ok()
        .filter(|l| (2..=8).contains(l))
        .ok_or(PkiError::TooLong("ICC dynamic number"))?;
    let mut out = Vec::with_capacity(1 + icc_dynamic_number.len() + 1 + 8 + HASH_LEN);
    out.push(len);
    out.extend_from_slice(icc_dynamic_number);
    out.push(cid);
    out.extend_from_slice(&ac);
    out.extend_from_slice(&transaction_data_hash);
    Ok(out)
}

/// ICC dynamic data for DDA and fDDA: just the ICC dynamic number, with its length.
pub fn dda_dynamic_data(icc_dynamic_number: &[u8]) -> Result<Vec<u8>, PkiError> {
    let len = u8::try_from(icc_dynamic_number.len())
        .ok()
        .filter(|l| (2..=8).contains(l))
        .ok_or(PkiError::TooLong("ICC dynamic number"))?;
    let mut out = vec![len];
    out.extend_from_slice(icc_dynamic_number);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const VISA_CA: &str = include_str!("../keys/visa-ca.toml");
    const VISA_ISSUER: &str = include_str!("../keys/visa-issuer.toml");
    const VISA_ICC: &str = include_str!("../keys/visa-icc.toml");

    #[test]
    fn sign_then_recover_round_trips() {
        let key = RsaPrivateKey::from_toml_str(VISA_ICC).unwrap();
        let mut block = vec![0x6A; key.modulus_len()];
        block[5] = 0x42;
        let sig = key.sign_raw(&block).unwrap();
        assert_ne!(sig, block);
        let back = rsa_public(&key.modulus(), &key.exponent(), &sig).unwrap();
        assert_eq!(back, block);
        // Tampered twin: one flipped bit in the signature recovers garbage.
        let mut bad = sig.clone();
        bad[10] ^= 1;
        assert_ne!(
            rsa_public(&key.modulus(), &key.exponent(), &bad).unwrap(),
            block
        );
    }

    #[test]
    fn sign_raw_rejects_wrong_length_and_values_above_modulus() {
        let key = RsaPrivateKey::from_toml_str(VISA_ICC).unwrap();
        assert_eq!(key.sign_raw(&[0x6A; 10]), Err(PkiError::BadBlock));
        assert_eq!(
            key.sign_raw(&vec![0xFF; key.modulus_len()]),
            Err(PkiError::BadBlock)
        );
    }

    #[test]
    fn key_files_are_consistent_and_tampering_is_caught() {
        for text in [VISA_CA, VISA_ISSUER, VISA_ICC] {
            RsaPrivateKey::from_toml_str(text).unwrap();
        }
        // Change one hex digit of p: the consistency check must refuse it.
        let tampered = VISA_ICC.replacen("p = \"F", "p = \"E", 1);
        let tampered = if tampered == VISA_ICC {
            let pos = VISA_ICC.find("p = \"").unwrap() + 6;
            let mut t = VISA_ICC.to_string();
            let c = t.as_bytes()[pos];
            t.replace_range(pos..=pos, if c == b'1' { "2" } else { "1" });
            t
        } else {
            tampered
        };
        assert!(matches!(
            RsaPrivateKey::from_toml_str(&tampered),
            Err(PkiError::BadKey(_))
        ));
    }

    #[test]
    fn ca_key_carries_rid_and_index() {
        let ca = RsaPrivateKey::from_toml_str(VISA_CA).unwrap();
        let pk = ca.ca_public_key().unwrap();
        assert_eq!(pk.rid, [0xA0, 0, 0, 0, 0x03]);
        assert_eq!(pk.index, 0xE1);
        assert_eq!(pk.exponent, vec![3]);
        assert_eq!(pk.modulus.len(), 176);
        let issuer = RsaPrivateKey::from_toml_str(VISA_ISSUER).unwrap();
        assert!(issuer.ca_public_key().is_none());
    }

    /// Recovers an issuer certificate the way Book 2 §5.3 tells a terminal to.
    #[test]
    fn issuer_certificate_recovers_per_book2() {
        let ca = RsaPrivateKey::from_toml_str(VISA_CA).unwrap();
        let issuer = RsaPrivateKey::from_toml_str(VISA_ISSUER).unwrap();
        let cert = issuer_certificate(
            &ca,
            &issuer,
            [0x47, 0x61, 0x73, 0xFF],
            [0x12, 0x30],
            [1, 2, 3],
        )
        .unwrap();
        assert_eq!(cert.certificate.len(), 176);
        assert_eq!(cert.remainder.len(), 144 - 140);
        let rec = rsa_public(&ca.modulus(), &ca.exponent(), &cert.certificate).unwrap();
        assert_eq!(rec[0], 0x6A);
        assert_eq!(rec[1], 0x02);
        assert_eq!(&rec[2..6], &[0x47, 0x61, 0x73, 0xFF]);
        assert_eq!(&rec[6..8], &[0x12, 0x30]);
        assert_eq!(rec[13], 144);
        assert_eq!(rec[14], 1);
        assert_eq!(rec[175], 0xBC);
        let hash = sha1(&[&rec[1..176 - 21], &cert.remainder, &cert.exponent]);
        assert_eq!(&rec[176 - 21..175], &hash);
        let mut modulus = rec[15..155].to_vec();
        modulus.extend_from_slice(&cert.remainder);
        assert_eq!(modulus, issuer.modulus());
        // Tampered twin: a different remainder no longer matches the hash.
        let hash_bad = sha1(&[&rec[1..176 - 21], &[0, 0, 0, 0], &cert.exponent]);
        assert_ne!(&rec[176 - 21..175], &hash_bad);
    }

    #[test]
    fn icc_certificate_hash_covers_static_data() {
        let issuer = RsaPrivateKey::from_toml_str(VISA_ISSUER).unwrap();
        let icc = RsaPrivateKey::from_toml_str(VISA_ICC).unwrap();
        let pan = [0x47, 0x61, 0x73, 0x90, 0x01, 0x01, 0x01, 0x19, 0xFF, 0xFF];
        let sda = b"static data";
        let cert = icc_certificate(&issuer, &icc, pan, [0x12, 0x28], [0, 0, 9], sda).unwrap();
        assert_eq!(cert.remainder.len(), 128 - 102);
        let rec = rsa_public(&issuer.modulus(), &issuer.exponent(), &cert.certificate).unwrap();
        assert_eq!(&rec[..2], &[0x6A, 0x04]);
        assert_eq!(&rec[2..12], &pan);
        let n = rec.len();
        let good = sha1(&[&rec[1..n - 21], &cert.remainder, &cert.exponent, sda]);
        assert_eq!(&rec[n - 21..n - 1], &good);
        let bad = sha1(&[
            &rec[1..n - 21],
            &cert.remainder,
            &cert.exponent,
            b"static dat4",
        ]);
        assert_ne!(&rec[n - 21..n - 1], &bad);
    }

    #[test]
    fn sdad_format_05_recovers_with_cda_fields() {
        let icc = RsaPrivateKey::from_toml_str(VISA_ICC).unwrap();
        let dd = cda_dynamic_data(&[1, 2, 3, 4, 5, 6, 7, 8], 0x80, [9; 8], [7; 20]).unwrap();
        let un = [0xA1, 0xB2, 0xC3, 0xD4];
        let sdad = sign_dynamic(&icc, &dd, &un).unwrap();
        let rec = rsa_public(&icc.modulus(), &icc.exponent(), &sdad).unwrap();
        assert_eq!(&rec[..4], &[0x6A, 0x05, 0x01, 38]);
        assert_eq!(&rec[4..42], &dd[..]);
        let n = rec.len();
        assert!(rec[42..n - 21].iter().all(|&b| b == 0xBB));
        assert_eq!(&rec[n - 21..n - 1], &sha1(&[&rec[1..n - 21], &un]));
        // Tampered twin: another UN gives another hash.
        assert_ne!(
            &rec[n - 21..n - 1],
            &sha1(&[&rec[1..n - 21], &[0, 0, 0, 0]])
        );
        assert!(cda_dynamic_data(&[1], 0x80, [0; 8], [0; 20]).is_err());
    }
}
