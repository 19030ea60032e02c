//! Card payments end to end against an acquirer running in-process on a
//! temporary SQLite database, seeded as `--demo` seeds it (the virtual
//! cards' issuer keys from cardsim's profiles): online approval and
//! decline, offline approval queued and forwarded exactly once, an
//! unreachable acquirer within and over the offline limits, a lost answer
//! reversed, and a crash between enqueue and forward.

// Helpers outside #[test] fns are test code too; clippy.toml only covers the fns.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/acquirer.rs"]
mod support;

use pos::pay::{charge, open_terminal, PayStatus};
use pos::queue::{EntryKind, EntryState, Queue};
use pos::sync::Client;
use serde_json::{json, Value};
use support::{lossy_proxy, now, nowhere, sha256_file, tap, LocalAcquirer, BINARY};

#[test]
fn approved_online_and_declined_by_the_issuer() {
    let env = LocalAcquirer::start(BINARY);
    let (mut client, mut queue) = env.terminal();
    let tid = client.identity().terminal_id().to_string();

    let r = charge(&mut client, &mut queue, &tap("visa-cvn18", 1_234), 1_234).unwrap();
    assert_eq!(r.status, PayStatus::Approved, "{r:?}");
    let resp = r.response.clone().unwrap();
    assert_eq!(resp.response_code, "00");
    assert!(
        resp.issuer_authentication_data.is_some(),
        "an ARPC for the card"
    );
    assert!(r.masked_pan.unwrap().contains("******"));
    assert!(
        queue.pending_reversals().unwrap().is_empty(),
        "answered: nothing to reverse"
    );
    let stored = env.stored(&tid);
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["payment_id"], resp.payment_id.as_str());
    assert_eq!(stored[0]["amount_minor"], 1_234);

    // Mastercard with its own issuer key approves too.
    let r = charge(&mut client, &mut queue, &tap("mastercard-cvn16", 500), 500).unwrap();
    assert_eq!(r.status, PayStatus::Approved, "{r:?}");

    // Tampered twin: the same card blocked at the issuer is declined.
    env.admin(
        "/v1/issuer/cards",
        &json!({ "pan": "4761739001010119", "balance_minor": 100_000, "blocked": true }),
    );
    let r = charge(&mut client, &mut queue, &tap("visa-cvn18", 1_234), 1_234).unwrap();
    assert_eq!(r.status, PayStatus::Declined, "{r:?}");
    assert_eq!(r.response.unwrap().response_code, "62");
    assert_eq!(
        env.stored(&tid).len(),
        2,
        "a decline is no approved payment"
    );

    // A card that declines itself never reaches the acquirer.
    let r = charge(&mut client, &mut queue, &tap("visa-decline", 100), 100).unwrap();
    assert_eq!((r.status, r.tsc), (PayStatus::Declined, None));
}

#[test]
fn offline_approval_is_queued_then_forwarded_exactly_once() {
    let env = LocalAcquirer::start(BINARY);
    let (mut client, mut queue) = env.terminal();
    let tid = client.identity().terminal_id().to_string();

    let r = charge(&mut client, &mut queue, &tap("visa-offline", 2_000), 2_000).unwrap();
    assert_eq!(r.status, PayStatus::AcceptedOffline, "{r:?}");
    let tsc = r.tsc.unwrap();
    assert_eq!(queue.pending().unwrap(), 1);
    assert!(
        env.stored(&tid).is_empty(),
        "not sent before the forwarder runs"
    );

    let f1 = queue.forward(&mut client, now()).unwrap();
    assert!(f1.stopped.is_none(), "{:?}", f1.stopped);
    assert_eq!(f1.delivered.len(), 1);
    assert_eq!(f1.delivered[0].0, tsc);
    assert_eq!(f1.delivered[0].1.status, "approved");
    assert_eq!(f1.pending, 0);

    // Send everything again (a lost acknowledgement): stored once.
    queue.mark_all_pending().unwrap();
    let f2 = queue.forward(&mut client, now()).unwrap();
    assert_eq!(f2.delivered.len(), 1);
    assert_eq!(f2.delivered[0].1.payment_id, f1.delivered[0].1.payment_id);
    let stored = env.stored(&tid);
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[0]["channel"], "offline");
    assert!(queue
        .entries()
        .unwrap()
        .iter()
        .all(|e| matches!(&e.state, EntryState::Delivered(r) if r.approved)));
}

#[test]
fn unreachable_acquirer_queues_within_limits_and_declines_over_them() {
    let env = LocalAcquirer::start(BINARY);
    let (client, mut queue) = env.terminal();
    let limit = client.identity().config().offline_limit_minor;
    let tid = client.identity().terminal_id().to_string();
    let identity = pos::sync::Identity::open(&env.dir).unwrap();
    drop(client);
    let mut offline = Client::new(&nowhere(), identity, BINARY);

    // The card wants to go online; nothing can be sent, so it is queued as
    // a deferred authorization under the offline limit.
    let r = charge(&mut offline, &mut queue, &tap("visa-cvn18", 700), 700).unwrap();
    assert_eq!(r.status, PayStatus::AcceptedOffline, "{r:?}");
    assert!(
        queue.pending_reversals().unwrap().is_empty(),
        "nothing was sent"
    );

    // Over the per-payment limit: declined with the reason, nothing queued.
    let over = limit + 1;
    let r = charge(&mut offline, &mut queue, &tap("visa-cvn18", over), over).unwrap();
    assert_eq!(r.status, PayStatus::Declined, "{r:?}");
    assert!(r.message.contains("offline limit"), "{}", r.message);
    assert_eq!(queue.pending().unwrap(), 1);
    assert!(queue.pending_reversals().unwrap().is_empty());

    // The forwarder cannot reach it either: it backs off and keeps the entry.
    let f = offline_forward(&mut queue, &mut offline);
    assert!(f.stopped.is_some());
    assert_eq!(f.pending, 1);
    assert!(matches!(
        queue.entries().unwrap()[0].state,
        EntryState::Pending { attempts: 1 }
    ));
    // Backing off: not retried before its time.
    let f = queue.forward(&mut offline, now()).unwrap();
    assert!(f.stopped.is_none() && f.delivered.is_empty());

    // The acquirer is back: delivered as an authorization, approved, once.
    let identity = pos::sync::Identity::open(&env.dir).unwrap();
    let mut online = Client::new(&env.base, identity, BINARY);
    let f = queue.forward(&mut online, now() + 60_000).unwrap();
    assert_eq!(f.delivered.len(), 1, "{:?}", f.stopped);
    assert!(f.delivered[0].1.approved, "{:?}", f.delivered[0].1);
    assert_eq!(queue.entries().unwrap()[0].kind, EntryKind::Authorization);
    assert_eq!(env.stored(&tid).len(), 1);
}

fn offline_forward(queue: &mut Queue, client: &mut Client) -> pos::queue::Forwarded {
    queue.forward(client, now()).unwrap()
}

#[test]
fn deferred_authorization_the_issuer_declines_is_shown_to_the_merchant() {
    let env = LocalAcquirer::start(BINARY);
    let (client, mut queue) = env.terminal();
    let identity = pos::sync::Identity::open(&env.dir).unwrap();
    drop(client);
    let mut offline = Client::new(&nowhere(), identity, BINARY);
    let r = charge(&mut offline, &mut queue, &tap("visa-cvn18", 900), 900).unwrap();
    assert_eq!(r.status, PayStatus::AcceptedOffline);
    env.admin(
        "/v1/issuer/cards",
        &json!({ "pan": "4761739001010119", "balance_minor": 100, "blocked": false }),
    );
    let mut online = Client::new(
        &env.base,
        pos::sync::Identity::open(&env.dir).unwrap(),
        BINARY,
    );
    let f = queue.forward(&mut online, now()).unwrap();
    assert_eq!(f.delivered.len(), 1);
    assert_eq!(f.delivered[0].1.response_code, "51");
    let notices: Vec<String> = queue
        .entries()
        .unwrap()
        .iter()
        .filter_map(pos::queue::Entry::merchant_notice)
        .collect();
    assert_eq!(notices.len(), 1);
    assert!(
        notices[0].contains("ask the customer to pay again"),
        "{}",
        notices[0]
    );
    assert!(!notices[0].contains("4761739001010119"));
}

#[test]
fn a_crash_between_enqueue_and_forward_loses_nothing() {
    let env = LocalAcquirer::start(BINARY);
    let tid;
    {
        let (mut client, mut queue) = env.terminal();
        tid = client.identity().terminal_id().to_string();
        for amount in [100, 200, 300] {
            let r = charge(
                &mut client,
                &mut queue,
                &tap("visa-offline", amount),
                amount,
            )
            .unwrap();
            assert_eq!(r.status, PayStatus::AcceptedOffline);
        }
        // An authorization sent whose answer never came: the armed
        // reversal is all that is left of it.
        queue.arm_reversal(999, "timeout", now()).unwrap();
        // The process dies here: no forward, nothing closed cleanly.
        std::mem::forget(queue);
        std::mem::forget(client);
    }
    let (mut client, mut queue) = open_terminal(&env.dir, &env.base, None, BINARY).unwrap();
    assert_eq!(
        client.identity().terminal_id(),
        tid,
        "same identity, unsealed"
    );
    assert_eq!(queue.pending().unwrap(), 3);
    assert_eq!(
        queue.pending_reversals().unwrap(),
        vec![(999, "timeout".into())]
    );
    let f = queue.forward(&mut client, now()).unwrap();
    assert!(f.stopped.is_none(), "{:?}", f.stopped);
    assert_eq!(f.reversals_sent, 1);
    assert_eq!(f.delivered.len(), 3);
    let stored = env.stored(&tid);
    let mut amounts: Vec<i64> = stored
        .iter()
        .map(|l| l["amount_minor"].as_i64().unwrap())
        .collect();
    amounts.sort_unstable();
    assert_eq!(amounts, vec![100, 200, 300]);
    // New tscs continue after the crash; none is reused.
    let next = queue.next_tsc().unwrap();
    assert!(next > 3, "{next}");
}

#[test]
fn a_tampered_queue_entry_does_not_open() {
    let env = LocalAcquirer::start(BINARY);
    let (mut client, mut queue) = env.terminal();
    let r = charge(&mut client, &mut queue, &tap("visa-offline", 100), 100).unwrap();
    assert_eq!(r.status, PayStatus::AcceptedOffline);
    drop(queue);
    let path = env.dir.join("queue.sqlite");
    let conn = rusqlite::Connection::open(&path).unwrap();
    // The PAN is not in the file in clear.
    let sealed: Vec<u8> = conn
        .query_row("SELECT sealed FROM entries", [], |r| r.get(0))
        .unwrap();
    assert!(!hex::encode_upper(&sealed).contains("4761739001010036"));
    let mut tampered = sealed.clone();
    tampered[20] ^= 0x01;
    conn.execute("UPDATE entries SET sealed = ?1", [&tampered])
        .unwrap();
    drop(conn);
    let (mut client2, mut queue) = open_terminal(&env.dir, &env.base, None, BINARY).unwrap();
    let err = queue.forward(&mut client2, now()).unwrap_err();
    assert!(matches!(err, pos::queue::QueueError::Sealed(_)), "{err:?}");
    // Another terminal's key cannot open or adopt this queue.
    assert!(Queue::open(&path, "TOTHER", &[7u8; 32]).is_err());
    drop(client);
}

#[test]
fn a_lost_answer_is_reversed_even_across_a_restart() {
    let env = LocalAcquirer::start(BINARY);
    let (mut client, mut queue) = env.terminal();
    let tid = client.identity().terminal_id().to_string();
    client.attest().unwrap();
    client.set_base(&lossy_proxy(env.addr()));
    client.set_timeout(std::time::Duration::from_secs(5));

    let r = charge(&mut client, &mut queue, &tap("visa-cvn18", 4_321), 4_321).unwrap();
    assert_eq!(r.status, PayStatus::Reversed, "{r:?}");
    let tsc = r.tsc.unwrap();
    assert!(r.message.contains("will be reversed"), "{}", r.message);
    // The acquirer approved it; the terminal owes a reversal, on disk.
    assert_eq!(env.stored(&tid).len(), 1);
    assert_eq!(
        queue.pending_reversals().unwrap(),
        vec![(tsc, "timeout".into())]
    );
    assert_eq!(
        queue.pending().unwrap(),
        0,
        "a lost answer is never queued as a sale"
    );

    // Restart, then the network is back: the reversal goes first.
    drop(queue);
    drop(client);
    let (mut client, mut queue) = open_terminal(&env.dir, &env.base, None, BINARY).unwrap();
    let f = queue.forward(&mut client, now()).unwrap();
    assert!(f.stopped.is_none(), "{:?}", f.stopped);
    assert_eq!(f.reversals_sent, 1);
    assert!(queue.pending_reversals().unwrap().is_empty());
    assert!(
        env.stored(&tid).is_empty(),
        "reversed: no approved payment left"
    );
}

#[test]
fn softpos_pay_enrolls_pays_online_and_offline() {
    let exe = env!("CARGO_BIN_EXE_softpos");
    let env = LocalAcquirer::start(&sha256_file(exe));
    let pay = |args: &[&str]| {
        let mut cmd = std::process::Command::new(exe);
        cmd.arg("pay").arg("--data-dir").arg(&env.dir).args(args);
        if !args.contains(&"--currency") {
            cmd.args(["--currency", "EUR"]);
        }
        let out = cmd.output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    // Not enrolled and no code: a usage error that says what to do.
    let (code, _, err) = pay(&["--amount", "100", "--acquirer", &env.base]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--activation-code"), "{err}");

    let (code, out, err) = pay(&[
        "--amount",
        "1234",
        "--acquirer",
        &env.base,
        "--activation-code",
        &env.code,
    ]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        out.contains("APPROVED") && out.contains("476173******0119"),
        "{out}"
    );
    assert!(!out.contains("4761739001010119"));

    // Enrolled now; an offline approval is queued and forwarded at once.
    let (code, out, err) = pay(&[
        "--amount",
        "500",
        "--acquirer",
        &env.base,
        "--reader",
        "sim:visa-offline",
        "--json",
    ]);
    assert_eq!(code, Some(0), "{out}{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["payment"]["status"], "accepted_offline");
    assert_eq!(
        (v["forwarded"].clone(), v["queued"].clone()),
        (json!(1), json!(0))
    );
    let tid = v["terminal_id"].as_str().unwrap();
    assert_eq!(env.stored(tid).len(), 2);

    // Acquirer unreachable and the amount over the offline limit: declined.
    let (code, out, _) = pay(&["--amount", "6000", "--acquirer", &nowhere()]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("DECLINED") && out.contains("offline limit"),
        "{out}"
    );
    // A currency the terminal does not take is a usage error.
    let (code, _, err) = pay(&[
        "--amount",
        "1",
        "--currency",
        "USD",
        "--acquirer",
        &env.base,
    ]);
    assert_eq!(code, Some(2), "{err}");
}
