//! `softpos qr ...` as a user runs it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

fn softpos(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_softpos"))
        .args(args)
        .output()
        .unwrap()
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("softpos-qr-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

const PHANNALY: &str = "00020101021252044131153137210116372101160123456789ABCDE6010Phnom Penh5913Merchant Shop5802KH540510.005303840622501081234567802090124444446304A0BA";

#[test]
fn mpm_prints_a_payload_that_parses_and_shows_the_code() {
    let o = softpos(&[
        "qr",
        "mpm",
        "--amount",
        "2500",
        "--currency",
        "CNY",
        "--bill",
        "INV-9",
    ]);
    assert!(o.status.success(), "{}", err(&o));
    let text = out(&o);
    let payload = text.lines().next().unwrap();
    assert!(payload.starts_with("000201010212"), "{payload}");
    assert!(payload.contains("540525.00") && payload.contains("0105INV-9"));
    assert!(text.contains('▀') || text.contains('▄'));
    let parsed = softpos(&["qr", "parse", payload]);
    assert!(parsed.status.success(), "{}", err(&parsed));
    assert!(out(&parsed).contains("amount: 25.00 CNY"));
}

#[test]
fn mpm_writes_png_and_svg_and_scan_reads_the_png_back() {
    let png = tmp("code.png");
    let svg = tmp("code.svg");
    let o = softpos(&[
        "qr",
        "mpm",
        "--amount",
        "1500",
        "--currency",
        "JPY",
        "--merchant-name",
        "RAMEN YA",
        "--city",
        "TOKYO",
        "--country",
        "JP",
        "--mcc",
        "5812",
        "--no-show",
        "--png",
        png.to_str().unwrap(),
        "--svg",
        svg.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(
        out(&o).lines().count(),
        1,
        "--no-show prints the payload only"
    );
    assert!(std::fs::read_to_string(&svg).unwrap().contains("<svg"));
    let s = softpos(&["qr", "scan", png.to_str().unwrap()]);
    assert!(s.status.success(), "{}", err(&s));
    let text = out(&s);
    assert!(text.contains("59 Merchant Name: RAMEN YA"), "{text}");
    assert!(text.contains("amount: 1500 JPY"), "{text}");
}

#[test]
fn parse_exits_non_zero_with_the_reason() {
    let ok = softpos(&["qr", "parse", PHANNALY]);
    assert!(ok.status.success());
    assert!(out(&ok).contains("CRC A0BA verified"));

    let bad_crc = PHANNALY.replace("A0BA", "A0BB");
    let o = softpos(&["qr", "parse", &bad_crc]);
    assert_eq!(o.status.code(), Some(1));
    assert!(err(&o).contains("CRC says A0BB"), "{}", err(&o));
    assert!(out(&o).is_empty());

    let o = softpos(&["qr", "parse", "12345"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(err(&o).contains("no wallet's payment code"), "{}", err(&o));
}

#[test]
fn parse_masks_customer_codes() {
    let cpm = "hQVDUFYwMWFWTwigAAADMwEBAlcRYmNgAQBxNnLSMSIBAAABiAFfNAEAYzOfJghWite85mtxi58nAYCfEBEHAAEDoAAAAQgwMDAwMDAwMZ82AhEiggIAAJ83BCJgSI4=";
    let o = softpos(&["qr", "parse", cpm]);
    assert!(o.status.success(), "{}", err(&o));
    let text = out(&o);
    assert!(text.contains("626360******3672"), "{text}");
    assert!(!text.contains("6263600100713672"));

    let o = softpos(&["qr", "parse", "135112298638468293"]);
    assert!(o.status.success());
    let text = out(&o);
    assert!(
        text.contains("WeChat Pay payment code: 1351**********8293"),
        "{text}"
    );
}

#[test]
fn parse_reads_a_keyboard_wedge_line_from_stdin() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_softpos"))
        .args(["qr", "parse", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"289431869362714645\r\n")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", err(&o));
    assert!(out(&o).contains("Alipay payment code"));
}

#[test]
fn scan_refuses_what_is_not_an_image_and_builder_errors_are_usage() {
    let f = tmp("not-an-image.png");
    std::fs::write(&f, b"hello").unwrap();
    let o = softpos(&["qr", "scan", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(err(&o).contains("not an image"), "{}", err(&o));

    let o = softpos(&[
        "qr",
        "mpm",
        "--amount",
        "100",
        "--merchant-name",
        &"X".repeat(30),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("ID 59"), "{}", err(&o));
    let o = softpos(&["qr", "mpm", "--amount", "100", "--currency", "XYZ"]);
    assert_eq!(o.status.code(), Some(2));
}
