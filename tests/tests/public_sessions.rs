//! Sessions imported from other EMV projects' public transcripts (see
//! `tests/sessions/public/README.md`): real cards nobody on this team
//! made. Each replays byte for byte, and ODA ends as the real card data
//! supports.

use session::{replay, Session};
use std::path::PathBuf;

#[allow(clippy::unwrap_used)] // a broken fixture should stop the test loudly
fn load(name: &str) -> Session {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("sessions/public")
        .join(name);
    Session::parse(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

#[test]
fn public_sessions_replay_with_their_oda_result() {
    let cases = [
        ("amex-cda-in.session.json", "online_request", "passed"),
        ("amex-msd-mobile.session.json", "online_request", "passed"),
        (
            "MasterCardPpse3.session.json",
            "end_application",
            "not_performed",
        ),
        (
            "UnknownCard.session.json",
            "end_application",
            "not_performed",
        ),
        (
            "wrapperTestSW_6C.session.json",
            "end_application",
            "not_performed",
        ),
    ];
    for (file, outcome, oda) in cases {
        let session = load(file);
        let report = replay(&session);
        assert!(report.passed(), "{file}: {:?}", report.failures);
        let o = report.outcome.as_ref().unwrap();
        assert_eq!((o.kind.as_str(), o.oda.as_str()), (outcome, oda), "{file}");
        let expect = session.expect.as_ref().unwrap();
        assert_eq!(expect.oda.as_deref(), Some(oda), "{file}: expect.oda");
    }
    let files =
        std::fs::read_dir(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sessions/public"))
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .to_string_lossy()
                    .ends_with(".session.json")
            })
            .count();
    assert_eq!(files, cases.len());
}

/// The real Amex card's CDA signature, tampered, fails ODA.
#[test]
fn a_tampered_real_signature_fails_oda() {
    let mut session = load("amex-cda-in.session.json");
    let gac = session
        .exchanges
        .iter_mut()
        .find(|x| x.c.0.starts_with(&[0x80, 0xAE]))
        .unwrap();
    let n = gac.r.0.len();
    gac.r.0[n - 10] ^= 0x01;
    let report = replay(&session);
    assert!(!report.passed());
    assert_eq!(report.outcome.unwrap().oda, kernel::OdaStatus::Failed);
}
