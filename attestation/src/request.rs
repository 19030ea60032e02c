//! Signing of every terminal → acquirer HTTP request.
//!
//! The terminal signs method, path, body hash, a timestamp and a request
//! nonce with its device key; the acquirer checks the signature against the
//! enrolled key, the timestamp against its clock ([`check_request_time`])
//! and the nonce against a short replay cache of its own.

use crate::error::{human_duration, AttestError, Failure, FailureCode};
use crate::key::DeviceKey;
use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_ASN1};

/// Prefix of the signed bytes; see [`crate::EVIDENCE_DOMAIN`].
pub const REQUEST_DOMAIN: &[u8] = b"softpos-request-v1\n";

/// The bytes a request signature covers.
///
/// Each field is length-prefixed (`<len>:<bytes>\n`), so no choice of path
/// or nonce can make two different requests sign the same bytes. The body
/// enters as its SHA-256. The method and path are used exactly as given:
/// the acquirer must pass the method and the raw path (with query) it
/// received, not a normalised form.
pub fn request_signing_bytes(
    method: &str,
    path: &str,
    body: &[u8],
    timestamp_ms: u64,
    request_nonce: &str,
) -> Vec<u8> {
    let body_hash = hex::encode(ring::digest::digest(&ring::digest::SHA256, body));
    let ts = timestamp_ms.to_string();
    let mut out = Vec::with_capacity(REQUEST_DOMAIN.len() + path.len() + 160);
    out.extend_from_slice(REQUEST_DOMAIN);
    for field in [method, path, ts.as_str(), request_nonce, body_hash.as_str()] {
        out.extend_from_slice(field.len().to_string().as_bytes());
        out.push(b':');
        out.extend_from_slice(field.as_bytes());
        out.push(b'\n');
    }
    out
}

/// Terminal side: signs a request, returning the DER signature.
pub fn sign_request(
    key: &dyn DeviceKey,
    method: &str,
    path: &str,
    body: &[u8],
    timestamp_ms: u64,
    request_nonce: &str,
) -> Result<Vec<u8>, AttestError> {
    key.sign(&request_signing_bytes(
        method,
        path,
        body,
        timestamp_ms,
        request_nonce,
    ))
}

/// Checks an ECDSA P-256 SHA-256 DER `signature` over `bytes` by the
/// uncompressed P-256 `public_key`.
pub fn verify_request_signature(
    public_key: &[u8],
    bytes: &[u8],
    signature: &[u8],
) -> Result<(), Failure> {
    verify_p256(public_key, bytes, signature).map_err(|()| {
        Failure::new(
            FailureCode::BadSignature,
            "request signature does not match the enrolled device key; \
             if the app was reinstalled, enroll the terminal again",
        )
    })
}

pub(crate) fn verify_p256(public_key: &[u8], bytes: &[u8], signature: &[u8]) -> Result<(), ()> {
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, public_key)
        .verify(bytes, signature)
        .map_err(|_| ())
}

/// Acquirer side: refuses a request whose timestamp is more than
/// `max_skew_ms` away from `now_ms` in either direction. Together with a
/// replay cache of request nonces kept for `2 * max_skew_ms`, this makes a
/// captured request useless.
pub fn check_request_time(timestamp_ms: u64, now_ms: u64, max_skew_ms: u64) -> Result<(), Failure> {
    let off = timestamp_ms.abs_diff(now_ms);
    if off > max_skew_ms {
        let dir = if timestamp_ms > now_ms {
            "ahead"
        } else {
            "behind"
        };
        return Err(Failure::new(
            FailureCode::RequestStale,
            format!(
                "request time is {} off ({dir}); check the device clock and retry",
                human_duration(off)
            ),
        ));
    }
    Ok(())
}
