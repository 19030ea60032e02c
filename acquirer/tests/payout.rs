//! The settlement payout file (ISO 20022 pain.001.001.09) end to end over
//! HTTP, on SQLite and (with SOFTPOS_TEST_POSTGRES_URL) PostgreSQL.
//!
//! The PostgreSQL database is shared with the other tests and with earlier
//! runs, and a payout file covers every merchant settled for its date. So the
//! server here runs on a manual clock set to a random day of the 23rd
//! century, and the terminals sign with that time: the settlement dates are
//! this run's alone.
//!
//! With SOFTPOS_PAIN001_XSD set to the pain.001.001.09 schema and xmllint
//! installed, each file is also validated against the schema
//! (`scripts/pain001-xsd.sh` fetches it; `scripts/test.sh` does so).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use acquirer::sim::{Answer, SimTerminal};
use acquirer::util::{date_of_ms, format_day};
use acquirer::Clock;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use support::{purchase, visa_card, Server, ADMIN, BINARY, IMK};

const DAY_MS: i64 = 86_400_000;
const DEBTOR_IBAN: &str = "NL91ABNA0417164300";

struct World {
    srv: Server,
    clock: Arc<AtomicI64>,
}

impl World {
    async fn start(db: &str, payout: bool) -> World {
        // A random day in 2200-2299, at 10:00 UTC.
        let day =
            84_006 + i64::from(u16::from_be_bytes(acquirer::util::random_bytes::<2>())) % 36_000;
        let clock = Arc::new(AtomicI64::new(day * DAY_MS + 10 * 3_600_000));
        let mut cfg = support::config(db, ADMIN, BINARY);
        cfg.clock = Clock::Manual(clock.clone());
        if payout {
            cfg.policy.payout = Some(
                acquirer::payout::PayoutAccount::new(DEBTOR_IBAN, "SoftPOS Test Acquirer", None)
                    .unwrap(),
            );
        }
        let run = acquirer::spawn(&cfg).await.unwrap();
        let base = format!("http://{}", run.addr);
        let srv = Server {
            run,
            http: reqwest::Client::new(),
            base,
            db: db.into(),
        };
        let a = srv
            .admin("POST", "/v1/issuer/ranges", json!({ "pan_prefix": "4761", "cvn": "visa-18",
                "imk_ac": hex::encode(IMK), "default_balance_minor": 1_000_000, "velocity_limit": 0 }))
            .await;
        assert_eq!(a.status, 200, "{:?}", a.body);
        World { srv, clock }
    }

    fn now(&self) -> i64 {
        self.clock.load(Ordering::SeqCst)
    }

    fn advance(&self, ms: i64) {
        self.clock.fetch_add(ms, Ordering::SeqCst);
    }

    fn today(&self) -> String {
        date_of_ms(self.now())
    }

    async fn merchant(&self, name: &str, account: &str) -> String {
        let a = self
            .srv
            .admin(
                "POST",
                "/v1/merchants",
                json!({ "name": name, "mcc": "5411",
                "settlement_account": account, "fee_bps": 100, "currency": "EUR" }),
            )
            .await;
        assert_eq!(a.status, 200, "{:?}", a.body);
        a.body["merchant_id"].as_str().unwrap().to_string()
    }

    /// Enrolled, and attested at the manual clock's time.
    async fn terminal(&self, mid: &str) -> SimTerminal {
        let c = self
            .srv
            .admin(
                "POST",
                &format!("/v1/merchants/{mid}/activation-codes"),
                json!({}),
            )
            .await;
        assert_eq!(c.status, 200, "{:?}", c.body);
        let (mut t, _) = SimTerminal::enroll(
            self.srv.http.clone(),
            &self.srv.base,
            c.body["code"].as_str().unwrap(),
            BINARY,
        )
        .await
        .unwrap();
        self.attest(&mut t).await;
        t
    }

    async fn attest(&self, t: &mut SimTerminal) {
        let ts = u64::try_from(self.now()).unwrap();
        let p = t
            .prepare_raw("POST", "/v1/attest/challenge", b"{}".to_vec(), false, ts)
            .unwrap();
        let a = t.send(&p).await.unwrap();
        assert_eq!(a.status, 200, "{:?}", a.body);
        let challenge: attestation::Challenge = serde_json::from_value(a.body).unwrap();
        let se = t.evidence(&challenge, ts).unwrap();
        let p = t
            .prepare_raw(
                "POST",
                "/v1/attest",
                serde_json::to_vec(&se).unwrap(),
                false,
                ts,
            )
            .unwrap();
        let a = t.send(&p).await.unwrap();
        assert_eq!(a.status, 200, "{:?}", a.body);
        t.token = Some(a.body["token"].as_str().unwrap().to_string());
    }

    async fn call(&self, t: &SimTerminal, path: &str, body: &Value) -> Answer {
        let ts = u64::try_from(self.now()).unwrap();
        let p = t
            .prepare_raw("POST", path, serde_json::to_vec(body).unwrap(), true, ts)
            .unwrap();
        t.send(&p).await.unwrap()
    }

    /// An approved purchase; its payment ID.
    async fn pay(&self, t: &SimTerminal, tsc: u32, amount: u64) -> String {
        let mut card = visa_card();
        let a = self
            .call(
                t,
                "/v1/authorizations",
                &purchase(&mut card, tsc, amount, false),
            )
            .await;
        assert_eq!(a.status, 200, "{:?}", a.body);
        assert_eq!(a.body["approved"], true, "{:?}", a.body);
        a.body["payment_id"].as_str().unwrap().to_string()
    }

    /// Today's batch of the merchant: (settlement ID, net, settlement date).
    async fn settle(&self, mid: &str) -> (String, i64, String) {
        let s = self
            .srv
            .admin(
                "POST",
                &format!("/v1/merchants/{mid}/settlements"),
                json!({ "business_date": self.today() }),
            )
            .await;
        assert_eq!(s.status, 200, "{:?}", s.body);
        (
            s.body["settlement_id"].as_str().unwrap().to_string(),
            s.body["net_minor"].as_i64().unwrap(),
            s.body["settlement_date"].as_str().unwrap().to_string(),
        )
    }

    /// The raw answer to `GET path` with `auth` as bearer token (or none).
    async fn get_raw(&self, auth: Option<&str>, path: &str) -> (u16, Option<String>, Vec<u8>) {
        let mut rb = self.srv.http.get(format!("{}{path}", self.srv.base));
        if let Some(a) = auth {
            rb = rb.bearer_auth(a);
        }
        let r = rb.send().await.unwrap();
        let status = r.status().as_u16();
        let ct = r
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string());
        (status, ct, r.bytes().await.unwrap().to_vec())
    }
}

/// Euros from cents, written independently of the code under test.
fn eur(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

struct Transfer {
    end_to_end: String,
    amount: String,
    ccy: String,
    name: String,
    iban: String,
    remittance: String,
}

struct File {
    msg_id: String,
    created: String,
    nb_of_txs: String,
    ctrl_sum: String,
    pmt_infs: usize,
    debtor_iban: String,
    execution_date: String,
    transfers: Vec<Transfer>,
}

fn parse(xml: &str) -> File {
    let doc = roxmltree::Document::parse(xml).unwrap();
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "Document");
    assert_eq!(
        root.tag_name().namespace(),
        Some("urn:iso:std:iso:20022:tech:xsd:pain.001.001.09")
    );
    let child = |n: roxmltree::Node<'_, '_>, path: &[&str]| -> String {
        let mut n = n;
        for p in path {
            n = n
                .children()
                .find(|c| c.has_tag_name(*p))
                .unwrap_or_else(|| panic!("no {p} in {:?}", n.tag_name()));
        }
        n.text().unwrap_or("").to_string()
    };
    let init = root.first_element_child().unwrap();
    let hdr = init.children().find(|c| c.has_tag_name("GrpHdr")).unwrap();
    let pmts: Vec<_> = init
        .children()
        .filter(|c| c.has_tag_name("PmtInf"))
        .collect();
    let transfers = pmts
        .iter()
        .flat_map(|p| p.children().filter(|c| c.has_tag_name("CdtTrfTxInf")))
        .map(|t| {
            let amt = t
                .descendants()
                .find(|d| d.has_tag_name("InstdAmt"))
                .unwrap();
            Transfer {
                end_to_end: child(t, &["PmtId", "EndToEndId"]),
                amount: amt.text().unwrap().to_string(),
                ccy: amt.attribute("Ccy").unwrap().to_string(),
                name: child(t, &["Cdtr", "Nm"]),
                iban: child(t, &["CdtrAcct", "Id", "IBAN"]),
                remittance: child(t, &["RmtInf", "Ustrd"]),
            }
        })
        .collect();
    File {
        msg_id: child(hdr, &["MsgId"]),
        created: child(hdr, &["CreDtTm"]),
        nb_of_txs: child(hdr, &["NbOfTxs"]),
        ctrl_sum: child(hdr, &["CtrlSum"]),
        pmt_infs: pmts.len(),
        debtor_iban: child(pmts[0], &["DbtrAcct", "Id", "IBAN"]),
        execution_date: child(pmts[0], &["ReqdExctnDt", "Dt"]),
        transfers,
    }
}

/// Validates against the schema when SOFTPOS_PAIN001_XSD names it (and
/// xmllint is installed); says so when it does not.
fn validate_schema(xml: &[u8]) {
    let Ok(xsd) = std::env::var("SOFTPOS_PAIN001_XSD") else {
        eprintln!("notice: SOFTPOS_PAIN001_XSD not set; payout file not validated against the XSD");
        return;
    };
    let file = std::env::temp_dir().join(format!(
        "payout-{}.xml",
        hex::encode(acquirer::util::random_bytes::<8>())
    ));
    std::fs::write(&file, xml).unwrap();
    let out = std::process::Command::new("xmllint")
        .args(["--noout", "--schema", &xsd])
        .arg(&file)
        .output()
        .expect("xmllint (libxml2-utils) is needed with SOFTPOS_PAIN001_XSD");
    let _ = std::fs::remove_file(&file);
    assert!(
        out.status.success(),
        "schema validation failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payout_file_pays_each_merchant_to_its_own_account() {
    for db in support::databases("acquirer-payout") {
        let w = World::start(&db, true).await;

        // Two merchants to pay, with names that need escaping; one whose
        // refunds exceed its purchases less fees.
        let name_a = r#"Fish & Chips <"Joe's">"#;
        let name_b = "Bäckerei Zum Korn";
        let iban_a = "DE89370400440532013000";
        let iban_b = "GB82WEST12345698765432";
        let a = w.merchant(name_a, iban_a).await;
        let b = w.merchant(name_b, iban_b).await;
        let c = w
            .merchant("Refund Corner", "FR1420041010050500013M02606")
            .await;
        let (ta, tb, tc) = (
            w.terminal(&a).await,
            w.terminal(&b).await,
            w.terminal(&c).await,
        );
        w.pay(&ta, 1, 1_234).await;
        w.pay(&ta, 2, 2_500).await;
        w.pay(&tb, 1, 99_999).await;
        let paid = w.pay(&tc, 1, 5_000).await;
        let rf = w
            .call(
                &tc,
                "/v1/refunds",
                &json!({ "tsc": 2, "original_payment_id": paid, "amount_minor": 5_000 }),
            )
            .await;
        assert_eq!(rf.body["status"], "approved", "{:?}", rf.body);

        let (sa, net_a, date) = w.settle(&a).await;
        let (sb, net_b, date_b) = w.settle(&b).await;
        let (sc, net_c, _) = w.settle(&c).await;
        assert_eq!(date, date_b);
        // 1% fees: 12.34 -> 12, 25.00 -> 25; 999.99 -> 1000.
        assert_eq!((net_a, net_b), (3_734 - 37, 99_999 - 1_000));
        assert!(net_c < 0, "the refund outweighs the purchase less its fee");
        let path = format!("/v1/payouts/{date}");

        // Operator only.
        let (status, _, _) = w.get_raw(None, &path).await;
        assert_eq!(status, 401, "{db}");
        let (status, _, _) = w.get_raw(Some("not-the-operator"), &path).await;
        assert_eq!(status, 401);
        let (status, _, _) = w.get_raw(None, &format!("{path}/summary")).await;
        assert_eq!(status, 401);

        let (status, ct, bytes) = w.get_raw(Some(ADMIN), &path).await;
        let xml = String::from_utf8(bytes.clone()).unwrap();
        assert_eq!(status, 200, "{db}: {xml}");
        assert_eq!(ct.as_deref(), Some("application/xml"));
        validate_schema(&bytes);
        let f = parse(&xml);
        assert_eq!(f.nb_of_txs, "2", "only positive nets are paid");
        assert_eq!(f.ctrl_sum, eur(net_a + net_b));
        assert_eq!(f.pmt_infs, 1, "one currency");
        assert_eq!(f.debtor_iban, DEBTOR_IBAN);
        assert_eq!(f.execution_date, date);
        assert!(
            f.msg_id
                .starts_with(&format!("SOFTPOS-{}-", date.replace('-', ""))),
            "{}",
            f.msg_id
        );
        let by_id = |sid: &str| f.transfers.iter().find(|t| t.end_to_end == sid).unwrap();
        for (sid, mid, net, name, iban) in [
            (&sa, &a, net_a, name_a, iban_a),
            (&sb, &b, net_b, name_b, iban_b),
        ] {
            let t = by_id(sid);
            assert_eq!(t.amount, eur(net));
            assert_eq!(t.ccy, "EUR");
            assert_eq!(t.name, name, "escaped in the file, the same text read back");
            assert_eq!(t.iban, iban, "the merchant's own account");
            assert_eq!(
                t.remittance,
                format!(
                    "SoftPOS settlement {} {mid}",
                    format_day(acquirer::util::parse_day(&date).unwrap() - 1)
                )
            );
        }
        assert!(f.transfers.iter().all(|t| t.end_to_end != sc));
        assert!(xml.contains("Fish &amp; Chips &lt;&quot;Joe&apos;s&quot;&gt;"));

        // The same file byte for byte, later too: its creation time is the
        // one recorded when it was first produced.
        w.advance(7 * 60_000);
        let (_, _, again) = w.get_raw(Some(ADMIN), &path).await;
        assert_eq!(again, bytes, "{db}: fetching twice must give the same file");

        let s = w.srv.get(ADMIN, &format!("{path}/summary")).await;
        assert_eq!(s.status, 200, "{:?}", s.body);
        assert_eq!(s.body["file_ready"], true);
        assert_eq!(s.body["msg_id"], f.msg_id.as_str());
        assert_eq!(s.body["paid"].as_array().unwrap().len(), 2);
        assert_eq!(s.body["totals"][0]["amount"], eur(net_a + net_b).as_str());
        let unpaid = s.body["unpaid"].as_array().unwrap();
        assert_eq!(unpaid.len(), 1, "{:?}", s.body);
        assert_eq!(unpaid[0]["settlement_id"], sc.as_str());
        assert_eq!(unpaid[0]["reason"], "net_not_positive");
        assert_eq!(unpaid[0]["net_minor"], net_c);
        assert_eq!(s.body["files"].as_array().unwrap().len(), 1);
        assert_eq!(s.body["files"][0]["msg_id"], f.msg_id.as_str());
        // In file order (by merchant ID, which is random here).
        let in_file: Vec<&str> = f.transfers.iter().map(|t| t.end_to_end.as_str()).collect();
        assert_eq!(s.body["files"][0]["settlement_ids"], json!(in_file));
        let mut ids = in_file.clone();
        ids.sort_unstable();
        let mut expected = [sa.as_str(), sb.as_str()];
        expected.sort_unstable();
        assert_eq!(ids, expected);
        assert!(
            !s.body.to_string().contains(iban_a),
            "the summary masks the accounts"
        );

        // One more settlement for the date: another file, another MsgId,
        // and both files recorded.
        let e = w.merchant("Late Shop", "BE68539007547034").await;
        let te = w.terminal(&e).await;
        w.pay(&te, 1, 700).await;
        let (se, net_e, _) = w.settle(&e).await;
        let (status, _, bytes2) = w.get_raw(Some(ADMIN), &path).await;
        assert_eq!(status, 200);
        let f2 = parse(std::str::from_utf8(&bytes2).unwrap());
        assert_ne!(f2.msg_id, f.msg_id);
        assert_ne!(f2.created, f.created);
        assert_eq!(f2.nb_of_txs, "3");
        assert_eq!(f2.ctrl_sum, eur(net_a + net_b + net_e));
        assert!(f2.transfers.iter().any(|t| t.end_to_end == se));
        let s = w.srv.get(ADMIN, &format!("{path}/summary")).await;
        assert_eq!(s.body["files"].as_array().unwrap().len(), 2, "{:?}", s.body);
        // The merchant's statement names the files that paid its batch: both,
        // as both list it (only one of them may go to the bank).
        let day1 = w.today();
        let st = w
            .srv
            .get(
                ADMIN,
                &format!("/v1/merchants/{a}/statement?from={day1}&to={day1}"),
            )
            .await;
        assert_eq!(st.status, 200, "{:?}", st.body);
        assert_eq!(
            st.body["payout_files"],
            json!([
                { "msg_id": f.msg_id, "settlement_date": date, "created_ms": st.body["payout_files"][0]["created_ms"], "settlement_ids": [sa] },
                { "msg_id": f2.msg_id, "settlement_date": date, "created_ms": st.body["payout_files"][1]["created_ms"], "settlement_ids": [sa] },
            ]),
            "{db}"
        );

        // Next day: a merchant whose IBAN has a typo (onboarding takes any
        // 8-64 letters and digits) stops the file, and is named.
        w.advance(DAY_MS);
        let typo = "DE89370400440532013001";
        let d = w.merchant("Typo Ltd", typo).await;
        let td = w.terminal(&d).await;
        // A's token is a day old: attest again.
        let mut ta = ta;
        w.attest(&mut ta).await;
        w.pay(&ta, 3, 1_000).await;
        w.pay(&td, 1, 1_000).await;
        let (_, _, date2) = w.settle(&a).await;
        let (sd, _, _) = w.settle(&d).await;
        let blocked = w.srv.get(ADMIN, &format!("/v1/payouts/{date2}")).await;
        assert_eq!(
            (blocked.status, blocked.code()),
            (422, "payout_blocked"),
            "{:?}",
            blocked.body
        );
        let msg = blocked.body["message"].as_str().unwrap();
        assert!(msg.contains(&d) && msg.contains(&sd), "{msg}");
        assert!(!msg.contains(typo), "accounts are masked: {msg}");
        let s = w
            .srv
            .get(ADMIN, &format!("/v1/payouts/{date2}/summary"))
            .await;
        assert_eq!(s.body["file_ready"], false);
        assert_eq!(s.body["blocked"][0]["merchant_id"], d.as_str());
        assert_eq!(s.body["blocked"][0]["reason"], "invalid_iban");
        // An account that is no IBAN at all is refused the same way.
        let n = w.merchant("No Iban Ltd", "ACCT12345678").await;
        let tn = w.terminal(&n).await;
        w.pay(&tn, 1, 1_000).await;
        w.settle(&n).await;
        let s = w
            .srv
            .get(ADMIN, &format!("/v1/payouts/{date2}/summary"))
            .await;
        assert_eq!(
            s.body["blocked"].as_array().unwrap().len(),
            2,
            "{:?}",
            s.body
        );
        assert_eq!(s.body["files"], json!([]), "nothing was produced");

        // A date with nothing to pay, and a malformed one.
        let empty = w
            .srv
            .get(
                ADMIN,
                &format!(
                    "/v1/payouts/{}",
                    format_day(acquirer::util::parse_day(&date).unwrap() + 400)
                ),
            )
            .await;
        assert_eq!((empty.status, empty.code()), (404, "no_payouts"));
        let bad = w.srv.get(ADMIN, "/v1/payouts/2026-02-30").await;
        assert_eq!((bad.status, bad.code()), (422, "invalid_date"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_payout_account_the_file_is_refused_with_how_to_configure_it() {
    let w = World::start(&support::sqlite_url("acquirer-payout-unconfigured"), false).await;
    let a = w.srv.get(ADMIN, "/v1/payouts/2026-11-24").await;
    assert_eq!((a.status, a.code()), (409, "payout_account_not_configured"));
    assert!(a.body["message"]
        .as_str()
        .unwrap()
        .contains("--payout-account"));
    let s = w.srv.get(ADMIN, "/v1/payouts/2026-11-24/summary").await;
    assert_eq!(s.status, 200);
    assert_eq!(s.body["file_ready"], false);
    assert!(s.body["problem"]
        .as_str()
        .unwrap()
        .contains("--payout-account"));
}
