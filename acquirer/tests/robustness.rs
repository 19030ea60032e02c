//! Property tests for every request body parser: arbitrary and mutated
//! bodies, sent over HTTP by an enrolled and attested terminal (so they get
//! past authentication to the parser) or by the operator, never produce a
//! 5xx; and the openapi.yaml lists exactly the routes the router has.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use acquirer::sim::{luhn_pan, send_json, SimCard, SimTerminal};
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
    /// The merchant's ID, for the operator paths that name it.
    mid: String,
}

fn world() -> World {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (term, base, http, sample, mid) = rt.block_on(async {
        let db = support::sqlite_url("acquirer-prop");
        let (run, http, base) = support::spawn(&db, ADMIN, BINARY).await;
        let auth = format!("Bearer {ADMIN}");
        let h = [("authorization", auth.as_str())];
        send_json(&http, "POST", &format!("{base}/v1/issuer/ranges"), &json!({ "pan_prefix": "4761", "cvn": "visa-18",
            "imk_ac": "0123456789abcdeffedcba9876543210", "default_balance_minor": 1_000_000, "velocity_limit": 0 }), &h).await.unwrap();
        let mid = support::merchant(&http, &base, ADMIN, "P").await;
        let t = support::terminal(&http, &base, ADMIN, BINARY, &mid).await;
        let mut card = SimCard::new(&luhn_pan("4761", 42, 16), cryptogram::Cvn::Visa18, [0x11; 16]);
        let sample = json!({ "tsc": 1, "mcc": "5411", "amount_minor": 100, "currency": 978,
            "icc_data": card.icc_data(100, 978, [1, 2, 3, 4], false).unwrap() })
        .to_string();
        // Keep the server alive for the whole test.
        std::mem::forget(run);
        (t, base, http, sample, mid)
    });
    World {
        rt,
        term,
        base,
        http,
        sample,
        mid,
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
/// Operator (and enrollment) paths with a JSON body; `{mid}` and `{tid}`
/// stand for the world's merchant and terminal.
const OPERATOR_PATHS: &[&str] = &[
    "/v1/merchants",
    "/v1/issuer/ranges",
    "/v1/issuer/cards",
    "/v1/enroll",
    "/v1/merchants/{mid}/changes",
    "/v1/merchants/{mid}/settlements",
    "/v1/terminals/{tid}/block",
];

impl World {
    fn operator_path(&self, p: &str) -> String {
        p.replace("{mid}", &self.mid)
            .replace("{tid}", &self.term.terminal_id)
    }

    /// Sends `body` to the endpoint numbered `i` (terminal paths first, then
    /// the terminal's GET of its configuration, then operator paths), signed
    /// by the terminal or with the operator's token as the endpoint needs.
    async fn send(&self, i: usize, body: Vec<u8>) -> (u16, serde_json::Value) {
        let ans = if let Some(p) = TERMINAL_PATHS.get(i) {
            let p = self
                .term
                .prepare_raw("POST", p, body, true, acquirer::sim::now_ms())
                .unwrap();
            self.term.send(&p).await.unwrap()
        } else if i == TERMINAL_PATHS.len() {
            let p = self
                .term
                .prepare_raw(
                    "GET",
                    "/v1/terminal/config",
                    body,
                    true,
                    acquirer::sim::now_ms(),
                )
                .unwrap();
            self.term.send(&p).await.unwrap()
        } else {
            let p = self.operator_path(OPERATOR_PATHS[i - TERMINAL_PATHS.len() - 1]);
            let r = self
                .http
                .post(format!("{}{p}", self.base))
                .bearer_auth(ADMIN)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            acquirer::sim::answer(r).await.unwrap()
        };
        (ans.status, ans.body)
    }
}

const ENDPOINTS: usize = TERMINAL_PATHS.len() + 1 + OPERATOR_PATHS.len();

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
    fn no_body_makes_a_5xx(path in 0usize..ENDPOINTS, raw in proptest::collection::vec(any::<u8>(), 0..300),
                           pos in any::<usize>(), byte in any::<u8>(), cut in any::<bool>(), use_raw in any::<bool>()) {
        thread_local!(static W: World = world());
        W.with(|w| {
            let body = if use_raw { raw.clone() } else { mutate(&w.sample, pos, byte, cut) };
            let (status, _) = w.rt.block_on(w.send(path, body));
            prop_assert!((200..500).contains(&status), "status {status}");
            Ok(())
        })?;
    }

    #[test]
    fn icc_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200), amount in 0u64..10_000) {
        let _ = acquirer::issuer::Icc::parse(&hex::encode(bytes), amount, 978);
    }
}

/// Every endpoint that takes a JSON body, with each kind of bad body: a
/// 4xx whose JSON says why (`code` and `message`), never a 5xx or a hang.
#[test]
fn every_json_endpoint_refuses_bad_bodies_with_a_reason() {
    let w = world();
    let too_big = {
        let mut b = br#"{"pad":""#.to_vec();
        b.resize(300 * 1024, b'a');
        b.extend_from_slice(br#""}"#);
        b
    };
    // (body, expected status, expected code); the configuration GET takes
    // any JSON, so it is exempt from the type checks only.
    let cases: Vec<(&str, Vec<u8>, u16, &str, bool)> = vec![
        ("truncated", br#"{"ts"#.to_vec(), 400, "malformed_json", true),
        ("not JSON", b"tsc=1&mcc=5411".to_vec(), 400, "malformed_json", true),
        ("empty", Vec::new(), 400, "malformed_json", true),
        ("unbalanced", b"{{}".to_vec(), 400, "malformed_json", true),
        ("invalid UTF-8", b"{\"\xff\xfe\": 1}".to_vec(), 400, "malformed_json", true),
        ("an array", b"[1, 2, 3]".to_vec(), 422, "invalid_field", false),
        ("a string", br#""hello""#.to_vec(), 422, "invalid_field", false),
        ("wrong types", br#"{"tsc": "one", "name": 5, "pan": 7, "blocked": "yes", "advices": {}, "business_date": 3, "activation_code": [], "evidence": 1}"#.to_vec(), 422, "invalid_field", false),
        ("oversized", too_big, 413, "body_too_large", true),
    ];
    for i in 0..ENDPOINTS {
        for (what, body, status, code, applies_to_config) in &cases {
            if i == TERMINAL_PATHS.len() && !applies_to_config {
                continue;
            }
            let (got, answer) = w.rt.block_on(w.send(i, body.clone()));
            let ctx = format!(
                "endpoint {i} ({}), {what}: {got} {answer}",
                TERMINAL_PATHS.get(i).copied().unwrap_or("operator/config")
            );
            assert_eq!(got, *status, "{ctx}");
            assert_eq!(answer["code"], *code, "{ctx}");
            assert!(
                answer["message"].as_str().is_some_and(|m| !m.is_empty()),
                "{ctx}"
            );
        }
    }
    // Twin: a well-formed body is accepted by the same route, so the cases
    // above fail for their bodies and not for the route or the signature.
    let (ok, answer) = w.rt.block_on(w.send(0, w.sample.clone().into_bytes()));
    assert_eq!(ok, 200, "{answer}");
    // (The sample card's key is not the range's: parsed, then declined.)
    assert_eq!(answer["response_code"], "05", "{answer}");
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
