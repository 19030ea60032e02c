//! The recorded-session corpus: each scenario reaches the outcome a
//! payments engineer expects, the files on disk are what the cards and the
//! kernel produce today, and every session has tampered twins that fail.

use session::{replay, Session};
use softpos_tests::corpus::{record, SCENARIOS};
use std::path::PathBuf;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sessions/cardsim")
}

#[test]
fn every_scenario_reaches_its_expected_outcome() {
    let mut failures = Vec::new();
    for s in SCENARIOS {
        let (tap, _) = record(s).unwrap();
        let o = &tap.outcome;
        if (o.kind, o.cvm, o.oda) != (s.outcome, s.cvm, s.oda) {
            failures.push(format!(
                "{}: got {:?}/{:?}/{:?} ({:?}), want {:?}/{:?}/{:?}",
                s.name,
                o.kind,
                o.cvm,
                o.oda,
                o.reason.as_ref().map(|r| r.text().to_string()),
                s.outcome,
                s.cvm,
                s.oda
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn corpus_is_current() {
    for s in SCENARIOS {
        let (_, session) = record(s).unwrap();
        let path = dir().join(format!("{}.session.json", s.name));
        let on_disk = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (run gen-sessions)", path.display()));
        assert_eq!(
            on_disk,
            session.to_json_pretty() + "\n",
            "{} is stale: run `cargo run -p softpos-tests --bin gen-sessions`",
            path.display()
        );
    }
    let files = std::fs::read_dir(dir()).unwrap().count();
    assert_eq!(
        files,
        SCENARIOS.len(),
        "a file in {} has no scenario",
        dir().display()
    );
}

#[test]
fn the_corpus_covers_every_outcome_cvm_oda_and_card() {
    use kernel::outcome::{Cvm, OdaStatus, OutcomeKind::*};
    for kind in [
        Approved,
        Declined,
        OnlineRequest,
        TryAnotherInterface,
        EndApplication,
        TryAgain,
        SelectNext,
    ] {
        assert!(
            SCENARIOS.iter().any(|s| s.outcome == kind),
            "no scenario ends {kind:?}"
        );
    }
    for cvm in [
        Cvm::NoCvm,
        Cvm::Signature,
        Cvm::OnlinePin,
        Cvm::Cdcvm,
        Cvm::None,
    ] {
        assert!(
            SCENARIOS.iter().any(|s| s.cvm == cvm),
            "no scenario with CVM {cvm:?}"
        );
    }
    for oda in [
        OdaStatus::Passed,
        OdaStatus::Failed,
        OdaStatus::NotPerformed,
    ] {
        assert!(
            SCENARIOS.iter().any(|s| s.oda == oda),
            "no scenario with ODA {oda:?}"
        );
    }
    for k in [2, 3, 7] {
        assert!(SCENARIOS
            .iter()
            .any(|s| record(s).unwrap().0.outcome.kernel == Some(k)));
    }
    for name in cardsim::Profile::builtin_names() {
        assert!(
            SCENARIOS.iter().any(|s| s.profile == name),
            "profile {name} has no scenario"
        );
    }
    assert!(SCENARIOS.len() >= 30);
}

#[allow(clippy::unwrap_used)] // a broken fixture should stop the test loudly
fn load_all() -> Vec<(String, Session)> {
    let mut out: Vec<(String, Session)> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            (path.display().to_string(), Session::parse(&text).unwrap())
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Byte offsets, within a response, of the values that bind the outcome:
/// the cryptogram, the signed dynamic data and the certificates.
fn bound_values(response: &[u8]) -> Vec<(kernel::Tag, usize)> {
    let mut out = Vec::new();
    let body = &response[..response.len().saturating_sub(2)];
    let _ = kernel::tlv::walk(body, &mut |t, _| {
        use kernel::tags::t;
        if [t::AC, t::SDAD, t::ICC_CERT, t::ISSUER_CERT].contains(&t.tag) {
            let offset = t.value.as_ptr() as usize - body.as_ptr() as usize;
            out.push((t.tag, offset + t.value.len() / 2));
        }
    });
    out
}

/// For every session: a changed cryptogram, signature or certificate byte
/// must make the replay fail (data record or ODA no longer match), and so
/// must a changed command (divergence) — never a panic.
#[test]
fn tampered_twins_fail() {
    let mut bound = 0;
    for (path, session) in load_all() {
        assert!(replay(&session).passed(), "{path} does not replay");
        let expect = session.expect.as_ref();
        let expects_oda = expect.and_then(|e| e.oda.as_deref()) == Some("passed");
        // Only these outcomes carry a data record with the cryptogram.
        let has_record = matches!(
            expect.and_then(|e| e.outcome.as_deref()),
            Some("approved" | "declined" | "online_request")
        );
        for i in 0..session.exchanges.len() {
            for (tag, at) in bound_values(&session.exchanges[i].r.0) {
                let is_ac = tag == kernel::tags::t::AC;
                if (is_ac && !has_record) || (!is_ac && !expects_oda) {
                    continue;
                }
                bound += 1;
                let mut twin = session.clone();
                twin.exchanges[i].r.0[at] ^= 0x01;
                let report = replay(&twin);
                assert!(
                    !report.passed(),
                    "{path}: tampering {tag} in response #{i} went unnoticed"
                );
            }
            let mut twin = session.clone();
            let c = &mut twin.exchanges[i].c.0;
            let last = c.len() - 1;
            c[last] ^= 0x01;
            let report = replay(&twin);
            assert!(
                !report.passed(),
                "{path}: tampering command #{i} went unnoticed"
            );
            let diverged = report
                .failures
                .iter()
                .any(|f| matches!(f, session::Failure::Divergence(d) if d.index == i));
            assert!(
                diverged,
                "{path}: command #{i} change not reported as a divergence at #{i}"
            );
        }
    }
    assert!(bound >= 30, "only {bound} bound values tampered");
}
