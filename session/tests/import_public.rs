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
    // These convert whatever the kernel does: nothing in them is missing.
    for must in [
        "amex-cda-in.txt",
        "amex-msd-mobile.txt",
        "contact-mastercard-in.txt",
        "contact-upi-in.txt",
        "contact-visa-in.txt",
        "contactless-msd-in.txt",
        "MasterCardPpse3",
        "wrapperTestSW_61",
        "wrapperTestSW_6C",
    ] {
        assert!(ok.contains(&must), "{must} must import");
    }
    // These can never be replayed, whatever the kernel does.
    for never in [
        "contactless-mastercard-in.txt",
        "GeldKartePpse",
        "InteractPpse",
        "MasterCardPpse2",
        "VisaCardNullTransaction",
        "VisaCardPpse",
        "VisaCardPpseNoCplc",
        "VisaCardPpseNoOptions",
    ] {
        assert!(!ok.contains(&never), "{never} must not import");
    }
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
    // A script in devnied's style whose GPO and READ RECORDs were not
    // recorded: the PDOL, the inputs and the AFL determine them.
    let script = "\
# Select AID
send: 00 A4 04 00 07 A0 00 00 00 03 10 10 00
resp: 6F 1A 84 07 A0 00 00 00 03 10 10 A5 0F 9F 38 0C 9F 66 04 9F 02 06 9F 37 04 5F 2A 02 90 00
send:
resp: 77 0A 82 02 00 00 94 04 08 01 02 00 90 00
send:
resp: 70 05 9F 42 02 09 78 90 00
send:
resp: 70 05 5F 28 02 02 50 90 00 # issuer country
";
    let s = from_devnied(script).unwrap();
    let cmds: Vec<String> = s.exchanges.iter().map(|x| x.c.to_string()).collect();
    assert_eq!(
        cmds,
        [
            "00A4040007A000000003101000",
            "80A800001283103600400000000000000000000000097800",
            "00B2010C00",
            "00B2020C00",
        ]
    );
    assert_eq!(s.start, Some(session::StartSpec::FinalSelection));
    assert!(
        s.notes.iter().any(|n| n.contains("rebuilt as 00B2020C00")),
        "{:?}",
        s.notes
    );
    assert!(s
        .notes
        .iter()
        .any(|n| n.contains("currency (the card's application currency)")));
    // No cryptogram was asked for, so nothing is expected; a format 1 GPO
    // answer (AIP, AFL) is not mistaken for a cryptogram.
    assert!(s.expect.is_none());
    let format1 = script.replacen(
        "77 0A 82 02 00 00 94 04 08 01 02 00",
        "80 06 00 00 08 01 02 00",
        1,
    );
    let s1 = from_devnied(&format1).unwrap();
    assert_eq!(s1.exchanges.len(), 4);
    assert!(s1.expect.is_none());
    // Tampered twin: after a READ RECORD answered 6A83 nothing decides
    // the next command.
    let broken = script.replacen("70 05 9F 42 02 09 78 90 00", "6A 83", 1);
    assert!(from_devnied(&broken).is_err());
    // Locked card: after a 6985 nothing decides the next command; it
    // imports only if the kernel stops there by itself.
    match dn("LockedCard") {
        Ok(s) => assert!(s
            .notes
            .iter()
            .any(|n| n.contains("transcript cut at line 10"))),
        Err(e) => assert!(
            e.to_string().contains("not recorded") && e.to_string().contains("6985"),
            "{e}"
        ),
    }
    // A card that refuses the PPSE: the kernel ends there, so it imports.
    let s = dn("UnknownCard").unwrap();
    assert_eq!(s.exchanges.len(), 1);
    assert!(replay(&s).passed(), "{}", replay(&s));
    // A GPO without the PDOL data the card asked for is refused.
    let e = dn("VisaCardPpse").unwrap_err().to_string();
    assert!(e.contains("asks for 33"), "{e}");
    // Records the AFL lists but the transcript never reads, and the kernel
    // asks for one of them.
    let e = bf("contactless-mastercard-in.txt").unwrap_err().to_string();
    assert!(e.contains("missing SFI 1 record 1, SFI 3 record 2"), "{e}");
    assert!(e.contains("the kernel asks for SFI 1 record 1"), "{e}");
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
