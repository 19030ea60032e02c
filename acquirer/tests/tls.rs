//! HTTPS: the server runs with a certificate made in the test (rcgen), a
//! client that trusts it enrolls, attests and pays through it; a client
//! that does not trust it, and a plain HTTP client, get no answer.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use acquirer::sim::{luhn_pan, send_json, SimCard, SimTerminal};
use acquirer::{default_attestation_policy, Clock, Config, Policy};
use cryptogram::Cvn;
use serde_json::json;

const ADMIN: &str = "tls-admin-token";
const BINARY: &str = "7150000000000000000000000000000000000000000000000000000000000000";
const IMK: [u8; 16] = [
    0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF, 0xFE, 0xDC, 0xBA, 0x98, 0x76, 0x54, 0x32, 0x10,
];

struct TempDb(std::path::PathBuf);

impl Drop for TempDb {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
        }
    }
}

#[tokio::test]
async fn https_serves_a_whole_payment_and_refuses_untrusting_and_plain_clients() {
    let db = TempDb(std::env::temp_dir().join(format!(
        "acquirer-tls-{}.db",
        hex::encode(acquirer::util::random_bytes::<8>())
    )));
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let tls = acquirer::tls::server_config(
        ck.cert.pem().as_bytes(),
        ck.key_pair.serialize_pem().as_bytes(),
    )
    .unwrap();
    let config = Config {
        database: format!("sqlite:{}", db.0.display()),
        listen: "127.0.0.1:0".parse().unwrap(),
        admin_token: ADMIN.into(),
        policy: Policy::default(),
        attestation: default_attestation_policy(vec![BINARY.into()]),
        clock: Clock::System,
    };
    let run = acquirer::spawn_with(
        &config,
        acquirer::Serve {
            tls: Some(tls),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let port = run.addr.port();
    let base = format!("https://localhost:{port}");
    let root = reqwest::Certificate::from_pem(ck.cert.pem().as_bytes()).unwrap();
    let http = reqwest::Client::builder()
        .add_root_certificate(root)
        .tls_built_in_root_certs(false)
        .resolve("localhost", run.addr)
        .build()
        .unwrap();

    let health = http.get(format!("{base}/v1/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);

    // Twins that must fail: a client without our root, and plain HTTP on
    // the TLS port.
    let stranger = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .resolve("localhost", run.addr)
        .build()
        .unwrap();
    assert!(stranger
        .get(format!("{base}/v1/health"))
        .send()
        .await
        .is_err());
    let plain = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/v1/health"))
        .send()
        .await;
    assert!(
        plain.is_err(),
        "plain HTTP got an answer from the TLS port: {plain:?}"
    );

    // A whole payment over HTTPS.
    let auth = format!("Bearer {ADMIN}");
    let admin = [("authorization", auth.as_str())];
    let r = send_json(&http, "POST", &format!("{base}/v1/issuer/ranges"), &json!({ "pan_prefix": "47618",
        "cvn": "visa-18", "imk_ac": hex::encode(IMK), "default_balance_minor": 100_000, "velocity_limit": 0 }), &admin)
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{:?}", r.body);
    let m = send_json(
        &http,
        "POST",
        &format!("{base}/v1/merchants"),
        &json!({ "name": "TLS Shop", "mcc": "5411",
        "settlement_account": "DE89370400440532013000", "fee_bps": 100, "currency": "EUR" }),
        &admin,
    )
    .await
    .unwrap();
    let mid = m.body["merchant_id"].as_str().unwrap();
    let c = send_json(
        &http,
        "POST",
        &format!("{base}/v1/merchants/{mid}/activation-codes"),
        &json!({}),
        &admin,
    )
    .await
    .unwrap();
    let code = c.body["code"].as_str().unwrap();
    let (mut t, _) = SimTerminal::enroll(http.clone(), &base, code, BINARY)
        .await
        .unwrap();
    assert_eq!(t.attest().await.unwrap().status, 200);
    let mut card = SimCard::new(&luhn_pan("47618", 42, 16), Cvn::Visa18, IMK);
    let body = json!({ "tsc": 1, "mcc": "5411", "amount_minor": 1234, "currency": 978,
        "icc_data": card.icc_data(1234, 978, [1, 2, 3, 4], false).unwrap() });
    let p = t
        .prepare("POST", "/v1/authorizations", &body, true)
        .unwrap();
    let a = t.send(&p).await.unwrap();
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.body["approved"], true, "{:?}", a.body);
    // The same signed request again is a replay, over TLS as over HTTP.
    let again = t.send(&p).await.unwrap();
    assert_eq!(again.status, 401, "{:?}", again.body);
    assert_eq!(again.body["code"], "replayed_request", "{:?}", again.body);

    // A refused jump code spends its nonce too: its replay is a replay, and
    // monitoring counts the jump code once.
    let jump = json!({ "tsc": 2, "mcc": "5999", "amount_minor": 100, "currency": 978,
        "icc_data": card.icc_data(100, 978, [5, 6, 7, 8], false).unwrap() });
    let p = t
        .prepare("POST", "/v1/authorizations", &jump, true)
        .unwrap();
    let first = t.send(&p).await.unwrap();
    assert_eq!(first.status, 403, "{:?}", first.body);
    assert_eq!(first.body["code"], "mcc_mismatch", "{:?}", first.body);
    let replay = t.send(&p).await.unwrap();
    assert_eq!(replay.body["code"], "replayed_request", "{:?}", replay.body);
    let r = http
        .get(format!("{base}/v1/terminals/{}/monitoring", t.terminal_id))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    let mon = acquirer::sim::answer(r).await.unwrap();
    assert_eq!(mon.body["counts"]["jump_code"], 1, "{:?}", mon.body);
    assert_eq!(mon.body["counts"]["replay"], 2, "{:?}", mon.body);
    run.task.abort();
}
