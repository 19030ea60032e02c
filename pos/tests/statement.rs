//! The acquirer's statement and the merchant-information review, from the
//! terminal, against the real acquirer in-process (seeded as `--demo`: the
//! demo merchant's review is due in two weeks).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/acquirer.rs"]
mod support;

use pos::sync::{review_state, SyncError, TerminalConfig};
use serde_json::json;
use support::{sha256_file, LocalAcquirer};

fn day(offset: i64) -> String {
    pos::history::format_day(i64::try_from(pos::sync::now_ms() / 86_400_000).unwrap() + offset)
}

#[test]
fn statement_and_review_from_the_terminal() {
    let exe = env!("CARGO_BIN_EXE_softpos");
    let sha = sha256_file(exe);
    let acq = LocalAcquirer::start(&sha);
    for amount in [1_234, 500] {
        let out = acq.softpos_pay("sim:visa-cvn18", amount);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let (mut client, _) = pos::pay::open_terminal(&acq.dir, &acq.base, None, &sha).unwrap();
    let today = day(0);

    // The statement: the acquirer's lines, totals and referenced terms.
    let s = client.statement(&today, &today).unwrap();
    assert_eq!(s.merchant_id, acq.merchant_id);
    assert_eq!(s.lines.len(), 2);
    assert_eq!(s.lines[0].amount_minor, 1_234);
    assert_eq!(s.lines[0].fee_minor, 19);
    assert_eq!(s.lines[0].net_minor, 1_215);
    assert_eq!(s.lines[0].mcc, "5411");
    assert_eq!(s.lines[0].settlement_date, day(1));
    assert!(!s.lines[0].settled);
    assert_eq!(s.totals.net_minor, 1_215 + 492);
    assert_eq!(s.settlement_account, "******************3000");
    assert_eq!(s.payouts.len(), 1);
    assert_eq!(s.payouts[0].settlement_date, day(1));
    assert!(s.chain_verified());
    let terms = s.terms_of(&s.lines[0]).unwrap();
    assert_eq!(terms.kind, "onboarded");
    assert_eq!(terms.body["fee_bps"], 150);
    // The merchant reads the same lines with its key.
    let m = acq.statement(&today);
    assert_eq!(serde_json::to_value(&s.lines).unwrap(), m["lines"]);
    // A date that is not one is refused before anything is sent.
    assert!(matches!(
        client.statement("2026-02-30", &today),
        Err(SyncError::Local(_))
    ));
    let far = client.statement("2020-01-01", &today).unwrap_err();
    assert!(
        matches!(&far, SyncError::Refused { code, .. } if code == "invalid_period"),
        "{far:?}"
    );

    // The CLI prints it as a table.
    let out = std::process::Command::new(exe)
        .args([
            "statement",
            "--acquirer",
            &acq.base,
            "--from",
            &today,
            "--to",
            &today,
        ])
        .arg("--data-dir")
        .arg(&acq.dir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for needle in [
        "Demo Grocery",
        "5411",
        "1.50 %",
        "EUR 12.15",
        "******************3000",
        "History chain: verified",
        &day(14),
    ] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }

    // The demo merchant is due in two weeks: a reminder.
    let due = client.identity().config().info_review_due.clone();
    assert_eq!(due, day(14));
    let r = review_state(&due, &today).unwrap();
    assert!(r.reminder && !r.overdue);

    // The acquirer changes the fee and the merchant acknowledges it: this
    // terminal's configuration is stale, so its confirmation is refused.
    let change = acq.admin(
        &format!("/v1/merchants/{}/changes", acq.merchant_id),
        &json!({ "fee_bps": 120 }),
    );
    let ack = acq.post_as(
        &acq.merchant_key,
        &format!(
            "/v1/merchants/{}/changes/{}/acknowledge",
            acq.merchant_id,
            change["change_id"].as_str().unwrap()
        ),
        &json!({}),
    );
    assert_eq!(ack["kind"], "change_acknowledged");
    let stale = client.confirm_merchant_info().unwrap_err();
    assert!(
        matches!(&stale, SyncError::Refused { status: 409, code, .. } if code == "merchant_info_changed"),
        "{stale:?}"
    );
    assert_eq!(client.identity().config().info_review_due, day(14));
    // With the current configuration it goes through and moves the date.
    assert!(client.refresh_config().unwrap());
    assert_eq!(client.identity().config().fee_bps, 120);
    let c = client.confirm_merchant_info().unwrap();
    assert_eq!(c.info_review_due, day(365));
    assert_eq!(c.history_entry.kind, "info_confirmed");
    assert_eq!(c.history_entry.body["fee_bps"], 120);
    assert_eq!(client.identity().config().info_review_due, day(365));
    assert!(!review_state(&day(365), &today).unwrap().reminder);
    // Stored: a reopened terminal has it, and the next call attests anew
    // over the re-signed configuration.
    drop(client);
    let (mut client, _) = pos::pay::open_terminal(&acq.dir, &acq.base, None, &sha).unwrap();
    assert_eq!(client.identity().config().info_review_due, day(365));
    let s = client.statement(&today, &today).unwrap();
    assert!(s.chain_verified());
    assert_eq!(s.history.entries.last().unwrap().kind, "info_confirmed");
    assert_eq!(s.info_review_due, day(365));
}

#[test]
fn configurations_from_before_the_review_still_parse() {
    let old = json!({ "terminal_id": "T1", "merchant_id": "mer_1", "merchant_name": "Shop",
        "mcc": "5411", "currency": 978, "max_amount_minor": 100_000, "offline_limit_minor": 5_000,
        "acquirer_key_id": "k1", "acquirer_public_key": "04", "issued_ms": 1 });
    let c: TerminalConfig = serde_json::from_value(old).unwrap();
    assert_eq!(c.info_review_due, "");
    assert_eq!(
        review_state(&c.info_review_due, &day(0)),
        None,
        "no reminder"
    );
}
