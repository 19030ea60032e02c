//! Property tests for every request body parser: arbitrary and mutated
//! bodies, sent over HTTP by an enrolled and attested terminal (so they get
//! past authentication to the parser) or by the operator, never produce a
//! 5xx; and the openapi.yaml lists exactly the routes the router has.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use acquirer::sim::{luhn_pan, send_json, SimCard, SimTerminal};
use acquirer::{default_attestation_policy, Clock, Config, Policy};
use proptest::prelude::*;
use serde_json::json;

const ADMIN: &str = "prop-admin";
const BINARY: &str = "feedfacefeedfacefeedfacefeedfacefeedfacefeedfacefeedfacefeedface";

struct World {
    rt: tokio::runtime::Runtime,
    term: SimTerminal,
    base: String,
    http: reqwest::Client,
    sample: String,
}

fn world() -> World {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (term, base, http, sample) = rt.block_on(async {
        let file = std::env::temp_dir().join(format!("acquirer-prop-{}.db", hex::encode(acquirer::util::random_bytes::<8>())));
        let config = Config {
            database: format!("sqlite:{}", file.display()),
            listen: "127.0.0.1:0".parse().unwrap(),
            admin_token: ADMIN.into(),
            policy: Policy::default(),
            attestation: default_attestation_policy(vec![BINARY.into()]),
            clock: Clock::System,
        };
        let run = acquirer::spawn(&config).await.unwrap();
        let base = format!("http://{}", run.addr);
        let http = reqwest::Client::new();
        let auth = format!("Bearer {ADMIN}");
        let h = [("authorization", auth.as_str())];
        send_json(&http, "POST", &format!("{base}/v1/issuer/ranges"), &json!({ "pan_prefix": "4761", "cvn": "visa-18",
            "imk_ac": "0123456789abcdeffedcba9876543210", "default_balance_minor": 1_000_000, "velocity_limit": 0 }), &h).await.unwrap();
        let m = send_json(&http, "POST", &format!("{base}/v1/merchants"), &json!({ "name": "P", "mcc": "5411",
            "settlement_account": "DE89370400440532013000", "fee_bps": 100, "currency": "EUR" }), &h).await.unwrap();
        let mid = m.body["merchant_id"].as_str().unwrap().to_string();
        let c = send_json(&http, "POST", &format!("{base}/v1/merchants/{mid}/activation-codes"), &json!({}), &h).await.unwrap();
        let (mut t, _) = SimTerminal::enroll(http.clone(), &base, c.body["code"].as_str().unwrap(), BINARY).await.unwrap();
        assert_eq!(t.attest().await.unwrap().status, 200);
        let mut card = SimCard::new(&luhn_pan("4761", 42, 16), cryptogram::Cvn::Visa18, [0x11; 16]);
        let sample = json!({ "tsc": 1, "mcc": "5411", "amount_minor": 100, "currency": 978,
            "icc_data": card.icc_data(100, 978, [1, 2, 3, 4], false).unwrap() })
        .to_string();
        // Keep the server alive for the whole test.
        std::mem::forget(run);
        (t, base, http, sample)
    });
    World {
        rt,
        term,
        base,
        http,
        sample,
    }
}

const TERMINAL_PATHS: &[&str] = &[
    "/v1/authorizations",
    "/v1/advices",
    "/v1/reversals",
    "/v1/voids",
    "/v1/refunds",
    "/v1/attest",
    "/v1/attest/challenge",
];
const OPERATOR_PATHS: &[&str] = &[
    "/v1/merchants",
    "/v1/issuer/ranges",
    "/v1/issuer/cards",
    "/v1/enroll",
];

fn mutate(base: &str, pos: usize, byte: u8, cut: bool) -> Vec<u8> {
    let mut b = base.as_bytes().to_vec();
    if b.is_empty() {
        return b;
    }
    let i = pos % b.len();
    if cut {
        b.truncate(i);
    } else {
        b[i] = byte;
    }
    b
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, .. ProptestConfig::default() })]

    #[test]
    fn no_body_makes_a_5xx(path in 0usize..11, raw in proptest::collection::vec(any::<u8>(), 0..300),
                           pos in any::<usize>(), byte in any::<u8>(), cut in any::<bool>(), use_raw in any::<bool>()) {
        thread_local!(static W: World = world());
        W.with(|w| {
            let body = if use_raw { raw.clone() } else { mutate(&w.sample, pos, byte, cut) };
            let status = w.rt.block_on(async {
                if path < TERMINAL_PATHS.len() {
                    let p = w.term.prepare_raw("POST", TERMINAL_PATHS[path], body, true, acquirer::sim::now_ms()).unwrap();
                    w.term.send(&p).await.unwrap().status
                } else {
                    let p = OPERATOR_PATHS[path - TERMINAL_PATHS.len()];
                    w.http.post(format!("{}{p}", w.base)).bearer_auth(ADMIN).body(body).send().await.unwrap().status().as_u16()
                }
            });
            prop_assert!((200..500).contains(&status), "status {status}");
            Ok(())
        })?;
    }

    #[test]
    fn icc_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200), amount in 0u64..10_000) {
        let _ = acquirer::issuer::Icc::parse(&hex::encode(bytes), amount, 978);
    }
}

#[test]
fn openapi_lists_exactly_the_routes() {
    let api = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/api.rs")).unwrap();
    let spec =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.yaml")).unwrap();
    let mut routes: Vec<String> = api
        .split(".route(")
        .skip(1)
        .filter_map(|s| {
            s.trim_start()
                .strip_prefix('"')
                .and_then(|s| s.split('"').next())
                .map(str::to_string)
        })
        .collect();
    let mut documented: Vec<String> = spec
        .lines()
        .filter(|l| l.starts_with("  /v1/"))
        .map(|l| l.trim().trim_end_matches(':').to_string())
        .collect();
    routes.sort();
    documented.sort();
    assert!(!routes.is_empty());
    assert_eq!(routes, documented);
}
