//! Replay throughput: parses and replays each given session N times, as
//! `softpos replay` does for a corpus (file reading excluded).
//!
//! cargo run --release -p session --example replay_throughput -- N FILE...
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    for path in args {
        let text = std::fs::read_to_string(&path).unwrap();
        let first = session::replay(&session::Session::parse(&text).unwrap());
        let t = Instant::now();
        let mut passed = 0usize;
        for _ in 0..n {
            let s = session::Session::parse(&text).unwrap();
            if session::replay(&s).passed() {
                passed += 1;
            }
        }
        let secs = t.elapsed().as_secs_f64();
        split(&text, n);
        println!(
            "{path}: {n} replays in {secs:.3} s = {:.0} sessions/s ({} exchanges, {passed} passed; {first})",
            n as f64 / secs,
            first.used,
        );
    }
}

#[allow(dead_code)]
fn split(text: &str, n: usize) {
    let t = Instant::now();
    for _ in 0..n {
        let _ = session::Session::parse(text).unwrap();
    }
    let parse = t.elapsed().as_secs_f64();
    let s = session::Session::parse(text).unwrap();
    let t = Instant::now();
    for _ in 0..n {
        let _ = s.terminal_config().unwrap();
        let _ = s.inputs().unwrap();
    }
    let config = t.elapsed().as_secs_f64();
    let t = Instant::now();
    for _ in 0..n {
        let _ = session::replay(&s);
    }
    let replay = t.elapsed().as_secs_f64();
    println!(
        "  per session: parse {:.1} us, config {:.1} us, replay (incl. config) {:.1} us",
        parse * 1e6 / n as f64,
        config * 1e6 / n as f64,
        replay * 1e6 / n as f64
    );
}
