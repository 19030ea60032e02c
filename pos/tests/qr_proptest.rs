//! Properties: the parsers never panic on anything a scanner could send, and
//! whatever the builder writes reads back as the same payment.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine;
use kernel::money::{Amount, Currency, MAX_EMV_AMOUNT};
use pos::qr::cpm;
use pos::qr::mpm::{self, DataObject, LanguageTemplate, MerchantAccount, PaymentRequest};
use pos::qr::{parse_any, CustomerCode, MerchantPayload, MerchantProfile};
use proptest::prelude::*;

fn with_crc(body: &str) -> String {
    let mut s = format!("{body}6304");
    let crc = pos::qr::crc::crc16_ccitt_false(s.as_bytes());
    s.push_str(&format!("{crc:04X}"));
    s
}

fn object() -> impl Strategy<Value = String> {
    (
        0u8..100,
        prop_oneof!["[ -~]{1,30}", "\\PC{1,10}", "[0-9]{2}0[1-9][0-9A-Z]{1,9}"],
    )
        .prop_map(|(id, v)| format!("{id:02}{:02}{v}", v.chars().count()))
}

fn tlv(tag: &[u8], value: &[u8]) -> Vec<u8> {
    let mut out = tag.to_vec();
    let len = u8::try_from(value.len()).unwrap();
    if len < 128 {
        out.push(len);
    } else {
        out.extend([0x81, len]);
    }
    out.extend_from_slice(value);
    out
}

fn currency() -> impl Strategy<Value = Currency> {
    prop::sample::select(vec!["CNY", "USD", "EUR", "JPY", "KWD", "HKD", "SGD"])
        .prop_map(|c| Currency::parse(c).unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn mpm_parser_never_panics_on_text(s in "\\PC{0,600}") {
        let _ = mpm::parse(&s);
        let _ = parse_any(&s);
    }

    #[test]
    fn mpm_parser_never_panics_on_well_framed_objects(objects in prop::collection::vec(object(), 0..20)) {
        let body = format!("000201{}", objects.concat());
        let payload = with_crc(&body);
        if let Ok(parsed) = mpm::parse(&payload) {
            // Anything accepted re-encodes to the same payment.
            let again = parsed.payload.encode();
            if let Ok(again) = again {
                prop_assert_eq!(mpm::parse(&again).unwrap().payload, parsed.payload);
            }
        }
    }

    #[test]
    fn cpm_parser_never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = cpm::parse_tlv(bytes.clone());
        let text = base64::engine::general_purpose::STANDARD.encode(&bytes);
        let _ = CustomerCode::parse(&text);
    }

    #[test]
    fn cpm_parser_never_panics_on_well_framed_templates(
        apps in prop::collection::vec(prop::collection::vec((prop::sample::select(vec![
            &[0x4Fu8][..], &[0x50], &[0x57], &[0x5A], &[0x5F, 0x20], &[0x9F, 0x25],
            &[0x63], &[0x9F, 0x26], &[0x70], &[0x9F, 0x36]]), prop::collection::vec(any::<u8>(), 0..20)), 0..6), 0..3),
    ) {
        let mut bytes = tlv(&[0x85], b"CPV01");
        for app in apps {
            let inner: Vec<u8> = app.iter().flat_map(|(t, v)| tlv(t, v)).collect();
            bytes.extend(tlv(&[0x61], &inner));
        }
        if let Ok(code) = cpm::parse_tlv(bytes.clone()) {
            prop_assert!(!code.applications.is_empty());
            let shown = format!("{code}{code:?}");
            prop_assert!(shown.contains("CPV01"));
        }
    }

    #[test]
    fn digit_codes_are_recognised_only_by_the_published_rules(d in "[0-9]{0,30}") {
        if let Ok(code) = CustomerCode::parse(&d) {
            let prefix: u8 = d[..2].parse().unwrap();
            let ok = match code {
                CustomerCode::WeChatPay(_) => d.len() == 18 && (10..=15).contains(&prefix),
                CustomerCode::Alipay(_) => (16..=24).contains(&d.len()) && (25..=30).contains(&prefix),
                CustomerCode::UnionPay(_) => d.len() == 19 && prefix == 62,
                CustomerCode::EmvCpm(_) => false,
            };
            prop_assert!(ok, "{}", d);
        }
    }

    #[test]
    fn built_payloads_read_back_as_the_same_payment(
        name in "[A-Z0-9][A-Z0-9 .&-]{0,24}",
        city in "[A-Z][A-Za-z ]{0,14}",
        country in "[A-Z]{2}",
        mcc in "[0-9]{4}",
        gui in "[a-z][a-z0-9.]{0,31}",
        merchant_id in "[A-Z0-9]{1,20}",
        currency in currency(),
        minor in 0u64..=MAX_EMV_AMOUNT,
        bill in proptest::option::of("[ -~]{1,25}"),
        reference in proptest::option::of("[A-Za-z0-9-]{1,25}"),
        alt_name in proptest::option::of("\\PC{1,25}"),
        scheme in proptest::option::of("[ -~]{1,40}"),
    ) {
        let mut accounts = vec![MerchantAccount::Template {
            id: 26,
            gui,
            fields: vec![DataObject::primitive(1, merchant_id)],
        }];
        if let Some(value) = scheme {
            accounts.push(MerchantAccount::Scheme { id: 4, value });
        }
        let profile = MerchantProfile {
            name, city, country, mcc, postal_code: None, accounts,
            language: alt_name.map(|n| LanguageTemplate { language: "ZH".into(), name: n, city: None, other: vec![] }),
        };
        let request = PaymentRequest {
            amount: Amount::new(minor, currency).unwrap(),
            bill_number: bill,
            reference_label: reference,
            terminal_label: None,
        };
        let payload = MerchantPayload::for_payment(&profile, &request);
        let text = payload.encode().unwrap();
        let parsed = mpm::parse(&text).unwrap();
        prop_assert_eq!(&parsed.payload, &payload);
        prop_assert_eq!(parsed.payload.amount.unwrap().minor, minor);
        // And a single changed character is caught.
        let (body, crc) = text.split_at(text.len() - 4);
        let replacement = if crc.starts_with('0') { "1" } else { "0" };
        let flipped = format!("{body}{replacement}{}", crc.get(1..).unwrap());
        prop_assert!(mpm::parse(&flipped).is_err());
    }
}
