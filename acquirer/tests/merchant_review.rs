//! The merchant's views from its own terminal: the settlement statement
//! (the same document the merchant reads with its key, and only its own)
//! and the regular review of the merchant's information (due date in the
//! signed configuration, confirmation recorded in the hash-chained
//! history). Every scenario runs on SQLite, and on PostgreSQL when
//! SOFTPOS_TEST_POSTGRES_URL is set (scripts/postgres.sh prints it).

// Helpers outside #[test] fns are test code too; clippy.toml only covers the fns.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use acquirer::sim::{Answer, SimCard, SimTerminal};
use acquirer::util::{format_day, parse_day};
use serde_json::{json, Value};
use support::{today, Server as Env, ADMIN, BINARY, IMK};

fn databases() -> Vec<String> {
    support::databases("acquirer-review")
}

impl Env {
    async fn start(db: &str) -> Env {
        let env = Env::spawn(db).await;
        let a = env
            .with_key(
                ADMIN,
                "POST",
                "/v1/issuer/ranges",
                json!({ "pan_prefix": "47619",
                "cvn": "visa-18", "imk_ac": hex::encode(IMK), "default_balance_minor": 100_000,
                "velocity_limit": 0 }),
            )
            .await;
        assert_eq!(a.status, 200, "{:?}", a.body);
        env
    }

    async fn with_key(&self, key: &str, method: &str, path: &str, body: Value) -> Answer {
        if method == "GET" {
            return self.get(key, path).await;
        }
        self.as_merchant(key, method, path, body).await
    }

    async fn merchant(&self, name: &str, fee_bps: u32) -> (String, String) {
        let a = self
            .with_key(
                ADMIN,
                "POST",
                "/v1/merchants",
                json!({ "name": name, "mcc": "5411",
                "settlement_account": "DE89370400440532013000", "fee_bps": fee_bps,
                "currency": "EUR" }),
            )
            .await;
        assert_eq!(a.status, 200, "{:?}", a.body);
        (
            a.body["merchant_id"].as_str().unwrap().into(),
            a.body["merchant_key"].as_str().unwrap().into(),
        )
    }
}

fn card() -> SimCard {
    support::visa_card()
}

fn purchase(card: &mut SimCard, tsc: u32, amount: u64) -> Value {
    support::purchase(card, tsc, amount, false)
}

fn days_from_today(n: i64) -> String {
    format_day(parse_day(&today()).unwrap() + n)
}

/// Fetches the terminal's current signed configuration (signed, not
/// attested), as a terminal does after a re-sign.
async fn refresh(t: &mut SimTerminal) -> Value {
    let p = t
        .prepare("GET", "/v1/terminal/config", &json!({}), false)
        .unwrap();
    let a = t.send(&p).await.unwrap();
    assert_eq!(a.status, 200, "{:?}", a.body);
    t.config = serde_json::from_value(a.body.clone()).unwrap();
    a.body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminal_reads_its_own_merchants_statement_only() {
    for db in databases() {
        let env = Env::start(&db).await;
        let (a_id, a_key) = env.merchant("Shop A", 150).await;
        let (b_id, _) = env.merchant("Shop B", 90).await;
        let ta = env.terminal(&a_id).await;
        let tb = env.terminal(&b_id).await;

        let mut c = card();
        let pay = ta
            .call("POST", "/v1/authorizations", &purchase(&mut c, 1, 10_000))
            .await
            .unwrap();
        assert_eq!(pay.body["approved"], true, "{db}: {:?}", pay.body);
        let refund = ta
            .call(
                "POST",
                "/v1/refunds",
                &json!({ "tsc": 2, "original_payment_id": pay.body["payment_id"],
                    "amount_minor": 2_500 }),
            )
            .await
            .unwrap();
        assert_eq!(refund.body["approved"], true, "{db}: {:?}", refund.body);

        let d = today();
        let path = format!("/v1/terminal/statement?from={d}&to={d}");
        let s = ta.call("GET", &path, &json!({})).await.unwrap();
        assert_eq!(s.status, 200, "{db}: {:?}", s.body);
        assert_eq!(s.body["merchant_id"], a_id.as_str());
        let lines = s.body["lines"].as_array().unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["kind"], "purchase");
        assert_eq!(lines[0]["mcc"], "5411");
        assert_eq!(lines[0]["fee_bps"], 150);
        assert_eq!(lines[0]["fee_minor"], 150);
        assert_eq!(lines[0]["net_minor"], 9_850);
        assert_eq!(lines[1]["kind"], "refund");
        assert_eq!(lines[1]["net_minor"], -2_500);
        assert_eq!(s.body["totals"]["net_minor"], 7_350);
        assert_eq!(s.body["totals"]["fees_minor"], 150);
        assert_eq!(s.body["settlement_account"], "******************3000");
        assert_eq!(lines[0]["settlement_date"], days_from_today(1));
        assert_eq!(lines[0]["settled"], false);
        // Each line names the history entry whose terms applied, and that
        // entry is in the statement's (valid) chain.
        let seq = lines[0]["history_seq"].as_i64().unwrap();
        let entries = s.body["history"]["entries"].as_array().unwrap();
        assert!(entries.iter().any(|e| e["seq"] == seq));
        assert_eq!(s.body["history"]["chain_valid"], true);
        assert_eq!(s.body["payouts"][0]["net_minor"], 7_350);
        assert_eq!(s.body["payouts"][0]["settled"], false);
        assert_eq!(s.body["info_review_due"], days_from_today(365));
        assert!(!s.body.to_string().contains(&c.pan), "no clear PAN");

        // The very lines the merchant reads with its key.
        let m = env
            .with_key(
                &a_key,
                "GET",
                &format!("/v1/merchants/{a_id}/statement?from={d}&to={d}"),
                json!({}),
            )
            .await;
        assert_eq!(m.status, 200);
        assert_eq!(m.body["lines"], s.body["lines"]);
        assert_eq!(m.body["totals"], s.body["totals"]);

        // Merchant B's terminal sees B's statement: nothing of A's.
        let sb = tb.call("GET", &path, &json!({})).await.unwrap();
        assert_eq!(sb.status, 200);
        assert_eq!(sb.body["merchant_id"], b_id.as_str());
        assert_eq!(sb.body["lines"].as_array().unwrap().len(), 0);
        assert!(!sb.body.to_string().contains(&a_id));
        // ...and cannot ask for A's by the query.
        let other = tb
            .call("GET", &format!("{path}&merchant_id={a_id}"), &json!({}))
            .await
            .unwrap();
        assert_eq!(other.status, 422, "{:?}", other.body);
        assert_eq!(other.code(), "invalid_query");

        // Unattested (signed, no token) and unsigned are refused.
        let p = ta.prepare("GET", &path, &json!({}), false).unwrap();
        let un = ta.send(&p).await.unwrap();
        assert_eq!(un.status, 401);
        assert_eq!(un.code(), "attestation_required");
        let anon = env.with_key(&a_key, "GET", &path, json!({})).await;
        assert_eq!(anon.status, 401, "{:?}", anon.body);
        // A signature over another period does not carry over (tampered twin).
        let mut p = ta.prepare("GET", &path, &json!({}), true).unwrap();
        p.path = format!("/v1/terminal/statement?from=2020-01-01&to={d}");
        let forged = ta.send(&p).await.unwrap();
        assert_eq!(forged.status, 401, "{:?}", forged.body);

        // Bad periods.
        for q in [
            "from=2026-13-01&to=2026-13-02",
            "from=2026-11-02&to=2026-11-01",
            "from=2026-11-01",
        ] {
            let a = ta
                .call("GET", &format!("/v1/terminal/statement?{q}"), &json!({}))
                .await
                .unwrap();
            assert_eq!(a.status, 422, "{q}: {:?}", a.body);
        }

        // Once settled, the batch and its date are in the statement.
        let st = env
            .with_key(
                ADMIN,
                "POST",
                &format!("/v1/merchants/{a_id}/settlements"),
                json!({ "business_date": d }),
            )
            .await;
        assert_eq!(st.status, 200, "{:?}", st.body);
        let s = ta.call("GET", &path, &json!({})).await.unwrap();
        let batches = s.body["settlements"].as_array().unwrap();
        assert_eq!(batches.len(), 1);
        assert_eq!(batches[0]["net_minor"], 7_350);
        assert_eq!(batches[0]["settlement_id"], st.body["settlement_id"]);
        assert_eq!(s.body["lines"][0]["settled"], true);
        assert_eq!(s.body["payouts"][0]["settled"], true);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merchant_confirms_its_information_from_the_terminal() {
    for db in databases() {
        let env = Env::start(&db).await;
        let (mid, mkey) = env.merchant("Shop C", 150).await;
        let mut t = env.terminal(&mid).await;
        // A year after onboarding, by policy.
        assert_eq!(t.config.config.info_review_due, days_from_today(365));
        assert!(t.config.config_json.contains("\"info_review_due\""));

        // The operator brings the review forward: the configuration is
        // re-signed with the new date and the history says why.
        let soon = days_from_today(10);
        let a = env
            .with_key(
                ADMIN,
                "POST",
                &format!("/v1/merchants/{mid}/review"),
                json!({ "info_review_due": soon }),
            )
            .await;
        assert_eq!(a.status, 200, "{:?}", a.body);
        assert_eq!(a.body["kind"], "review_scheduled");
        let bad = env
            .with_key(
                ADMIN,
                "POST",
                &format!("/v1/merchants/{mid}/review"),
                json!({ "info_review_due": "soon" }),
            )
            .await;
        assert_eq!(bad.status, 422);
        let by_merchant = env
            .with_key(
                &mkey,
                "POST",
                &format!("/v1/merchants/{mid}/review"),
                json!({ "info_review_due": soon }),
            )
            .await;
        assert_eq!(by_merchant.status, 401, "only the operator schedules");
        let cfg = refresh(&mut t).await;
        assert_eq!(cfg["config"]["info_review_due"], soon.as_str());
        assert_eq!(t.attest().await.unwrap().status, 200);

        let info = json!({ "merchant_name": "Shop C", "mcc": "5411", "fee_bps": 150,
            "settlement_account_masked": "******************3000" });
        // Unattested: refused.
        let p = t
            .prepare("POST", "/v1/terminal/merchant-info/confirm", &info, false)
            .unwrap();
        assert_eq!(t.send(&p).await.unwrap().status, 401);
        // Confirming something other than what the acquirer holds (tampered twin).
        let mut stale = info.clone();
        stale["fee_bps"] = json!(120);
        let a = t
            .call("POST", "/v1/terminal/merchant-info/confirm", &stale)
            .await
            .unwrap();
        assert_eq!(a.status, 409, "{:?}", a.body);
        assert_eq!(a.code(), "merchant_info_changed");
        let a = t
            .call(
                "POST",
                "/v1/terminal/merchant-info/confirm",
                &json!({ "fee_bps": 150 }),
            )
            .await
            .unwrap();
        assert_eq!(a.status, 422, "{:?}", a.body);

        let a = t
            .call("POST", "/v1/terminal/merchant-info/confirm", &info)
            .await
            .unwrap();
        assert_eq!(a.status, 200, "{db}: {:?}", a.body);
        let next = days_from_today(365);
        assert_eq!(a.body["info_review_due"], next.as_str());
        assert_eq!(a.body["history_entry"]["kind"], "info_confirmed");
        assert_eq!(
            a.body["history_entry"]["body"]["previous_due"],
            soon.as_str()
        );
        assert_eq!(
            a.body["history_entry"]["body"]["terminal_id"],
            t.terminal_id.as_str()
        );

        // In the merchant's chained history, after the onboarding and the
        // scheduling; the chain still verifies.
        let h = env
            .with_key(
                &mkey,
                "GET",
                &format!("/v1/merchants/{mid}/history"),
                json!({}),
            )
            .await;
        assert_eq!(h.body["chain_valid"], true);
        let kinds: Vec<&str> = h.body["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["kind"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["onboarded", "review_scheduled", "info_confirmed"]);

        // The terminal's configuration moved with it; the terminal attests
        // again once it has fetched it.
        let cfg = refresh(&mut t).await;
        assert_eq!(cfg["config"]["info_review_due"], next.as_str());
        assert_eq!(t.attest().await.unwrap().status, 200);

        // A change of fees still needs the merchant's acknowledgement; the
        // confirmation did not touch the terms.
        let m = env
            .with_key(&mkey, "GET", &format!("/v1/merchants/{mid}"), json!({}))
            .await;
        assert_eq!(m.body["fee_bps"], 150);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_merchant_is_due_soon() {
    for db in databases() {
        let env = Env::start(&db).await;
        let seeded = acquirer::demo::seed(&env.run.state, std::path::Path::new("/nonexistent"))
            .await
            .unwrap();
        let (t, _) =
            SimTerminal::enroll(env.http.clone(), &env.base, &seeded.activation_code, BINARY)
                .await
                .unwrap();
        assert_eq!(t.config.config.info_review_due, days_from_today(14));
    }
}
