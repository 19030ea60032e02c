//! Rewrites `tests/sessions/cardsim/` from the scenarios in
//! `softpos_tests::corpus`: run it after changing a virtual card or the
//! kernel on purpose, and review the diff.

use softpos_tests::corpus::{record, SCENARIOS};
use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sessions/cardsim");
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("gen-sessions: cannot create {}: {e}", dir.display());
        return ExitCode::FAILURE;
    }
    for s in SCENARIOS {
        let session = match record(s) {
            Ok((_, session)) => session,
            Err(e) => {
                eprintln!("gen-sessions: {}: {e}", s.name);
                return ExitCode::FAILURE;
            }
        };
        let path = dir.join(format!("{}.session.json", s.name));
        if let Err(e) = std::fs::write(&path, session.to_json_pretty() + "\n") {
            eprintln!("gen-sessions: cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    println!(
        "gen-sessions: wrote {} sessions to {}",
        SCENARIOS.len(),
        dir.display()
    );
    ExitCode::SUCCESS
}
