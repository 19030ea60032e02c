#![allow(clippy::unwrap_used)]
//! Every public transcript either imports into a valid session or fails
//! with a clear reason.

use session::{from_binaryfoo, from_devnied, replay, ImportError, Session};
use std::path::Path;

fn read(p: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata")
            .join(p),
    )
    .unwrap()
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

fn check(name: &str, r: &Result<Session, ImportError>) {
    match r {
        Ok(s) => {
            // A valid session: it survives its own file format and replays
            // to a report (pass or fail) without panicking.
            let again = Session::parse(&s.to_json_pretty()).unwrap();
            assert_eq!(&again, s, "{name}");
            assert!(s.source.as_deref().unwrap().starts_with("import:"));
            assert!(!replay(s).to_string().is_empty());
        }
        Err(e) => {
            let m = e.to_string();
            assert!(
                m.starts_with("cannot be made replayable: ") || m.starts_with("line "),
                "{name}: {m}"
            );
            assert!(m.len() > 40, "{name}: reason too thin: {m}");
        }
    }
}

fn bf(f: &str) -> Result<Session, ImportError> {
    from_binaryfoo(&read(&format!("binaryfoo/{f}")))
}

fn dn(f: &str) -> Result<Session, ImportError> {
    from_devnied(&read(&format!("devnied/{f}")))
}

#[test]
fn every_public_transcript_converts_or_says_why() {
    let mut ok = Vec::new();
    for f in BINARYFOO {
        let r = bf(f);
        check(f, &r);
        if r.is_ok() {
            ok.push(*f);
        }
    }
    for f in DEVNIED {
        let r = dn(f);
        check(f, &r);
        if r.is_ok() {
            ok.push(*f);
        }
    }
    assert_eq!(
        ok,
        [
            "amex-cda-in.txt",
            "amex-msd-mobile.txt",
            "contact-mastercard-in.txt",
            "contact-upi-in.txt",
            "contact-visa-in.txt",
            "contactless-msd-in.txt",
            "MasterCardPpse3",
            "VisaCardPpse3",
            "wrapperTestSW_61",
            "wrapperTestSW_6C",
        ]
    );
}

#[test]
fn amex_inputs_come_from_the_generate_ac_data() {
    let s = bf("amex-cda-in.txt").unwrap();
    assert_eq!(s.start, None, "starts at the PPSE");
    let t = &s.transaction;
    assert_eq!(t.amount, 12000);
    assert_eq!(t.currency.0, [0x00, 0x36]);
    assert_eq!(t.date.0, [0x14, 0x10, 0x31]);
    assert_eq!(t.tx_type.0, [0x00]);
    assert_eq!(
        t.unpredictable_numbers,
        vec![session::Hex(vec![0x32, 0x72, 0x73, 0xB9])]
    );
    let tags = &s.terminal.tags;
    let get = |t: u32| {
        tags.get(&session::TagKey(kernel::Tag::from_u32_unchecked(t)))
            .map(|h| h.0.clone())
    };
    assert_eq!(get(0x9F1A), Some(vec![0x00, 0x36]));
    assert_eq!(get(0x9F35), Some(vec![0xEA]), "as the recorded GPO sent it");
    assert_eq!(
        s.terminal.aids[0].aid.0,
        hex::decode("A00000002501040300").unwrap()[..8]
    );
    assert_eq!(s.terminal.aids[0].kernel, 4);
    assert_eq!(
        s.expect.as_ref().unwrap().outcome.as_deref(),
        Some("online_request")
    );
    // Tampered twin: a GPO whose PDOL data no longer matches the PDOL.
    let text = read("binaryfoo/amex-cda-in.txt").replace("80A80000038301EA00", "80A8000002830000");
    let e = from_binaryfoo(&text).unwrap_err().to_string();
    assert!(e.contains("PDOL"), "{e}");
}

#[test]
fn contact_transcripts_keep_the_last_run_and_drop_contact_only_commands() {
    let s = bf("contact-mastercard-in.txt").unwrap();
    assert_eq!(s.start, Some(session::StartSpec::FinalSelection));
    assert!(
        s.notes.iter().any(|n| n.contains("2 times")),
        "{:?}",
        s.notes
    );
    assert!(s
        .notes
        .iter()
        .any(|n| n.contains("after the first GENERATE AC")));
    assert_eq!(s.transaction.amount, 1000);
    let upi = bf("contact-upi-in.txt").unwrap();
    assert!(upi.notes.iter().any(|n| n.contains("PSE directory")));
    assert!(upi
        .notes
        .iter()
        .any(|n| n.contains("INTERNAL AUTHENTICATE")));
    assert_eq!(upi.terminal.aids[0].kernel, 7);
    assert!(upi
        .exchanges
        .iter()
        .all(|x| x.c.0[1] != 0x88 && x.c.0[..2] != [0x80, 0xCA]));
}

#[test]
fn devnied_unrecorded_commands_are_rebuilt_or_refused() {
    let s = dn("VisaCardPpse3").unwrap();
    // The GPO is rebuilt from the card's PDOL and the inputs.
    let gpo = &s
        .exchanges
        .iter()
        .find(|x| x.c.0[..2] == [0x80, 0xA8])
        .unwrap()
        .c
        .0;
    assert_eq!(gpo.len(), 5 + 2 + 16 + 1);
    assert!(s.notes.iter().any(|n| n.contains("rebuilt as 00B2021400")));
    assert!(s.notes.iter().any(|n| n.contains("GET DATA")));
    // Locked card: after a 6985 nothing decides the next command.
    let e = dn("LockedCard").unwrap_err().to_string();
    assert!(e.contains("not recorded") && e.contains("6985"), "{e}");
    // A GPO without the PDOL data the card asked for is refused.
    let e = dn("VisaCardPpse").unwrap_err().to_string();
    assert!(e.contains("asks for 33"), "{e}");
    // Records the AFL lists but the transcript never reads.
    let e = dn("VisaCardAid").unwrap_err().to_string();
    assert!(e.contains("SFI 2 record 1"), "{e}");
}

#[test]
fn six_c_retry_replays() {
    let s = dn("wrapperTestSW_6C").unwrap();
    assert_eq!(s.start, Some(session::StartSpec::FinalSelection));
    let report = replay(&s);
    assert!(report.used >= 2, "{report}");
}

#[test]
fn syntax_errors_name_the_line() {
    let e = from_devnied("send: 00 A4\nresp: 90 0G\n").unwrap_err();
    assert_eq!(e.to_string().split(':').next(), Some("line 2"));
    assert!(from_devnied("resp: 90 00\n")
        .unwrap_err()
        .to_string()
        .contains("without a send"));
    assert!(from_devnied("hello\n").is_err());
    assert!(matches!(from_binaryfoo("\n\n"), Err(ImportError::Empty)));
    assert!(from_binaryfoo("00A4040007A000000003101000\nXYZ\n")
        .unwrap_err()
        .to_string()
        .starts_with("line 2"));
}
