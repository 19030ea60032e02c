//! An attestation token that expires between two payments: the acquirer
//! refuses it (401), the terminal attests again on a fresh challenge and the
//! payment goes through, once; a terminal blocked meanwhile gets the
//! refusal, not a retry loop.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/acquirer.rs"]
mod support;

use pos::sync::{PaymentRequest, SyncError};
use support::{monitoring_kinds, random_name, LocalAcquirer, ADMIN};

const BINARY: &str = "5b5f0c1bd6f5cbf9e42f3a29f6f0bbf1c1b3d7a0a6b9e0e5c7d2f4a1b3c5d7e9";
const TTL_MS: i64 = 400;

fn online_request(tsc: u32, client: &pos::sync::Client) -> PaymentRequest {
    let outcome = pos::tap::tap(
        &pos::tap::TapRequest {
            card: "visa-cvn18".into(),
            amount: 700,
            currency: "EUR".into(),
            keep_test_pan: false,
        },
        &pos::clock::Now::system(),
    )
    .unwrap()
    .outcome;
    assert_eq!(outcome.kind, kernel::OutcomeKind::OnlineRequest);
    let config = client.identity().config();
    PaymentRequest {
        tsc,
        mcc: config.mcc.clone(),
        amount_minor: 700,
        currency: config.currency,
        icc_data: pos::pay::field_55(&outcome).unwrap(),
    }
}

#[test]
fn an_expired_token_is_renewed_by_a_fresh_attestation() {
    let acq = LocalAcquirer::start_with(BINARY, |c| {
        c.attestation.token_ttl_ms = TTL_MS.try_into().unwrap()
    });
    let dir = std::env::temp_dir().join(format!("pos-token-{}", random_name()));
    let (mut client, mut queue) =
        pos::pay::open_terminal(&dir, &acq.base, Some(&acq.code), BINARY).unwrap();
    let tid = client.identity().terminal_id().to_string();

    let t1 = queue.next_tsc().unwrap();
    assert!(
        client
            .authorize(&online_request(t1, &client))
            .unwrap()
            .approved
    );
    let attested = |kinds: &[String]| kinds.iter().filter(|k| *k == "attestation_ok").count();
    assert_eq!(attested(&monitoring_kinds(&acq, &tid)), 1);

    // Past the token's life: the first try is refused, the retry carries
    // a new token.
    std::thread::sleep(std::time::Duration::from_millis(
        u64::try_from(TTL_MS).unwrap() + 300,
    ));
    let t2 = queue.next_tsc().unwrap();
    assert!(
        client
            .authorize(&online_request(t2, &client))
            .unwrap()
            .approved
    );
    assert_eq!(attested(&monitoring_kinds(&acq, &tid)), 2);
    assert_eq!(acq.stored(&tid).len(), 2, "each payment once");

    // Blocked by the acquirer: the refusal comes through with its reason.
    ureq::post(&format!("{}/v1/terminals/{tid}/block", acq.base))
        .set("authorization", &format!("Bearer {ADMIN}"))
        .send_json(serde_json::json!({ "blocked": true, "reason": "test: stolen device" }))
        .unwrap();
    let t3 = queue.next_tsc().unwrap();
    match client.authorize(&online_request(t3, &client)) {
        Err(SyncError::Refused { code, .. }) => assert_eq!(code, "terminal_blocked"),
        other => panic!("a blocked terminal was not refused: {other:?}"),
    }
    assert_eq!(acq.stored(&tid).len(), 2);
    let _ = std::fs::remove_dir_all(&dir);
}
