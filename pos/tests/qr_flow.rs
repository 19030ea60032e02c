//! QR payments end to end against a real acquirer (in-process, over HTTP on
//! loopback, SQLite, seeded as `--demo` seeds it with the demo wallet
//! endpoint on): merchant-presented orders paid by a simulated customer,
//! micropay with each wallet behaviour, timeouts that cancel, the offline
//! refusal, lost answers resent without charging twice, and the
//! `softpos qr charge|collect` commands.

// Helpers outside #[test] fns are test code too; clippy.toml only covers the fns.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use pos::qr::flow::{self, Acquirer, Polling, QrEvent, QrFlowError, QrOutcome, Sale, SystemWaiter};
use pos::sync::{Client, SyncError};
use serde_json::{json, Value};
use std::io::BufRead;
use std::time::Duration;

#[path = "support/acquirer.rs"]
mod support;
use support::{LocalAcquirer, BINARY};

/// The shared in-process acquirer, with the demo wallet endpoint on and the
/// softpos binary allowed to attest too (the CLI tests).
struct Env(LocalAcquirer);

impl std::ops::Deref for Env {
    type Target = LocalAcquirer;
    fn deref(&self) -> &LocalAcquirer {
        &self.0
    }
}

impl Env {
    fn start() -> Env {
        let softpos = support::sha256_file(env!("CARGO_BIN_EXE_softpos"));
        let acq =
            LocalAcquirer::start_with(BINARY, |c| c.attestation.allowed_binaries.push(softpos));
        if let Some(run) = &acq.run {
            acquirer::qr::enable_demo(&run.state);
        }
        Env(acq)
    }

    fn options(&self) -> flow::TerminalOptions {
        flow::TerminalOptions {
            acquirer: self.base.clone(),
            data_dir: self.dir.clone(),
            activation_code: Some(self.code.clone()),
            binary_sha256: BINARY.into(),
        }
    }

    fn sale(&self, amount: u64) -> (Client, Sale) {
        flow::prepare(
            &self.options(),
            &flow::QrSaleRequest {
                amount_minor: amount,
                currency: "EUR".into(),
                polling: Polling::default(),
            },
        )
        .unwrap()
    }

    /// The approved lines of today's statement for this merchant.
    fn lines(&self) -> Vec<Value> {
        let today = acquirer::util::date_of_ms(acquirer::Clock::System.now_ms());
        self.statement(&today)["lines"].as_array().unwrap().clone()
    }

    fn nowhere() -> String {
        support::nowhere()
    }
}

/// The customer's wallet pays an order through the demo endpoint.
fn wallet_pays(base: &str, order_id: &str, code: &str) -> Result<Value, u16> {
    match ureq::post(&format!("{base}/v1/demo/qr/orders/{order_id}/pay"))
        .send_json(json!({ "code": code }))
    {
        Ok(r) => Ok(r.into_json().unwrap()),
        Err(ureq::Error::Status(s, _)) => Err(s),
        Err(e) => panic!("{e}"),
    }
}

fn code(prefix: &str, len: usize, nn: u8) -> String {
    let r = u64::from_be_bytes(acquirer::util::random_bytes::<8>());
    let mid = format!("{r:020}");
    format!("{prefix}{}{nn:02}", &mid[..len - prefix.len() - 2])
}

fn wechat(nn: u8) -> String {
    code("13", 18, nn)
}

fn alipay(nn: u8) -> String {
    code("28", 18, nn)
}

fn fast(timeout_ms: u64) -> Polling {
    Polling {
        first: Duration::from_millis(100),
        max: Duration::from_millis(300),
        timeout: Duration::from_millis(timeout_ms),
        ..Polling::default()
    }
}

#[test]
fn merchant_presented_order_is_paid_by_the_customer() {
    let env = Env::start();
    let (mut client, sale) = env.sale(1_500);
    let base = env.base.clone();
    let mut payer = None;
    let mut statuses = Vec::new();
    let r = flow::merchant_presented(
        &mut client,
        &mut SystemWaiter,
        &fast(10_000),
        &sale,
        &mut |e| match e {
            QrEvent::Show { payload, order } => {
                // What the wallet scans: the order's amount, bill number
                // and ID, under a valid CRC.
                let p = pos::qr::mpm::parse(payload).unwrap().payload;
                assert_eq!(p.amount.unwrap().minor, 1_500);
                let add = p.additional.unwrap();
                assert_eq!(add.bill_number.as_deref(), Some(order.bill_number.as_str()));
                assert_eq!(
                    add.reference_label.as_deref(),
                    Some(order.order_id.as_str())
                );
                let (base, id) = (base.clone(), order.order_id.clone());
                payer = Some(std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(300));
                    wallet_pays(&base, &id, &code("28", 18, 0))
                }));
            }
            QrEvent::Status(o) => statuses.push(o.status.clone()),
            QrEvent::Cancelling { .. } => {}
        },
    )
    .unwrap();
    assert!(payer.unwrap().join().unwrap().is_ok());
    assert_eq!(r.outcome, QrOutcome::Paid, "{r:?}");
    assert_eq!(statuses.first().map(String::as_str), Some("NOTPAY"));
    assert_eq!(statuses.last().map(String::as_str), Some("SUCCESS"));
    assert_eq!(r.wallet.as_deref(), Some("alipay"));
    assert_eq!((r.fee_minor, r.net_minor), (Some(23), Some(1_477)));
    assert!(r.settlement_date.is_some() && r.payment_id.is_some());
    assert_eq!(
        r.out_trade_no,
        format!("{}-{:010}", sale.terminal_id, sale.seq)
    );
    let lines = env.lines();
    assert_eq!(lines.len(), 1);
    assert_eq!(
        lines[0]["payment_id"],
        r.payment_id.clone().unwrap().as_str()
    );
    assert_eq!(lines[0]["kind"], "qr");
}

#[test]
fn merchant_presented_order_times_out_and_is_cancelled() {
    let env = Env::start();
    let (mut client, sale) = env.sale(800);
    let mut order_id = String::new();
    let r = flow::merchant_presented(
        &mut client,
        &mut SystemWaiter,
        &fast(1_000),
        &sale,
        &mut |e| {
            if let QrEvent::Show { order, .. } = e {
                order_id = order.order_id.clone();
            }
        },
    )
    .unwrap();
    assert!(
        matches!(r.outcome, QrOutcome::Cancelled | QrOutcome::Expired),
        "{r:?}"
    );
    // A wallet that pays after the terminal gave up is refused.
    assert_eq!(wallet_pays(&env.base, &order_id, &alipay(0)), Err(409));
    assert!(env.lines().is_empty());
}

#[test]
fn consumer_presented_each_wallet_behaviour() {
    let env = Env::start();
    let cases = [
        (wechat(0), QrOutcome::Paid, 1_000),
        (alipay(82), QrOutcome::Paid, 2_000),
        (code("62", 19, 0), QrOutcome::Paid, 300),
        (wechat(90), QrOutcome::Declined, 400),
        (alipay(91), QrOutcome::Declined, 500),
        (wechat(93), QrOutcome::Declined, 600),
        (alipay(92), QrOutcome::Cancelled, 700),
    ];
    for (c, want, amount) in cases {
        let (mut client, sale) = env.sale(amount);
        let mut seen = Vec::new();
        let r = flow::consumer_presented(
            &mut client,
            &mut SystemWaiter,
            &fast(1_500),
            &sale,
            &c,
            &mut |e| {
                if let QrEvent::Status(o) = e {
                    seen.push(o.status.clone());
                }
            },
        )
        .unwrap();
        assert_eq!(r.outcome, want, "{c}: {r:?}");
        let masked = r.masked_code.clone().unwrap();
        assert!(masked.contains("****") && !masked.contains(&c[4..c.len() - 4]));
        assert!(!serde_json::to_string(&r).unwrap().contains(&c));
        if c.ends_with("82") {
            assert_eq!(seen, ["USERPAYING", "SUCCESS"]);
        }
    }
    let amounts: Vec<i64> = env
        .lines()
        .iter()
        .map(|l| l["amount_minor"].as_i64().unwrap())
        .collect();
    assert_eq!(amounts, [1_000, 2_000, 300]);
}

#[test]
fn offline_is_refused_and_nothing_is_queued() {
    let env = Env::start();
    let (client, _) = env.sale(100);
    drop(client);
    let (mut client, mut queue) =
        pos::pay::open_terminal(&env.dir, &Env::nowhere(), None, BINARY).unwrap();
    let sale = Sale {
        terminal_id: client.identity().terminal_id().to_string(),
        seq: queue.next_tsc().unwrap(),
        amount_minor: 100,
        currency: 978,
    };
    let r = flow::consumer_presented(
        &mut client,
        &mut SystemWaiter,
        &fast(1_000),
        &sale,
        &wechat(0),
        &mut |_| {},
    );
    let e = r.unwrap_err();
    assert!(matches!(e, QrFlowError::Offline(_)), "{e:?}");
    assert!(e.to_string().contains("never queued offline"), "{e}");
    let r = flow::merchant_presented(
        &mut client,
        &mut SystemWaiter,
        &fast(1_000),
        &sale,
        &mut |_| {},
    );
    assert!(matches!(r, Err(QrFlowError::Offline(_))), "{r:?}");
    assert_eq!(queue.pending().unwrap(), 0);
    assert!(queue.entries().unwrap().is_empty());
    assert!(queue.pending_reversals().unwrap().is_empty());
    assert!(env.lines().is_empty());
}

/// Forwards to the real acquirer but loses the first `lose` answers to
/// requests on `path`: the acquirer acted, the terminal never heard.
struct LosingAnswers {
    inner: Client,
    path: &'static str,
    lose: usize,
    sent: usize,
}

impl Acquirer for LosingAnswers {
    fn call(&mut self, method: &str, path: &str, body: &Value) -> Result<Value, SyncError> {
        let answer = self.inner.call(method, path, body);
        if path == self.path {
            self.sent += 1;
            if self.lose > 0 && answer.is_ok() {
                self.lose -= 1;
                return Err(SyncError::NoAnswer("connection reset (test)".into()));
            }
        }
        answer
    }
}

#[test]
fn lost_answers_and_repeats_never_charge_twice() {
    let env = Env::start();
    // The micropay's first two answers are lost: sent three times, paid once.
    let (client, sale) = env.sale(1_234);
    let mut acq = LosingAnswers {
        inner: client,
        path: "/v1/qr/micropay",
        lose: 2,
        sent: 0,
    };
    let c = wechat(0);
    let r = flow::consumer_presented(
        &mut acq,
        &mut SystemWaiter,
        &fast(5_000),
        &sale,
        &c,
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(r.outcome, QrOutcome::Paid);
    assert_eq!(acq.sent, 3);
    // The very same request once more (a duplicated packet): the same payment.
    let again = acq
        .inner
        .call(
            "POST",
            "/v1/qr/micropay",
            &json!({ "seq": sale.seq, "amount_minor": 1_234, "currency": 978, "code": c }),
        )
        .unwrap();
    assert_eq!(again["payment_id"], r.payment_id.clone().unwrap().as_str());
    assert_eq!(env.lines().len(), 1);

    // Every answer to the micropay lost: the flow cancels under the same
    // seq, which reverses the payment it never heard about.
    let (client, sale) = env.sale(2_000);
    let mut acq = LosingAnswers {
        inner: client,
        path: "/v1/qr/micropay",
        lose: usize::MAX,
        sent: 0,
    };
    let r = flow::consumer_presented(
        &mut acq,
        &mut SystemWaiter,
        &fast(5_000),
        &sale,
        &wechat(0),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(r.outcome, QrOutcome::Reversed, "{r:?}");
    assert_eq!(acq.sent, Polling::default().attempts as usize);
    assert_eq!(env.lines().len(), 1, "only the first payment is money");

    // Merchant-presented: the creation's first answer is lost; one order.
    let (client, sale) = env.sale(900);
    let mut acq = LosingAnswers {
        inner: client,
        path: "/v1/qr/orders",
        lose: 1,
        sent: 0,
    };
    let base = env.base.clone();
    let r = flow::merchant_presented(
        &mut acq,
        &mut SystemWaiter,
        &fast(10_000),
        &sale,
        &mut |e| {
            if let QrEvent::Show { order, .. } = e {
                wallet_pays(&base, &order.order_id, &alipay(0)).unwrap();
                // A second customer paying the same code: refused, not charged.
                assert_eq!(wallet_pays(&base, &order.order_id, &alipay(0)), Err(409));
            }
        },
    )
    .unwrap();
    assert_eq!(r.outcome, QrOutcome::Paid);
    assert_eq!(acq.sent, 2);
    assert_eq!(env.lines().len(), 2);
}

fn softpos(env: &Env, args: &[&str]) -> (Option<i32>, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_softpos"))
        .arg("qr")
        .args(args)
        .args(["--data-dir", env.dir.to_str().unwrap(), "--currency", "EUR"])
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn softpos_qr_collect_and_charge() {
    let env = Env::start();
    // Collect: enrolls on first use, charges the code, prints it masked.
    let c = wechat(0);
    let (code, out, err) = softpos(
        &env,
        &[
            "collect",
            &c,
            "--amount",
            "1000",
            "--acquirer",
            &env.base,
            "--activation-code",
            &env.code,
        ],
    );
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("PAID") && out.contains("wechat_pay"), "{out}");
    assert!(out.contains("Fee / net    15 / 985"), "{out}");
    assert!(!out.contains(&c) && !err.contains(&c));

    // A misread code: refused before anything is sent.
    let (code, _, err) = softpos(
        &env,
        &[
            "collect",
            "99123",
            "--amount",
            "1000",
            "--acquirer",
            &env.base,
        ],
    );
    assert_eq!(code, Some(1));
    assert!(err.contains("no wallet's payment code"), "{err}");

    // Offline: a clear refusal.
    let (code, _, err) = softpos(
        &env,
        &[
            "collect",
            &wechat(0),
            "--amount",
            "1000",
            "--acquirer",
            &Env::nowhere(),
        ],
    );
    assert_eq!(code, Some(1));
    assert!(err.contains("never queued offline"), "{err}");

    // Insufficient balance: exit 1 and the reason.
    let (code, out, _) = softpos(
        &env,
        &[
            "collect",
            &alipay(90),
            "--amount",
            "1000",
            "--acquirer",
            &env.base,
        ],
    );
    assert_eq!(code, Some(1));
    assert!(
        out.contains("DECLINED") && out.contains("insufficient_balance"),
        "{out}"
    );

    // Charge: the code is shown, the customer pays, the result is printed.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_softpos"))
        .args([
            "qr",
            "charge",
            "--amount",
            "2500",
            "--currency",
            "EUR",
            "--json",
            "--timeout",
            "20",
        ])
        .args([
            "--acquirer",
            &env.base,
            "--data-dir",
            env.dir.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = std::io::BufReader::new(stderr).lines();
    let order_id = loop {
        let line = lines.next().unwrap().unwrap();
        if let Some(rest) = line.strip_prefix("softpos: order ") {
            if line.contains("shown") {
                break rest.split(' ').next().unwrap().to_string();
            }
        }
    };
    wallet_pays(&env.base, &order_id, &alipay(0)).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["outcome"], "paid");
    assert_eq!(v["order_id"], order_id.as_str());
    assert_eq!(v["amount_minor"], 2_500);
    assert!(v["payload"].as_str().unwrap().starts_with("000201"));
    assert_eq!(env.lines().len(), 2);

    // Every QR sale is in the local history, with the acquirer's figures;
    // the code only masked.
    let history = std::process::Command::new(env!("CARGO_BIN_EXE_softpos"))
        .args(["history", "--kind", "qr", "--json", "--data-dir"])
        .arg(&env.dir)
        .output()
        .unwrap();
    assert!(history.status.success(), "{history:?}");
    let text = String::from_utf8_lossy(&history.stdout).to_string();
    assert!(!text.contains(&c), "{text}");
    let rows: Value = serde_json::from_str(&text).unwrap();
    let rows = rows.as_array().unwrap();
    let approved: Vec<&Value> = rows.iter().filter(|r| r["status"] == "approved").collect();
    assert_eq!(approved.len(), 2, "{text}");
    assert!(
        approved.iter().any(|r| r["wallet"] == "wechat_pay"
            && r["amount_minor"] == 1000
            && r["fee_minor"] == 15),
        "{text}"
    );
    assert!(
        rows.iter()
            .any(|r| r["status"] == "declined" && r["wallet"] == "alipay"),
        "{text}"
    );
}

#[test]
fn an_interrupted_sale_is_cancelled_at_the_next_start() {
    use pos::qr::flow_owed::OwedCancels;
    let env = Env::start();
    let (mut client, sale) = env.sale(1_100);
    let mut owed = OwedCancels::open(&env.dir).unwrap();
    owed.arm(sale.seq).unwrap();
    // The micropay lands and pays; the terminal dies before it hears.
    let a = client
        .call(
            "POST",
            "/v1/qr/micropay",
            &json!({ "seq": sale.seq, "amount_minor": 1_100, "currency": 978, "code": wechat(0) }),
        )
        .unwrap();
    assert_eq!(a["status"], "SUCCESS");
    drop((client, owed));
    assert_eq!(env.lines().len(), 1);

    // Offline next time: refused, and what is owed stays owed.
    let offline = flow::TerminalOptions {
        acquirer: Env::nowhere(),
        ..env.options()
    };
    let req = flow::QrSaleRequest {
        amount_minor: 200,
        currency: "EUR".into(),
        polling: fast(5_000),
    };
    let e = flow::run_sale(&offline, &req, Some(&wechat(0)), &mut |_| {}).unwrap_err();
    assert!(e.to_string().contains("never queued offline"), "{e}");
    assert!(OwedCancels::open(&env.dir)
        .unwrap()
        .owed()
        .contains(&sale.seq));

    // Back online: the owed cancel goes first and reverses the lost
    // payment; the refused offline sale's cancel finds no order; then the
    // new sale is paid.
    let r = flow::run_sale(&env.options(), &req, Some(&wechat(0)), &mut |_| {}).unwrap();
    assert_eq!(r.outcome, QrOutcome::Paid);
    let amounts: Vec<i64> = env
        .lines()
        .iter()
        .map(|l| l["amount_minor"].as_i64().unwrap())
        .collect();
    assert_eq!(amounts, [200]);
    assert!(OwedCancels::open(&env.dir).unwrap().owed().is_empty());
}
