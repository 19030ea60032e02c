//! Many authorizations at once, as the group commit (SQLite) and the pooled
//! transactions (PostgreSQL) see them under load: distinct payments, exact
//! replays and repeated sequence counters arriving together, so several
//! land in one batch. Each payment is stored and debited once, each replay
//! refused, each repeat answered with the stored answer; and every answer
//! is already committed when it arrives.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use acquirer::sim::{luhn_pan, Answer, Prepared, SimCard};
use cryptogram::Cvn;
use serde_json::json;
use std::collections::HashMap;
use support::IMK;

const ADMIN: &str = "group-admin";
const BINARY: &str = "6c0fc0ffee000000000000000000000000000000000000000000000000000000";
const BALANCE: u64 = 10_000;

fn databases() -> Vec<String> {
    support::databases("acquirer-group")
}

async fn admin(http: &reqwest::Client, base: &str, path: &str, body: serde_json::Value) -> Answer {
    support::send_as(http, base, ADMIN, "POST", path, &body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_payments_replays_and_repeats_are_each_stored_once() {
    for db in databases() {
        let (run, http, base) = support::spawn(&db, ADMIN, BINARY).await;
        // A prefix of its own per run: the PostgreSQL test database is
        // shared with other tests and earlier runs.
        let prefix = support::prefix();
        let a = admin(
            &http,
            &base,
            "/v1/issuer/ranges",
            json!({ "pan_prefix": prefix, "cvn": "visa-18",
            "imk_ac": hex::encode(IMK), "default_balance_minor": BALANCE, "velocity_limit": 0 }),
        )
        .await;
        assert_eq!(a.status, 200, "{:?}", a.body);
        let mid = support::merchant(&http, &base, ADMIN, "Group").await;
        let t = support::terminal(&http, &base, ADMIN, BINARY, &mid).await;

        // 48 payments on 48 cards, each for 6,000 of a 10,000 balance, so
        // a second debit of any card would be refused (51) and show.
        const N: usize = 48;
        let mut bodies = Vec::new();
        for k in 0..N {
            let mut card = SimCard::new(&luhn_pan(&prefix, k as u64, 16), Cvn::Visa18, IMK);
            let un = acquirer::util::random_bytes::<4>();
            bodies.push(
                json!({ "tsc": k + 1, "mcc": "5411", "amount_minor": 6_000, "currency": 978,
                "icc_data": card.icc_data(6_000, 978, un, false).unwrap() }),
            );
        }
        let mut sends: Vec<(usize, &'static str, Prepared)> = Vec::new();
        for (k, b) in bodies.iter().enumerate() {
            let p = t.prepare("POST", "/v1/authorizations", b, true).unwrap();
            if k % 4 == 0 {
                // The very same request again: a replay.
                sends.push((k, "replay", p.clone()));
            }
            if k % 4 == 1 {
                // The same payment under a new nonce: a terminal's retry.
                let again = t.prepare("POST", "/v1/authorizations", b, true).unwrap();
                sends.push((k, "repeat", again));
            }
            sends.push((k, "first", p));
        }
        let t = std::sync::Arc::new(t);
        let tasks: Vec<_> = sends
            .into_iter()
            .map(|(k, kind, p)| {
                let t = t.clone();
                tokio::spawn(async move { (k, kind, t.send(&p).await.unwrap()) })
            })
            .collect();
        let mut answers: HashMap<usize, Vec<(&str, Answer)>> = HashMap::new();
        for task in tasks {
            let (k, kind, a) = task.await.unwrap();
            answers.entry(k).or_default().push((kind, a));
        }

        // Every answer is in already: what it reported must be committed,
        // visible to a connection of its own.
        let stored: i64 = match db.strip_prefix("sqlite:") {
            Some(path) => {
                let conn = rusqlite::Connection::open(path).unwrap();
                conn.query_row(
                    "SELECT COUNT(*) FROM payments WHERE merchant_id = ?1 AND status = 'approved'",
                    [&mid],
                    |r| r.get(0),
                )
                .unwrap()
            }
            None => {
                let pool = sqlx::PgPool::connect(&db).await.unwrap();
                sqlx::query_scalar(
                    "SELECT COUNT(*) FROM payments WHERE merchant_id = $1 AND status = 'approved'",
                )
                .bind(&mid)
                .fetch_one(&pool)
                .await
                .unwrap()
            }
        };
        assert_eq!(stored, N as i64, "{db}");

        for k in 0..N {
            let list = &answers[&k];
            let ok: Vec<&Answer> = list
                .iter()
                .filter(|(_, a)| a.status == 200)
                .map(|(_, a)| a)
                .collect();
            assert!(
                ok.iter().all(|a| a.body["approved"] == true),
                "{db} payment {k}: {list:?}"
            );
            let ids: std::collections::HashSet<&str> = ok
                .iter()
                .map(|a| a.body["payment_id"].as_str().unwrap())
                .collect();
            assert_eq!(ids.len(), 1, "{db} payment {k}: one payment, {list:?}");
            match k % 4 {
                0 => {
                    // Exactly one of the two identical requests got through.
                    assert_eq!(ok.len(), 1, "{db} payment {k}: {list:?}");
                    let refused: Vec<_> = list.iter().filter(|(_, a)| a.status != 200).collect();
                    assert_eq!(refused.len(), 1);
                    assert_eq!(refused[0].1.code(), "replayed_request", "{db}");
                }
                1 => assert_eq!(ok.len(), 2, "{db} payment {k}: both answered, {list:?}"),
                _ => assert_eq!(ok.len(), 1),
            }
        }
        run.task.abort();
        if let Some(path) = db.strip_prefix("sqlite:") {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{path}{suffix}"));
            }
        }
    }
}
