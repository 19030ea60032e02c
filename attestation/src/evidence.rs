//! Challenge, evidence and its signature: the terminal side.

use crate::error::AttestError;
use crate::key::{DeviceKey, KeyKind};
use crate::platform::PlatformFacts;
use ring::rand::SecureRandom;
use serde::{Deserialize, Serialize};

/// Prefix of the signed bytes, so an evidence signature can never be
/// replayed as a request signature or anything else the key signs.
pub const EVIDENCE_DOMAIN: &[u8] = b"softpos-attestation-evidence-v1\n";

/// A fresh nonce from the acquirer. The acquirer stores it until it is used
/// or expires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Challenge {
    #[serde(with = "hex32")]
    pub nonce: [u8; 32],
    pub issued_at_ms: u64,
}

impl Challenge {
    pub fn new(rng: &dyn SecureRandom, now_ms: u64) -> Result<Self, AttestError> {
        let mut nonce = [0u8; 32];
        rng.fill(&mut nonce).map_err(|_| AttestError::Random)?;
        Ok(Self {
            nonce,
            issued_at_ms: now_ms,
        })
    }

    /// The nonce as it appears in [`Evidence::nonce`].
    pub fn nonce_hex(&self) -> String {
        hex::encode(self.nonce)
    }
}

mod hex32 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let s = String::deserialize(d)?;
        let mut out = [0u8; 32];
        hex::decode_to_slice(&s, &mut out).map_err(serde::de::Error::custom)?;
        Ok(out)
    }
}

/// What the terminal says about itself, answering one challenge.
///
/// The signed form is [`EVIDENCE_DOMAIN`] followed by `serde_json` of this
/// struct (fields in declaration order, no whitespace): both sides use this
/// crate, so re-serialising a parsed `Evidence` gives the same bytes.
/// Unknown fields are refused so nothing unsigned can ride along.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Evidence {
    pub terminal_id: String,
    /// The challenge nonce, lowercase hex.
    pub nonce: String,
    pub app_binary_sha256: String,
    pub app_version: String,
    pub os: String,
    pub os_version: String,
    pub reader: String,
    pub debugger_attached: bool,
    pub emulator: bool,
    pub rooted: bool,
    /// The terminal's wall clock, Unix milliseconds.
    pub clock_ms: u64,
    /// SHA-256 (hex) of the signed terminal configuration it runs with.
    pub config_sha256: String,
    /// Strictly increasing per device key, persisted by the terminal;
    /// starts at 1.
    pub counter: u64,
    pub key_kind: KeyKind,
    /// Reasons behind the three platform flags, for monitoring and for
    /// the merchant message.
    pub platform_signs: Vec<String>,
}

impl Evidence {
    /// The exact bytes the device key signs.
    pub fn signing_bytes(&self) -> Result<Vec<u8>, AttestError> {
        let json = serde_json::to_vec(self).map_err(|e| AttestError::Encoding(e.to_string()))?;
        let mut out = Vec::with_capacity(EVIDENCE_DOMAIN.len() + json.len());
        out.extend_from_slice(EVIDENCE_DOMAIN);
        out.extend_from_slice(&json);
        Ok(out)
    }
}

/// Evidence plus the device key's signature over
/// [`Evidence::signing_bytes`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedEvidence {
    pub evidence: Evidence,
    /// ECDSA P-256 SHA-256 signature, ASN.1 DER, lowercase hex.
    pub signature: String,
}

/// What the terminal knows about itself that the platform cannot tell it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvidenceContext {
    pub terminal_id: String,
    pub app_version: String,
    /// The NFC reader in use, e.g. `"ACS ACR1252U"` or `"android-nfc"`.
    pub reader: String,
    pub config_sha256: String,
    pub key_kind: KeyKind,
}

/// Probes this process and platform ([`PlatformFacts::probe`]) and builds
/// the evidence for `challenge`. Clock and counter are the caller's: the
/// counter must be persisted and incremented before each call.
pub fn collect_evidence(
    ctx: &EvidenceContext,
    challenge: &Challenge,
    clock_ms: u64,
    counter: u64,
) -> Evidence {
    build_evidence(ctx, &PlatformFacts::probe(), challenge, clock_ms, counter)
}

/// Builds evidence from facts gathered elsewhere: simulated terminals,
/// load generators and tests use this to stand in for a platform.
pub fn build_evidence(
    ctx: &EvidenceContext,
    facts: &PlatformFacts,
    challenge: &Challenge,
    clock_ms: u64,
    counter: u64,
) -> Evidence {
    Evidence {
        terminal_id: ctx.terminal_id.clone(),
        nonce: challenge.nonce_hex(),
        app_binary_sha256: facts.app_binary_sha256.clone(),
        app_version: ctx.app_version.clone(),
        os: facts.os.clone(),
        os_version: facts.os_version.clone(),
        reader: ctx.reader.clone(),
        debugger_attached: facts.debugger_attached,
        emulator: facts.emulator,
        rooted: facts.rooted,
        clock_ms,
        config_sha256: ctx.config_sha256.clone(),
        counter,
        key_kind: ctx.key_kind,
        platform_signs: facts.signs.clone(),
    }
}

/// Signs `e` with `key`.
pub fn sign_evidence(key: &dyn DeviceKey, e: Evidence) -> Result<SignedEvidence, AttestError> {
    let sig = key.sign(&e.signing_bytes()?)?;
    Ok(SignedEvidence {
        evidence: e,
        signature: hex::encode(sig),
    })
}
