//! Drawing and reading back: build → PNG → scan → parse, for merchant codes
//! and customer codes, and the scanner's refusals.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use kernel::money::{Amount, Currency};
use pos::qr::mpm::{self, DataObject, MerchantAccount, PaymentRequest};
use pos::qr::scan::{self, ScanError};
use pos::qr::{parse_any, render, Content, CustomerCode, MerchantPayload, MerchantProfile};
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

fn payload() -> String {
    let profile = MerchantProfile {
        name: "SOFTPOS DEMO".into(),
        city: "SHANGHAI".into(),
        country: "CN".into(),
        mcc: "5999".into(),
        postal_code: Some("200000".into()),
        accounts: vec![MerchantAccount::Template {
            id: 26,
            gui: "com.softpos.demo".into(),
            fields: vec![DataObject::primitive(1, "DEMO0001")],
        }],
        language: Some(mpm::LanguageTemplate {
            language: "ZH".into(),
            name: "软终端演示".into(),
            city: Some("上海".into()),
            other: vec![],
        }),
    };
    let request = PaymentRequest {
        amount: Amount::new(2500, Currency::parse("CNY").unwrap()).unwrap(),
        bill_number: Some("INV-2026-0001".into()),
        reference_label: Some("ORD-7".into()),
        terminal_label: Some("T0001".into()),
    };
    MerchantPayload::for_payment(&profile, &request)
        .encode()
        .unwrap()
}

#[test]
fn merchant_code_round_trips_through_a_png() {
    let p = payload();
    let png = render::png(&p, 300).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let decoded = scan::decode_bytes(&png).unwrap();
    assert_eq!(decoded, vec![p.clone()]);
    let Content::Merchant(m) = parse_any(&decoded[0]).unwrap() else {
        panic!("not a merchant code")
    };
    assert_eq!(m.payload.amount.unwrap().minor, 2500);
    assert_eq!(m.payload.language.unwrap().name, "软终端演示");
}

#[test]
fn published_examples_round_trip_through_a_png() {
    for p in lines("mpm_valid.txt")
        .into_iter()
        .chain(lines("cpm_valid.txt"))
    {
        let decoded = scan::decode_bytes(&render::png(&p, 200).unwrap()).unwrap();
        assert_eq!(decoded, vec![p.clone()]);
        parse_any(&decoded[0]).unwrap();
    }
    let wallet = "289431869362714645";
    let decoded = scan::decode_bytes(&render::png(wallet, 100).unwrap()).unwrap();
    assert!(matches!(
        CustomerCode::parse(&decoded[0]).unwrap(),
        CustomerCode::Alipay(_)
    ));
}

#[test]
fn a_tampered_code_scans_but_does_not_parse() {
    // The QR layer faithfully returns what was drawn; the payload's own CRC
    // is what catches a wrong one.
    let p = payload();
    let tampered = p.replacen("25.00", "15.00", 1);
    assert_ne!(p, tampered);
    let decoded = scan::decode_bytes(&render::png(&tampered, 300).unwrap()).unwrap();
    assert_eq!(decoded, vec![tampered]);
    assert!(matches!(
        mpm::parse(&decoded[0]),
        Err(mpm::MpmError::CrcMismatch { .. })
    ));
}

#[test]
fn svg_and_terminal_renderings() {
    let p = payload();
    let svg = render::svg(&p, 200).unwrap();
    assert!(svg.starts_with("<?xml") && svg.contains("<svg") && svg.contains("</svg>"));
    let term = render::terminal(&p).unwrap();
    let rows: Vec<&str> = term.lines().collect();
    assert!(rows.len() > 10);
    // Every row is as wide as the first, and the code uses half blocks.
    let width = rows[0].chars().count();
    assert!(rows.iter().all(|r| r.chars().count() == width));
    assert!(term.contains('▀') || term.contains('▄'));
    assert!(render::png(&"9".repeat(8000), 100).is_err());
}

#[test]
fn scanner_refuses_what_is_not_a_readable_code() {
    assert!(matches!(
        scan::decode_bytes(b"not an image"),
        Err(ScanError::Image(_))
    ));
    assert!(matches!(scan::decode_bytes(&[]), Err(ScanError::Image(_))));
    // A blank image: no code in it.
    let blank = image::GrayImage::from_pixel(200, 200, image::Luma([255u8]));
    let mut png = Vec::new();
    image::DynamicImage::ImageLuma8(blank)
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    assert_eq!(scan::decode_bytes(&png), Err(ScanError::NoCode));
    // A truncated PNG of a real code.
    let good = render::png(&payload(), 200).unwrap();
    assert!(scan::decode_bytes(&good[..good.len() / 2]).is_err());
    assert!(matches!(
        scan::decode_file(Path::new("/nonexistent/qr.png")),
        Err(ScanError::Io(_))
    ));
}

#[test]
fn a_rotated_jpeg_like_a_camera_frame_still_scans() {
    let p = payload();
    let png = render::png(&p, 400).unwrap();
    let img = image::load_from_memory(&png).unwrap().to_luma8();
    let rotated = image::imageops::rotate90(&img);
    let mut jpeg = Vec::new();
    image::DynamicImage::ImageLuma8(rotated)
        .write_to(
            &mut std::io::Cursor::new(&mut jpeg),
            image::ImageFormat::Jpeg,
        )
        .unwrap();
    assert_eq!(&jpeg[..2], &[0xFF, 0xD8]);
    assert_eq!(scan::decode_bytes(&jpeg).unwrap(), vec![p]);
}
