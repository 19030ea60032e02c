//! The queue survives `kill -9` at any moment: a child process takes
//! offline payments and forwards them while the parent kills it at random
//! points, over and over, until 1,000 payments have been accepted. Then the
//! queue is drained and the acquirer checked: every payment the child
//! reported as accepted is there, and nothing is there twice.
//!
//! The child is this test binary run again (`torture_child`, ignored
//! unless `SOFTPOS_TORTURE_DIR` is set), so no extra binary is needed.

// Helpers outside #[test] fns are test code too; clippy.toml only covers the fns.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use pos::pay::{field_55, open_terminal};
use pos::queue::{Admission, EntryKind, EntryState, OfflineLimits};
use pos::sync::{now_ms, PaymentRequest};
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

#[path = "support/acquirer.rs"]
mod support;
use support::{LocalAcquirer, BINARY};
const PAYMENTS: usize = 1_000;
const AMOUNT: u64 = 1_000;

/// The child: offline payments as fast as the queue takes them, a forward
/// every few, "accepted <tsc>" printed only once the entry is durable.
#[test]
#[ignore = "run by queue_survives_kill_9 as a child process"]
fn torture_child() {
    let Ok(dir) = std::env::var("SOFTPOS_TORTURE_DIR") else {
        return;
    };
    let base = std::env::var("SOFTPOS_TORTURE_ACQUIRER").unwrap();
    let code = std::env::var("SOFTPOS_TORTURE_CODE").unwrap();
    let target: usize = std::env::var("SOFTPOS_TORTURE_TARGET")
        .unwrap()
        .parse()
        .unwrap();
    let (mut client, mut queue) =
        open_terminal(Path::new(&dir), &base, Some(&code), BINARY).unwrap();
    // One tap; every payment carries its field 55 under its own tsc (the
    // acquirer keys on terminal + tsc, the card's data may repeat).
    let outcome = support::tap("visa-offline", AMOUNT);
    assert_eq!(outcome.kind, kernel::OutcomeKind::Approved);
    let icc = field_55(&outcome).unwrap();
    let config = client.identity().config().clone();
    let limits = OfflineLimits {
        per_payment_minor: config.offline_limit_minor,
        max_count: 10_000,
        max_total_minor: u64::MAX,
        max_per_card: 10_000,
        max_age_ms: u64::MAX,
    };
    for i in 0..target {
        let tsc = queue.reserve_tsc().unwrap();
        let req = PaymentRequest {
            tsc,
            mcc: config.mcc.clone(),
            amount_minor: AMOUNT,
            currency: config.currency,
            icc_data: icc.clone(),
        };
        let admitted = queue
            .enqueue(EntryKind::Advice, &req, &limits, now_ms())
            .unwrap();
        assert_eq!(admitted, Admission::Queued);
        println!("accepted {tsc}");
        if i % 7 == 6 {
            queue.forward(&mut client, now_ms()).unwrap();
        }
    }
    queue.forward(&mut client, now_ms()).unwrap();
}

fn random_u64() -> u64 {
    u64::from_be_bytes(acquirer::util::random_bytes::<8>())
}

#[test]
fn queue_survives_kill_9() {
    let acq = LocalAcquirer::start(BINARY);
    let base = acq.base.clone();
    let dir = std::env::temp_dir().join(format!("pos-torture-terminal-{:016x}", random_u64()));

    let mut accepted: Vec<u32> = Vec::new();
    let mut kills = 0u32;
    let started = std::time::Instant::now();
    while accepted.len() < PAYMENTS {
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "no progress: {} accepted after {kills} kills",
            accepted.len()
        );
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--ignored",
                "--exact",
                "torture_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("SOFTPOS_TORTURE_DIR", &dir)
            .env("SOFTPOS_TORTURE_ACQUIRER", &base)
            .env("SOFTPOS_TORTURE_CODE", &acq.code)
            .env(
                "SOFTPOS_TORTURE_TARGET",
                (PAYMENTS - accepted.len()).to_string(),
            )
            .stdout(Stdio::piped())
            .stderr(match std::env::var_os("SOFTPOS_TORTURE_VERBOSE") {
                Some(_) => Stdio::inherit(),
                None => Stdio::null(),
            })
            .spawn()
            .unwrap();
        // Anywhere from start-up to well into the run. Counted in accepted
        // payments rather than time: on a fast machine a timed kill came
        // after the child had finished, and the test then killed nothing.
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut out = String::new();
        let kill_after = random_u64() % ((PAYMENTS - accepted.len()) as u64 / 4 + 1);
        if kill_after == 0 {
            std::thread::sleep(Duration::from_millis(20 + random_u64() % 200));
        } else {
            let mut seen = 0;
            while seen < kill_after {
                let before = out.len();
                if stdout.read_line(&mut out).unwrap() == 0 {
                    break;
                }
                if out[before..].contains("accepted ") {
                    seen += 1;
                }
            }
        }
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            kills += 1;
        }
        child.wait().unwrap();
        stdout.read_to_string(&mut out).unwrap();
        let before = accepted.len();
        accepted.extend(
            out.lines()
                // libtest writes "test torture_child ... " with no newline
                // before the child's first line.
                .filter_map(|l| l.split_once("accepted ").map(|(_, t)| t))
                .map(|t| t.trim().parse::<u32>().unwrap()),
        );
        if std::env::var_os("SOFTPOS_TORTURE_VERBOSE").is_some() {
            eprintln!(
                "run: +{} accepted ({} in all), {kills} kills, {:?}",
                accepted.len() - before,
                accepted.len(),
                started.elapsed()
            );
        }
    }
    assert!(
        kills >= 3,
        "the test must actually kill the terminal ({kills} kills)"
    );
    let unique: BTreeSet<u32> = accepted.iter().copied().collect();
    assert_eq!(unique.len(), accepted.len(), "a tsc was handed out twice");

    // Restart once more and drain.
    let (mut client, mut queue) = open_terminal(&dir, &base, None, BINARY).unwrap();
    // Each round an hour later than the last, past any backoff.
    let mut stopped = Vec::new();
    for round in 1..=50u64 {
        let f = queue
            .forward(&mut client, now_ms() + round * 3_600_000)
            .unwrap();
        if f.pending == 0 {
            break;
        }
        stopped.extend(f.stopped.map(|e| e.to_string()));
    }
    assert_eq!(queue.pending().unwrap(), 0, "not drained: {stopped:?}");
    let entries = queue.entries().unwrap();
    let mut delivered_ids = BTreeSet::new();
    let mut tscs = BTreeSet::new();
    for e in &entries {
        match &e.state {
            EntryState::Delivered(r) => {
                assert!(r.approved, "{r:?}");
                delivered_ids.insert(r.payment_id.clone());
            }
            other => panic!("tsc {}: {other:?}", e.tsc),
        }
        tscs.insert(e.tsc);
    }
    assert!(unique.is_subset(&tscs), "an accepted payment was lost");
    assert_eq!(
        delivered_ids.len(),
        entries.len(),
        "two entries, one payment"
    );

    // The acquirer: every queued payment once, nothing else.
    let tid = client.identity().terminal_id().to_string();
    let stored: Vec<String> = acq
        .stored(&tid)
        .iter()
        .map(|l| l["payment_id"].as_str().unwrap().to_string())
        .collect();
    let stored_set: BTreeSet<String> = stored.iter().cloned().collect();
    assert_eq!(stored.len(), stored_set.len(), "stored twice");
    assert_eq!(stored_set, delivered_ids, "acquirer and queue disagree");
    eprintln!(
        "torture: {} accepted, {} queued in all, {kills} kills, {:?}",
        accepted.len(),
        entries.len(),
        started.elapsed()
    );
    let _ = std::fs::remove_dir_all(&dir);
    drop(acq);
}
