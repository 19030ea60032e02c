//! Enrollment pinned to the acquirer's key from the activation letter: an
//! impostor backend (another acquirer on another address) is refused
//! before the one-time code is spent, and the real one is accepted.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/acquirer.rs"]
mod support;

use pos::sync::Identity;
use support::{LocalAcquirer, BINARY};

/// A fresh activation code with the fingerprint the letter would print.
fn letter(acq: &LocalAcquirer) -> (String, String) {
    let v = acq.admin(
        &format!("/v1/merchants/{}/activation-codes", acq.merchant_id),
        &serde_json::json!({}),
    );
    (
        v["code"].as_str().unwrap().to_string(),
        v["acquirer_key_sha256"].as_str().unwrap().to_string(),
    )
}

#[test]
fn enrollment_goes_only_to_the_pinned_acquirer() {
    let real = LocalAcquirer::start(BINARY);
    let impostor = LocalAcquirer::start(BINARY);
    let (code, fingerprint) = letter(&real);
    assert_eq!(fingerprint.len(), 64);
    let dir = &real.dir;

    // The impostor is refused, and learns nothing it could use: the code
    // is not sent, so it is still good at the real acquirer.
    let err = pos::pay::open_terminal_pinned(
        dir,
        &impostor.base,
        Some(&code),
        Some(&fingerprint),
        BINARY,
    )
    .err()
    .unwrap();
    assert!(
        err.to_string()
            .contains("not the one on the activation letter"),
        "{err}"
    );
    assert!(!Identity::exists(dir));

    // Grouped and upper-case as printed on a letter.
    let printed = fingerprint
        .to_uppercase()
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    let (client, _queue) =
        pos::pay::open_terminal_pinned(dir, &real.base, Some(&code), Some(&printed), BINARY)
            .unwrap();
    assert_eq!(
        pos::sync::key_fingerprint(&client.identity().config().acquirer_public_key).unwrap(),
        fingerprint
    );
    // The merchant's offline rules arrive in the signed configuration.
    let limits = pos::queue::OfflineLimits::from_config(client.identity().config());
    assert_eq!(client.identity().config().offline_max_per_card, Some(3));
    assert_eq!(limits.max_per_card, 3);
}

#[test]
fn a_malformed_fingerprint_is_a_clear_error() {
    let real = LocalAcquirer::start(BINARY);
    let (code, _) = letter(&real);
    let dir = &real.dir;
    let err = pos::pay::open_terminal_pinned(dir, &real.base, Some(&code), Some("12:34"), BINARY)
        .err()
        .unwrap();
    assert!(err.to_string().contains("64 hex digits"), "{err}");
    assert!(!Identity::exists(dir));
}
