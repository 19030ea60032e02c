//! EMVCo merchant-presented payloads: the published examples, their tampered
//! twins, and the builder.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use kernel::money::{Amount, Currency};
use pos::qr::mpm::{self, DataObject, MerchantAccount, MpmError, PaymentRequest};
use pos::qr::{MerchantPayload, MerchantProfile};
use std::path::Path;

fn data(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/qr")
        .join(name);
    std::fs::read_to_string(p).unwrap()
}

fn lines(name: &str) -> Vec<String> {
    data(name)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// Table-driven CRC-16/CCITT-FALSE, written apart from the library's bitwise one.
fn independent_crc(data: &[u8]) -> u16 {
    let mut table = [0u16; 256];
    for (i, slot) in table.iter_mut().enumerate() {
        let mut c = u16::try_from(i).unwrap() << 8;
        for _ in 0..8 {
            c = if c & 0x8000 != 0 {
                (c << 1) ^ 0x1021
            } else {
                c << 1
            };
        }
        *slot = c;
    }
    data.iter().fold(0xFFFF, |crc: u16, &b| {
        (crc << 8) ^ table[usize::from(crc.to_be_bytes()[0] ^ b)]
    })
}

/// Replaces the CRC of `body` (everything before the CRC's four digits).
fn with_crc(body: &str) -> String {
    format!("{body}{:04X}", independent_crc(body.as_bytes()))
}

/// The objects of a payload, without the CRC, as (id, value) pairs.
fn objects_without_crc(payload: &str) -> Vec<(String, String)> {
    let parsed = mpm::parse(payload).unwrap();
    parsed
        .objects
        .iter()
        .filter(|o| o.id != 63)
        .map(|o| (format!("{:02}", o.id), o.value.clone()))
        .collect()
}

fn assemble(objects: &[(String, String)]) -> String {
    let mut s: String = objects
        .iter()
        .map(|(id, v)| format!("{id}{:02}{v}", v.chars().count()))
        .collect();
    s.push_str("6304");
    with_crc(&s)
}

#[test]
fn independent_crc_has_the_check_value() {
    assert_eq!(independent_crc(b"123456789"), 0x29B1);
    assert_eq!(pos::qr::crc::crc16_ccitt_false(b"123456789"), 0x29B1);
}

#[test]
fn published_examples_parse_and_their_crcs_verify() {
    let valid = lines("mpm_valid.txt");
    assert_eq!(valid.len(), 2);
    for p in &valid {
        let parsed = mpm::parse(p).unwrap_or_else(|e| panic!("{p}: {e}"));
        let stated = &p[p.len() - 4..];
        assert_eq!(format!("{:04X}", parsed.crc), stated);
        assert_eq!(
            independent_crc(&p.as_bytes()[..p.len() - 4]),
            parsed.crc,
            "library and independent CRC agree"
        );
    }
    let m = mpm::parse(&valid[0]).unwrap().payload;
    assert_eq!(m.merchant_name, "BEST TRANSPORT");
    assert_eq!(m.merchant_city, "BEIJING");
    assert_eq!(m.country, "CN");
    assert_eq!(m.mcc, "4111");
    assert_eq!(m.currency.alpha, "CNY");
    assert_eq!(m.amount.unwrap().minor, 2372);
    assert_eq!(m.initiation, Some(mpm::Initiation::Static));
    assert_eq!(m.tip, Some(mpm::Tip::Prompt));
    assert_eq!(m.postal_code.as_deref(), Some("1234567"));
    let lang = m.language.as_ref().unwrap();
    assert_eq!((lang.language.as_str(), lang.name.as_str()), ("ZH", "北京"));
    assert_eq!(lang.city.as_deref(), Some("最佳运输"));
    let ad = m.additional.as_ref().unwrap();
    assert_eq!(ad.bill_number.as_deref(), Some("12345"));
    assert_eq!(ad.reference_label.as_deref(), Some("abcde"));
    assert_eq!(ad.terminal_label.as_deref(), Some("klmno"));
    assert_eq!(ad.other.len(), 1);
    assert_eq!(ad.other[0].id, 50);
    assert_eq!(
        m.accounts,
        vec![MerchantAccount::Scheme {
            id: 2,
            value: "0004hoge0104abcd".into()
        }]
    );
    assert_eq!(
        m.other.iter().map(|o| o.id).collect::<Vec<_>>(),
        vec![65, 80]
    );

    let k = mpm::parse(&valid[1]).unwrap().payload;
    assert_eq!(k.initiation, Some(mpm::Initiation::Dynamic));
    assert_eq!(k.merchant_name, "Merchant Shop");
    assert_eq!(k.merchant_city, "Phnom Penh");
    assert_eq!(
        k.amount.unwrap(),
        Amount::new(1000, Currency::parse("USD").unwrap()).unwrap()
    );
    assert_eq!(
        k.additional.unwrap().mobile_number.as_deref(),
        Some("012444444")
    );
}

#[test]
fn published_examples_reencode_to_the_same_payment() {
    for p in lines("mpm_valid.txt") {
        let payload = mpm::parse(&p).unwrap().payload;
        let again = payload.encode().unwrap();
        assert_eq!(mpm::parse(&again).unwrap().payload, payload, "{again}");
    }
}

#[test]
fn published_refusals_are_refused_with_their_reason() {
    let cases = lines("mpm_invalid.txt");
    assert!(cases.len() >= 5);
    for line in cases {
        let (reason, payload) = line.split_once('\t').unwrap();
        let err = mpm::parse(payload).unwrap_err().to_string();
        assert!(
            err.contains(reason),
            "{payload:?}: expected {reason:?}, got {err:?}"
        );
    }
}

#[test]
fn every_wrong_crc_digit_is_refused() {
    for p in lines("mpm_valid.txt") {
        let (body, crc) = p.split_at(p.len() - 4);
        for i in 0..4 {
            let mut digits: Vec<char> = crc.chars().collect();
            digits[i] = if digits[i] == '0' { '1' } else { '0' };
            let tampered = format!("{body}{}", digits.iter().collect::<String>());
            assert!(
                matches!(mpm::parse(&tampered), Err(MpmError::CrcMismatch { .. })),
                "{tampered}"
            );
        }
        // A changed character anywhere else breaks the CRC too.
        let tampered = p.replacen("CN", "CM", 1).replacen("KH", "KJ", 1);
        assert!(matches!(
            mpm::parse(&tampered),
            Err(MpmError::CrcMismatch { .. })
        ));
    }
}

#[test]
fn reassembling_the_examples_gives_them_back() {
    // Guards the helpers the tampered twins below are built with.
    for p in lines("mpm_valid.txt") {
        assert_eq!(assemble(&objects_without_crc(&p)), p);
    }
}

#[test]
fn wrong_lengths_are_refused_even_with_a_good_crc() {
    for p in lines("mpm_valid.txt") {
        let objects = objects_without_crc(&p);
        for i in 0..objects.len() {
            for delta in [-1i32, 1] {
                let mut s = String::new();
                for (j, (id, v)) in objects.iter().enumerate() {
                    let n =
                        i32::try_from(v.chars().count()).unwrap() + if i == j { delta } else { 0 };
                    s.push_str(&format!("{id}{n:02}{v}"));
                }
                s.push_str("6304");
                let tampered = with_crc(&s);
                assert!(
                    mpm::parse(&tampered).is_err(),
                    "length of ID {} off by {delta} accepted: {tampered}",
                    objects[i].0
                );
            }
        }
    }
}

#[test]
fn duplicated_mandatory_ids_are_refused() {
    for p in lines("mpm_valid.txt") {
        let objects = objects_without_crc(&p);
        for id in ["00", "52", "53", "58", "59", "60"] {
            let mut twin = objects.clone();
            let copy = twin.iter().find(|(i, _)| i == id).unwrap().clone();
            twin.push(copy);
            let err = mpm::parse(&assemble(&twin)).unwrap_err();
            assert_eq!(err, MpmError::Duplicate { path: id.into() }, "{id}");
        }
        // The CRC twice: the first is then not last.
        let mut s: String = objects
            .iter()
            .map(|(id, v)| format!("{id}{:02}{v}", v.chars().count()))
            .collect();
        s.push_str("63040000");
        let err = mpm::parse(&assemble_raw(&s)).unwrap_err();
        assert!(matches!(err, MpmError::CrcNotLast(63)), "{err}");
    }
}

fn assemble_raw(body_without_crc_object: &str) -> String {
    with_crc(&format!("{body_without_crc_object}6304"))
}

#[test]
fn missing_mandatory_ids_are_refused() {
    for p in lines("mpm_valid.txt") {
        let objects = objects_without_crc(&p);
        for id in ["00", "52", "53", "58", "59", "60"] {
            let twin: Vec<_> = objects.iter().filter(|(i, _)| i != id).cloned().collect();
            let err = mpm::parse(&assemble(&twin)).unwrap_err();
            match id {
                "00" => assert!(matches!(err, MpmError::FormatIndicatorNotFirst(_)), "{err}"),
                _ => assert!(
                    matches!(&err, MpmError::Missing { path, .. } if path == id),
                    "{id}: {err}"
                ),
            }
        }
        // No merchant account at all.
        let twin: Vec<_> = objects
            .iter()
            .filter(|(i, _)| !(2..=51).contains(&i.parse::<u8>().unwrap()))
            .cloned()
            .collect();
        assert_eq!(
            mpm::parse(&assemble(&twin)).unwrap_err(),
            MpmError::NoMerchantAccount
        );
        // No CRC at all.
        let body: String = objects
            .iter()
            .map(|(id, v)| format!("{id}{:02}{v}", v.chars().count()))
            .collect();
        assert!(
            matches!(mpm::parse(&body), Err(MpmError::Missing { ref path, .. }) if path == "63")
        );
    }
}

#[test]
fn order_and_value_rules_are_enforced() {
    let base = objects_without_crc(&lines("mpm_valid.txt")[1]);
    let set = |id: &str, value: &str| -> String {
        let mut o = base.clone();
        match o.iter_mut().find(|(i, _)| i == id) {
            Some(slot) => slot.1 = value.into(),
            None => o.push((id.into(), value.into())),
        }
        assemble(&o)
    };
    let refused = |payload: String, needle: &str| {
        let err = mpm::parse(&payload).unwrap_err().to_string();
        assert!(
            err.contains(needle),
            "{payload}: expected {needle:?} in {err:?}"
        );
    };
    refused(set("00", "02"), "payload format indicator");
    refused(set("01", "13"), "point of initiation");
    refused(set("52", "41A1"), "ID 52");
    refused(set("53", "84"), "ID 53");
    refused(set("53", "999"), "ISO 4217");
    refused(set("54", "10.001"), "more decimals");
    refused(set("54", "1,000"), "not an amount");
    refused(set("58", "kh"), "ISO 3166");
    refused(
        set("59", "Merchant Shop With A Very Long Name"),
        "at most 25",
    );
    refused(set("59", "Café"), "printable ASCII");
    refused(set("60", "Phnom Penh Capital"), "at most 15");
    refused(set("61", "12345678901"), "at most 10");
    refused(set("55", "02"), "ID 56");
    refused(set("55", "03"), "ID 57");
    refused(set("55", "04"), "tip indicator");
    refused(set("62", "0003abc"), "not defined");
    refused(set("62", "50050101X"), "62.50.00");
    refused(set("26", "0103abc"), "26.00");
    refused(set("26", "0003abc0003abd"), "26.00 appears twice");
    refused(set("64", "0002ZH"), "64.01");
    refused(set("64", "0003ZHO0102北京"), "ISO 639");
    refused(set("62", "010"), "ends inside");
    refused(set("62", "01AB"), "length must be two digits");
    refused(set("62", "0100"), "length 00");

    // ID 00 must be first.
    let mut moved = base.clone();
    moved.swap(0, 1);
    refused(assemble(&moved), "must start with ID 00");

    // Too long.
    let mut long = base.clone();
    for id in 65..=71 {
        long.push((format!("{id}"), "X".repeat(99)));
    }
    refused(assemble(&long), "more than EMVCo's 512");

    // A good twin of the value-rule cases is accepted, so the refusals above
    // are about the value, not the helper.
    mpm::parse(&set("54", "10.5")).unwrap();
    mpm::parse(&set("55", "01")).unwrap();
    mpm::parse(&set("26", "0010com.wallet0103abc")).unwrap();
}

fn profile() -> MerchantProfile {
    MerchantProfile {
        name: "SOFTPOS DEMO".into(),
        city: "SHANGHAI".into(),
        country: "CN".into(),
        mcc: "5999".into(),
        postal_code: None,
        accounts: vec![MerchantAccount::Template {
            id: 26,
            gui: "com.softpos.demo".into(),
            fields: vec![DataObject::primitive(1, "DEMO0001")],
        }],
        language: None,
    }
}

#[test]
fn builder_writes_the_expected_payload() {
    let cny = Currency::parse("CNY").unwrap();
    let request = PaymentRequest {
        amount: Amount::new(2372, cny).unwrap(),
        bill_number: Some("INV-1".into()),
        reference_label: Some("ORD42".into()),
        terminal_label: Some("T1".into()),
    };
    let payload = MerchantPayload::for_payment(&profile(), &request)
        .encode()
        .unwrap();
    let expected = assemble(&[
        ("00".into(), "01".into()),
        ("01".into(), "12".into()),
        ("26".into(), "0016com.softpos.demo0108DEMO0001".into()),
        ("52".into(), "5999".into()),
        ("53".into(), "156".into()),
        ("54".into(), "23.72".into()),
        ("58".into(), "CN".into()),
        ("59".into(), "SOFTPOS DEMO".into()),
        ("60".into(), "SHANGHAI".into()),
        ("62".into(), "0105INV-10505ORD420702T1".into()),
    ]);
    assert!(expected.starts_with("00020101021226320016com.softpos.demo0108DEMO0001"));
    assert_eq!(payload, expected);
    let parsed = mpm::parse(&payload).unwrap();
    assert_eq!(parsed.payload.amount.unwrap().minor, 2372);
    assert!(parsed.notes.is_empty(), "{:?}", parsed.notes);
}

#[test]
fn builder_uses_each_currency_exponent() {
    for (code, minor, text) in [
        ("JPY", 1500, "1500"),
        ("KWD", 1005, "1.005"),
        ("EUR", 5, "0.05"),
    ] {
        let currency = Currency::parse(code).unwrap();
        let request = PaymentRequest {
            amount: Amount::new(minor, currency).unwrap(),
            bill_number: None,
            reference_label: None,
            terminal_label: None,
        };
        let payload = MerchantPayload::for_payment(&profile(), &request)
            .encode()
            .unwrap();
        let needle = format!("54{:02}{text}", text.len());
        assert!(payload.contains(&needle), "{payload} lacks {needle}");
        let parsed = mpm::parse(&payload).unwrap();
        assert_eq!(parsed.payload.amount.unwrap().minor, minor);
        // Nothing asked for in the additional data: no empty template 62.
        assert!(!parsed.objects.iter().any(|o| o.id == 62));
    }
}

#[test]
fn static_code_has_no_amount() {
    let payload = MerchantPayload::static_code(&profile(), Currency::parse("CNY").unwrap())
        .encode()
        .unwrap();
    assert!(payload.starts_with("000201010211"));
    let parsed = mpm::parse(&payload).unwrap();
    assert_eq!(parsed.payload.amount, None);
    assert!(!parsed.objects.iter().any(|o| o.id == 54));
}

#[test]
fn builder_refuses_what_the_parser_would_refuse() {
    let cny = Currency::parse("CNY").unwrap();
    let base = MerchantPayload::static_code(&profile(), cny);
    let check = |p: MerchantPayload, needle: &str| {
        let err = p.encode().unwrap_err().to_string();
        assert!(err.contains(needle), "expected {needle:?} in {err:?}");
    };
    check(
        MerchantPayload {
            merchant_name: "A".repeat(26),
            ..base.clone()
        },
        "ID 59",
    );
    check(
        MerchantPayload {
            merchant_city: "Zürich".into(),
            ..base.clone()
        },
        "ID 60",
    );
    check(
        MerchantPayload {
            mcc: "59A9".into(),
            ..base.clone()
        },
        "ID 52",
    );
    check(
        MerchantPayload {
            accounts: vec![],
            ..base.clone()
        },
        "no merchant account",
    );
    check(
        MerchantPayload {
            accounts: vec![MerchantAccount::Template {
                id: 26,
                gui: String::new(),
                fields: vec![],
            }],
            ..base.clone()
        },
        "26",
    );
    check(
        MerchantPayload {
            amount: Some(Amount::new(100, Currency::parse("USD").unwrap()).unwrap()),
            ..base.clone()
        },
        "currency",
    );
    check(
        MerchantPayload {
            merchant_name: "A".repeat(200),
            ..base.clone()
        },
        "at most 99 fit",
    );
    check(
        MerchantPayload {
            accounts: vec![MerchantAccount::Template {
                id: 27,
                gui: "com.example".into(),
                fields: vec![DataObject::primitive(1, "X".repeat(100))],
            }],
            ..base.clone()
        },
        "ID 27.01",
    );
    // And its good twin builds.
    base.encode().unwrap();
}

#[test]
fn display_names_every_field() {
    let parsed = mpm::parse(&lines("mpm_valid.txt")[0]).unwrap();
    let text = parsed.to_string();
    for needle in [
        "CRC 4220 verified",
        "59 Merchant Name: BEST TRANSPORT",
        "53 Transaction Currency: 156 (CNY)",
        "01 Bill Number: 12345",
        "01 Merchant Name - Alternate Language: 北京",
        "00 Globally Unique Identifier: A011223344998877",
        "amount: 23.72 CNY",
        "note: ID 62.09",
    ] {
        assert!(text.contains(needle), "{needle:?} not in\n{text}");
    }
}
