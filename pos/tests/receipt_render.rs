//! Receipt renderers: golden content in text at 32, 42 and 48 columns, an
//! ESC/POS stream that initialises and cuts, self-contained escaped HTML,
//! and a PDF whose cross-reference table, stream length and text objects
//! check out; each with a tampered or hostile twin.

use pos::history::{Kind, Record, Status};
use pos::receipt::{self, Receipt};
use pos::sync::TerminalConfig;

fn config(merchant_name: &str, mcc: &str) -> TerminalConfig {
    TerminalConfig {
        terminal_id: "T0A1B2C3D4E5F".into(),
        merchant_id: "mer_0123456789abcdef01234567".into(),
        merchant_name: merchant_name.into(),
        mcc: mcc.into(),
        currency: 978,
        max_amount_minor: 1_000_000,
        offline_limit_minor: 5_000,
        offline_max_count: None,
        offline_max_total_minor: None,
        offline_max_per_card: None,
        offline_max_age_ms: None,
        acquirer_public_key: "04".into(),
        acquirer_name: "SoftPOS Demo Acquirer".into(),
        fee_bps: 150,
        fee_fixed_minor: 0,
        settlement_account_masked: "******************3000".into(),
        settlement_delay_days: 1,
        info_review_due: String::new(),
    }
}

fn approved() -> Record {
    Record {
        id: 1,
        tsc: Some(7),
        reference: None,
        kind: Kind::Purchase,
        channel: "online".into(),
        status: Status::Approved,
        amount_minor: 1_234,
        currency: 978,
        masked_pan: Some("476173******0119".into()),
        wallet: None,
        payment_id: Some("pay_5c2b8e1f0a9d4c3b2a1f0e9d".into()),
        original_payment_id: None,
        auth_code: Some("A1B2C3".into()),
        response_code: Some("00".into()),
        message: "approved, auth code A1B2C3".into(),
        fee_bps: Some(150),
        fee_minor: Some(19),
        net_minor: Some(1_215),
        business_date: "2026-11-23".into(),
        settlement_date: Some("2026-11-24".into()),
        refunded_minor: 0,
        // 2026-11-23 07:45:12 UTC
        created_ms: 1_795_419_912_000,
        updated_ms: 1_795_419_912_000,
    }
}

fn receipt() -> Receipt {
    Receipt::build(&approved(), &config("Demo Grocery", "5411"))
}

#[test]
fn the_receipt_holds_every_field_issue_5_names() {
    let r = receipt();
    assert_eq!(r.merchant_name, "Demo Grocery");
    assert_eq!(
        (r.mcc.as_str(), r.mcc_description.as_str()),
        ("5411", "Grocery Stores and Supermarkets")
    );
    assert_eq!(r.acquirer_name, "SoftPOS Demo Acquirer");
    assert_eq!(r.terminal_id, "T0A1B2C3D4E5F");
    assert_eq!(r.payer, "476173******0119");
    assert_eq!(r.amount, "EUR 12.34");
    assert_eq!(r.fee_rate, "1.50 %");
    assert_eq!((r.fee.as_str(), r.net.as_str()), ("EUR 0.19", "EUR 12.15"));
    assert!(!r.figures_expected);
    assert_eq!(r.settlement_account, "******************3000");
    assert_eq!(r.settlement_date, "2026-11-24");
    assert_eq!(r.date_time, "2026-11-23 07:45:12 UTC");
    assert_eq!(r.status, "APPROVED");

    // Unknown MCC and a fixed fee.
    let mut c = config("Demo Grocery", "0001");
    c.fee_fixed_minor = 10;
    let r = Receipt::build(&approved(), &c);
    assert_eq!(r.mcc_description, "MCC 0001");
    assert_eq!(r.fee_rate, "1.50 % + EUR 0.10");
}

#[test]
fn offline_and_cancelled_payments_say_what_is_known() {
    let mut rec = approved();
    rec.status = Status::AcceptedOffline;
    rec.channel = "offline".into();
    (
        rec.fee_minor,
        rec.net_minor,
        rec.settlement_date,
        rec.payment_id,
    ) = (None, None, None, None);
    let r = Receipt::build(&rec, &config("Demo Grocery", "5411"));
    assert!(r.figures_expected);
    assert_eq!((r.fee.as_str(), r.net.as_str()), ("EUR 0.19", "EUR 12.15"));
    assert!(
        r.settlement_date.starts_with("2026-11-24"),
        "{}",
        r.settlement_date
    );
    assert!(r.to_text(42).contains("Fee (expected)"));

    let mut voided = approved();
    voided.status = Status::Voided;
    (voided.fee_minor, voided.net_minor) = (Some(0), Some(0));
    let r = Receipt::build(&voided, &config("Demo Grocery", "5411"));
    assert_eq!((r.status.as_str(), r.net.as_str()), ("VOIDED", "EUR 0.00"));
    assert!(r.settlement_date.contains("not settled"));

    let mut refund = approved();
    refund.kind = Kind::Refund;
    refund.original_payment_id = Some("pay_original".into());
    (refund.fee_minor, refund.net_minor) = (Some(0), Some(-1_234));
    let r = Receipt::build(&refund, &config("Demo Grocery", "5411"));
    assert_eq!(
        (r.title.as_str(), r.amount.as_str()),
        ("REFUND", "-EUR 12.34")
    );
    assert!(r.to_text(32).contains("pay_original"));
}

#[test]
fn text_fits_each_printer_width() {
    let r = receipt();
    for width in [32, 42, 48] {
        let t = r.to_text(width);
        let flat = t.split_whitespace().collect::<Vec<_>>().join(" ");
        for line in t.lines() {
            assert!(line.chars().count() <= width, "{width}: {line:?}");
        }
        for needle in [
            "Demo Grocery",
            "Grocery Stores and Supermarkets",
            "SoftPOS Demo Acquirer",
            "T0A1B2C3D4E5F",
            "476173******0119",
            "EUR 12.34",
            "1.50 %",
            "EUR 0.19",
            "EUR 12.15",
            "******************3000",
            "2026-11-24",
        ] {
            assert!(
                flat.contains(needle),
                "{width} columns lack {needle:?}:\n{t}"
            );
        }
    }
    // Golden layout of the 42-column body lines.
    let t = r.to_text(42);
    assert!(
        t.contains("\nSALE                             EUR 12.34\n"),
        "{t}"
    );
    assert!(
        t.contains("\nFee rate                            1.50 %\n"),
        "{t}"
    );
    assert!(
        t.contains("\nSettles to          ******************3000\n"),
        "{t}"
    );
}

#[test]
fn escpos_initialises_prints_and_cuts() {
    let b = receipt().to_escpos(32);
    assert!(b.starts_with(&[0x1B, b'@']), "ESC @ first");
    assert!(b.ends_with(&[0x1D, b'V', 66, 0]), "a cut last");
    let has = |needle: &[u8]| b.windows(needle.len()).any(|w| w == needle);
    assert!(
        has(&[0x1B, b'a', 1]) && has(&[0x1B, b'a', 0]),
        "centre, then left"
    );
    assert!(
        has(&[0x1B, b'E', 1]) && has(&[0x1B, b'E', 0]),
        "bold on and off"
    );
    assert!(has(b"Demo Grocery") && has(b"476173******0119") && has(b"EUR 12.34"));
    // Windows-1252: an e acute is one byte, a CJK name is question marks.
    let cafe = Receipt::build(&approved(), &config("Café Zürich", "5812")).to_escpos(42);
    assert!(cafe.windows(5).any(|w| w == b"Caf\xE9 "));
    let cjk = Receipt::build(&approved(), &config("北京超市", "5411")).to_escpos(42);
    assert!(cjk.windows(4).any(|w| w == b"????"));
    assert!(
        cjk.iter().all(|&x| x != 0xE5),
        "no raw UTF-8 reaches the printer"
    );
}

#[test]
fn html_is_self_contained_and_escaped() {
    let h = receipt().to_html();
    assert!(h.starts_with("<!DOCTYPE html>"));
    assert!(h.contains("<h1>Demo Grocery</h1>"));
    assert!(h.contains("<td>Fee rate</td><td class=\"v\">1.50 %</td>"));
    assert!(!h.contains("http://") && !h.contains("https://") && !h.contains("src="));
    let hostile = Receipt::build(
        &approved(),
        &config("<script>alert(1)</script> & \"Co\"", "5411"),
    )
    .to_html();
    assert!(!hostile.contains("<script>"), "{hostile}");
    assert!(hostile.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;Co&quot;"));
}

/// Checks a PDF's structure: header, every xref entry pointing at its
/// object, the trailer's startxref, and each stream's /Length. Returns the
/// content stream.
fn check_pdf(pdf: &[u8]) -> Result<String, String> {
    // One char per byte, so that string offsets are file offsets.
    let text: String = pdf
        .iter()
        .map(|&b| if b < 0x80 { char::from(b) } else { '?' })
        .collect();
    if !pdf.starts_with(b"%PDF-1.4\n") || !text.ends_with("%%EOF\n") {
        return Err("header or %%EOF missing".into());
    }
    let sx = text.rfind("startxref\n").ok_or("no startxref")?;
    let xref: usize = text[sx + 10..]
        .lines()
        .next()
        .and_then(|l| l.parse().ok())
        .ok_or("bad startxref")?;
    if pdf.get(xref..xref + 5) != Some(b"xref\n") {
        return Err(format!("startxref {xref} does not point at xref"));
    }
    let mut lines = text[xref..].lines().skip(1);
    let count: usize = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|n| n.parse().ok())
        .ok_or("bad xref subsection")?;
    lines.next(); // object 0, free
    for n in 1..count {
        let entry = lines.next().ok_or("xref too short")?;
        let off: usize = entry[..10].parse().map_err(|_| "bad offset")?;
        let expect = format!("{n} 0 obj\n");
        if pdf.get(off..off + expect.len()) != Some(expect.as_bytes()) {
            return Err(format!(
                "xref entry {n} ({off}) does not point at its object"
            ));
        }
    }
    let s = text.find("/Length ").ok_or("no stream")?;
    let len: usize = text[s + 8..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|n| n.parse().ok())
        .ok_or("bad /Length")?;
    let start = text[s..].find("stream\n").ok_or("no stream keyword")? + s + 7;
    let body = text
        .get(start..start + len)
        .ok_or("stream shorter than /Length")?;
    if !text[start + len..].starts_with("endstream") {
        return Err("/Length does not end at endstream".into());
    }
    Ok(body.to_string())
}

#[test]
fn pdf_parses_and_holds_the_text() {
    let pdf = receipt().to_pdf();
    let content = check_pdf(&pdf).unwrap();
    assert!(
        content.contains("/F2 9 Tf 14 236 Td (               Demo Grocery) Tj"),
        "{content}"
    );
    for needle in [
        "Grocery Stores and Supermarkets",
        "476173******0119",
        "EUR 12.34",
        "1.50 %",
        "******************3000",
        "2026-11-24",
    ] {
        assert!(content.contains(needle), "{needle:?} not in {content}");
    }
    assert_eq!(
        content.matches(" Tj ET\n").count(),
        receipt()
            .to_text(pos::receipt::pdf::COLUMNS)
            .lines()
            .count()
    );
    assert!(String::from_utf8_lossy(&pdf).contains("/BaseFont /Courier /Encoding /WinAnsiEncoding"));

    // Tampered twins: a shifted byte breaks the xref; a cut file has no EOF.
    let mut shifted = pdf.clone();
    shifted.insert(20, b' ');
    assert!(check_pdf(&shifted).is_err());
    assert!(check_pdf(&pdf[..pdf.len() - 10]).is_err());

    // A Chinese name: question marks on the page, the full name in /Title.
    let cjk = Receipt::build(&approved(), &config("北京超市", "5411")).to_pdf();
    let content = check_pdf(&cjk).unwrap();
    assert!(content.contains("????"), "{content}");
    assert!(String::from_utf8_lossy(&cjk).contains("/Title <FEFF53174EAC8D855E02"));
}

#[test]
fn amount_formatting_follows_the_currency_exponent() {
    assert_eq!(receipt::format_amount(1_234, 978), "EUR 12.34");
    assert_eq!(receipt::format_amount(1_234, 392), "JPY 1234");
    assert_eq!(receipt::format_amount(1_234, 156), "CNY 12.34");
}
