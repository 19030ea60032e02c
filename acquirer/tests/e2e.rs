//! End-to-end tests over real HTTP on loopback: the server runs in-process
//! on port 0, the client is a simulated terminal with a real device key and
//! a virtual card with a real test issuer key. Every scenario runs against
//! SQLite, and against PostgreSQL when SOFTPOS_TEST_POSTGRES_URL is set
//! (scripts/postgres.sh prints it).

// Helpers outside #[test] fns are test code too; clippy.toml only covers the fns.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use acquirer::sim::{luhn_pan, SimCard, SimTerminal};
use cryptogram::{Cvn, IssuerResponse};
use serde_json::{json, Value};
use support::{purchase, today, visa_card, Server as Env, ADMIN, BINARY, EUR, IMK};

fn databases() -> Vec<String> {
    support::databases("acquirer-test")
}

impl Env {
    async fn start(db: &str) -> Env {
        let env = Env::spawn(db).await;
        for (prefix, cvn) in [("4761", "visa-18"), ("5413", "mastercard-16")] {
            let a = env
                .admin("POST", "/v1/issuer/ranges", json!({ "pan_prefix": prefix, "cvn": cvn,
                    "imk_ac": hex::encode(IMK), "default_balance_minor": 100_000, "velocity_limit": 0 }))
                .await;
            assert_eq!(a.status, 200, "{:?}", a.body);
        }
        env
    }

    /// A merchant (MCC 5411) and its key.
    async fn merchant(&self, fee_bps: u32) -> (String, String) {
        let a = self
            .admin("POST", "/v1/merchants", json!({ "name": "Corner Shop", "mcc": "5411",
                "settlement_account": "DE89370400440532013000", "fee_bps": fee_bps, "currency": "EUR" }))
            .await;
        assert_eq!(a.status, 200, "{:?}", a.body);
        (
            a.body["merchant_id"].as_str().unwrap().into(),
            a.body["merchant_key"].as_str().unwrap().into(),
        )
    }

    async fn code(&self, merchant_id: &str) -> String {
        let a = self
            .admin(
                "POST",
                &format!("/v1/merchants/{merchant_id}/activation-codes"),
                json!({}),
            )
            .await;
        assert_eq!(a.status, 200, "{:?}", a.body);
        a.body["code"].as_str().unwrap().into()
    }

    async fn monitoring(&self, terminal_id: &str) -> Value {
        let a = self
            .get(ADMIN, &format!("/v1/terminals/{terminal_id}/monitoring"))
            .await;
        assert_eq!(a.status, 200);
        a.body
    }
}

// Under 54139, as the Visa cards under 47619 (support::visa_card), so that no
// demo BIN (541333) with its own key captures them.
fn mc_card() -> SimCard {
    let serial = u64::from_be_bytes(acquirer::util::random_bytes::<8>()) % 100_000_000_000;
    SimCard::new(&luhn_pan("54139", serial, 16), Cvn::Mastercard16, IMK)
}

/// The card's view: does tag 91 prove the issuer saw our ARQC, and what
/// did it say?
fn card_checks_arpc(card: &SimCard, req: &Value, resp: &Value) -> Option<IssuerResponse> {
    let icc = hex::decode(req["icc_data"].as_str().unwrap()).unwrap();
    let get = |tag: u16| {
        let t = kernel::tlv::Tag::new(u32::from(tag)).unwrap();
        kernel::tlv::find(&icc, t)
            .unwrap()
            .map(|x| x.value.to_vec())
            .unwrap()
    };
    let arqc: [u8; 8] = get(0x9F26).try_into().unwrap();
    let atc: [u8; 2] = get(0x9F36).try_into().unwrap();
    let un: [u8; 4] = get(0x9F37).try_into().unwrap();
    let iad = hex::decode(resp["issuer_authentication_data"].as_str()?).unwrap();
    cryptogram::verify_arpc(
        card.cvn,
        &card.imk_ac,
        &card.pan,
        card.psn,
        atc,
        un,
        arqc,
        &iad,
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payments_settlement_and_statement() {
    for db in databases() {
        let env = Env::start(&db).await;
        let (mid, mkey) = env.merchant(150).await;
        let t = env.terminal(&mid).await;

        // Approve, and the card accepts the ARPC.
        let mut card = visa_card();
        let req = purchase(&mut card, 1, 1_234, false);
        let a = t.call("POST", "/v1/authorizations", &req).await.unwrap();
        assert_eq!(a.status, 200, "{db}: {:?}", a.body);
        assert_eq!(a.body["approved"], true);
        assert_eq!(a.body["response_code"], "00");
        let masked = a.body["masked_pan"].as_str().unwrap();
        assert!(
            masked.contains("******") && !masked.contains(&card.pan[6..12]),
            "{masked}"
        );
        let issuer_said =
            card_checks_arpc(&card, &req, &a.body).expect("ARPC must verify on the card");
        assert!(matches!(issuer_said, IssuerResponse::Csu { csu, .. } if csu[1] & 0x80 != 0));
        let approved_id = a.body["payment_id"].as_str().unwrap().to_string();

        // The same tsc again is answered the same, not charged twice.
        let again = t.call("POST", "/v1/authorizations", &req).await.unwrap();
        assert_eq!(again.body, a.body);

        // Mastercard CVN 16 approves too, with a method-1 ARPC.
        let mut mc = mc_card();
        let req_mc = purchase(&mut mc, 2, 500, false);
        let a = t.call("POST", "/v1/authorizations", &req_mc).await.unwrap();
        assert_eq!(a.body["approved"], true, "{:?}", a.body);
        assert_eq!(
            card_checks_arpc(&mc, &req_mc, &a.body),
            Some(IssuerResponse::Arc(*b"00"))
        );

        // A tampered cryptogram is declined (tampered twin of the approval).
        let mut bad = purchase(&mut card, 3, 1_000, false);
        let mut icc = hex::decode(bad["icc_data"].as_str().unwrap()).unwrap();
        let pos = icc
            .windows(3)
            .position(|w| w == [0x9F, 0x26, 0x08])
            .unwrap()
            + 3;
        icc[pos] ^= 0x01;
        bad["icc_data"] = json!(hex::encode_upper(&icc));
        let a = t.call("POST", "/v1/authorizations", &bad).await.unwrap();
        assert_eq!(a.status, 200);
        assert_eq!(a.body["approved"], false);
        assert_eq!(a.body["response_code"], "05");
        assert!(a.body["reason"].as_str().unwrap().contains("arqc_invalid"));
        assert!(
            a.body["issuer_authentication_data"].is_null(),
            "no ARPC for a cryptogram we could not verify"
        );

        // A tampered amount (TLV says one thing, request another) is refused.
        let mut lie = purchase(&mut card, 4, 1_000, false);
        lie["amount_minor"] = json!(10);
        let a = t.call("POST", "/v1/authorizations", &lie).await.unwrap();
        assert_eq!((a.status, a.code()), (422, "icc_data_mismatch"));

        // Insufficient funds, then a blocked card.
        let mut poor = visa_card();
        let a = env
            .admin(
                "POST",
                "/v1/issuer/cards",
                json!({ "pan": poor.pan, "balance_minor": 100, "blocked": false }),
            )
            .await;
        assert_eq!(a.status, 200);
        assert!(
            !a.body.to_string().contains(&poor.pan),
            "operator answer must not echo the PAN"
        );
        let a = t
            .call(
                "POST",
                "/v1/authorizations",
                &purchase(&mut poor, 5, 101, false),
            )
            .await
            .unwrap();
        assert_eq!(
            (a.body["approved"].clone(), a.body["response_code"].clone()),
            (json!(false), json!("51"))
        );
        let a = t
            .call(
                "POST",
                "/v1/authorizations",
                &purchase(&mut poor, 6, 100, false),
            )
            .await
            .unwrap();
        assert_eq!(
            a.body["approved"], true,
            "exactly the balance is fine: {:?}",
            a.body
        );
        let mut blocked = visa_card();
        env.admin(
            "POST",
            "/v1/issuer/cards",
            json!({ "pan": blocked.pan, "balance_minor": 100_000, "blocked": true }),
        )
        .await;
        let req_b = purchase(&mut blocked, 7, 100, false);
        let a = t.call("POST", "/v1/authorizations", &req_b).await.unwrap();
        assert_eq!(a.body["response_code"], "62");
        let said = card_checks_arpc(&blocked, &req_b, &a.body).expect("declines carry an ARPC too");
        assert!(matches!(said, IssuerResponse::Csu { csu, .. } if csu[1] & 0x80 == 0));

        // Reversal of tsc 6 (timeout), twice: same outcome, money back once.
        let r1 = t
            .call(
                "POST",
                "/v1/reversals",
                &json!({ "tsc": 6, "reason": "timeout" }),
            )
            .await
            .unwrap();
        assert_eq!(
            (r1.status, r1.body["status"].clone()),
            (200, json!("reversed")),
            "{:?}",
            r1.body
        );
        let r2 = t
            .call(
                "POST",
                "/v1/reversals",
                &json!({ "tsc": 6, "reason": "timeout" }),
            )
            .await
            .unwrap();
        assert_eq!(r2.body["status"], "reversed");
        let a = t
            .call(
                "POST",
                "/v1/authorizations",
                &purchase(&mut poor, 8, 100, false),
            )
            .await
            .unwrap();
        assert_eq!(
            a.body["approved"], true,
            "reversal restored the balance once: {:?}",
            a.body
        );
        let a = t
            .call(
                "POST",
                "/v1/authorizations",
                &purchase(&mut poor, 9, 1, false),
            )
            .await
            .unwrap();
        assert_eq!(a.body["response_code"], "51", "and only once");

        // Offline advices, sent twice: stored once, answered the same.
        let mut off = visa_card();
        let batch = json!({ "advices": [purchase(&mut off, 100, 2_000, true), purchase(&mut off, 101, 3_000, true)] });
        let b1 = t.call("POST", "/v1/advices", &batch).await.unwrap();
        assert_eq!(b1.status, 200, "{:?}", b1.body);
        assert_eq!(b1.body["results"][0]["status"], "approved");
        let b2 = t.call("POST", "/v1/advices", &batch).await.unwrap();
        assert_eq!(b1.body, b2.body);
        // A forged TC in an advice is rejected (tampered twin), and stays so.
        let mut forged = purchase(&mut off, 102, 1_000, true);
        let mut icc = hex::decode(forged["icc_data"].as_str().unwrap()).unwrap();
        let pos = icc
            .windows(3)
            .position(|w| w == [0x9F, 0x26, 0x08])
            .unwrap()
            + 3;
        icc[pos + 7] ^= 0x80;
        forged["icc_data"] = json!(hex::encode_upper(&icc));
        let b3 = t
            .call("POST", "/v1/advices", &json!({ "advices": [forged] }))
            .await
            .unwrap();
        assert_eq!(b3.body["results"][0]["status"], "rejected");
        // Cryptogram types must fit the flow: an ARQC is no offline approval,
        // a TC is no authorization request.
        let arqc_advice = purchase(&mut off, 103, 1_000, false);
        let b4 = t
            .call("POST", "/v1/advices", &json!({ "advices": [arqc_advice] }))
            .await
            .unwrap();
        assert_eq!(b4.body["results"][0]["status"], "rejected");
        assert!(b4.body["results"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("TC"));
        let tc_online = purchase(&mut off, 104, 1_000, true);
        let a = t
            .call("POST", "/v1/authorizations", &tc_online)
            .await
            .unwrap();
        assert_eq!(
            (a.body["approved"].clone(), a.body["response_code"].clone()),
            (json!(false), json!("30"))
        );

        // Refund part of the first payment; too much is refused; void another.
        let rf = t
            .call(
                "POST",
                "/v1/refunds",
                &json!({ "tsc": 200, "original_payment_id": approved_id, "amount_minor": 234 }),
            )
            .await
            .unwrap();
        assert_eq!(
            (rf.status, rf.body["status"].clone()),
            (200, json!("approved")),
            "{:?}",
            rf.body
        );
        let rf2 = t
            .call(
                "POST",
                "/v1/refunds",
                &json!({ "tsc": 201, "original_payment_id": approved_id, "amount_minor": 1_001 }),
            )
            .await
            .unwrap();
        assert_eq!((rf2.status, rf2.code()), (422, "refund_exceeds_payment"));
        let mut vcard = visa_card();
        let v = t
            .call(
                "POST",
                "/v1/authorizations",
                &purchase(&mut vcard, 300, 700, false),
            )
            .await
            .unwrap();
        let vid = v.body["payment_id"].as_str().unwrap();
        let vd = t
            .call("POST", "/v1/voids", &json!({ "payment_id": vid }))
            .await
            .unwrap();
        assert_eq!(vd.body["status"], "voided");

        // Settle today; settling again gives the same batch.
        let s1 = env
            .admin(
                "POST",
                &format!("/v1/merchants/{mid}/settlements"),
                json!({ "business_date": today() }),
            )
            .await;
        assert_eq!(s1.status, 200, "{:?}", s1.body);
        // Approved: 1234 + 500 + 100 (tsc 8) + 2000 + 3000 = 6834 purchases; tsc 6 reversed, 300 voided.
        // Fees at 1.5%: 18.51->19, 7.5->8, 1.5->2, 30, 45 = 104. Refund 234 (no fee).
        assert_eq!(s1.body["payment_count"], 6);
        assert_eq!(s1.body["gross_minor"], 6_834 - 234);
        assert_eq!(s1.body["fees_minor"], 104);
        assert_eq!(s1.body["net_minor"], 6_834 - 234 - 104);
        let s2 = env
            .admin(
                "POST",
                &format!("/v1/merchants/{mid}/settlements"),
                json!({ "business_date": today() }),
            )
            .await;
        assert_eq!(s1.body, s2.body);

        // The statement, as the merchant sees it.
        let st = env
            .get(
                &mkey,
                &format!(
                    "/v1/merchants/{mid}/statement?from={}&to={}",
                    today(),
                    today()
                ),
            )
            .await;
        assert_eq!(st.status, 200, "{:?}", st.body);
        let lines = st.body["lines"].as_array().unwrap();
        assert_eq!(lines.len(), 6);
        for l in lines {
            assert_eq!(l["mcc"], "5411");
            assert_eq!(l["fee_bps"], 150);
            assert_eq!(l["settlement_account"], "******************3000");
            assert_eq!(l["settled"], true);
            assert_eq!(l["history_seq"], 1);
            assert_eq!(
                l["net_minor"].as_i64().unwrap(),
                l["amount_minor"].as_i64().unwrap() - l["fee_minor"].as_i64().unwrap()
            );
        }
        let first = lines
            .iter()
            .find(|l| l["payment_id"] == approved_id.as_str())
            .unwrap();
        assert_eq!(
            (
                first["amount_minor"].clone(),
                first["fee_minor"].clone(),
                first["net_minor"].clone()
            ),
            (json!(1234), json!(19), json!(1215))
        );
        assert_eq!(st.body["totals"]["net_minor"], s1.body["net_minor"]);
        assert_eq!(st.body["history"]["chain_valid"], true);
        // Another merchant's key cannot read it.
        let (_, other_key) = env.merchant(100).await;
        let denied = env
            .get(
                &other_key,
                &format!(
                    "/v1/merchants/{mid}/statement?from={}&to={}",
                    today(),
                    today()
                ),
            )
            .await;
        assert_eq!((denied.status, denied.code()), (403, "wrong_merchant_key"));

        // No clear PAN at rest: scan the SQLite file (and its WAL).
        if let Some(path) = env.db.strip_prefix("sqlite:") {
            for f in [path.to_string(), format!("{path}-wal")] {
                if let Ok(bytes) = std::fs::read(&f) {
                    for pan in [&card.pan, &mc.pan, &poor.pan, &off.pan] {
                        assert!(
                            !bytes.windows(pan.len()).any(|w| w == pan.as_bytes()),
                            "clear PAN in {f}"
                        );
                    }
                }
            }
        }
        env.run.task.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jump_code_is_refused_and_counted() {
    for db in databases() {
        let env = Env::start(&db).await;
        let (mid, _) = env.merchant(150).await;
        let t = env.terminal(&mid).await;
        let mut card = visa_card();
        let mut req = purchase(&mut card, 1, 1_000, false);
        req["mcc"] = json!("7995"); // gambling, under a grocery's terminal
        let a = t.call("POST", "/v1/authorizations", &req).await.unwrap();
        assert_eq!((a.status, a.code()), (403, "mcc_mismatch"), "{:?}", a.body);
        let batch = json!({ "advices": [req] });
        let a = t.call("POST", "/v1/advices", &batch).await.unwrap();
        assert_eq!((a.status, a.code()), (403, "mcc_mismatch"));
        let m = env.monitoring(&t.terminal_id).await;
        assert_eq!(m["counts"]["jump_code"], 2, "{m}");
        // The honest twin passes.
        let a = t
            .call(
                "POST",
                "/v1/authorizations",
                &purchase(&mut card, 2, 1_000, false),
            )
            .await
            .unwrap();
        assert_eq!(a.body["approved"], true);
        env.run.task.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_replayed_and_unattested_requests_are_refused() {
    for db in databases() {
        let env = Env::start(&db).await;
        let (mid, _) = env.merchant(150).await;
        let code = env.code(&mid).await;
        let (mut t, enrolled) = SimTerminal::enroll(env.http.clone(), &env.base, &code, BINARY)
            .await
            .unwrap();

        // The signed configuration verifies under the acquirer's key; a
        // tampered copy does not.
        let keys = env.get("", "/v1/acquirer/keys").await;
        let pk = hex::decode(keys.body["keys"][0]["public_key"].as_str().unwrap()).unwrap();
        let sc = &enrolled.body["signed_config"];
        let sig = hex::decode(sc["signature"].as_str().unwrap()).unwrap();
        let cfg = sc["config_json"].as_str().unwrap();
        let verify = |m: &[u8]| {
            ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_ASN1, &pk)
                .verify(m, &sig)
                .is_ok()
        };
        assert!(verify(cfg.as_bytes()));
        assert!(!verify(cfg.replace("5411", "7995").as_bytes()));

        // Activation codes are single use.
        let again = SimTerminal::enroll(env.http.clone(), &env.base, &code, BINARY).await;
        assert!(again.is_err());

        // No token yet: payments are refused.
        let mut card = visa_card();
        let a = t
            .call(
                "POST",
                "/v1/authorizations",
                &purchase(&mut card, 1, 100, false),
            )
            .await
            .unwrap();
        assert_eq!((a.status, a.code()), (401, "attestation_required"));

        // Forged evidence (signature over other bytes) is refused.
        let c = t.challenge().await.unwrap();
        let mut se = t.evidence(&c, acquirer::sim::now_ms()).unwrap();
        se.evidence.rooted = false;
        se.evidence.app_version = "9.9.9".into();
        let a = t.submit_evidence(&se).await.unwrap();
        assert_eq!((a.status, a.code()), (403, "bad_signature"), "{:?}", a.body);
        // A build not on the allow-list is refused with an actionable reason.
        let c = t.challenge().await.unwrap();
        t.binary_sha256 = "00".repeat(32);
        let se = t.evidence(&c, acquirer::sim::now_ms()).unwrap();
        let a = t.submit_evidence(&se).await.unwrap();
        assert_eq!((a.status, a.code()), (403, "binary_not_allowed"));
        assert!(a.body["message"]
            .as_str()
            .unwrap()
            .contains("not recognised"));
        t.binary_sha256 = BINARY.into();
        // A clock 9 minutes off is refused, saying so.
        let c = t.challenge().await.unwrap();
        let se = t
            .evidence(&c, acquirer::sim::now_ms() + 9 * 60_000)
            .unwrap();
        let a = t.submit_evidence(&se).await.unwrap();
        assert_eq!((a.status, a.code()), (403, "clock_skew"));
        assert!(
            a.body["message"].as_str().unwrap().contains("9 min"),
            "{:?}",
            a.body
        );
        // The honest twin succeeds; replaying its evidence does not.
        let c = t.challenge().await.unwrap();
        let se = t.evidence(&c, acquirer::sim::now_ms()).unwrap();
        let ok = t.submit_evidence(&se).await.unwrap();
        assert_eq!(ok.status, 200, "{:?}", ok.body);
        let replay = t.submit_evidence(&se).await.unwrap();
        assert_eq!(replay.status, 403);
        assert!(
            ["nonce_reused", "counter_not_monotonic"].contains(&replay.code()),
            "{:?}",
            replay.body
        );

        // A signed request sent twice: the second is a replay.
        let p = t
            .prepare(
                "POST",
                "/v1/authorizations",
                &purchase(&mut card, 2, 100, false),
                true,
            )
            .unwrap();
        assert_eq!(t.send(&p).await.unwrap().status, 200);
        let a = t.send(&p).await.unwrap();
        assert_eq!((a.status, a.code()), (401, "replayed_request"));
        // A tampered body under the original signature.
        let mut p2 = t
            .prepare(
                "POST",
                "/v1/authorizations",
                &purchase(&mut card, 3, 100, false),
                true,
            )
            .unwrap();
        p2.body = String::from_utf8(p2.body)
            .unwrap()
            .replace("\"amount_minor\":100", "\"amount_minor\":101")
            .into_bytes();
        let a = t.send(&p2).await.unwrap();
        assert_eq!((a.status, a.code()), (401, "bad_signature"));
        // A stale timestamp.
        let body = serde_json::to_vec(&purchase(&mut card, 4, 100, false)).unwrap();
        let p3 = t
            .prepare_raw(
                "POST",
                "/v1/authorizations",
                body,
                true,
                acquirer::sim::now_ms() - 10 * 60_000,
            )
            .unwrap();
        let a = t.send(&p3).await.unwrap();
        assert_eq!((a.status, a.code()), (401, "request_stale"));
        // Another terminal's token.
        let mut t2 = env.terminal(&mid).await;
        t2.token = t.token.clone();
        let a = t2
            .call(
                "POST",
                "/v1/authorizations",
                &purchase(&mut card, 5, 100, false),
            )
            .await
            .unwrap();
        assert_eq!((a.status, a.code()), (401, "token_invalid"));
        // A garbage token.
        t2.token = Some("v1.e30.AAAA".into());
        let a = t2
            .call(
                "POST",
                "/v1/authorizations",
                &purchase(&mut card, 6, 100, false),
            )
            .await
            .unwrap();
        assert_eq!((a.status, a.code()), (401, "token_invalid"));

        // Monitoring kept every verdict; blocking stops the terminal.
        let m = env.monitoring(&t.terminal_id).await;
        assert_eq!(m["counts"]["attestation_failed"], 4, "{m}");
        assert_eq!(m["counts"]["attestation_ok"], 1, "{m}");
        assert_eq!(m["counts"]["replay"], 1, "{m}");
        let b = env
            .admin(
                "POST",
                &format!("/v1/terminals/{}/block", t.terminal_id),
                json!({ "blocked": true, "reason": "test" }),
            )
            .await;
        assert_eq!(b.status, 200);
        let a = t
            .call(
                "POST",
                "/v1/authorizations",
                &purchase(&mut card, 7, 100, false),
            )
            .await
            .unwrap();
        assert_eq!((a.status, a.code()), (403, "terminal_blocked"));
        assert_eq!(env.monitoring(&t.terminal_id).await["blocked"], true);
        env.run.task.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fee_and_mcc_change_only_with_acknowledgement() {
    for db in databases() {
        let env = Env::start(&db).await;
        let (mid, mkey) = env.merchant(150).await;
        let t = env.terminal(&mid).await;
        let mut card = visa_card();
        let p = env
            .admin(
                "POST",
                &format!("/v1/merchants/{mid}/changes"),
                json!({ "fee_bps": 120, "mcc": "5812" }),
            )
            .await;
        assert_eq!(p.status, 200, "{:?}", p.body);
        let cid = p.body["change_id"].as_str().unwrap().to_string();
        // Not yet acknowledged: old terms apply.
        let a = t
            .call(
                "POST",
                "/v1/authorizations",
                &purchase(&mut card, 1, 10_000, false),
            )
            .await
            .unwrap();
        assert_eq!(a.body["approved"], true);
        // The operator cannot acknowledge on the merchant's behalf.
        let ack_path = format!("/v1/merchants/{mid}/changes/{cid}/acknowledge");
        let op = env.admin("POST", &ack_path, json!({})).await;
        assert_eq!((op.status, op.code()), (403, "merchant_key_required"));
        let ack = env.as_merchant(&mkey, "POST", &ack_path, json!({})).await;
        assert_eq!(ack.status, 200, "{:?}", ack.body);
        assert_eq!(ack.body["seq"], 2);
        let twice = env.as_merchant(&mkey, "POST", &ack_path, json!({})).await;
        assert_eq!((twice.status, twice.code()), (409, "change_not_pending"));
        // The old MCC is now a jump code; the new configuration is signed.
        let a = t
            .call(
                "POST",
                "/v1/authorizations",
                &purchase(&mut card, 2, 10_000, false),
            )
            .await
            .unwrap();
        assert_eq!(a.code(), "mcc_mismatch");
        let cfg = t
            .call("GET", "/v1/terminal/config", &json!({}))
            .await
            .unwrap();
        assert_eq!(cfg.body["config"]["mcc"], "5812", "{:?}", cfg.body);
        // What receipts print is re-signed with it.
        assert_eq!(cfg.body["config"]["fee_bps"], 120, "{:?}", cfg.body);
        assert_eq!(cfg.body["config"]["acquirer_name"], "SoftPOS Demo Acquirer");
        assert_eq!(
            cfg.body["config"]["settlement_account_masked"],
            "******************3000"
        );
        assert_eq!(cfg.body["config"]["settlement_delay_days"], 1);
        let mut req = purchase(&mut card, 3, 10_000, false);
        req["mcc"] = json!("5812");
        let a = t.call("POST", "/v1/authorizations", &req).await.unwrap();
        assert_eq!(a.body["approved"], true, "{:?}", a.body);
        // The answer carries the acquirer's own figures, as the statement
        // below computes them.
        assert_eq!(
            (
                a.body["fee_bps"].clone(),
                a.body["fee_minor"].clone(),
                a.body["net_minor"].clone()
            ),
            (json!(120), json!(120), json!(9_880))
        );
        assert_eq!(a.body["business_date"], today());
        let st = env
            .get(
                &mkey,
                &format!(
                    "/v1/merchants/{mid}/statement?from={}&to={}",
                    today(),
                    today()
                ),
            )
            .await;
        let lines = st.body["lines"].as_array().unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(
            (
                lines[0]["fee_bps"].clone(),
                lines[0]["fee_minor"].clone(),
                lines[0]["mcc"].clone(),
                lines[0]["history_seq"].clone()
            ),
            (json!(150), json!(150), json!("5411"), json!(1))
        );
        assert_eq!(
            (
                lines[1]["fee_bps"].clone(),
                lines[1]["fee_minor"].clone(),
                lines[1]["mcc"].clone(),
                lines[1]["history_seq"].clone()
            ),
            (json!(120), json!(120), json!("5812"), json!(2))
        );
        let h = &st.body["history"];
        assert_eq!(h["chain_valid"], true);
        assert_eq!(h["entries"][1]["prev_hash"], h["entries"][0]["hash"]);
        env.run.task.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_4xx_with_a_reason() {
    for db in databases() {
        let env = Env::start(&db).await;
        let raw = |path: &str, body: Vec<u8>, auth: bool| {
            let mut rb = env
                .http
                .post(format!("{}{path}", env.base))
                .body(body)
                .header("content-type", "application/json");
            if auth {
                rb = rb.bearer_auth(ADMIN);
            }
            async move {
                acquirer::sim::answer(rb.send().await.unwrap())
                    .await
                    .unwrap()
            }
        };
        let a = raw("/v1/merchants", b"{\"name\":".to_vec(), true).await;
        assert_eq!((a.status, a.code()), (400, "malformed_json"));
        let a = raw("/v1/merchants", br#"{"name":"x","mcc":5411,"settlement_account":"DE89370400440532013000","fee_bps":1,"currency":"EUR"}"#.to_vec(), true).await;
        assert_eq!((a.status, a.code()), (422, "invalid_field"));
        let a = raw("/v1/merchants", br#"{"name":"x","mcc":"5411","settlement_account":"DE89370400440532013000","fee_bps":-1,"currency":"EUR"}"#.to_vec(), true).await;
        assert_eq!((a.status, a.code()), (422, "invalid_field"));
        let a = raw("/v1/merchants", br#"{"name":"x","mcc":"54111","settlement_account":"DE89370400440532013000","fee_bps":1,"currency":"EUR"}"#.to_vec(), true).await;
        assert_eq!((a.status, a.code()), (422, "invalid_mcc"));
        let a = raw("/v1/merchants", br#"{"name":"x","mcc":"5411","settlement_account":"DE89370400440532013000","fee_bps":1,"currency":"EUR","extra":1}"#.to_vec(), true).await;
        assert_eq!((a.status, a.code()), (422, "invalid_field"));
        let a = raw(
            "/v1/merchants",
            vec![b'a'; acquirer::api::MAX_BODY + 1],
            true,
        )
        .await;
        assert_eq!((a.status, a.code()), (413, "body_too_large"));
        let a = raw("/v1/merchants", b"{}".to_vec(), false).await;
        assert_eq!((a.status, a.code()), (401, "admin_auth_required"));
        let a = raw(
            "/v1/enroll",
            br#"{"activation_code":"X","public_key":"04","key_kind":"software"}"#.to_vec(),
            false,
        )
        .await;
        assert_eq!((a.status, a.code()), (422, "invalid_public_key"));
        let a = raw("/v1/authorizations", b"{}".to_vec(), false).await;
        assert_eq!((a.status, a.code()), (401, "signature_required"));
        let a = env
            .get(
                ADMIN,
                "/v1/merchants/nope/statement?from=2026-01-01&to=2026-13-01",
            )
            .await;
        assert_eq!(a.status, 404);

        // Field 55 that is not hex, not TLV, or lacks tags.
        let (mid, _) = env.merchant(150).await;
        let t = env.terminal(&mid).await;
        for (icc, why) in [
            ("ZZ", "not hex"),
            ("9F", "truncated TLV"),
            ("9F0206000000001000", "no PAN"),
            ("5A", "truncated"),
        ] {
            let req = json!({ "tsc": 1, "mcc": "5411", "amount_minor": 1000, "currency": EUR, "icc_data": icc });
            let a = t.call("POST", "/v1/authorizations", &req).await.unwrap();
            assert_eq!(
                (a.status, a.code()),
                (422, "invalid_icc_data"),
                "{why}: {:?}",
                a.body
            );
        }
        let a = t
            .call("POST", "/v1/authorizations", &json!({ "tsc": "one" }))
            .await
            .unwrap();
        assert_eq!((a.status, a.code()), (422, "invalid_field"));
        let a = t
            .call("POST", "/v1/advices", &json!({ "advices": [] }))
            .await
            .unwrap();
        assert_eq!((a.status, a.code()), (422, "invalid_batch"));
        env.run.task.abort();
    }
}

/// `--demo` seeds the virtual cards' issuer keys from cardsim's profiles;
/// a card of each profile CVN then authorizes, and a card under a BIN the
/// demo does not know is declined.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_seeds_keys_the_virtual_cards_verify_under() {
    let profiles =
        std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../cardsim/profiles"));
    let found = acquirer::demo::ranges_from_profiles(profiles);
    if found.is_empty() {
        eprintln!("notice: no cardsim profiles with imk_ac; demo falls back to DEMO_RANGES");
    }
    let keys: Vec<(String, String)> = if found.is_empty() {
        acquirer::demo::DEMO_RANGES
            .iter()
            .map(|(p, _, k)| (p.to_string(), k.to_string()))
            .collect()
    } else {
        found
            .iter()
            .map(|(p, _, k, _)| (p.clone(), k.clone()))
            .collect()
    };
    for db in databases() {
        let env = Env::start(&db).await;
        let seeded = acquirer::demo::seed(&env.run.state, profiles)
            .await
            .unwrap();
        let mut t = {
            let (mut t, _) =
                SimTerminal::enroll(env.http.clone(), &env.base, &seeded.activation_code, BINARY)
                    .await
                    .unwrap();
            assert_eq!(t.attest().await.unwrap().status, 200);
            t
        };
        let mut tsc = 0;
        for (prefix, key) in &keys {
            let imk: [u8; 16] = hex::decode(key).unwrap().try_into().unwrap();
            for cvn in [
                Cvn::Visa10,
                Cvn::Visa18,
                Cvn::Mastercard16,
                Cvn::Mastercard17,
            ] {
                let serial =
                    u64::from_be_bytes(acquirer::util::random_bytes::<8>()) % 1_000_000_000;
                let mut card = SimCard::new(&luhn_pan(prefix, serial, 16), cvn, imk);
                tsc += 1;
                let a = t
                    .call(
                        "POST",
                        "/v1/authorizations",
                        &purchase(&mut card, tsc, 100, false),
                    )
                    .await
                    .unwrap();
                assert_eq!(a.body["approved"], true, "{prefix} {cvn:?}: {:?}", a.body);
            }
        }
        // A fresh number each run: runs share a PostgreSQL database, and the
        // same declined card again and again would (rightly) trip the risk rules.
        let serial = u64::from_be_bytes(acquirer::util::random_bytes::<8>()) % 1_000_000_000;
        let mut stranger = SimCard::new(&luhn_pan("3", serial, 16), Cvn::Visa18, IMK);
        let a = t
            .call(
                "POST",
                "/v1/authorizations",
                &purchase(&mut stranger, 999, 100, false),
            )
            .await
            .unwrap();
        assert_eq!(a.body["response_code"], "15", "{:?}", a.body);
        t.token = None;
        env.run.task.abort();
    }
}

/// Amount anomaly: judged against the merchant's latest 50 approvals only.
/// Five large early payments would lift an all-time average to 545, so the
/// probe of 1,001 is flagged only if the window of 50 (average 100) is
/// honoured; exactly ten times the average (1,000) is not flagged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amount_anomaly_uses_the_latest_fifty_approvals() {
    for db in databases() {
        let env = Env::start(&db).await;
        let (mid, _) = env.merchant(150).await;
        let t = env.terminal(&mid).await;
        let mut tsc = 0;
        for amount in [5_000u64; 5].into_iter().chain([100; 50]) {
            tsc += 1;
            let a = t
                .call(
                    "POST",
                    "/v1/authorizations",
                    &purchase(&mut visa_card(), tsc, amount, false),
                )
                .await
                .unwrap();
            assert_eq!(a.body["approved"], true, "tsc {tsc}: {:?}", a.body);
            assert_eq!(a.body["risk_score"], 0, "tsc {tsc}: {:?}", a.body);
        }
        let a = t
            .call(
                "POST",
                "/v1/authorizations",
                &purchase(&mut visa_card(), tsc + 1, 1_001, false),
            )
            .await
            .unwrap();
        assert_eq!(
            a.body["risk_rules"],
            json!(["amount_anomaly"]),
            "{:?}",
            a.body
        );
        assert_eq!(a.body["risk_score"], 50);
        let a = t
            .call(
                "POST",
                "/v1/authorizations",
                &purchase(&mut visa_card(), tsc + 2, 1_000, false),
            )
            .await
            .unwrap();
        assert_eq!(
            (a.body["approved"].clone(), a.body["risk_score"].clone()),
            (json!(true), json!(0)),
            "{:?}",
            a.body
        );
        env.run.task.abort();
    }
}

/// Card testing: a card that keeps failing its cryptogram is declined by
/// the risk rules, which name themselves; a fresh card at the same terminal
/// is not affected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn risk_rules_decline_card_testing_and_say_why() {
    for db in databases() {
        let env = Env::start(&db).await;
        let (mid, _) = env.merchant(150).await;
        let t = env.terminal(&mid).await;
        let mut card = visa_card();
        for tsc in 1..=5 {
            let mut req = purchase(&mut card, tsc, 100, false);
            if tsc <= 3 {
                // A wrong ARQC: what a card tester guessing data produces.
                let mut icc = hex::decode(req["icc_data"].as_str().unwrap()).unwrap();
                let pos = icc
                    .windows(3)
                    .position(|w| w == [0x9F, 0x26, 0x08])
                    .unwrap()
                    + 3;
                icc[pos] ^= 0xFF;
                req["icc_data"] = json!(hex::encode_upper(&icc));
            }
            let a = t.call("POST", "/v1/authorizations", &req).await.unwrap();
            assert_eq!(a.body["approved"], tsc > 3, "tsc {tsc}: {:?}", a.body);
        }
        let a = t
            .call(
                "POST",
                "/v1/authorizations",
                &purchase(&mut card, 6, 100, false),
            )
            .await
            .unwrap();
        assert_eq!(a.body["response_code"], "59", "{:?}", a.body);
        // 5 payments in 10 min (50), 3 declines (60), 2 approvals at this
        // terminal in 2 min (40).
        assert_eq!(a.body["risk_score"], 150);
        assert_eq!(
            a.body["risk_rules"],
            json!(["card_velocity", "card_testing", "split_payment"])
        );
        assert!(a.body["reason"]
            .as_str()
            .unwrap()
            .contains("3 declines on this card"));
        let mut fresh = visa_card();
        let a = t
            .call(
                "POST",
                "/v1/authorizations",
                &purchase(&mut fresh, 7, 100, false),
            )
            .await
            .unwrap();
        assert_eq!(
            (a.body["approved"].clone(), a.body["risk_score"].clone()),
            (json!(true), json!(0))
        );
        env.run.task.abort();
    }
}
