//! Load generator: drives authorizations from many simulated terminals over
//! HTTP against a running acquirer on loopback, and prints authorizations
//! per second and latency percentiles.
//!
//! Every request (device signature, nonce, field 55 with a real ARQC) is
//! prepared before the clock starts, so the figures measure the acquirer,
//! not the generator's cryptography; the generator prints its own CPU time
//! per request so that can be checked. Loops are bounded by `--requests`.
//!
//! Two modes. Without `--rate`, closed loop: each terminal sends its next
//! request when the last is answered; that finds the maximum throughput.
//! With `--rate R`, open loop: request i is due at start + i/R whatever
//! happened to the others, and its latency counts from when it was due, so
//! a slow server cannot slow the generator down and hide its own queueing
//! (coordinated omission); that is the latency at a given load.
//!
//! ```text
//! softpos-acquirer serve --admin-token T --allow-binary <LOADGEN_BINARY_HASH> &
//! cargo run -p acquirer --release --bin loadgen -- --url http://127.0.0.1:8420 \
//!     --admin-token T --terminals 32 --requests 20000 [--rate 1000]
//! ```

use acquirer::sim::{luhn_pan, send_json, Prepared, SimCard, SimTerminal};
use clap::Parser;
use cryptogram::Cvn;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The binary hash the simulated terminals report; start the acquirer with
/// `--allow-binary` set to it.
const LOADGEN_BINARY: &str = "10ad6e0000000000000000000000000000000000000000000000000000000000";
const IMK: [u8; 16] = [
    0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF, 0xFE, 0xDC, 0xBA, 0x98, 0x76, 0x54, 0x32, 0x10,
];

/// Longest open-loop run, well inside the acquirer's 2-minute request
/// skew once preparation and warm-up are counted.
const MAX_RUN_SECS: u64 = 90;

#[derive(Parser)]
#[command(about = "Drive authorizations against a local softpos-acquirer")]
struct Args {
    #[arg(long, default_value = "http://127.0.0.1:8420")]
    url: String,
    #[arg(long, env = "SOFTPOS_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: String,
    /// Concurrent simulated terminals.
    #[arg(long, default_value_t = 16)]
    terminals: usize,
    /// Total authorizations.
    #[arg(long, default_value_t = 10_000)]
    requests: usize,
    /// Open loop at this total rate in authorizations/s, latency counted
    /// from each request's due time (0: closed loop, as fast as possible).
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Also report this process's CPU time per request over the run (the
    /// acquirer's PID), and that of all `postgres` processes.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Runtime worker threads. One is ample for the generator's work (on
    /// the 2-core bench machine it needs about a tenth of a core at
    /// 1,000/s), and it shares the cores with what it measures: a second
    /// worker only added wake-ups (open-loop p99 at 1,000/s 4.7-6.8 ms with
    /// one, 7.6-8.0 ms with two, back to back).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Serial number of the first virtual card. Runs against one database
    /// need distinct cards, or the risk rules (rightly) see one card paying
    /// again and again and the run measures declines.
    #[arg(long, default_value_t = 0)]
    first_card: u64,
    /// Authorizations sent closed loop before the timed run, on other
    /// cards and not counted: a database in service is not empty, and its
    /// tables have had their first autovacuum and statistics.
    #[arg(long, default_value_t = 0)]
    warmup: usize,
    /// Also print, per second of the run, the count, p99 and maximum
    /// latency: shows whether a high percentile comes from steady service
    /// or from one stall.
    #[arg(long)]
    timeline: bool,
}

fn loopback(url: &str) -> bool {
    let rest = url.strip_prefix("http://").unwrap_or("");
    rest.starts_with("127.0.0.1") || rest.starts_with("localhost") || rest.starts_with("[::1]")
}

/// Nearest-rank percentile of sorted samples.
fn percentile(sorted: &[Duration], p: usize) -> Duration {
    let rank = (p * sorted.len()).div_ceil(100);
    sorted
        .get(rank.saturating_sub(1))
        .copied()
        .unwrap_or(Duration::ZERO)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.clamp(1, 64))
        .enable_all()
        .build()?
        .block_on(run(args))
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    if !loopback(&args.url) {
        return Err("loadgen only drives an acquirer on loopback (http://127.0.0.1:...)".into());
    }
    let terminals = args.terminals.clamp(1, 1024);
    let requests = args.requests.clamp(1, 1_000_000);
    // Requests are signed before the clock starts, and the acquirer refuses
    // one whose timestamp is over 2 minutes old: a longer open loop would
    // measure refusals.
    if args.rate > 0 && requests as u64 / args.rate > MAX_RUN_SECS {
        return Err(format!(
            "an open loop of {requests} requests at {}/s lasts over {MAX_RUN_SECS} s; \
             requests signed before it would be too old for the acquirer by the end",
            args.rate
        )
        .into());
    }
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(terminals)
        .build()?;
    let auth = format!("Bearer {}", args.admin_token);
    let admin = [("authorization", auth.as_str())];
    let base = args.url.trim_end_matches('/').to_string();

    let a = send_json(&http, "POST", &format!("{base}/v1/issuer/ranges"), &json!({ "pan_prefix": "4999", "cvn": "visa-18",
        "imk_ac": hex::encode(IMK), "default_balance_minor": 999_999_999_999u64, "velocity_limit": 0 }), &admin).await?;
    if a.status != 200 {
        return Err(format!("issuer range: {} {}", a.status, a.body).into());
    }
    let m = send_json(
        &http,
        "POST",
        &format!("{base}/v1/merchants"),
        &json!({ "name": "Loadgen Shop", "mcc": "5411",
        "settlement_account": "DE89370400440532013000", "fee_bps": 150, "currency": "EUR" }),
        &admin,
    )
    .await?;
    let mid = m.body["merchant_id"]
        .as_str()
        .ok_or("onboarding failed")?
        .to_string();

    eprintln!("enrolling and attesting {terminals} terminals, preparing {requests} requests...");
    let warmup = args.warmup.min(1_000_000);
    let per = requests.div_ceil(terminals);
    let warm_per = warmup.div_ceil(terminals);
    // Measured cards first, then the warm-up's, so that a run with the same
    // --first-card and no warm-up pays with the same cards.
    let warm_first = args.first_card + (per * terminals) as u64;
    let mut work: Vec<(Arc<SimTerminal>, Vec<Prepared>)> = Vec::with_capacity(terminals);
    let mut warm: Vec<(Arc<SimTerminal>, Vec<Prepared>)> = Vec::with_capacity(terminals);
    let (mut left, mut warm_left) = (requests, warmup);
    for i in 0..terminals {
        let c = send_json(
            &http,
            "POST",
            &format!("{base}/v1/merchants/{mid}/activation-codes"),
            &json!({}),
            &admin,
        )
        .await?;
        let code = c.body["code"].as_str().ok_or("activation code failed")?;
        let (mut t, _) = SimTerminal::enroll(http.clone(), &base, code, LOADGEN_BINARY).await?;
        let at = t.attest().await?;
        if at.status != 200 {
            return Err(format!("attestation refused ({}): start the acquirer with --allow-binary {LOADGEN_BINARY} --allow-emulator", at.body).into());
        }
        let w = warm_per.min(warm_left);
        warm_left -= w;
        let n = per.min(left);
        left -= n;
        // Warm-up payments come first on each terminal: its transaction
        // counter only goes up.
        let warm_reqs = payments(&mut t, warm_first + (i * warm_per) as u64, w, 1)?;
        let reqs = payments(&mut t, args.first_card + (i * per) as u64, n, w + 1)?;
        let t = Arc::new(t);
        warm.push((t.clone(), warm_reqs));
        work.push((t, reqs));
    }
    eprintln!(
        "cards {}..{} measured, {}..{} warm-up",
        args.first_card,
        warm_first,
        warm_first,
        warm_first + (warm_per * terminals) as u64
    );
    if warmup > 0 {
        eprintln!("warming up with {warmup} authorizations...");
        let (w, _, failed) = closed_loop(warm, Instant::now()).await?;
        if failed > 0 {
            eprintln!("warm-up: {failed} of {} not approved", w.len());
        }
    }

    eprintln!("running...");
    let cpu0 = own_cpu_ms();
    let server0 = args.server_pid.and_then(pid_cpu_ms);
    let pg0 = postgres_cpu_ms();
    let start = Instant::now();
    let wall_start = std::time::SystemTime::now();
    let (samples, approved, failed) = if args.rate > 0 {
        open_loop(work, args.rate, start).await?
    } else {
        closed_loop(work, start).await?
    };
    let elapsed = start.elapsed();
    let cpu = own_cpu_ms().zip(cpu0).map(|(b, a)| b.saturating_sub(a));
    let server = args
        .server_pid
        .and_then(pid_cpu_ms)
        .zip(server0)
        .map(|(b, a)| b.saturating_sub(a));
    let pg = postgres_cpu_ms().saturating_sub(pg0);
    if args.timeline {
        print_timeline(&samples, wall_start);
    }
    let mut all: Vec<Duration> = samples.iter().map(|s| s.latency).collect();
    all.sort();
    let rate = all.len() as f64 / elapsed.as_secs_f64();
    println!(
        "{} authorizations ({approved} approved, {failed} failed) from {terminals} terminals in {:.2} s: {rate:.0} auth/s; \
         latency p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        all.len(),
        elapsed.as_secs_f64(),
        percentile(&all, 50).as_secs_f64() * 1e3,
        percentile(&all, 95).as_secs_f64() * 1e3,
        percentile(&all, 99).as_secs_f64() * 1e3,
        all.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
    let per = |ms: u64| ms as f64 / all.len().max(1) as f64;
    if let Some(ms) = server {
        print!("    CPU per request: acquirer {:.3} ms", per(ms));
        if pg > 0 {
            print!(", postgres {:.3} ms", per(pg));
        }
        if let Some(ms) = cpu {
            print!(", loadgen {:.3} ms", per(ms));
        }
        println!();
    } else if let Some(ms) = cpu {
        println!("    CPU per request: loadgen {:.3} ms", per(ms));
    }
    Ok(())
}

/// One answered request: when it was sent (or due, in open loop) since the
/// start, and how long its answer took from then.
struct Sample {
    at: Duration,
    latency: Duration,
}

type Samples = (Vec<Sample>, u64, u64);

/// `n` signed authorization requests of `t`, one virtual card each from
/// serial `first_card` on, transaction counters from `first_tsc` on.
fn payments(
    t: &mut SimTerminal,
    first_card: u64,
    n: usize,
    first_tsc: usize,
) -> Result<Vec<Prepared>, Box<dyn std::error::Error>> {
    let mut reqs = Vec::with_capacity(n);
    for k in 0..n {
        // A card per payment, as in a shop: one card paying thousands of
        // times a minute would be (rightly) stopped by the risk rules.
        let mut card = SimCard::new(
            &luhn_pan("4999", first_card + k as u64, 16),
            Cvn::Visa18,
            IMK,
        );
        let un = acquirer::util::random_bytes::<4>();
        let amount = 100 + (k % 900) as u64;
        let body = json!({ "tsc": first_tsc + k, "mcc": "5411", "amount_minor": amount, "currency": 978,
            "icc_data": card.icc_data(amount, 978, un, false)? });
        reqs.push(t.prepare("POST", "/v1/authorizations", &body, true)?);
    }
    Ok(reqs)
}

/// Whether an answer is an approval; the first failure is shown.
fn tally(r: Result<acquirer::sim::Answer, acquirer::sim::SimError>, failed_before: bool) -> bool {
    match r {
        Ok(a) if a.status == 200 && a.body["approved"] == true => true,
        Ok(a) => {
            if !failed_before {
                eprintln!("first failure: {} {}", a.status, a.body);
            }
            false
        }
        Err(e) => {
            if !failed_before {
                eprintln!("first failure: {e}");
            }
            false
        }
    }
}

async fn closed_loop(
    work: Vec<(Arc<SimTerminal>, Vec<Prepared>)>,
    start: Instant,
) -> Result<Samples, Box<dyn std::error::Error>> {
    let mut tasks = Vec::with_capacity(work.len());
    for (t, reqs) in work {
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(reqs.len());
            let (mut approved, mut failed) = (0u64, 0u64);
            for p in &reqs {
                let t0 = Instant::now();
                if tally(t.send(p).await, failed > 0) {
                    approved += 1;
                } else {
                    failed += 1;
                }
                lat.push(Sample {
                    at: t0.duration_since(start),
                    latency: t0.elapsed(),
                });
            }
            (lat, approved, failed)
        }));
    }
    let mut all = Vec::new();
    let (mut approved, mut failed) = (0u64, 0u64);
    for t in tasks {
        let (lat, a, f) = t.await?;
        all.extend(lat);
        approved += a;
        failed += f;
    }
    Ok((all, approved, failed))
}

async fn open_loop(
    work: Vec<(Arc<SimTerminal>, Vec<Prepared>)>,
    rate: u64,
    start: Instant,
) -> Result<Samples, Box<dyn std::error::Error>> {
    // Round-robin over the terminals, as payments in many shops interleave.
    let mut queues: Vec<(Arc<SimTerminal>, std::vec::IntoIter<Prepared>)> =
        work.into_iter().map(|(t, r)| (t, r.into_iter())).collect();
    let mut order = Vec::new();
    loop {
        let before = order.len();
        for (t, q) in queues.iter_mut() {
            if let Some(p) = q.next() {
                order.push((t.clone(), p));
            }
        }
        if order.len() == before {
            break;
        }
    }
    let mut tasks = Vec::with_capacity(order.len());
    for (i, (t, p)) in order.into_iter().enumerate() {
        let due = start + Duration::from_secs_f64(i as f64 / rate as f64);
        tokio::time::sleep_until(due.into()).await;
        tasks.push(tokio::spawn(async move {
            let ok = tally(t.send(&p).await, true);
            let sample = Sample {
                at: due.duration_since(start),
                latency: due.elapsed(),
            };
            (sample, ok)
        }));
    }
    let mut all = Vec::with_capacity(tasks.len());
    let (mut approved, mut failed) = (0u64, 0u64);
    for t in tasks {
        let (sample, ok) = t.await?;
        all.push(sample);
        if ok {
            approved += 1;
        } else {
            if failed == 0 {
                eprintln!("some requests failed (closed-loop mode shows the first)");
            }
            failed += 1;
        }
    }
    Ok((all, approved, failed))
}

/// Count, p99 and maximum latency per second of the run, each second with
/// its UTC time of day, to set beside the database's log.
fn print_timeline(samples: &[Sample], wall_start: std::time::SystemTime) {
    let epoch_ms = wall_start
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let mut seconds: std::collections::BTreeMap<u64, Vec<Duration>> = Default::default();
    for s in samples {
        seconds.entry(s.at.as_secs()).or_default().push(s.latency);
    }
    for (sec, mut lat) in seconds {
        lat.sort();
        let ms = (epoch_ms + u128::from(sec) * 1000) % 86_400_000;
        println!(
            "    second {sec:>3} ({:02}:{:02}:{:02}.{:03} UTC): {:>5} sent, p99 {:>7.2} ms, max {:>7.2} ms",
            ms / 3_600_000,
            ms / 60_000 % 60,
            ms / 1000 % 60,
            ms % 1000,
            lat.len(),
            percentile(&lat, 99).as_secs_f64() * 1e3,
            lat.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
        );
    }
}

/// This process's CPU time (user + system) in ms, from /proc on Linux
/// (where it is counted in USER_HZ = 100 ticks per second).
fn own_cpu_ms() -> Option<u64> {
    stat_cpu_ms(&std::fs::read_to_string("/proc/self/stat").ok()?)
}

fn pid_cpu_ms(pid: u32) -> Option<u64> {
    stat_cpu_ms(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// CPU time of every process named `postgres` now running (the server and
/// its backends; the pool's backends live for the whole run).
fn postgres_cpu_ms() -> u64 {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    dir.filter_map(Result::ok)
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter(|s| s.contains("(postgres)"))
        .filter_map(|s| stat_cpu_ms(&s))
        .sum()
}

fn stat_cpu_ms(stat: &str) -> Option<u64> {
    let rest = stat.rsplit_once(')')?.1;
    let mut f = rest.split_whitespace().skip(11);
    let utime: u64 = f.next()?.parse().ok()?;
    let stime: u64 = f.next()?.parse().ok()?;
    Some((utime + stime) * 10)
}
