//! Replay throughput: parse and replay every recorded session of the
//! corpus, split into sessions without ODA and with it (RSA-bound).
//!
//! `cargo bench -p softpos-tests --bench replay`

// A benchmark over fixed test data: a failure here is a broken fixture.
#![allow(clippy::expect_used)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use std::path::PathBuf;

fn corpus() -> (Vec<String>, Vec<String>) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sessions/cardsim");
    let mut no_oda = Vec::new();
    let mut oda = Vec::new();
    for entry in std::fs::read_dir(dir).expect("corpus") {
        let text = std::fs::read_to_string(entry.expect("entry").path()).expect("file");
        let s = session::Session::parse(&text).expect("session");
        let with_oda = s.expect.as_ref().and_then(|e| e.oda.as_deref()) != Some("not_performed");
        if with_oda {
            oda.push(text);
        } else {
            no_oda.push(text);
        }
    }
    (no_oda, oda)
}

fn benches(c: &mut Criterion) {
    let (no_oda, oda) = corpus();
    let mut g = c.benchmark_group("replay");
    for (name, set) in [("no-oda", &no_oda), ("oda", &oda)] {
        g.throughput(Throughput::Elements(set.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| {
                for text in set {
                    let s = session::Session::parse(black_box(text)).expect("session");
                    assert!(session::replay(&s).passed());
                }
            })
        });
    }
    g.finish();
}

criterion_group!(replay_benches, benches);
criterion_main!(replay_benches);
