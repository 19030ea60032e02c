//! Smoke run of the load generator (`loadgen`), the tool behind the figures
//! in docs/benchmarks.md: a few hundred authorizations from a few terminals
//! against a real server on loopback, closed loop and then open loop with a
//! warm-up and the per-second timeline, on SQLite and PostgreSQL. Every
//! authorization must be approved and the figures printed; the measuring
//! runs are acquirer/bench/run.sh.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::Command;

const ADMIN: &str = "loadgen-smoke-admin";
/// The binary hash loadgen's terminals report (its LOADGEN_BINARY).
const LOADGEN_BINARY: &str = "10ad6e0000000000000000000000000000000000000000000000000000000000";

fn loadgen(base: &str, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(["--url", base, "--admin-token", ADMIN])
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("loadgen runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "loadgen {args:?} failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The summary line's approvals, failures and p99.
fn summary(out: &str) -> (u64, u64, f64) {
    let line = out
        .lines()
        .find(|l| l.contains(" authorizations ("))
        .unwrap_or_else(|| panic!("no summary line in {out}"));
    let number_after = |key: &str| -> String {
        let rest = &line[line.find(key).unwrap_or_else(|| panic!("{key} in {line}")) + key.len()..];
        rest.trim_start()
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect()
    };
    let count = |key: &str| -> u64 {
        number_after(key)
            .parse()
            .unwrap_or_else(|e| panic!("{key}: {e} in {line}"))
    };
    let p99: f64 = number_after("p99")
        .parse()
        .unwrap_or_else(|e| panic!("p99: {e} in {line}"));
    (count("("), count("approved,"), p99)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loadgen_drives_closed_and_open_loop_runs_to_approval() {
    for db in support::databases("acquirer-loadgen") {
        let mut config = support::config(&db, ADMIN, LOADGEN_BINARY);
        // loadgen's simulated terminals say they run on an emulator, as
        // they do; `serve --allow-emulator` is how the benches start it.
        config.attestation.allow_emulator = true;
        let run = acquirer::spawn(&config).await.unwrap();
        let base = format!("http://{}", run.addr);
        // Cards of their own: the PostgreSQL test database is shared with
        // earlier runs, and a card paying again soon trips the risk rules.
        // (Serials have 11 digits after the 4999 prefix.)
        let first =
            u64::from(u32::from_be_bytes(acquirer::util::random_bytes::<4>()) % 100_000_000) * 1000;
        let closed_first = first.to_string();
        let open_first = (first + 500).to_string();

        let b = base.clone();
        let closed = tokio::task::spawn_blocking(move || {
            loadgen(
                &b,
                &[
                    "--terminals",
                    "4",
                    "--requests",
                    "120",
                    "--first-card",
                    &closed_first,
                ],
            )
        })
        .await
        .unwrap();
        let (approved, failed, p99) = summary(&closed);
        assert_eq!((approved, failed), (120, 0), "{db}: {closed}");
        assert!(p99 > 0.0, "{db}: {closed}");

        let b = base.clone();
        let open = tokio::task::spawn_blocking(move || {
            loadgen(
                &b,
                &[
                    "--terminals",
                    "4",
                    "--requests",
                    "240",
                    "--rate",
                    "200",
                    "--warmup",
                    "60",
                    "--first-card",
                    &open_first,
                    "--timeline",
                ],
            )
        })
        .await
        .unwrap();
        let (approved, failed, _) = summary(&open);
        assert_eq!((approved, failed), (240, 0), "{db}: {open}");
        // 240 at 200/s is due over 1.2 s: two seconds in the timeline,
        // together all 240 requests (the warm-up is not timed).
        let seconds: Vec<u64> = open
            .lines()
            .filter(|l| l.trim_start().starts_with("second "))
            .map(|l| {
                let sent = l.split("):").nth(1).unwrap_or("");
                sent.split_whitespace()
                    .next()
                    .unwrap_or("0")
                    .parse()
                    .unwrap_or(0)
            })
            .collect();
        assert_eq!(seconds.len(), 2, "{db}: {open}");
        assert_eq!(seconds.iter().sum::<u64>(), 240, "{db}: {open}");
        run.task.abort();
    }
}

#[test]
fn loadgen_refuses_an_open_loop_longer_than_request_signatures_last() {
    let out = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(["--url", "http://127.0.0.1:9", "--admin-token", ADMIN])
        .args(["--requests", "200000", "--rate", "1000"])
        .output()
        .expect("loadgen runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("too old"), "{err}");
}
