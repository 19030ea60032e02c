//! Set-up shared by the acquirer's integration tests (`mod support;`):
//! the databases each scenario runs on, the server on port 0, the operator's
//! requests and an enrolled, attested terminal. Test keys only.

// Each test file is its own crate and uses only part of this module.
#![allow(dead_code)]

use acquirer::sim::{luhn_pan, send_json, Answer, SimCard, SimTerminal};
use acquirer::{default_attestation_policy, Clock, Config, Policy, Running};
use cryptogram::Cvn;
use serde_json::{json, Value};

pub const ADMIN: &str = "test-admin-token";
pub const BINARY: &str = "5b5f0c1bd6f5cbf9e42f3a29f6f0bbf1c1b3d7a0a6b9e0e5c7d2f4a1b3c5d7e9";
pub const IMK: [u8; 16] = [
    0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF, 0xFE, 0xDC, 0xBA, 0x98, 0x76, 0x54, 0x32, 0x10,
];
pub const EUR: u16 = 978;

/// A fresh SQLite database in the temp directory, named after the test file.
pub fn sqlite_url(tag: &str) -> String {
    let file = std::env::temp_dir().join(format!(
        "{tag}-{}.db",
        hex::encode(acquirer::util::random_bytes::<8>())
    ));
    format!("sqlite:{}", file.display())
}

/// SQLite always, and PostgreSQL when SOFTPOS_TEST_POSTGRES_URL is set.
pub fn databases(tag: &str) -> Vec<String> {
    let mut v = vec![sqlite_url(tag)];
    match std::env::var("SOFTPOS_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => v.push(url),
        _ => eprintln!("notice: SOFTPOS_TEST_POSTGRES_URL not set; PostgreSQL run skipped (scripts/postgres.sh starts one)"),
    }
    v
}

pub fn config(db: &str, admin: &str, binary: &str) -> Config {
    Config {
        database: db.to_string(),
        listen: "127.0.0.1:0".parse().unwrap(),
        admin_token: admin.into(),
        policy: Policy::default(),
        attestation: default_attestation_policy(vec![binary.into()]),
        clock: Clock::System,
    }
}

/// The server on port 0, a client and its base URL; the caller stops it.
pub async fn spawn(db: &str, admin: &str, binary: &str) -> (Running, reqwest::Client, String) {
    let run = acquirer::spawn(&config(db, admin, binary)).await.unwrap();
    let base = format!("http://{}", run.addr);
    (run, reqwest::Client::new(), base)
}

/// A random 6-digit BIN under 4: the PostgreSQL test database is shared with
/// other tests and earlier runs, so each run needs ranges of its own.
pub fn prefix() -> String {
    format!(
        "4{:05}",
        u32::from_be_bytes(acquirer::util::random_bytes::<4>()) % 100_000
    )
}

pub async fn send_as(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    method: &str,
    path: &str,
    body: &Value,
) -> Answer {
    let auth = format!("Bearer {key}");
    send_json(
        http,
        method,
        &format!("{base}{path}"),
        body,
        &[("authorization", &auth)],
    )
    .await
    .unwrap()
}

/// A merchant (MCC 5411, fee 1 %, EUR) created by the operator; its ID.
pub async fn merchant(http: &reqwest::Client, base: &str, admin: &str, name: &str) -> String {
    let body = json!({ "name": name, "mcc": "5411",
        "settlement_account": "DE89370400440532013000", "fee_bps": 100, "currency": "EUR" });
    let m = send_as(http, base, admin, "POST", "/v1/merchants", &body).await;
    assert_eq!(m.status, 200, "{:?}", m.body);
    m.body["merchant_id"].as_str().unwrap().to_string()
}

/// An activation code from the operator, enrolled and attested.
pub async fn terminal(
    http: &reqwest::Client,
    base: &str,
    admin: &str,
    binary: &str,
    merchant_id: &str,
) -> SimTerminal {
    let path = format!("/v1/merchants/{merchant_id}/activation-codes");
    let c = send_as(http, base, admin, "POST", &path, &json!({})).await;
    assert_eq!(c.status, 200, "{:?}", c.body);
    let code = c.body["code"].as_str().unwrap();
    let (mut t, _) = SimTerminal::enroll(http.clone(), base, code, binary)
        .await
        .unwrap();
    let a = t.attest().await.unwrap();
    assert_eq!(a.status, 200, "{:?}", a.body);
    t
}

// Test cards live under 47619 so that no demo BIN (476173) with its own key
// captures them when tests share a PostgreSQL database.
pub fn visa_card() -> SimCard {
    let serial = u64::from_be_bytes(acquirer::util::random_bytes::<8>()) % 100_000_000_000;
    SimCard::new(&luhn_pan("47619", serial, 16), Cvn::Visa18, IMK)
}

pub fn purchase(card: &mut SimCard, tsc: u32, amount: u64, offline: bool) -> Value {
    let un = acquirer::util::random_bytes::<4>();
    json!({ "tsc": tsc, "mcc": "5411", "amount_minor": amount, "currency": EUR,
        "icc_data": card.icc_data(amount, EUR, un, offline).unwrap() })
}

pub fn today() -> String {
    acquirer::util::date_of_ms(Clock::System.now_ms())
}

/// The server on port 0 with `ADMIN` and `BINARY`; stopped, and its SQLite
/// files removed, when dropped.
pub struct Server {
    pub run: Running,
    pub http: reqwest::Client,
    pub base: String,
    pub db: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.run.task.abort();
        if let Some(path) = self.db.strip_prefix("sqlite:") {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{path}{suffix}"));
            }
        }
    }
}

impl Server {
    pub async fn spawn(db: &str) -> Server {
        let (run, http, base) = spawn(db, ADMIN, BINARY).await;
        Server {
            run,
            http,
            base,
            db: db.into(),
        }
    }

    pub async fn admin(&self, method: &str, path: &str, body: Value) -> Answer {
        send_as(&self.http, &self.base, ADMIN, method, path, &body).await
    }

    pub async fn as_merchant(&self, key: &str, method: &str, path: &str, body: Value) -> Answer {
        send_as(&self.http, &self.base, key, method, path, &body).await
    }

    pub async fn get(&self, key: &str, path: &str) -> Answer {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        acquirer::sim::answer(r).await.unwrap()
    }

    /// An enrolled and attested terminal.
    pub async fn terminal(&self, merchant_id: &str) -> SimTerminal {
        terminal(&self.http, &self.base, ADMIN, BINARY, merchant_id).await
    }
}
