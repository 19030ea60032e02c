//! QR payments end to end over real HTTP: merchant-presented orders paid by
//! the demo wallet endpoint, consumer-presented micropay against the wallet
//! simulator, cancels and reversals, duplicates and races, settlement and
//! statements, and malformed requests. Every scenario runs on SQLite, and on
//! PostgreSQL when SOFTPOS_TEST_POSTGRES_URL is set (scripts/postgres.sh).

// Helpers outside #[test] fns are test code too; clippy.toml only covers the fns.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use acquirer::sim::{send_json, Answer, SimTerminal};
use serde_json::{json, Value};
use support::{today, Server as Env, ADMIN, EUR};

fn databases() -> Vec<String> {
    support::databases("acquirer-qr-test")
}

impl Env {
    async fn start(db: &str, demo: bool) -> Env {
        let env = Env::spawn(db).await;
        if demo {
            acquirer::qr::enable_demo(&env.run.state);
        }
        env
    }

    async fn get_admin(&self, path: &str) -> Answer {
        self.get(ADMIN, path).await
    }

    async fn merchant(&self) -> String {
        let a = self
            .admin("POST", "/v1/merchants", json!({ "name": "Tea House", "mcc": "5814",
                "settlement_account": "DE89370400440532013000", "fee_bps": 150, "currency": "EUR" }))
            .await;
        assert_eq!(a.status, 200, "{:?}", a.body);
        a.body["merchant_id"].as_str().unwrap().into()
    }

    /// The customer's wallet pays an order (demo endpoint, unauthenticated).
    async fn wallet_pays(&self, order_id: &str, code: &str) -> Answer {
        send_json(
            &self.http,
            "POST",
            &format!("{}/v1/demo/qr/orders/{order_id}/pay", self.base),
            &json!({ "code": code }),
            &[],
        )
        .await
        .unwrap()
    }

    async fn statement(&self, merchant_id: &str) -> Value {
        let d = today();
        let a = self
            .get_admin(&format!(
                "/v1/merchants/{merchant_id}/statement?from={d}&to={d}"
            ))
            .await;
        assert_eq!(a.status, 200, "{:?}", a.body);
        a.body
    }
}

/// A wallet code of the given wallet whose last two digits pick the
/// simulator's behaviour; random in between, so codes never repeat.
fn code(wallet: &str, nn: u8) -> String {
    let r = u64::from_be_bytes(acquirer::util::random_bytes::<8>());
    match wallet {
        "wechat" => format!("13{:014}{nn:02}", r % 100_000_000_000_000),
        "alipay" => format!("28{:014}{nn:02}", r % 100_000_000_000_000),
        _ => format!("62{:015}{nn:02}", r % 1_000_000_000_000_000),
    }
}

async fn create(t: &SimTerminal, seq: u32, amount: u64) -> Answer {
    t.call(
        "POST",
        "/v1/qr/orders",
        &json!({ "seq": seq, "amount_minor": amount, "currency": EUR }),
    )
    .await
    .unwrap()
}

async fn micropay(t: &SimTerminal, seq: u32, amount: u64, code: &str) -> Answer {
    t.call(
        "POST",
        "/v1/qr/micropay",
        &json!({ "seq": seq, "amount_minor": amount, "currency": EUR, "code": code }),
    )
    .await
    .unwrap()
}

async fn query(t: &SimTerminal, seq: u32) -> Answer {
    t.call("POST", "/v1/qr/query", &json!({ "seq": seq }))
        .await
        .unwrap()
}

async fn cancel(t: &SimTerminal, seq: u32) -> Answer {
    t.call(
        "POST",
        "/v1/qr/cancel",
        &json!({ "seq": seq, "reason": "timeout" }),
    )
    .await
    .unwrap()
}

fn status(a: &Answer) -> &str {
    a.body["status"].as_str().unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merchant_presented_orders() {
    for db in databases() {
        let env = Env::start(&db, true).await;
        let mid = env.merchant().await;
        let t = env.terminal(&mid).await;

        // Create: NOTPAY, with what the code must carry.
        let a = create(&t, 1, 1_500).await;
        assert_eq!(a.status, 200, "{db}: {:?}", a.body);
        assert_eq!(status(&a), "NOTPAY");
        let order_id = a.body["order_id"].as_str().unwrap().to_string();
        let otn = format!("{}-0000000001", t.terminal_id);
        assert_eq!(a.body["out_trade_no"], otn.as_str());
        assert_eq!(a.body["bill_number"], otn.as_str());
        assert!(otn.len() <= 25, "fits EMVCo 62.01");
        assert_eq!(a.body["merchant"]["merchant_account"], mid.as_str());
        assert_eq!(a.body["merchant"]["mcc"], "5814");
        assert_eq!(a.body["merchant"]["template_id"], 26);
        assert_eq!(a.body["merchant"]["merchant_name"], "Tea House");
        let expires = a.body["expires_ms"].as_i64().unwrap();
        let created = a.body["created_ms"].as_i64().unwrap();
        assert_eq!(expires - created, 300_000);

        // The same seq again: the same order. Another sale under it: refused.
        let again = create(&t, 1, 1_500).await;
        assert_eq!(again.body, a.body);
        let other = create(&t, 1, 1_600).await;
        assert_eq!((other.status, other.code()), (409, "out_trade_no_reused"));

        assert_eq!(status(&query(&t, 1).await), "NOTPAY");
        // Another terminal of the same merchant cannot see it.
        let t2 = env.terminal(&mid).await;
        let a = t2
            .call("POST", "/v1/qr/query", &json!({ "order_id": order_id }))
            .await
            .unwrap();
        assert_eq!((a.status, a.code()), (404, "unknown_order"));

        // The customer's wallet pays; a second pay is refused, not charged.
        let alipay = code("alipay", 0);
        let a = env.wallet_pays(&order_id, &alipay).await;
        assert_eq!(a.status, 200, "{:?}", a.body);
        assert_eq!(status(&a), "SUCCESS");
        let a = env.wallet_pays(&order_id, &code("alipay", 1)).await;
        assert_eq!((a.status, a.code()), (409, "already_paid"));
        let a = query(&t, 1).await;
        assert_eq!(status(&a), "SUCCESS");
        assert_eq!(a.body["wallet"], "alipay");
        assert_eq!(a.body["fee_minor"], 23); // 1.5% of 15.00, half up
        assert_eq!(a.body["net_minor"], 1_477);
        assert_eq!(a.body["business_date"], today().as_str());
        let masked = a.body["masked_code"].as_str().unwrap();
        assert!(masked.starts_with(&alipay[..4]) && masked.contains("****"));
        assert!(!a.body.to_string().contains(&alipay));

        // Insufficient balance: refused, the order stays open.
        let a = create(&t, 2, 700).await;
        let id2 = a.body["order_id"].as_str().unwrap().to_string();
        let a = env.wallet_pays(&id2, &code("wechat", 90)).await;
        assert_eq!((a.status, a.code()), (402, "insufficient_balance"));
        assert_eq!(status(&query(&t, 2).await), "NOTPAY");
        // Cancelled, then a pay that lands afterwards is refused.
        let a = cancel(&t, 2).await;
        assert_eq!(status(&a), "CLOSED", "{:?}", a.body);
        let a = env.wallet_pays(&id2, &code("wechat", 0)).await;
        assert_eq!((a.status, a.code()), (409, "order_closed"));
        assert_eq!(status(&cancel(&t, 2).await), "CLOSED");

        // Expiry.
        let a = t
            .call(
                "POST",
                "/v1/qr/orders",
                &json!({ "seq": 3, "amount_minor": 800, "currency": EUR, "expires_in_s": 1 }),
            )
            .await
            .unwrap();
        let id3 = a.body["order_id"].as_str().unwrap().to_string();
        tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
        assert_eq!(status(&query(&t, 3).await), "EXPIRED");
        let a = env.wallet_pays(&id3, &code("unionpay", 0)).await;
        assert_eq!((a.status, a.code()), (409, "order_expired"));

        // Paid, then cancelled: reversed exactly once.
        let a = create(&t, 4, 2_000).await;
        let id4 = a.body["order_id"].as_str().unwrap().to_string();
        assert_eq!(
            status(&env.wallet_pays(&id4, &code("unionpay", 5)).await),
            "SUCCESS"
        );
        let a = cancel(&t, 4).await;
        assert_eq!(status(&a), "REVERSED");
        assert_eq!(a.body["fee_minor"], Value::Null);
        assert_eq!(status(&cancel(&t, 4).await), "REVERSED");

        // Only order 1 is money: statement and settlement agree.
        let st = env.statement(&mid).await;
        let lines = st["lines"].as_array().unwrap();
        assert_eq!(lines.len(), 1, "{st}");
        assert_eq!(lines[0]["kind"], "qr");
        assert_eq!(lines[0]["channel"], "qr_mpm");
        assert_eq!(lines[0]["amount_minor"], 1_500);
        assert_eq!(lines[0]["fee_minor"], 23);
        assert_eq!(lines[0]["mcc"], "5814");
        assert!(!st.to_string().contains(&alipay));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_payments_need_demo_mode() {
    for db in databases() {
        let env = Env::start(&db, false).await;
        let mid = env.merchant().await;
        let t = env.terminal(&mid).await;
        let a = create(&t, 1, 100).await;
        let id = a.body["order_id"].as_str().unwrap().to_string();
        let a = env.wallet_pays(&id, &code("alipay", 0)).await;
        assert_eq!(a.status, 404);
        assert_eq!(status(&query(&t, 1).await), "NOTPAY");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_presented_micropay() {
    for db in databases() {
        let env = Env::start(&db, true).await;
        let mid = env.merchant().await;
        let t = env.terminal(&mid).await;

        // Pays at once; the same request again is the same payment.
        let c1 = code("wechat", 0);
        let a = micropay(&t, 1, 1_000, &c1).await;
        assert_eq!(a.status, 200, "{db}: {:?}", a.body);
        assert_eq!(status(&a), "SUCCESS");
        assert_eq!(a.body["kind"], "cpm");
        assert_eq!(a.body["wallet"], "wechat_pay");
        assert_eq!(a.body["fee_minor"], 15);
        assert_eq!(a.body["merchant"], Value::Null);
        let again = micropay(&t, 1, 1_000, &c1).await;
        assert_eq!(again.body, a.body);
        // The same seq with another code or amount is refused.
        let other = micropay(&t, 1, 1_000, &code("wechat", 0)).await;
        assert_eq!((other.status, other.code()), (409, "out_trade_no_reused"));
        // The same code under a new seq: a used code, refused by the wallet.
        let a = micropay(&t, 2, 1_000, &c1).await;
        assert_eq!(status(&a), "FAIL");
        assert!(a.body["reason"].as_str().unwrap().starts_with("code_used"));

        // USERPAYING until the third query.
        let a = micropay(&t, 3, 2_000, &code("alipay", 82)).await;
        assert_eq!(status(&a), "USERPAYING");
        assert_eq!(status(&query(&t, 3).await), "USERPAYING");
        assert_eq!(status(&query(&t, 3).await), "USERPAYING");
        let a = query(&t, 3).await;
        assert_eq!(status(&a), "SUCCESS");
        assert_eq!(a.body["wallet"], "alipay");
        assert_eq!(status(&query(&t, 3).await), "SUCCESS");

        // Refusals by the wallet.
        let a = micropay(&t, 4, 500, &code("unionpay", 90)).await;
        assert_eq!(status(&a), "FAIL");
        assert!(a.body["reason"]
            .as_str()
            .unwrap()
            .starts_with("insufficient_balance"));
        let a = micropay(&t, 5, 500, &code("unionpay", 91)).await;
        assert!(a.body["reason"]
            .as_str()
            .unwrap()
            .starts_with("code_expired"));
        let a = micropay(&t, 6, 500, &code("wechat", 93)).await;
        assert_eq!(status(&a), "USERPAYING");
        assert_eq!(status(&query(&t, 6).await), "FAIL");

        // A wallet that never answers: the terminal gives up and cancels.
        let a = micropay(&t, 7, 900, &code("alipay", 92)).await;
        assert_eq!(status(&a), "USERPAYING");
        for _ in 0..3 {
            assert_eq!(status(&query(&t, 7).await), "USERPAYING");
        }
        assert_eq!(status(&cancel(&t, 7).await), "CLOSED");
        assert_eq!(status(&query(&t, 7).await), "CLOSED");

        // Paid while the terminal was not listening: the cancel reverses.
        let a = micropay(&t, 8, 3_000, &code("wechat", 80)).await;
        assert_eq!(status(&a), "USERPAYING");
        assert_eq!(status(&query(&t, 8).await), "SUCCESS");
        assert_eq!(status(&cancel(&t, 8).await), "REVERSED");
        assert_eq!(status(&cancel(&t, 8).await), "REVERSED");

        // Money: seq 1 (10.00) and seq 3 (20.00); nothing else.
        let st = env.statement(&mid).await;
        let lines = st["lines"].as_array().unwrap();
        let amounts: Vec<i64> = lines
            .iter()
            .map(|l| l["amount_minor"].as_i64().unwrap())
            .collect();
        assert_eq!(amounts, vec![1_000, 2_000], "{st}");
        assert!(lines.iter().all(|l| l["channel"] == "qr_cpm"));
        assert!(!st.to_string().contains(&c1));
        let s = env
            .admin(
                "POST",
                &format!("/v1/merchants/{mid}/settlements"),
                json!({ "business_date": today() }),
            )
            .await;
        assert_eq!(s.status, 200, "{:?}", s.body);
        assert_eq!(s.body["payment_count"], 2);
        assert_eq!(s.body["gross_minor"], 3_000);
        assert_eq!(s.body["fees_minor"], 45);
        assert_eq!(s.body["net_minor"], 2_955);
        // Settled: a cancel can no longer reverse it.
        let a = cancel(&t, 3).await;
        assert_eq!((a.status, a.code()), (409, "already_settled"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn duplicates_and_races_never_charge_twice() {
    for db in databases() {
        let env = Env::start(&db, true).await;
        let mid = env.merchant().await;
        let t = std::sync::Arc::new(env.terminal(&mid).await);

        // Eight copies of one micropay at once: one order, one payment.
        let c = code("alipay", 0);
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let t = t.clone();
            let c = c.clone();
            tasks.push(tokio::spawn(
                async move { micropay(&t, 1, 1_234, &c).await },
            ));
        }
        let mut ids = std::collections::BTreeSet::new();
        for task in tasks {
            let a = task.await.unwrap();
            assert_eq!(a.status, 200, "{:?}", a.body);
            assert_eq!(status(&a), "SUCCESS");
            ids.insert(a.body["payment_id"].as_str().unwrap().to_string());
        }
        assert_eq!(ids.len(), 1);

        // A wallet pay racing a cancel: either the pay wins and the cancel
        // reverses, or the cancel wins and the pay is refused; never money
        // left behind after a cancel.
        for seq in 2..6u32 {
            let a = create(&t, seq, 500).await;
            let id = a.body["order_id"].as_str().unwrap().to_string();
            let pay = {
                let http = env.http.clone();
                let url = format!("{}/v1/demo/qr/orders/{id}/pay", env.base);
                let c = code("wechat", 0);
                tokio::spawn(async move {
                    send_json(&http, "POST", &url, &json!({ "code": c }), &[])
                        .await
                        .unwrap()
                })
            };
            let t2 = t.clone();
            let cancelled = tokio::spawn(async move { cancel(&t2, seq).await });
            let (p, c) = (pay.await.unwrap(), cancelled.await.unwrap());
            let final_status = status(&query(&t, seq).await).to_string();
            assert!(
                final_status == "CLOSED" || final_status == "REVERSED",
                "{final_status}: pay {:?}, cancel {:?}",
                p.body,
                c.body
            );
            if final_status == "CLOSED" {
                assert_eq!(p.status, 409, "{:?}", p.body);
            }
        }
        // One code scanned by two terminals at once: one payment, one
        // refusal, whichever wins.
        let t3 = std::sync::Arc::new(env.terminal(&mid).await);
        for round in 0..4u32 {
            let c = code("wechat", 0);
            let (a, b) = (t.clone(), t3.clone());
            let (c1, c2) = (c.clone(), c.clone());
            let x = tokio::spawn(async move { micropay(&a, 100 + round, 300, &c1).await });
            let y = tokio::spawn(async move { micropay(&b, 100 + round, 300, &c2).await });
            let (x, y) = (x.await.unwrap(), y.await.unwrap());
            let mut got = [status(&x).to_string(), status(&y).to_string()];
            got.sort();
            assert_eq!(got, ["FAIL", "SUCCESS"], "{:?} {:?}", x.body, y.body);
            let failed = if status(&x) == "FAIL" { &x } else { &y };
            assert!(failed.body["reason"]
                .as_str()
                .unwrap()
                .starts_with("code_used"));
        }
        let st = env.statement(&mid).await;
        assert_eq!(st["lines"].as_array().unwrap().len(), 5, "{st}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_qr_requests_get_4xx_with_a_reason() {
    for db in databases() {
        let env = Env::start(&db, true).await;
        let mid = env.merchant().await;
        let t = env.terminal(&mid).await;
        let raw = |path: &str, body: Vec<u8>| {
            let p = t.prepare_raw("POST", path, body, true, acquirer::sim::now_ms());
            let t = &t;
            async move { t.send(&p.unwrap()).await.unwrap() }
        };
        for path in [
            "/v1/qr/orders",
            "/v1/qr/micropay",
            "/v1/qr/query",
            "/v1/qr/cancel",
            "/v1/qr/refunds",
        ] {
            let a = raw(path, b"{\"seq\":".to_vec()).await;
            assert_eq!((a.status, a.code()), (400, "malformed_json"), "{path}");
            let a = raw(path, br#"{"seq":"one"}"#.to_vec()).await;
            assert_eq!((a.status, a.code()), (422, "invalid_field"), "{path}");
            let a = raw(path, br#"{"seq":1,"extra":true}"#.to_vec()).await;
            assert_eq!((a.status, a.code()), (422, "invalid_field"), "{path}");
            let a = raw(path, vec![b' '; acquirer::api::MAX_BODY + 1]).await;
            assert_eq!((a.status, a.code()), (413, "body_too_large"), "{path}");
            // Unsigned.
            let a = send_json(
                &env.http,
                "POST",
                &format!("{}{path}", env.base),
                &json!({}),
                &[],
            )
            .await
            .unwrap();
            assert_eq!((a.status, a.code()), (401, "signature_required"), "{path}");
        }
        let a = raw(
            "/v1/qr/orders",
            br#"{"seq":-1,"amount_minor":1,"currency":978}"#.to_vec(),
        )
        .await;
        assert_eq!((a.status, a.code()), (422, "invalid_field"));
        let a = raw(
            "/v1/qr/orders",
            br#"{"seq":1,"amount_minor":1.5,"currency":978}"#.to_vec(),
        )
        .await;
        assert_eq!((a.status, a.code()), (422, "invalid_field"));
        let bad = [
            (
                json!({ "seq": 1, "amount_minor": 0, "currency": EUR }),
                "invalid_amount",
            ),
            (
                json!({ "seq": 1, "amount_minor": 100, "currency": 840 }),
                "currency_mismatch",
            ),
            (
                json!({ "seq": 1, "amount_minor": 100, "currency": EUR, "expires_in_s": 0 }),
                "invalid_expiry",
            ),
            (
                json!({ "seq": 1, "amount_minor": 100, "currency": EUR, "expires_in_s": 3601 }),
                "invalid_expiry",
            ),
        ];
        for (body, why) in bad {
            let a = t.call("POST", "/v1/qr/orders", &body).await.unwrap();
            assert_eq!((a.status, a.code()), (422, why), "{body}");
        }
        for c in [
            "",
            "12345",
            "2812-3456-7890-1234",
            "9912345678901234567",
            &"A".repeat(600),
        ] {
            let a = micropay(&t, 1, 100, c).await;
            assert_eq!((a.status, a.code()), (422, "invalid_payment_code"), "{c:?}");
        }
        for body in [json!({}), json!({ "seq": 1, "order_id": "Q1" })] {
            let a = t.call("POST", "/v1/qr/query", &body).await.unwrap();
            assert_eq!((a.status, a.code()), (422, "invalid_order_ref"), "{body}");
        }
        let a = query(&t, 99).await;
        assert_eq!((a.status, a.code()), (404, "unknown_order"));
        // The demo endpoint parses its body like any other.
        let a = env.wallet_pays("Qnope", "").await;
        assert_eq!((a.status, a.code()), (422, "invalid_payment_code"));
        let r = env
            .http
            .post(format!("{}/v1/demo/qr/orders/x/pay", env.base))
            .body("{")
            .send()
            .await
            .unwrap();
        let a = acquirer::sim::answer(r).await.unwrap();
        assert_eq!((a.status, a.code()), (400, "malformed_json"));
        let a = env.wallet_pays("Qnope", &code("alipay", 0)).await;
        assert_eq!((a.status, a.code()), (404, "unknown_order"));
        // None of it made an order.
        assert!(env.statement(&mid).await["lines"]
            .as_array()
            .unwrap()
            .is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qr_refunds() {
    for db in databases() {
        let env = Env::start(&db, true).await;
        let mid = env.merchant().await;
        let t = env.terminal(&mid).await;
        let refund = |seq: u32, refund_seq: u32, amount: u64| {
            let t = &t;
            async move {
                t.call(
                    "POST",
                    "/v1/qr/refunds",
                    &json!({ "refund_seq": refund_seq, "seq": seq, "amount_minor": amount }),
                )
                .await
                .unwrap()
            }
        };
        assert_eq!(
            status(&micropay(&t, 1, 1_000, &code("alipay", 0)).await),
            "SUCCESS"
        );
        let a = refund(1, 50, 400).await;
        assert_eq!(a.status, 200, "{db}: {:?}", a.body);
        assert_eq!(a.body["refunded_total_minor"], 400);
        assert_eq!(a.body["wallet"], "alipay");
        // Repeated: the same refund, not a second one.
        assert_eq!(refund(1, 50, 400).await.body, a.body);
        let a = refund(1, 51, 700).await;
        assert_eq!((a.status, a.code()), (422, "refund_exceeds_payment"));
        assert_eq!(refund(1, 52, 600).await.body["refunded_total_minor"], 1_000);
        let a = refund(1, 53, 1).await;
        assert_eq!((a.status, a.code()), (422, "refund_exceeds_payment"));
        // Refunded: a cancel can no longer reverse it as well.
        let a = cancel(&t, 1).await;
        assert_eq!((a.status, a.code()), (409, "already_refunded"));
        assert_eq!(status(&query(&t, 1).await), "SUCCESS");

        // Only paid orders: not a refused one, not a reversed one.
        assert_eq!(
            status(&micropay(&t, 2, 500, &code("alipay", 90)).await),
            "FAIL"
        );
        let a = refund(2, 54, 100).await;
        assert_eq!((a.status, a.code()), (409, "not_refundable"));
        assert_eq!(
            status(&micropay(&t, 3, 500, &code("alipay", 0)).await),
            "SUCCESS"
        );
        assert_eq!(status(&cancel(&t, 3).await), "REVERSED");
        let a = refund(3, 55, 100).await;
        assert_eq!((a.status, a.code()), (409, "not_refundable"));

        // The statement: the payment, its two refunds, nothing for 2 and 3.
        let st = env.statement(&mid).await;
        let amounts: Vec<i64> = st["lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["amount_minor"].as_i64().unwrap())
            .collect();
        assert_eq!(amounts, [1_000, -400, -600], "{st}");
        assert_eq!(st["totals"]["gross_minor"], 0);
        assert_eq!(st["totals"]["fees_minor"], 15);
        assert_eq!(st["totals"]["net_minor"], -15);
    }
}
