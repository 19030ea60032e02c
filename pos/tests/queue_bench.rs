//! Durable enqueue rate and latency beside bare fsync'd SQLite inserts of
//! the same size, measured in the same run (`cargo test -p pos --release
//! --test queue_bench -- --ignored --nocapture`). Ignored by default: it
//! measures the disk, it does not check the code.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use pos::queue::{Admission, EntryKind, OfflineLimits, Queue};
use pos::sync::PaymentRequest;
use std::time::{Duration, Instant};

#[path = "support/acquirer.rs"]
mod support;

const N: usize = 2_000;

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

fn report(what: &str, mut lat: Vec<Duration>, total: Duration) {
    lat.sort_unstable();
    eprintln!(
        "{what:<28} {:>7.0}/s  p50 {:>6.3} ms  p99 {:>6.3} ms",
        lat.len() as f64 / total.as_secs_f64(),
        percentile(&lat, 50).as_secs_f64() * 1e3,
        percentile(&lat, 99).as_secs_f64() * 1e3
    );
}

#[test]
#[ignore = "benchmark: run with --ignored --nocapture"]
fn enqueue_vs_bare_insert() {
    let dir = std::env::temp_dir().join(format!(
        "pos-queue-bench-{}",
        hex::encode(acquirer::util::random_bytes::<6>())
    ));
    std::fs::create_dir_all(&dir).unwrap();
    // A field 55 of the usual size, PAN included.
    let mut icc = Vec::new();
    kernel::tlv::encode(
        kernel::tags::t::PAN,
        &[0x47, 0x61, 0x73, 0x90, 0x01, 0x01, 0x00, 0x36],
        &mut icc,
    )
    .unwrap();
    icc.extend(std::iter::repeat_n(0u8, 120));
    let req = |tsc| PaymentRequest {
        tsc,
        mcc: "5411".into(),
        amount_minor: 1_000,
        currency: 978,
        icc_data: hex::encode_upper(&icc),
    };
    let limits = OfflineLimits {
        per_payment_minor: 5_000,
        max_count: u64::MAX,
        max_total_minor: u64::MAX,
        max_per_card: u64::MAX,
        max_age_ms: u64::MAX,
    };

    // Bare: one fsync'd insert per row of the sealed entry's size.
    let bare = rusqlite::Connection::open(dir.join("bare.sqlite")).unwrap();
    bare.pragma_update(None, "journal_mode", "WAL").unwrap();
    bare.pragma_update(None, "synchronous", "FULL").unwrap();
    bare.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, b BLOB NOT NULL)")
        .unwrap();
    let size = serde_json::to_vec(&req(1)).unwrap().len() + 28;
    let blob = vec![0xA5u8; size];
    let mut lat = Vec::with_capacity(N);
    let t0 = Instant::now();
    for i in 0..N {
        let t = Instant::now();
        bare.execute(
            "INSERT INTO t (id, b) VALUES (?1, ?2)",
            rusqlite::params![i as i64, blob],
        )
        .unwrap();
        lat.push(t.elapsed());
    }
    report("bare fsync'd insert", lat, t0.elapsed());

    // The queue: tsc allocation + limits + sealing + insert, each durable.
    let mut q = Queue::open(&dir.join("queue.sqlite"), "TBENCH", &[9u8; 32]).unwrap();
    let mut lat = Vec::with_capacity(N);
    let t0 = Instant::now();
    for _ in 0..N {
        let t = Instant::now();
        let tsc = q.reserve_tsc().unwrap();
        let a = q.enqueue(EntryKind::Advice, &req(tsc), &limits, 0).unwrap();
        assert_eq!(a, Admission::Queued);
        lat.push(t.elapsed());
    }
    report("queue reserve_tsc + enqueue", lat, t0.elapsed());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Time to drain 10,000 queued advices to a real acquirer on loopback
/// (SQLite, `synchronous=FULL`), from one terminal.
#[test]
#[ignore = "benchmark: run with --ignored --nocapture"]
fn drain_10000_to_the_acquirer() {
    const DRAIN: usize = 10_000;
    let acq = support::LocalAcquirer::start(support::BINARY);
    let (mut client, mut queue) = acq.terminal();
    let outcome = support::tap("visa-offline", 1_000);
    let icc = pos::pay::field_55(&outcome).unwrap();
    let config = client.identity().config().clone();
    let limits = OfflineLimits {
        per_payment_minor: config.offline_limit_minor,
        max_count: u64::MAX,
        max_total_minor: u64::MAX,
        max_per_card: u64::MAX,
        max_age_ms: u64::MAX,
    };
    for _ in 0..DRAIN {
        let tsc = queue.reserve_tsc().unwrap();
        let req = PaymentRequest {
            tsc,
            mcc: config.mcc.clone(),
            amount_minor: 1_000,
            currency: config.currency,
            icc_data: icc.clone(),
        };
        assert_eq!(
            queue.enqueue(EntryKind::Advice, &req, &limits, 0).unwrap(),
            Admission::Queued
        );
    }
    let t0 = Instant::now();
    let mut delivered = 0;
    while queue.pending().unwrap() > 0 {
        let f = queue.forward(&mut client, pos::sync::now_ms()).unwrap();
        assert!(f.stopped.is_none(), "{:?}", f.stopped);
        delivered += f.delivered.len();
    }
    let took = t0.elapsed();
    assert_eq!(delivered, DRAIN);
    eprintln!(
        "drained {DRAIN} queued advices in {:.2} s ({:.0}/s)",
        took.as_secs_f64(),
        DRAIN as f64 / took.as_secs_f64()
    );
    assert_eq!(acq.stored(client.identity().terminal_id()).len(), DRAIN);
}
