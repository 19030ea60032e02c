//! `softpos pay`, `history`, `receipt`, `refund`, `void` and `totals` as a
//! merchant runs them, against an acquirer serving HTTP on a local port.

// Helpers outside #[test] fns are test code too; clippy.toml only covers the fns.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/acquirer.rs"]
mod support;

use serde_json::Value;
use support::{sha256_file, LocalAcquirer};

struct Cli<'a> {
    exe: &'static str,
    env: &'a LocalAcquirer,
}

impl Cli<'_> {
    fn run(&self, args: &[&str]) -> (Option<i32>, Vec<u8>, String) {
        let out = std::process::Command::new(self.exe)
            .args(args)
            .arg("--data-dir")
            .arg(&self.env.dir)
            .output()
            .unwrap();
        (
            out.status.code(),
            out.stdout,
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    }

    fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.run(args);
        let out = String::from_utf8_lossy(&out).to_string();
        assert_eq!(code, Some(0), "{args:?}: {out}{err}");
        out
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        a.push("--json");
        serde_json::from_str(&self.ok(&a)).unwrap()
    }
}

#[test]
fn a_merchant_pays_lists_prints_refunds_voids_and_totals() {
    let exe = env!("CARGO_BIN_EXE_softpos");
    let env = LocalAcquirer::start(&sha256_file(exe));
    let cli = Cli { exe, env: &env };

    // Pay prints the result, then the receipt.
    let out = cli.ok(&[
        "pay",
        "--amount",
        "1234",
        "--currency",
        "EUR",
        "--acquirer",
        &env.base,
        "--activation-code",
        &env.code,
    ]);
    assert!(out.contains("APPROVED"), "{out}");
    for needle in [
        "Demo Grocery",
        "Grocery Stores and Supermarkets",
        "SoftPOS Demo Acquirer",
        "1.50 %",
        "EUR 0.19",
        "EUR 12.15",
        "******************3000",
    ] {
        assert!(out.contains(needle), "{needle:?} missing from:\n{out}");
    }
    assert!(!out.contains("4761739001010119"));
    for amount in ["500", "2500"] {
        cli.ok(&[
            "pay",
            "--amount",
            amount,
            "--currency",
            "EUR",
            "--acquirer",
            &env.base,
            "--reader",
            "sim:mastercard-cvn16",
        ]);
    }
    // Declined at the card: in the history too.
    let (code, _, _) = cli.run(&[
        "pay",
        "--amount",
        "300",
        "--currency",
        "EUR",
        "--acquirer",
        &env.base,
        "--reader",
        "sim:visa-decline",
    ]);
    assert_eq!(code, Some(1));

    let all = cli.json(&["history"]);
    let all = all.as_array().unwrap();
    assert_eq!(all.len(), 4, "{all:#?}");
    assert_eq!(all[0]["status"], "approved");
    assert_eq!(all[0]["fee_minor"], 19);
    assert_eq!(all[3]["status"], "declined");
    let mc = cli.json(&["history", "--last4", "0434", "--status", "approved"]);
    assert_eq!(mc.as_array().unwrap().len(), 2);
    let (code, _, err) = cli.run(&["history", "--status", "paid"]);
    assert_eq!(code, Some(2), "{err}");
    let table = cli.ok(&["history", "--min-amount", "1000"]);
    assert!(table.contains("2 payment(s)"), "{table}");

    // Receipts in each format.
    let tsc = all[0]["tsc"].as_u64().unwrap().to_string();
    let text = cli.ok(&["receipt", &tsc, "--width", "32"]);
    assert!(text.lines().all(|l| l.chars().count() <= 32), "{text}");
    let (_, esc, _) = cli.run(&["receipt", &tsc, "--format", "escpos"]);
    assert!(esc.starts_with(&[0x1B, b'@']) && esc.ends_with(&[0x1D, b'V', 66, 0]));
    let pdf_path = env.dir.join("r.pdf");
    cli.ok(&[
        "receipt",
        &tsc,
        "--format",
        "pdf",
        "--out",
        pdf_path.to_str().unwrap(),
    ]);
    let pdf = std::fs::read(&pdf_path).unwrap();
    assert!(pdf.starts_with(b"%PDF-1.4") && pdf.ends_with(b"%%EOF\n"));
    let html = cli.ok(&["receipt", &tsc, "--format", "html"]);
    assert!(html.contains("<h1>Demo Grocery</h1>"));
    let (code, _, _) = cli.run(&["receipt", "999"]);
    assert_eq!(code, Some(2));

    // Refund part of the 25.00, void the 5.00.
    let mc = mc.as_array().unwrap();
    let (small, big) = (
        mc[0]["tsc"].as_u64().unwrap().to_string(),
        mc[1]["tsc"].as_u64().unwrap().to_string(),
    );
    let r = cli.json(&[
        "refund",
        "--tsc",
        &big,
        "--amount",
        "1000",
        "--acquirer",
        &env.base,
    ]);
    assert_eq!(r["record"]["kind"], "refund");
    assert_eq!(r["record"]["net_minor"], -1000);
    assert_eq!(r["receipt"]["amount"], "-EUR 10.00");
    let v = cli.json(&["void", "--tsc", &small, "--acquirer", &env.base]);
    assert_eq!(v["record"]["status"], "voided");
    let (code, _, err) = cli.run(&["void", "--tsc", &small, "--acquirer", &env.base]);
    assert_eq!(code, Some(2), "{err}");
    let (code, _, err) = cli.run(&[
        "refund",
        "--tsc",
        &big,
        "--amount",
        "1501",
        "--acquirer",
        &env.base,
    ]);
    assert_eq!(code, Some(2), "{err}");

    // Totals: 12.34 + 25.00 - 10.00; fees 0.19 + 0.38.
    let t = cli.json(&["totals"]);
    assert_eq!(
        (
            t["settled_count"].clone(),
            t["gross_minor"].clone(),
            t["fees_minor"].clone(),
            t["net_minor"].clone()
        ),
        (3.into(), 2_734.into(), 57.into(), 2_677.into()),
        "{t:#}"
    );
    let text = cli.ok(&["totals"]);
    assert!(
        text.contains("EUR 27.34") && text.contains("EUR 26.77"),
        "{text}"
    );
    let (code, _, _) = cli.run(&["totals", "--date", "23/11/2026"]);
    assert_eq!(code, Some(2));
}
