//! Kernel CPU time per transaction, with and without ODA, beside the time
//! of the RSA recoveries alone (fixtures in `softpos_tests::bench`).
//!
//! `cargo bench -p softpos-tests --bench kernel`

use criterion::{criterion_group, criterion_main, Criterion};
use softpos_tests::bench::{kernel_scenarios, rsa_only, run};
use std::hint::black_box;

fn benches(c: &mut Criterion) {
    let scenarios = kernel_scenarios();
    let mut g = c.benchmark_group("kernel");
    for s in &scenarios {
        g.bench_function(s.name, |b| b.iter(|| black_box(run(black_box(s)))));
    }
    g.finish();
    let mut g = c.benchmark_group("rsa-only");
    for s in scenarios.iter().filter(|s| !s.rsa.is_empty()) {
        g.bench_function(s.name, |b| b.iter(|| black_box(rsa_only(black_box(s)))));
    }
    g.finish();
}

criterion_group!(kernel_benches, benches);
criterion_main!(kernel_benches);
