//! QR refunds, voids and the merchant's Cancel against a real acquirer
//! (in-process, SQLite, demo wallet on): full and partial refunds through
//! the same `history::ops` calls as card refunds, a repeated refund answered
//! once, a lost answer resent under the same refund seq, over-refunds and
//! refunds of unpaid orders refused with the acquirer's reason, voids, the
//! `softpos qr refund` and `softpos refund` commands, and a sale cancelled
//! while the customer has not paid (or races to pay).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use pos::history::{ops, History, Kind, PendingQrRefund, Status};
use pos::qr::flow::{self, CancelToken, Polling, QrEvent, QrFlowError, QrOutcome, QrResult};
use pos::sync::Client;
use pos::PosError;
use serde_json::{json, Value};
use std::time::Duration;

#[path = "support/acquirer.rs"]
mod support;
use support::{LocalAcquirer, BINARY};

fn start() -> LocalAcquirer {
    let softpos = support::sha256_file(env!("CARGO_BIN_EXE_softpos"));
    let acq = LocalAcquirer::start_with(BINARY, |c| c.attestation.allowed_binaries.push(softpos));
    if let Some(run) = &acq.run {
        acquirer::qr::enable_demo(&run.state);
    }
    acq
}

fn options(env: &LocalAcquirer) -> flow::TerminalOptions {
    flow::TerminalOptions {
        acquirer: env.base.clone(),
        data_dir: env.dir.clone(),
        activation_code: Some(env.code.clone()),
        binary_sha256: BINARY.into(),
    }
}

fn fast(timeout_ms: u64) -> Polling {
    Polling {
        first: Duration::from_millis(100),
        max: Duration::from_millis(300),
        timeout: Duration::from_millis(timeout_ms),
        ..Polling::default()
    }
}

fn wechat(nn: u8) -> String {
    let r = u64::from_be_bytes(acquirer::util::random_bytes::<8>());
    format!("13{}{nn:02}", &format!("{r:020}")[..14])
}

/// A consumer-presented sale of `amount` paid (or not) by `code`, recorded.
fn sale(env: &LocalAcquirer, amount: u64, code: &str) -> QrResult {
    let req = flow::QrSaleRequest {
        amount_minor: amount,
        currency: "EUR".into(),
        polling: fast(3_000),
    };
    flow::run_sale(&options(env), &req, Some(code), &mut |_| {}).unwrap()
}

fn open(env: &LocalAcquirer) -> (Client, pos::queue::Queue, History) {
    let (client, queue) = env.terminal();
    let history = History::open_in(&env.dir).unwrap();
    (client, queue, history)
}

/// The amounts of today's statement lines of `kind` (`qr`, `refund`): what
/// the acquirer settles (refunds negative).
fn lines(env: &LocalAcquirer, kind: &str) -> Vec<i64> {
    let today = acquirer::util::date_of_ms(acquirer::Clock::System.now_ms());
    env.statement(&today)["lines"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["kind"] == kind)
        .map(|l| l["amount_minor"].as_i64().unwrap())
        .collect()
}

#[test]
fn full_and_partial_refunds_are_recorded_and_never_exceed_the_sale() {
    let env = start();
    let paid = sale(&env, 1_000, &wechat(0));
    assert_eq!(paid.outcome, QrOutcome::Paid);
    let (mut client, mut queue, mut history) = open(&env);

    // Partial, then more than is left (refused here, nothing sent), then
    // the rest.
    let part = ops::refund(&mut client, &mut queue, &mut history, paid.seq, Some(300)).unwrap();
    assert_eq!(part.record.kind, Kind::Refund);
    assert_eq!(part.record.status, Status::Approved);
    assert_eq!(part.record.amount_minor, 300);
    assert_eq!(part.record.channel, "qr");
    assert_eq!(part.record.original_payment_id, paid.payment_id);
    assert_eq!(part.record.net_minor, Some(-300));
    let text = part.receipt.to_text(42);
    assert!(text.to_uppercase().contains("REFUND"), "{text}");

    let over = ops::refund(&mut client, &mut queue, &mut history, paid.seq, Some(701)).unwrap_err();
    assert!(
        matches!(&over, PosError::Usage(m) if m.contains("1 to 700")),
        "{over}"
    );
    let rest = ops::refund(&mut client, &mut queue, &mut history, paid.seq, None).unwrap();
    assert_eq!(rest.record.amount_minor, 700);
    let sale_row = history.by_tsc(paid.seq).unwrap().unwrap();
    assert_eq!(sale_row.refunded_minor, 1_000);
    // Nothing left: refused.
    assert!(ops::refund(&mut client, &mut queue, &mut history, paid.seq, None).is_err());
    assert_eq!(lines(&env, "refund"), [-300, -700]);

    // The acquirer keeps the total too, whatever the terminal believes:
    // its reason comes back as is.
    let e = pos::qr::refund::refund(&mut client, 9_001, paid.seq, 1).unwrap_err();
    assert!(
        matches!(&e, QrFlowError::Refused { code, .. } if code == "refund_exceeds_payment"),
        "{e:?}"
    );
    assert_eq!(lines(&env, "refund").len(), 2);
}

#[test]
fn the_same_refund_seq_twice_refunds_once() {
    let env = start();
    let paid = sale(&env, 800, &wechat(0));
    let (mut client, mut queue, _) = open(&env);
    let seq = queue.next_tsc().unwrap();
    let a = pos::qr::refund::refund(&mut client, seq, paid.seq, 500).unwrap();
    let b = pos::qr::refund::refund(&mut client, seq, paid.seq, 500).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.refunded_total_minor, 500);
    assert_eq!(lines(&env, "refund"), [-500]);
    // Tampered twin: the same seq with another amount is not a new refund
    // either; the stored answer does not match what was asked, so the
    // terminal refuses to record it.
    let c = pos::qr::refund::refund(&mut client, seq, paid.seq, 200).unwrap_err();
    assert!(matches!(c, QrFlowError::Protocol(_)), "{c:?}");
    assert_eq!(lines(&env, "refund").len(), 1);
}

#[test]
fn a_refund_whose_answer_was_lost_is_resent_under_the_same_seq() {
    let env = start();
    let paid = sale(&env, 900, &wechat(0));
    let (mut client, mut queue, mut history) = open(&env);
    // The refund went out and reached the acquirer; the terminal never
    // heard back.
    let p = PendingQrRefund {
        order_seq: paid.seq,
        refund_seq: queue.next_tsc().unwrap(),
        amount_minor: 400,
    };
    history.arm_qr_refund(&p, support::now()).unwrap();
    let lost = client
        .call(
            "POST",
            "/v1/qr/refunds",
            &json!({ "refund_seq": p.refund_seq, "seq": paid.seq, "amount_minor": 400 }),
        )
        .unwrap();
    assert_eq!(lost["status"], "approved");

    // The merchant asks again (for "all that is left"): the pending one is
    // resent first and recorded, not a second refund.
    let r = ops::refund(&mut client, &mut queue, &mut history, paid.seq, None).unwrap();
    assert_eq!(r.record.tsc, Some(p.refund_seq));
    assert_eq!(r.record.amount_minor, 400);
    assert_eq!(history.pending_qr_refund(paid.seq).unwrap(), None);
    assert_eq!(lines(&env, "refund"), [-400]);
    assert_eq!(
        history.by_tsc(paid.seq).unwrap().unwrap().refunded_minor,
        400
    );

    // A second pending refund asked again with another amount: confirmed,
    // recorded, and the merchant told to look before refunding more.
    let p2 = PendingQrRefund {
        order_seq: paid.seq,
        refund_seq: queue.next_tsc().unwrap(),
        amount_minor: 100,
    };
    history.arm_qr_refund(&p2, support::now()).unwrap();
    let e = ops::refund(&mut client, &mut queue, &mut history, paid.seq, Some(500)).unwrap_err();
    assert!(e.to_string().contains("answer was lost"), "{e}");
    assert_eq!(lines(&env, "refund"), [-400, -100]);
    assert_eq!(
        history.by_tsc(paid.seq).unwrap().unwrap().refunded_minor,
        500
    );
}

#[test]
fn unpaid_orders_cannot_be_refunded() {
    let env = start();
    let declined = sale(&env, 400, &wechat(90));
    assert_eq!(declined.outcome, QrOutcome::Declined);
    let (mut client, mut queue, mut history) = open(&env);
    let e = ops::refund(&mut client, &mut queue, &mut history, declined.seq, None).unwrap_err();
    assert!(e.to_string().contains("only an approved payment"), "{e}");
    // Straight at the acquirer: refused with its reason.
    let e = pos::qr::refund::refund(&mut client, 9_002, declined.seq, 400).unwrap_err();
    assert!(
        matches!(&e, QrFlowError::Refused { code, .. } if code == "not_refundable"),
        "{e:?}"
    );
    assert!(lines(&env, "refund").is_empty());
}

#[test]
fn a_paid_qr_sale_is_voided_and_then_cannot_be_refunded() {
    let env = start();
    let paid = sale(&env, 1_200, &wechat(0));
    let (mut client, mut queue, mut history) = open(&env);
    let v = ops::void(&mut client, &mut history, paid.seq).unwrap();
    assert_eq!(v.record.status, Status::Reversed);
    assert_eq!(v.record.net_minor, Some(0));
    assert!(lines(&env, "qr").is_empty());
    // Voided: nothing to refund, and a second void is refused here.
    assert!(ops::refund(&mut client, &mut queue, &mut history, paid.seq, None).is_err());
    assert!(ops::void(&mut client, &mut history, paid.seq).is_err());

    // A partly refunded sale cannot be voided: the acquirer says refund
    // the rest instead.
    let paid = sale(&env, 1_000, &wechat(0));
    ops::refund(&mut client, &mut queue, &mut history, paid.seq, Some(100)).unwrap();
    let e = ops::void(&mut client, &mut history, paid.seq).unwrap_err();
    assert!(e.to_string().contains("already_refunded"), "{e}");
    assert_eq!(
        history.by_tsc(paid.seq).unwrap().unwrap().status,
        Status::Approved
    );
}

fn softpos(args: &[&str]) -> (Option<i32>, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_softpos"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn softpos_qr_refund_and_softpos_refund() {
    let env = start();
    let paid = sale(&env, 1_000, &wechat(0));
    let dir = env.dir.to_str().unwrap();
    let pid = paid.payment_id.clone().unwrap();
    let (code, out, err) = softpos(&[
        "qr",
        "refund",
        &pid,
        "--amount",
        "250",
        "--acquirer",
        &env.base,
        "--data-dir",
        dir,
        "--json",
    ]);
    assert_eq!(code, Some(0), "{out}{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["record"]["amount_minor"], 250);
    assert_eq!(v["record"]["kind"], "refund");

    // By order ID, and the generic `softpos refund --tsc` for the rest.
    let oid = paid.order_id.clone().unwrap();
    let (code, out, err) = softpos(&[
        "qr",
        "refund",
        &oid,
        "--amount",
        "5000",
        "--acquirer",
        &env.base,
        "--data-dir",
        dir,
    ]);
    assert_ne!(code, Some(0), "{out}");
    assert!(err.contains("1 to 750"), "{err}");
    let (code, out, err) = softpos(&[
        "refund",
        "--tsc",
        &paid.seq.to_string(),
        "--acquirer",
        &env.base,
        "--data-dir",
        dir,
    ]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.to_uppercase().contains("REFUND"), "{out}");
    assert_eq!(lines(&env, "refund"), [-250, -750]);
    // An ID the history does not hold.
    let (code, _, err) = softpos(&[
        "qr",
        "refund",
        "pay_nope",
        "--acquirer",
        &env.base,
        "--data-dir",
        dir,
    ]);
    assert_ne!(code, Some(0));
    assert!(err.contains("no QR sale"), "{err}");
}

#[test]
fn a_sale_cancelled_before_payment_moves_no_money() {
    let env = start();
    let cancel = CancelToken::new();
    let req = flow::QrSaleRequest {
        amount_minor: 600,
        currency: "EUR".into(),
        polling: fast(60_000),
    };
    let mut order_id = String::new();
    let mut cancelling = Vec::new();
    let started = std::time::Instant::now();
    let c2 = cancel.clone();
    let r = flow::run_sale_cancellable(&options(&env), &req, None, &cancel, &mut |e| match e {
        QrEvent::Show { order, .. } => {
            order_id = order.order_id.clone();
            let c = c2.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(400));
                c.cancel();
            });
        }
        QrEvent::Cancelling { why } => cancelling.push(why.to_string()),
        QrEvent::Status(_) => {}
    })
    .unwrap();
    assert_eq!(r.outcome, QrOutcome::Cancelled, "{r:?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "long before the timeout"
    );
    assert_eq!(cancelling, ["the merchant cancelled the sale"]);
    assert!(r.reason.contains("merchant"), "{}", r.reason);
    // A wallet that pays after the cancel is refused; nothing moved.
    let paid = ureq::post(&format!("{}/v1/demo/qr/orders/{order_id}/pay", env.base))
        .send_json(json!({ "code": wechat(0) }));
    assert!(matches!(paid, Err(ureq::Error::Status(409, _))));
    assert!(lines(&env, "qr").is_empty());
    let rec = History::open_in(&env.dir)
        .unwrap()
        .by_tsc(r.seq)
        .unwrap()
        .unwrap();
    assert_eq!(rec.status, Status::Declined);
}

#[test]
fn a_cancel_racing_the_customers_payment_ends_one_way_recorded_once() {
    for delay_ms in [0_u64, 150, 350] {
        let env = start();
        let cancel = CancelToken::new();
        let req = flow::QrSaleRequest {
            amount_minor: 700,
            currency: "EUR".into(),
            polling: fast(60_000),
        };
        let c2 = cancel.clone();
        let base = env.base.clone();
        let mut payer = None;
        let r = flow::run_sale_cancellable(&options(&env), &req, None, &cancel, &mut |e| {
            if let QrEvent::Show { order, .. } = e {
                let (c, base, id) = (c2.clone(), base.clone(), order.order_id.clone());
                payer = Some(std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(200));
                    let paid = ureq::post(&format!("{base}/v1/demo/qr/orders/{id}/pay"))
                        .send_json(json!({ "code": wechat(0) }))
                        .is_ok();
                    std::thread::sleep(Duration::from_millis(delay_ms));
                    c.cancel();
                    paid
                }));
            }
        })
        .unwrap();
        let wallet_paid = payer.unwrap().join().unwrap();
        let approved = lines(&env, "qr");
        let history = History::open_in(&env.dir).unwrap();
        let rec = history.by_tsc(r.seq).unwrap().unwrap();
        match r.outcome {
            // The terminal saw the payment before the cancel: a sale.
            QrOutcome::Paid => {
                assert!(wallet_paid);
                assert_eq!(approved, [700]);
                assert_eq!(rec.status, Status::Approved);
            }
            // The cancel came first (refusing the wallet) or reversed it.
            QrOutcome::Cancelled | QrOutcome::Reversed => {
                assert!(approved.is_empty(), "{approved:?}");
                assert_ne!(rec.status, Status::Approved);
                assert_eq!(r.outcome == QrOutcome::Reversed, wallet_paid);
            }
            other => panic!("{delay_ms} ms: {other:?}"),
        }
        let all = history.search(&Default::default()).unwrap();
        assert_eq!(all.len(), 1, "recorded once");
    }
}
