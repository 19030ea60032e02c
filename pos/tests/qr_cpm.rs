//! Customer-presented codes: EMVCo CPM (published examples, tampered twins,
//! refusals) and wallet payment codes. Card numbers never appear in clear.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine;
use pos::qr::cpm::{self, CpmError};
use pos::qr::{parse_any, Content, CustomerCode, CustomerCodeError};
use std::path::Path;

fn lines(name: &str) -> Vec<String> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/qr")
        .join(name);
    std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(str::to_string)
        .collect()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn unb64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

#[test]
fn published_examples_parse() {
    let valid = lines("cpm_valid.txt");
    assert_eq!(valid.len(), 2);

    let a = cpm::parse(&valid[0]).unwrap();
    let aids: Vec<String> = a
        .applications
        .iter()
        .map(|x| hex::encode_upper(&x.aid))
        .collect();
    assert_eq!(aids, ["A0000000555555", "A0000000666666"]);
    let labels: Vec<_> = a
        .applications
        .iter()
        .map(|x| x.label.clone().unwrap())
        .collect();
    assert_eq!(labels, ["Product1", "Product2"]);
    assert_eq!(a.common_masked_pan.as_deref(), Some("123456******3458"));
    let shown = |tag: &str| {
        a.common
            .iter()
            .find(|f| f.tag.to_string() == tag)
            .map(|f| f.shown.clone())
            .unwrap()
    };
    assert_eq!(shown("9F26"), "584FD385FA234BCC");
    assert_eq!(shown("9F36"), "0001");
    assert_eq!(shown("9F37"), "6D58EF13");
    assert_eq!(shown("5F2D"), "\"ruesdeen\"");
    assert!(!shown("5F20").contains("CARDHOLDER"));
    // This example's PAN fails the Luhn check: noted, still masked.
    assert_eq!(a.notes.len(), 1, "{:?}", a.notes);
    assert_eq!(a.expose_tlv(), unb64(&valid[0]).as_slice());

    let u = cpm::parse(&valid[1]).unwrap();
    assert_eq!(u.applications.len(), 1);
    assert_eq!(
        hex::encode_upper(&u.applications[0].aid),
        "A000000333010102"
    );
    assert_eq!(
        u.applications[0].masked_pan.as_deref(),
        Some("626360******3672")
    );
    let fields: Vec<String> = u.applications[0]
        .fields
        .iter()
        .map(|f| f.tag.to_string())
        .collect();
    for t in [
        "4F", "57", "5F34", "63", "9F26", "9F27", "9F10", "9F36", "82", "9F37",
    ] {
        assert!(
            fields.contains(&t.to_string()),
            "{t} missing from {fields:?}"
        );
    }
}

#[test]
fn no_output_shows_a_clear_pan_or_name() {
    for code in lines("cpm_valid.txt") {
        let parsed = cpm::parse(&code).unwrap();
        let outputs = [
            parsed.to_string(),
            format!("{parsed:?}"),
            parse_any(&code).unwrap().to_string(),
            format!("{:?}", parse_any(&code).unwrap()),
        ];
        for out in outputs {
            for secret in ["1234567890123458", "6263600100713672", "CARDHOLDER", "2312"] {
                assert!(!out.contains(secret), "{secret} in\n{out}");
            }
            assert!(out.contains("******"), "{out}");
        }
    }
}

#[test]
fn tampered_twins_of_the_examples_are_refused() {
    for code in lines("cpm_valid.txt") {
        let bytes = unb64(&code);
        // Last byte cut: the last template's length lies.
        let cut = b64(&bytes[..bytes.len() - 1]);
        assert!(
            matches!(cpm::parse(&cut), Err(CpmError::Tlv { .. })),
            "{cut}"
        );
        // A trailing byte that is no object.
        let mut longer = bytes.clone();
        longer.push(0x00);
        assert!(cpm::parse(&b64(&longer)).is_err());
        // Another payload format.
        let mut other = bytes.clone();
        other[6] = b'2';
        assert!(matches!(
            cpm::parse(&b64(&other)),
            Err(CpmError::UnknownFormat(_))
        ));
        // The application template's tag changed to one not allowed here.
        let mut retagged = bytes.clone();
        retagged[7] = 0x70;
        assert!(matches!(
            cpm::parse(&b64(&retagged)),
            Err(CpmError::NotAllowed { .. })
        ));
        // Base64 broken: one character dropped.
        assert!(matches!(cpm::parse(&code[1..]), Err(CpmError::Base64(_))));
        // And the untouched code still parses (the twins are about the tampering).
        cpm::parse(&code).unwrap();
    }
}

#[test]
fn refusals_say_why() {
    let cases = lines("cpm_invalid.txt");
    assert!(cases.len() >= 15);
    for line in cases {
        let (reason, hex_tlv) = line.split_once('\t').unwrap();
        let bytes = hex::decode(hex_tlv).unwrap();
        let err = cpm::parse_tlv(bytes.clone()).unwrap_err().to_string();
        assert!(
            err.contains(reason),
            "{hex_tlv}: expected {reason:?} in {err:?}"
        );
        // The same through the scanner's path, as base64.
        let via_text = CustomerCode::parse(&b64(&bytes)).unwrap_err().to_string();
        assert!(via_text.contains(reason), "{via_text}");
    }
}

#[test]
fn wallet_codes_are_recognised_by_length_and_prefix() {
    let cases = lines("wallet_codes.txt");
    assert!(cases.len() >= 19);
    for line in cases {
        let (expected, code) = line.split_once('\t').unwrap();
        match CustomerCode::parse(code) {
            Ok(c) => {
                assert_eq!(c.kind(), expected, "{code}");
                let (_, w) = c.wallet().unwrap();
                assert_eq!(w.expose_digits(), code);
                let shown = [c.to_string(), format!("{c:?}"), w.masked()];
                for s in shown {
                    assert!(!s.contains(code), "{code} in clear: {s}");
                    assert!(s.contains(&code[..4]) && s.contains(&code[code.len() - 4..]));
                }
            }
            Err(e) => {
                let e = e.to_string();
                assert!(
                    e.contains(expected),
                    "{code}: expected {expected:?} in {e:?}"
                );
            }
        }
    }
}

#[test]
fn scanner_input_is_trimmed_and_anything_else_refused() {
    let c = CustomerCode::parse("135112298638468293\r\n").unwrap();
    assert!(matches!(c, CustomerCode::WeChatPay(_)));
    assert_eq!(
        CustomerCode::parse("  ").unwrap_err(),
        CustomerCodeError::Empty
    );
    assert_eq!(
        CustomerCode::parse("https://example.com/pay").unwrap_err(),
        CustomerCodeError::Unrecognised
    );
    assert!(matches!(
        CustomerCode::parse("hQVDUFYwMQ").unwrap_err(),
        CustomerCodeError::Cpm(CpmError::Base64(_))
    ));
    // parse_any sends merchant payloads and customer codes to the right parser.
    assert!(matches!(
        parse_any("289431869362714645").unwrap(),
        Content::Customer(_)
    ));
    assert!(parse_any("000201")
        .unwrap_err()
        .to_string()
        .contains("merchant-presented"));
    let mpm = &lines("mpm_valid.txt")[1];
    assert!(matches!(parse_any(mpm).unwrap(), Content::Merchant(_)));
}
