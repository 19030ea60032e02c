//! Runs one kernel scenario N times, for an instruction count that does
//! not depend on what else the machine is doing:
//!
//! ```sh
//! cargo build --release -p softpos-tests --example kernel_instructions
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!   target/release/examples/kernel_instructions k2-online-cda kernel 100
//! ```
//! Subtract the run with N = 0 (fixture set-up) and divide by N.

use softpos_tests::bench::{kernel_scenarios, rsa_only, run};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(name), Some(mode), Some(n)) = (args.first(), args.get(1), args.get(2)) else {
        eprintln!("usage: kernel_instructions SCENARIO kernel|rsa N");
        return ExitCode::from(2);
    };
    let Ok(n) = n.parse::<usize>() else {
        eprintln!("N must be a number");
        return ExitCode::from(2);
    };
    let Some(s) = kernel_scenarios().into_iter().find(|s| s.name == name) else {
        eprintln!("unknown scenario {name}");
        return ExitCode::from(2);
    };
    for _ in 0..n {
        match mode.as_str() {
            "kernel" => {
                std::hint::black_box(run(&s));
            }
            _ => {
                std::hint::black_box(rsa_only(&s));
            }
        }
    }
    ExitCode::SUCCESS
}
