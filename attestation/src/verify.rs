//! The acquirer side: policy, verification, verdicts and tokens.
//!
//! Sans-I/O: the acquirer looks up the terminal and the challenge, passes
//! them in with its clock, and stores what comes out. After an accepted
//! verdict it must mark the challenge used and set the terminal's
//! `last_counter` to `verdict.counter`, in the same database transaction.

use crate::error::{human_duration, Failure, FailureCode};
use crate::evidence::{Challenge, Evidence, SignedEvidence};
use crate::key::KeyKind;
use crate::request::verify_p256;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::hmac;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Longest accepted string field of evidence, in bytes. Real values are far
/// shorter; the bound keeps a hostile terminal from making us hash
/// megabytes or store them in monitoring.
pub const MAX_FIELD_LEN: usize = 256;
/// Largest accepted evidence counter: `i64::MAX`, so it fits a signed
/// 64-bit database column (PostgreSQL `BIGINT`) without wrapping.
pub const MAX_COUNTER: u64 = i64::MAX as u64;
/// Most platform signs accepted in one piece of evidence.
pub const MAX_PLATFORM_SIGNS: usize = 16;
/// Longest accepted token string.
pub const MAX_TOKEN_LEN: usize = 2048;

const TOKEN_VERSION: &str = "v1";

/// What the acquirer accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// SHA-256 (hex, any case) of each released app binary.
    pub allowed_binaries: Vec<String>,
    pub max_clock_skew_ms: u64,
    pub challenge_ttl_ms: u64,
    pub token_ttl_ms: u64,
    pub allow_debugger: bool,
    pub allow_emulator: bool,
    pub allow_rooted: bool,
}

/// What the acquirer stores per terminal and hands to [`Verifier::verify`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TerminalState {
    pub terminal_id: String,
    /// Uncompressed P-256 point from enrollment, 65 bytes.
    pub public_key: Vec<u8>,
    pub key_kind: KeyKind,
    /// Highest counter accepted so far; 0 before the first attestation.
    pub last_counter: u64,
    /// SHA-256 (hex) of the configuration the acquirer last signed for it.
    pub config_sha256: String,
    pub blocked: bool,
}

/// The measured facts of one accepted attestation, for monitoring.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub terminal_id: String,
    pub verified_at_ms: u64,
    pub challenge_issued_at_ms: u64,
    /// The new `last_counter` to store.
    pub counter: u64,
    pub key_kind: KeyKind,
    pub app_binary_sha256: String,
    pub app_version: String,
    pub os: String,
    pub os_version: String,
    pub reader: String,
    /// Terminal clock minus acquirer clock; positive means ahead.
    pub clock_skew_ms: i64,
    pub config_sha256: String,
    /// The flags as reported; they can be true here only if the policy
    /// allowed them.
    pub debugger_attached: bool,
    pub emulator: bool,
    pub rooted: bool,
    pub platform_signs: Vec<String>,
}

/// A signed, short-lived bearer token: `v1.<claims>.<hmac>`, both parts
/// base64url without padding, HMAC-SHA256 over `v1.<claims>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttestationToken {
    pub token: String,
    pub expires_at_ms: u64,
}

/// What a valid token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenClaims {
    pub terminal_id: String,
    pub issued_at_ms: u64,
    pub expires_at_ms: u64,
    /// The evidence counter the token was issued on.
    pub counter: u64,
    pub key_kind: KeyKind,
    pub app_binary_sha256: String,
}

/// Checks evidence and issues and checks tokens.
pub struct Verifier {
    policy: Policy,
    token_key: hmac::Key,
    allowed: Vec<String>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// `token_secret` keys the token HMAC; use 32 random bytes, shared by
    /// every acquirer instance that must accept the same tokens.
    pub fn new(policy: Policy, token_secret: &[u8]) -> Self {
        let allowed = policy
            .allowed_binaries
            .iter()
            .map(|h| h.trim().to_ascii_lowercase())
            .collect();
        Self {
            token_key: hmac::Key::new(hmac::HMAC_SHA256, token_secret),
            policy,
            allowed,
        }
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Checks `se` against the enrolled `terminal`, the `challenge` it must
    /// answer, and the policy; returns the first failure. The order puts
    /// what the acquirer knows without trusting the terminal (blocked,
    /// sizes, signature) before anything read from the evidence.
    pub fn verify(
        &self,
        se: &SignedEvidence,
        terminal: &TerminalState,
        challenge: &Challenge,
        challenge_already_used: bool,
        now_ms: u64,
    ) -> Result<Verdict, Failure> {
        use FailureCode as C;
        let e = &se.evidence;
        let p = &self.policy;

        if terminal.blocked {
            return Err(Failure::new(
                C::TerminalBlocked,
                "this terminal is blocked; contact your acquirer's support",
            ));
        }
        check_sizes(se)?;
        check_signature(se, &terminal.public_key)?;

        if e.terminal_id != terminal.terminal_id {
            return Err(Failure::new(
                C::TerminalMismatch,
                "evidence was made for a different terminal ID; \
                 the app's terminal configuration does not match this terminal",
            ));
        }
        if e.key_kind != terminal.key_kind {
            return Err(Failure::new(
                C::KeyKindMismatch,
                format!(
                    "device key is reported as {} but the terminal was enrolled with a {} key; \
                     enroll the terminal again",
                    e.key_kind, terminal.key_kind
                ),
            ));
        }

        if !e.nonce.eq_ignore_ascii_case(&challenge.nonce_hex()) {
            return Err(Failure::new(
                C::UnknownNonce,
                "evidence answers a different challenge; request a new challenge and retry",
            ));
        }
        if challenge_already_used {
            return Err(Failure::new(
                C::NonceReused,
                "this challenge was already used; request a new challenge and retry",
            ));
        }
        let age = now_ms.saturating_sub(challenge.issued_at_ms);
        if age > p.challenge_ttl_ms {
            return Err(Failure::new(
                C::NonceExpired,
                format!(
                    "challenge expired ({} old, limit {}); request a new challenge and retry",
                    human_duration(age),
                    human_duration(p.challenge_ttl_ms)
                ),
            ));
        }

        if e.counter <= terminal.last_counter {
            return Err(Failure::new(
                C::CounterNotMonotonic,
                format!(
                    "attestation counter went from {} to {}: the app's data looks restored \
                     or copied to another device; contact your acquirer's support",
                    terminal.last_counter, e.counter
                ),
            ));
        }

        let binary = e.app_binary_sha256.to_ascii_lowercase();
        if !self.allowed.contains(&binary) {
            return Err(Failure::new(
                C::BinaryNotAllowed,
                format!(
                    "app build not recognised (version {}); install the official app from \
                     your acquirer",
                    shown(&e.app_version)
                ),
            ));
        }

        let off = e.clock_ms.abs_diff(now_ms);
        if off > p.max_clock_skew_ms {
            let dir = if e.clock_ms > now_ms {
                "ahead"
            } else {
                "behind"
            };
            return Err(Failure::new(
                C::ClockSkew,
                format!(
                    "clock is {} off ({dir}, allowed {}); turn on automatic date and time",
                    human_duration(off),
                    human_duration(p.max_clock_skew_ms)
                ),
            ));
        }

        if !e
            .config_sha256
            .eq_ignore_ascii_case(&terminal.config_sha256)
        {
            return Err(Failure::new(
                C::ConfigMismatch,
                "terminal configuration is out of date; sync the configuration and retry",
            ));
        }

        let why = || signs(&e.platform_signs);
        if e.debugger_attached && !p.allow_debugger {
            return Err(Failure::new(
                C::Debugger,
                format!(
                    "a debugger is attached to the app{}; close it and restart the app",
                    why()
                ),
            ));
        }
        if e.emulator && !p.allow_emulator {
            return Err(Failure::new(
                C::Emulator,
                format!(
                    "the app is running in an emulator or virtual machine{}; use a real device",
                    why()
                ),
            ));
        }
        if e.rooted && !p.allow_rooted {
            return Err(Failure::new(
                C::Rooted,
                format!(
                    "the device is rooted or the app runs with root rights{}; \
                     payments are not allowed on it",
                    why()
                ),
            ));
        }

        Ok(verdict(e, challenge, now_ms))
    }

    /// Issues a token for an accepted verdict, valid for the policy's
    /// `token_ttl_ms`.
    pub fn issue_token(
        &self,
        terminal_id: &str,
        verdict: &Verdict,
        now_ms: u64,
    ) -> AttestationToken {
        let claims = TokenClaims {
            terminal_id: terminal_id.to_string(),
            issued_at_ms: now_ms,
            expires_at_ms: now_ms.saturating_add(self.policy.token_ttl_ms),
            counter: verdict.counter,
            key_kind: verdict.key_kind,
            app_binary_sha256: verdict.app_binary_sha256.clone(),
        };
        // Serialising a struct of strings and integers cannot fail; were it
        // to, an empty payload makes a token that check_token refuses.
        let json = serde_json::to_vec(&claims).unwrap_or_default();
        let signed = format!("{TOKEN_VERSION}.{}", URL_SAFE_NO_PAD.encode(json));
        let tag = hmac::sign(&self.token_key, signed.as_bytes());
        AttestationToken {
            token: format!("{signed}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref())),
            expires_at_ms: claims.expires_at_ms,
        }
    }

    /// Checks a token presented by `terminal_id`. Does not know about
    /// blocking: the acquirer must also refuse blocked terminals itself.
    pub fn check_token(
        &self,
        token: &str,
        terminal_id: &str,
        now_ms: u64,
    ) -> Result<TokenClaims, Failure> {
        let invalid = |why: &str| {
            Failure::new(
                FailureCode::TokenInvalid,
                format!("attestation token is not valid ({why}); attest again"),
            )
        };
        if token.len() > MAX_TOKEN_LEN {
            return Err(invalid("too long"));
        }
        let (signed, tag_b64) = token.rsplit_once('.').ok_or_else(|| invalid("malformed"))?;
        let (version, payload) = signed.split_once('.').ok_or_else(|| invalid("malformed"))?;
        if version != TOKEN_VERSION {
            return Err(invalid("unknown version"));
        }
        let tag = URL_SAFE_NO_PAD
            .decode(tag_b64)
            .map_err(|_| invalid("malformed"))?;
        hmac::verify(&self.token_key, signed.as_bytes(), &tag)
            .map_err(|_| invalid("signature does not match"))?;
        let json = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| invalid("malformed"))?;
        let claims: TokenClaims =
            serde_json::from_slice(&json).map_err(|_| invalid("malformed claims"))?;
        if claims.terminal_id != terminal_id {
            return Err(invalid("issued to another terminal"));
        }
        if now_ms >= claims.expires_at_ms {
            return Err(Failure::new(
                FailureCode::TokenExpired,
                format!(
                    "attestation token expired {} ago; attest again",
                    human_duration(now_ms.saturating_sub(claims.expires_at_ms))
                ),
            ));
        }
        Ok(claims)
    }
}

fn check_sizes(se: &SignedEvidence) -> Result<(), Failure> {
    let e = &se.evidence;
    let fields = [
        &e.terminal_id,
        &e.nonce,
        &e.app_binary_sha256,
        &e.app_version,
        &e.os,
        &e.os_version,
        &e.reader,
        &e.config_sha256,
        &se.signature,
    ];
    let too_long = fields.iter().any(|f| f.len() > MAX_FIELD_LEN)
        || e.platform_signs.len() > MAX_PLATFORM_SIGNS
        || e.platform_signs.iter().any(|s| s.len() > MAX_FIELD_LEN);
    if e.counter > MAX_COUNTER {
        return Err(Failure::new(
            FailureCode::MalformedEvidence,
            "attestation counter is out of range; contact your acquirer's support",
        ));
    }
    if too_long {
        return Err(Failure::new(
            FailureCode::MalformedEvidence,
            "evidence has oversized fields; update the app",
        ));
    }
    Ok(())
}

fn check_signature(se: &SignedEvidence, public_key: &[u8]) -> Result<(), Failure> {
    let bad = || {
        Failure::new(
            FailureCode::BadSignature,
            "evidence signature does not match the enrolled device key; \
             if the app was reinstalled, enroll the terminal again",
        )
    };
    let sig = hex::decode(&se.signature).map_err(|_| bad())?;
    let bytes = se.evidence.signing_bytes().map_err(|_| bad())?;
    verify_p256(public_key, &bytes, &sig).map_err(|()| bad())
}

fn verdict(e: &Evidence, challenge: &Challenge, now_ms: u64) -> Verdict {
    let skew = i128::from(e.clock_ms) - i128::from(now_ms);
    let clock_skew_ms = i64::try_from(skew).unwrap_or(if skew < 0 { i64::MIN } else { i64::MAX });
    Verdict {
        terminal_id: e.terminal_id.clone(),
        verified_at_ms: now_ms,
        challenge_issued_at_ms: challenge.issued_at_ms,
        counter: e.counter,
        key_kind: e.key_kind,
        app_binary_sha256: e.app_binary_sha256.to_ascii_lowercase(),
        app_version: e.app_version.clone(),
        os: e.os.clone(),
        os_version: e.os_version.clone(),
        reader: e.reader.clone(),
        clock_skew_ms,
        config_sha256: e.config_sha256.to_ascii_lowercase(),
        debugger_attached: e.debugger_attached,
        emulator: e.emulator,
        rooted: e.rooted,
        platform_signs: e.platform_signs.clone(),
    }
}

/// Quotes a terminal-supplied value in a message, never empty.
fn shown(s: &str) -> String {
    if s.is_empty() {
        "unknown".to_string()
    } else {
        format!("\"{}\"", s.escape_debug())
    }
}

fn signs(list: &[String]) -> String {
    if list.is_empty() {
        String::new()
    } else {
        format!(" ({})", list.join(", "))
    }
}
