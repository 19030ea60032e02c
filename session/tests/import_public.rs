//! Every public transcript either imports into a valid session or fails
//! with a clear reason.

use session::{from_binaryfoo, from_devnied, replay, ImportError, Session};
use std::path::Path;

fn read(p: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata").join(p)).unwrap()
}

const BINARYFOO: &[&str] = &[
    "amex-cda-in.txt",
    "amex-msd-mobile.txt",
    "contact-mastercard-in.txt",
    "contact-upi-in.txt",
    "contact-visa-in.txt",
    "contactless-mastercard-in.txt",
    "contactless-msd-in.txt",
];

const DEVNIED: &[&str] = &[
    "FailErrorCard",
    "FailPpseVisaAid",
    "GeldKartePpse",
    "InteractPpse",
    "LockedCard",
    "MasterCardPpse",
    "MasterCardPpse2",
    "MasterCardPpse3",
    "UnknownCard",
    "VisaCardAid",
    "VisaCardNullTransaction",
    "VisaCardPpse",
    "VisaCardPpse2",
    "VisaCardPpse3",
    "VisaCardPpseNoCplc",
    "VisaCardPpseNoOptions",
    "VisaCardPse",
    "wrapperTestSW_61",
    "wrapperTestSW_6C",
];

fn show(name: &str, r: &Result<Session, ImportError>) {
    match r {
        Ok(s) => {
            let rep = replay(s);
            eprintln!("{name}: OK {:?} start={:?} n={} notes={:?}\n   replay: {rep}", s.title, s.start, s.exchanges.len(), s.notes);
        }
        Err(e) => eprintln!("{name}: ERR {e}"),
    }
}

#[test]
fn explore() {
    for f in BINARYFOO {
        show(f, &from_binaryfoo(&read(&format!("binaryfoo/{f}"))));
    }
    for f in DEVNIED {
        show(f, &from_devnied(&read(&format!("devnied/{f}"))));
    }
}
