use serde::{Deserialize, Serialize};
use std::fmt;

/// A failure on the terminal side: the device key or its storage.
///
/// Deliberately coarse: an unseal with the wrong key-encryption key and an
/// unseal of corrupted bytes are the same error, so the error cannot serve
/// as an oracle.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttestError {
    #[error("the system random number generator failed")]
    Random,
    #[error("could not generate a device key")]
    KeyGeneration,
    #[error("device key rejected: {0}")]
    KeyRejected(String),
    #[error("signing failed")]
    Signing,
    #[error("could not seal the device key")]
    Seal,
    #[error("sealed device key is corrupted or the key-encryption key is wrong")]
    Unseal,
    #[error("could not encode evidence: {0}")]
    Encoding(String),
}

/// Why the acquirer refused evidence, a request or a token.
///
/// Codes are stable (serde snake_case) so the acquirer, the app and
/// monitoring classify by code, never by matching message text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureCode {
    BadSignature,
    UnknownNonce,
    NonceReused,
    NonceExpired,
    CounterNotMonotonic,
    BinaryNotAllowed,
    ClockSkew,
    ConfigMismatch,
    Debugger,
    Emulator,
    Rooted,
    TerminalBlocked,
    TokenExpired,
    TokenInvalid,
    KeyKindMismatch,
    /// The evidence names a different terminal than the one it was
    /// submitted for.
    TerminalMismatch,
    /// A field is oversized or the signature is not even well-formed.
    MalformedEvidence,
    /// A signed request's timestamp is outside the allowed window.
    RequestStale,
}

impl FailureCode {
    /// The serde name, for logs and metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadSignature => "bad_signature",
            Self::UnknownNonce => "unknown_nonce",
            Self::NonceReused => "nonce_reused",
            Self::NonceExpired => "nonce_expired",
            Self::CounterNotMonotonic => "counter_not_monotonic",
            Self::BinaryNotAllowed => "binary_not_allowed",
            Self::ClockSkew => "clock_skew",
            Self::ConfigMismatch => "config_mismatch",
            Self::Debugger => "debugger",
            Self::Emulator => "emulator",
            Self::Rooted => "rooted",
            Self::TerminalBlocked => "terminal_blocked",
            Self::TokenExpired => "token_expired",
            Self::TokenInvalid => "token_invalid",
            Self::KeyKindMismatch => "key_kind_mismatch",
            Self::TerminalMismatch => "terminal_mismatch",
            Self::MalformedEvidence => "malformed_evidence",
            Self::RequestStale => "request_stale",
        }
    }
}

impl fmt::Display for FailureCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refusal with a code for machines and a message for the merchant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub code: FailureCode,
    pub message: String,
}

impl Failure {
    pub fn new(code: FailureCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for Failure {}

/// Renders a duration the way a merchant would say it: "45 seconds",
/// "9 minutes", "3 hours", "12 days". Rounded to the nearest unit.
pub(crate) fn human_duration(ms: u64) -> String {
    const SEC: u64 = 1_000;
    const MIN: u64 = 60 * SEC;
    const HOUR: u64 = 60 * MIN;
    const DAY: u64 = 24 * HOUR;
    let (n, unit) = if ms < MIN {
        (ms.saturating_add(SEC / 2) / SEC, "second")
    } else if ms < 2 * HOUR {
        (ms.saturating_add(MIN / 2) / MIN, "minute")
    } else if ms < 2 * DAY {
        (ms.saturating_add(HOUR / 2) / HOUR, "hour")
    } else {
        (ms.saturating_add(DAY / 2) / DAY, "day")
    };
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_speech() {
        assert_eq!(human_duration(0), "0 seconds");
        assert_eq!(human_duration(1_000), "1 second");
        assert_eq!(human_duration(45_000), "45 seconds");
        assert_eq!(human_duration(9 * 60_000 + 10_000), "9 minutes");
        assert_eq!(human_duration(60_000), "1 minute");
        assert_eq!(human_duration(3 * 3_600_000), "3 hours");
        assert_eq!(human_duration(12 * 86_400_000), "12 days");
        assert_eq!(
            human_duration(u64::MAX),
            format!("{} days", u64::MAX / 86_400_000)
        );
    }

    #[test]
    fn code_names_match_serde() {
        for code in [
            FailureCode::BadSignature,
            FailureCode::CounterNotMonotonic,
            FailureCode::KeyKindMismatch,
            FailureCode::RequestStale,
        ] {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
    }
}
