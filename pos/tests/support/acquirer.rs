//! A real acquirer (SQLite file, seeded as `--demo` seeds it: the demo
//! merchant and the virtual cards' issuer keys) on loopback, in-process,
//! with a terminal directory beside it, for the tests and benchmarks that
//! need one. Each test file uses part of it.

#![allow(dead_code)]

use pos::pay::open_terminal;
use pos::queue::Queue;
use pos::sync::Client;
use serde_json::Value;
use std::path::{Path, PathBuf};

pub const ADMIN: &str = "test-admin-token";
/// The binary hash in-process terminals attest with (not the softpos
/// executable's: tests that run it allow [`sha256_file`] of it instead).
pub const BINARY: &str = "5b5f0c1bd6f5cbf9e42f3a29f6f0bbf1c1b3d7a0a6b9e0e5c7d2f4a1b3c5d7e9";

pub fn random_name() -> String {
    hex::encode(acquirer::util::random_bytes::<8>())
}

pub struct LocalAcquirer {
    pub rt: tokio::runtime::Runtime,
    pub run: Option<acquirer::Running>,
    pub base: String,
    db: PathBuf,
    /// A terminal's data directory, not created here; removed on drop.
    pub dir: PathBuf,
    pub merchant_id: String,
    pub merchant_key: String,
    pub code: String,
}

impl Drop for LocalAcquirer {
    fn drop(&mut self) {
        if let Some(run) = self.run.take() {
            run.task.abort();
        }
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.db.display()));
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl LocalAcquirer {
    /// An acquirer whose attestation policy allows `binary_sha256`.
    pub fn start(binary_sha256: &str) -> LocalAcquirer {
        LocalAcquirer::start_with(binary_sha256, |_| {})
    }

    /// [`LocalAcquirer::start`] with the configuration adjusted first.
    pub fn start_with(
        binary_sha256: &str,
        adjust: impl FnOnce(&mut acquirer::Config),
    ) -> LocalAcquirer {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let db = std::env::temp_dir().join(format!("pos-acquirer-{}.db", random_name()));
        let mut config = acquirer::Config {
            database: format!("sqlite:{}", db.display()),
            listen: "127.0.0.1:0".parse().unwrap(),
            admin_token: ADMIN.into(),
            policy: acquirer::Policy::default(),
            attestation: acquirer::default_attestation_policy(vec![binary_sha256.into()]),
            clock: acquirer::Clock::System,
        };
        adjust(&mut config);
        let run = rt.block_on(acquirer::spawn(&config)).unwrap();
        let profiles = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../cardsim/profiles"));
        let seeded = rt
            .block_on(acquirer::demo::seed(&run.state, profiles))
            .unwrap();
        LocalAcquirer {
            base: format!("http://{}", run.addr),
            rt,
            run: Some(run),
            db,
            dir: std::env::temp_dir().join(format!("pos-terminal-{}", random_name())),
            merchant_id: seeded.merchant_id,
            merchant_key: seeded.merchant_key,
            code: seeded.activation_code,
        }
    }

    /// Where the acquirer listens (to put a proxy in front of it).
    pub fn addr(&self) -> std::net::SocketAddr {
        self.run.as_ref().unwrap().addr
    }

    /// The terminal in [`LocalAcquirer::dir`], enrolled with the demo
    /// activation code on first use, attesting as [`BINARY`].
    pub fn terminal(&self) -> (Client, Queue) {
        open_terminal(&self.dir, &self.base, Some(&self.code), BINARY).unwrap()
    }

    /// A POST with `token` as the bearer; the JSON answer, error or not.
    pub fn post_as(&self, token: &str, path: &str, body: &Value) -> Value {
        match ureq::post(&format!("{}{path}", self.base))
            .set("authorization", &format!("Bearer {token}"))
            .send_json(body)
        {
            Ok(r) => r.into_json().unwrap(),
            Err(ureq::Error::Status(_, r)) => r.into_json().unwrap(),
            Err(e) => panic!("{path}: {e}"),
        }
    }

    /// An administrator's POST, which must succeed: a refused one would
    /// leave the test's set-up silently undone.
    pub fn admin(&self, path: &str, body: &Value) -> Value {
        ureq::post(&format!("{}{path}", self.base))
            .set("authorization", &format!("Bearer {ADMIN}"))
            .send_json(body)
            .unwrap()
            .into_json()
            .unwrap()
    }

    /// The merchant's statement for one business date, as the merchant
    /// reads it.
    pub fn statement(&self, day: &str) -> Value {
        ureq::get(&format!(
            "{}/v1/merchants/{}/statement?from={day}&to={day}",
            self.base, self.merchant_id
        ))
        .set("authorization", &format!("Bearer {}", self.merchant_key))
        .call()
        .unwrap()
        .into_json()
        .unwrap()
    }

    /// Today's statement lines of one terminal, as the acquirer holds them.
    pub fn stored(&self, terminal_id: &str) -> Vec<Value> {
        let today = acquirer::util::date_of_ms(acquirer::Clock::System.now_ms());
        let v: Value = ureq::get(&format!(
            "{}/v1/merchants/{}/statement?from={today}&to={today}",
            self.base, self.merchant_id
        ))
        .set("authorization", &format!("Bearer {ADMIN}"))
        .call()
        .unwrap()
        .into_json()
        .unwrap();
        v["lines"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["terminal_id"] == terminal_id)
            .cloned()
            .collect()
    }

    /// Runs the built `softpos pay` for `amount_minor` euro cents on
    /// `reader`, enrolling [`LocalAcquirer::dir`] with the activation code.
    pub fn softpos_pay(&self, reader: &str, amount_minor: u64) -> std::process::Output {
        std::process::Command::new(env!("CARGO_BIN_EXE_softpos"))
            .args(["pay", "--reader", reader, "--currency", "EUR"])
            .args(["--amount", &amount_minor.to_string()])
            .args(["--acquirer", &self.base, "--activation-code", &self.code])
            .arg("--data-dir")
            .arg(&self.dir)
            .output()
            .unwrap()
    }
}

/// A base URL where nothing listens.
pub fn nowhere() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    format!("http://{addr}")
}

/// A tap of a virtual card for `amount` euro cents.
pub fn tap(card: &str, amount: u64) -> kernel::Outcome {
    pos::tap::tap(
        &pos::tap::TapRequest {
            card: card.into(),
            amount,
            currency: "EUR".into(),
            keep_test_pan: false,
        },
        &pos::clock::Now::system(),
    )
    .unwrap()
    .outcome
}

pub fn now() -> u64 {
    pos::sync::now_ms()
}

/// SHA-256 (hex) of a file: what a binary's attestation reports.
pub fn sha256_file(path: &str) -> String {
    let bytes = std::fs::read(path).unwrap();
    hex::encode(ring::digest::digest(&ring::digest::SHA256, &bytes))
}

/// The terminal ID in `softpos pay`'s text output.
pub fn terminal_id_in(out: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix("Terminal     "))
        .unwrap()
        .trim()
        .to_string()
}

/// The acquirer's monitoring events of one terminal (`kind` of each).
pub fn monitoring_kinds(acq: &LocalAcquirer, terminal_id: &str) -> Vec<String> {
    let v: Value = ureq::get(&format!(
        "{}/v1/terminals/{terminal_id}/monitoring",
        acq.base
    ))
    .set("authorization", &format!("Bearer {ADMIN}"))
    .call()
    .unwrap()
    .into_json()
    .unwrap();
    v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect()
}

/// Reads one HTTP/1.1 message (headers and a Content-Length body).
fn read_http(s: &mut std::net::TcpStream) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte).ok()? == 0 {
            return None;
        }
        buf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buf).to_ascii_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).ok()?;
    buf.extend_from_slice(&body);
    Some(buf)
}

/// A network that delivers authorizations to the acquirer but loses its
/// answers, and loses every other request outright.
pub fn lossy_proxy(upstream: std::net::SocketAddr) -> String {
    use std::io::Write;
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut c) = conn else { continue };
            std::thread::spawn(move || {
                // One request per connection; then the client's connection
                // is dropped without a word.
                if let Some(req) = read_http(&mut c) {
                    if req.starts_with(b"POST /v1/authorizations ") {
                        let mut up = std::net::TcpStream::connect(upstream).unwrap();
                        up.write_all(&req).unwrap();
                        let _answer = read_http(&mut up);
                    }
                }
            });
        }
    });
    format!("http://{addr}")
}
