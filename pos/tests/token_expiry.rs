//! An attestation token that expires between two payments: the acquirer
//! refuses it (401), the terminal attests again on a fresh challenge and the
//! payment goes through, once; a terminal blocked meanwhile gets the
//! refusal, not a retry loop.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/acquirer.rs"]
mod support;

use pos::sync::{PaymentRequest, SyncError};
use support::{monitoring_kinds, tap, LocalAcquirer, BINARY};

const TTL_MS: i64 = 400;

fn online_request(tsc: u32, client: &pos::sync::Client) -> PaymentRequest {
    let outcome = tap("visa-cvn18", 700);
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
    let (mut client, mut queue) = acq.terminal();
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
    acq.admin(
        &format!("/v1/terminals/{tid}/block"),
        &serde_json::json!({ "blocked": true, "reason": "test: stolen device" }),
    );
    let t3 = queue.next_tsc().unwrap();
    match client.authorize(&online_request(t3, &client)) {
        Err(SyncError::Refused { code, .. }) => assert_eq!(code, "terminal_blocked"),
        other => panic!("a blocked terminal was not refused: {other:?}"),
    }
    assert_eq!(acq.stored(&tid).len(), 2);
}
