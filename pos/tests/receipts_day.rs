//! A realistic day against an acquirer serving HTTP (in this process, on
//! a local port, SQLite): approvals, an issuer decline, a card decline,
//! offline payments forwarded (one approved, one declined by the issuer
//! after the sale), a lost answer reversed, a partial refund and a void.
//! The terminal's history and daily totals must then equal the acquirer's
//! statement and settlement for that day, payment by payment (amount, fee,
//! net, settlement date); and with one history row dropped they must not.

// Helpers outside #[test] fns are test code too; clippy.toml only covers the fns.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/acquirer.rs"]
mod support;

use pos::history::{self, Filter, History, Kind, Status};
use pos::pay::{charge, PayStatus};
use pos::queue::Queue;
use pos::sync::Client;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use support::{lossy_proxy, now, nowhere, tap, LocalAcquirer, BINARY};

/// Charges and records, as `pos::pay::pay` does.
fn pay(
    client: &mut Client,
    queue: &mut Queue,
    h: &mut History,
    card: &str,
    amount: u64,
) -> pos::pay::PayResult {
    let r = charge(client, queue, &tap(card, amount), amount).unwrap();
    history::record_charge(h, &r, amount, 978, now()).unwrap();
    r
}

/// One settlement line: (kind, signed amount, fee, net, settlement date).
type Line = (String, i64, i64, i64, String);

/// The terminal's view of the day, by the acquirer's payment ID.
fn terminal_lines(h: &History, day: &str) -> BTreeMap<String, Line> {
    h.search(&Filter {
        from: Some(day.into()),
        to: Some(day.into()),
        status: Some(Status::Approved),
        ..Filter::default()
    })
    .unwrap()
    .into_iter()
    .map(|r| {
        let amount = i64::try_from(r.amount_minor).unwrap();
        let signed = if r.kind == Kind::Refund {
            -amount
        } else {
            amount
        };
        (
            r.payment_id.clone().unwrap(),
            (
                if r.kind == Kind::Refund {
                    "refund"
                } else {
                    "purchase"
                }
                .to_string(),
                signed,
                r.fee_minor.unwrap(),
                r.net_minor.unwrap(),
                r.settlement_date.clone().unwrap(),
            ),
        )
    })
    .collect()
}

/// The acquirer's statement of the day, by payment ID.
fn acquirer_lines(statement: &Value) -> BTreeMap<String, Line> {
    statement["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["payment_id"].as_str().unwrap().to_string(),
                (
                    l["kind"].as_str().unwrap().to_string(),
                    l["amount_minor"].as_i64().unwrap(),
                    l["fee_minor"].as_i64().unwrap(),
                    l["net_minor"].as_i64().unwrap(),
                    l["settlement_date"].as_str().unwrap().to_string(),
                ),
            )
        })
        .collect()
}

/// Ok when the terminal's history and totals for `day` equal the
/// acquirer's statement and settlement batch, line by line.
fn compare(h: &History, day: &str, statement: &Value, settlement: &Value) -> Result<(), String> {
    let mine = terminal_lines(h, day);
    let theirs = acquirer_lines(statement);
    if mine != theirs {
        return Err(format!(
            "lines differ:\n terminal {mine:#?}\n acquirer {theirs:#?}"
        ));
    }
    let t = h.totals(day).unwrap();
    let ours = (
        i64::try_from(t.settled_count).unwrap(),
        t.gross_minor,
        t.fees_minor,
        t.net_minor,
    );
    let batch = (
        settlement["payment_count"].as_i64().unwrap(),
        settlement["gross_minor"].as_i64().unwrap(),
        settlement["fees_minor"].as_i64().unwrap(),
        settlement["net_minor"].as_i64().unwrap(),
    );
    let st = &statement["totals"];
    let stated = (
        st["count"].as_i64().unwrap(),
        st["gross_minor"].as_i64().unwrap(),
        st["fees_minor"].as_i64().unwrap(),
        st["net_minor"].as_i64().unwrap(),
    );
    if ours != batch || ours != stated {
        return Err(format!(
            "totals differ: terminal {ours:?}, settlement {batch:?}, statement {stated:?}"
        ));
    }
    Ok(())
}

#[test]
fn a_day_of_payments_matches_the_acquirers_settlement() {
    let env = LocalAcquirer::start(BINARY);
    let (mut client, mut queue) = env.terminal();
    let mut h = History::open_in(&env.dir).unwrap();
    let config = client.identity().config().clone();
    assert_eq!(config.acquirer_name, "SoftPOS Demo Acquirer");
    assert_eq!(config.fee_bps, 150);
    assert_eq!(config.settlement_account_masked, "******************3000");
    assert_eq!(config.settlement_delay_days, 1);

    // Approved online, with the acquirer's own figures.
    let a1 = pay(&mut client, &mut queue, &mut h, "visa-cvn18", 1_234);
    assert_eq!(a1.status, PayStatus::Approved, "{a1:?}");
    let f = &a1.response.as_ref().unwrap().figures;
    // 1.50 % of 12.34 = 0.1851, rounded half up.
    assert_eq!((f.fee_bps, f.fee_minor, f.net_minor), (150, 19, 1_215));
    let a2 = pay(&mut client, &mut queue, &mut h, "mastercard-cvn16", 5_000);
    let a3 = pay(&mut client, &mut queue, &mut h, "visa-cvn18", 777);
    let a4 = pay(&mut client, &mut queue, &mut h, "mastercard-cvn16", 2_500);
    for r in [&a2, &a3, &a4] {
        assert_eq!(r.status, PayStatus::Approved, "{r:?}");
    }

    // Declined by the card itself (no tsc), and by the issuer.
    let d1 = pay(&mut client, &mut queue, &mut h, "visa-decline", 300);
    assert_eq!((d1.status, d1.tsc), (PayStatus::Declined, None));
    env.admin(
        "/v1/issuer/cards",
        &json!({ "pan": "4761739001010119", "balance_minor": 100_000, "blocked": true }),
    );
    let d2 = pay(&mut client, &mut queue, &mut h, "visa-cvn18", 400);
    assert_eq!(d2.status, PayStatus::Declined, "{d2:?}");
    assert_eq!(d2.response.as_ref().unwrap().figures.fee_minor, 0);
    env.admin(
        "/v1/issuer/cards",
        &json!({ "pan": "4761739001010119", "balance_minor": 100_000, "blocked": false }),
    );

    // The acquirer is unreachable: two payments accepted offline.
    let identity = pos::sync::Identity::open(&env.dir).unwrap();
    let mut offline = Client::new(&nowhere(), identity, BINARY);
    let o1 = pay(&mut offline, &mut queue, &mut h, "visa-cvn18", 2_000);
    let o2 = pay(&mut offline, &mut queue, &mut h, "mastercard-cvn16", 900);
    assert_eq!(o1.status, PayStatus::AcceptedOffline, "{o1:?}");
    assert_eq!(o2.status, PayStatus::AcceptedOffline, "{o2:?}");
    let waiting = h.by_tsc(o1.tsc.unwrap()).unwrap().unwrap();
    assert_eq!(waiting.status, Status::AcceptedOffline);
    let receipt = pos::receipt::Receipt::build(&waiting, &config);
    assert!(receipt.figures_expected);
    assert_eq!(
        (receipt.fee.as_str(), receipt.net.as_str()),
        ("EUR 0.30", "EUR 19.70")
    );
    let t = h.totals(&history::date_of_ms(now())).unwrap();
    assert_eq!((t.pending_count, t.pending_minor), (2, 2_900));

    // Back online; the Mastercard has no money left by then: the issuer
    // declines it after the sale. The forwarder's results reach the history.
    env.admin(
        "/v1/issuer/cards",
        &json!({ "pan": "5413330089010434", "balance_minor": 100, "blocked": false }),
    );
    drop(offline);
    let f = queue.forward(&mut client, now() + 60_000).unwrap();
    assert_eq!(f.delivered.len(), 2, "{:?}", f.stopped);
    assert_eq!(h.reconcile(&queue, now()).unwrap(), 2);
    assert_eq!(h.reconcile(&queue, now()).unwrap(), 0, "idempotent");
    let o1r = h.by_tsc(o1.tsc.unwrap()).unwrap().unwrap();
    let o2r = h.by_tsc(o2.tsc.unwrap()).unwrap().unwrap();
    assert_eq!(
        (o1r.status, o1r.channel.as_str()),
        (Status::Approved, "offline")
    );
    assert_eq!(o1r.fee_minor, Some(30));
    assert_eq!(o2r.status, Status::Declined, "{o2r:?}");
    env.admin(
        "/v1/issuer/cards",
        &json!({ "pan": "5413330089010434", "balance_minor": 100_000, "blocked": false }),
    );

    // A lost answer: reversed by the forwarder.
    let mut lossy = Client::new(
        &env.base,
        pos::sync::Identity::open(&env.dir).unwrap(),
        BINARY,
    );
    lossy.attest().unwrap();
    lossy.set_base(&lossy_proxy(env.addr()));
    lossy.set_timeout(std::time::Duration::from_secs(5));
    let rv = pay(&mut lossy, &mut queue, &mut h, "visa-cvn18", 4_321);
    assert_eq!(rv.status, PayStatus::Reversed, "{rv:?}");
    drop(lossy);
    let f = queue.forward(&mut client, now()).unwrap();
    assert_eq!(f.reversals_sent, 1, "{:?}", f.stopped);

    // A partial refund of a4, then the rest, and a void of a3.
    let a4_tsc = a4.tsc.unwrap();
    let r1 = history::ops::refund(&mut client, &mut queue, &mut h, a4_tsc, Some(1_000)).unwrap();
    assert_eq!(r1.record.kind, Kind::Refund);
    assert_eq!(
        (r1.record.fee_minor, r1.record.net_minor),
        (Some(0), Some(-1_000))
    );
    assert_eq!(h.by_tsc(a4_tsc).unwrap().unwrap().refunded_minor, 1_000);
    let too_much = history::ops::refund(&mut client, &mut queue, &mut h, a4_tsc, Some(1_501));
    assert!(
        matches!(too_much, Err(pos::PosError::Usage(_))),
        "{too_much:?}"
    );
    history::ops::refund(&mut client, &mut queue, &mut h, a4_tsc, None).unwrap();
    assert_eq!(h.by_tsc(a4_tsc).unwrap().unwrap().refunded_minor, 2_500);
    let v = history::ops::void(&mut client, &mut h, a3.tsc.unwrap()).unwrap();
    assert_eq!(v.record.status, Status::Voided);
    assert_eq!(v.receipt.status, "VOIDED");
    let again = history::ops::void(&mut client, &mut h, a3.tsc.unwrap());
    assert!(again.is_err(), "a voided payment cannot be voided again");

    // Every kind of payment is in the history.
    let day = history::date_of_ms(now());
    let all = h.search(&Filter::default()).unwrap();
    let statuses: std::collections::BTreeSet<&str> =
        all.iter().map(|r| r.status.as_str()).collect();
    assert_eq!(
        statuses,
        ["approved", "declined", "reversed", "voided"]
            .into_iter()
            .collect()
    );
    assert_eq!(all.len(), 11, "{all:#?}");
    assert!(all
        .iter()
        .all(|r| r.masked_pan.as_deref() != Some("4761739001010119")));

    // The day's totals equal the acquirer's, line by line.
    let statement = env.statement(&day);
    let settlement = env.admin(
        &format!("/v1/merchants/{}/settlements", env.merchant_id),
        &json!({ "business_date": day }),
    );
    assert!(settlement["settlement_id"].is_string(), "{settlement}");
    let lines = terminal_lines(&h, &day);
    assert_eq!(lines.len(), 6, "a1 a2 a4 o1 and two refunds: {lines:#?}");
    compare(&h, &day, &statement, &settlement).unwrap();
    let t = h.totals(&day).unwrap();
    // 1234 + 5000 + 2500 + 2000 - 2500 = 8234; fees 19 + 75 + 38 + 30.
    assert_eq!(
        (t.gross_minor, t.fees_minor, t.net_minor),
        (8_234, 162, 8_072)
    );
    assert_eq!(t.pending_count, 0);

    // Tampered twins: one history row lost, or one fee off by one.
    let a2_id = h.by_tsc(a2.tsc.unwrap()).unwrap().unwrap().id;
    let mut rec = h.by_id(a2_id).unwrap().unwrap();
    h.delete_for_test(a2_id).unwrap();
    assert!(compare(&h, &day, &statement, &settlement).is_err());
    rec.fee_minor = Some(rec.fee_minor.unwrap() + 1);
    let mut twin = pos::history::NewRecord::from_record(&rec, now());
    twin.figures = Some(pos::sync::Figures {
        fee_bps: 150,
        fee_minor: rec.fee_minor.unwrap(),
        net_minor: rec.net_minor.unwrap(),
        business_date: rec.business_date.clone(),
        settlement_date: rec.settlement_date.clone().unwrap(),
    });
    h.record(&twin).unwrap();
    let err = compare(&h, &day, &statement, &settlement).unwrap_err();
    assert!(err.contains("lines differ"), "{err}");
}

#[test]
fn a_fee_change_resigns_the_configuration_and_the_terminal_fetches_it() {
    let env = LocalAcquirer::start(BINARY);
    let (mut client, mut queue) = env.terminal();
    let mut h = History::open_in(&env.dir).unwrap();
    let a = pay(&mut client, &mut queue, &mut h, "visa-cvn18", 10_000);
    assert_eq!(a.response.as_ref().unwrap().figures.fee_minor, 150);
    let p = env.admin(
        &format!("/v1/merchants/{}/changes", env.merchant_id),
        &json!({ "fee_bps": 120 }),
    );
    let cid = p["change_id"].as_str().unwrap();
    let ack = env.post_as(
        &env.merchant_key,
        &format!(
            "/v1/merchants/{}/changes/{cid}/acknowledge",
            env.merchant_id
        ),
        &json!({}),
    );
    // After the onboarding and the demo's review scheduling.
    assert_eq!(ack["seq"], 3, "{ack}");
    // A restarted terminal still holds the old configuration: attestation
    // says so, the terminal fetches the new one and goes on.
    drop(client);
    let mut client = Client::new(
        &env.base,
        pos::sync::Identity::open(&env.dir).unwrap(),
        BINARY,
    );
    assert_eq!(client.identity().config().fee_bps, 150);
    let b = pay(&mut client, &mut queue, &mut h, "visa-cvn18", 10_000);
    assert_eq!(b.status, PayStatus::Approved, "{b:?}");
    assert_eq!(client.identity().config().fee_bps, 120);
    assert_eq!(b.response.as_ref().unwrap().figures.fee_minor, 120);
    // Stored: a later run reads the new configuration from disk.
    let stored = pos::sync::Identity::open(&env.dir).unwrap();
    assert_eq!(stored.config().fee_bps, 120);
    assert!(!client.refresh_config().unwrap(), "nothing new to fetch");
    // The receipts show each payment's own rate.
    let ra =
        pos::receipt::Receipt::build(&h.by_tsc(a.tsc.unwrap()).unwrap().unwrap(), stored.config());
    let rb =
        pos::receipt::Receipt::build(&h.by_tsc(b.tsc.unwrap()).unwrap().unwrap(), stored.config());
    assert_eq!(
        (ra.fee_rate.as_str(), ra.fee.as_str()),
        ("1.50 %", "EUR 1.50")
    );
    assert_eq!(
        (rb.fee_rate.as_str(), rb.fee.as_str()),
        ("1.20 %", "EUR 1.20")
    );
}
