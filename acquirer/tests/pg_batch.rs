//! Two payments of one card arriving together, from two terminals, must be
//! decided as if one came after the other: the second sees the first's
//! debit (insufficient funds) and the first's approval (velocity). On
//! PostgreSQL such payments land in one writer batch (routed by card), so
//! any change that shares statements between a batch's payments must keep
//! them apart.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use acquirer::sim::{luhn_pan, Answer, SimCard};
use cryptogram::Cvn;
use serde_json::json;
use std::sync::Arc;
use support::IMK;

const ADMIN: &str = "batch-admin";
const BINARY: &str = "6c0fc0ffee000000000000000000000000000000000000000000000000000000";
const TERMINALS: usize = 16;
/// Cards per kind (balance, velocity) and per pass (together, one by one).
const CARDS: u64 = 6;

fn databases() -> Vec<String> {
    support::databases("acquirer-batch")
}

async fn admin(http: &reqwest::Client, base: &str, path: &str, body: serde_json::Value) -> Answer {
    support::send_as(http, base, ADMIN, "POST", path, &body).await
}

/// One pair: the card's two payments, each with its terminal and body.
type Pair = [(usize, serde_json::Value); 2];

/// Pairs for `CARDS` cards of `prefix` (numbers from `first`), each card
/// paying `amount` twice at two terminals.
fn pairs(prefix: &str, first: u64, amount: u64, tsc: &mut [u32]) -> Vec<Pair> {
    (first..first + CARDS)
        .map(|k| {
            let mut card = SimCard::new(&luhn_pan(prefix, k, 16), Cvn::Visa18, IMK);
            let mut one = |t: usize| {
                tsc[t] += 1;
                let un = acquirer::util::random_bytes::<4>();
                let body = json!({ "tsc": tsc[t], "mcc": "5411", "amount_minor": amount,
                    "currency": 978, "icc_data": card.icc_data(amount, 978, un, false).unwrap() });
                (t, body)
            };
            let k = usize::try_from(k).unwrap();
            [one((2 * k) % TERMINALS), one((2 * k + 1) % TERMINALS)]
        })
        .collect()
}

/// Each pair's two response codes, sorted.
fn codes(answers: &[(Answer, Answer)]) -> Vec<[String; 2]> {
    answers
        .iter()
        .map(|(a, b)| {
            assert_eq!(
                (a.status, b.status),
                (200, 200),
                "{:?} {:?}",
                a.body,
                b.body
            );
            let code = |x: &Answer| x.body["response_code"].as_str().unwrap_or("").to_string();
            let mut c = [code(a), code(b)];
            c.sort();
            c
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_cards_payments_together_are_decided_as_one_after_the_other() {
    for db in databases() {
        let (_run, http, base) = support::spawn(&db, ADMIN, BINARY).await;
        // Fresh prefixes per run: the PostgreSQL test database is shared.
        let (funds, velocity) = (support::prefix(), support::prefix());
        for (p, balance, limit) in [(&funds, 10_000, 0), (&velocity, 1_000_000, 1)] {
            let a = admin(
                &http,
                &base,
                "/v1/issuer/ranges",
                json!({ "pan_prefix": p, "cvn": "visa-18", "imk_ac": hex::encode(IMK),
                    "default_balance_minor": balance, "velocity_limit": limit }),
            )
            .await;
            assert_eq!(a.status, 200, "{:?}", a.body);
        }
        let mid = support::merchant(&http, &base, ADMIN, "Batch").await;
        let mut terminals = Vec::new();
        for _ in 0..TERMINALS {
            let t = support::terminal(&http, &base, ADMIN, BINARY, &mid).await;
            terminals.push(Arc::new(t));
        }
        let mut tsc = vec![0u32; TERMINALS];
        // 6,000 twice on a balance of 10,000: the second is refused (51).
        // 1,000 twice under a velocity limit of 1: the second is refused (65).
        let mut together = pairs(&funds, 0, 6_000, &mut tsc);
        together.extend(pairs(&velocity, 0, 1_000, &mut tsc));
        let mut alone = pairs(&funds, 100, 6_000, &mut tsc);
        alone.extend(pairs(&velocity, 100, 1_000, &mut tsc));

        let mut tasks = Vec::new();
        for [(ta, a), (tb, b)] in together {
            let send = |t: usize, body: serde_json::Value| {
                let t = terminals[t].clone();
                tokio::spawn(async move {
                    let p = t
                        .prepare("POST", "/v1/authorizations", &body, true)
                        .unwrap();
                    t.send(&p).await.unwrap()
                })
            };
            tasks.push((send(ta, a), send(tb, b)));
        }
        let mut got = Vec::new();
        for (a, b) in tasks {
            got.push((a.await.unwrap(), b.await.unwrap()));
        }

        let mut one_by_one = Vec::new();
        for [(ta, a), (tb, b)] in alone {
            let mut pair = Vec::new();
            for (t, body) in [(ta, a), (tb, b)] {
                let t = &terminals[t];
                let p = t
                    .prepare("POST", "/v1/authorizations", &body, true)
                    .unwrap();
                pair.push(t.send(&p).await.unwrap());
            }
            let b = pair.pop().unwrap();
            let a = pair.pop().unwrap();
            one_by_one.push((a, b));
        }

        let together = codes(&got);
        let expected: Vec<[String; 2]> = (0..2 * CARDS)
            .map(|i| {
                let second = if i < CARDS { "51" } else { "65" };
                ["00".to_string(), second.to_string()]
            })
            .collect();
        assert_eq!(codes(&one_by_one), expected, "{db}: one by one");
        assert_eq!(together, expected, "{db}: together");
    }
}
