//! A real acquirer (SQLite file, demo merchant, virtual cards' issuer keys)
//! on loopback, in-process, for tests and benchmarks that need one.

#![allow(dead_code)]

use serde_json::Value;
use std::path::{Path, PathBuf};

pub const ADMIN: &str = "test-admin-token";

pub fn random_name() -> String {
    hex::encode(acquirer::util::random_bytes::<8>())
}

pub struct LocalAcquirer {
    pub rt: tokio::runtime::Runtime,
    run: Option<acquirer::Running>,
    pub base: String,
    db: PathBuf,
    pub merchant_id: String,
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
            merchant_id: seeded.merchant_id,
            code: seeded.activation_code,
        }
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
