//! A terminal that stops between the acquirer's answer and the history
//! write: the answer was kept with the reversal's disarming, so the next
//! start records the payment in the history, once, with the acquirer's
//! figures; and no reversal is sent for it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/acquirer.rs"]
mod support;

use pos::history::{History, Status};
use support::{now, tap, LocalAcquirer, BINARY};

#[test]
fn an_answer_the_history_missed_is_recorded_at_the_next_start() {
    let acq = LocalAcquirer::start(BINARY);
    let (mut client, mut queue) = acq.terminal();
    let outcome = tap("visa-cvn18", 1_234);
    // charge() is everything up to the answer; a crash here means the
    // history was never written.
    let paid = pos::pay::charge(&mut client, &mut queue, &outcome, 1_234).unwrap();
    assert_eq!(paid.status, pos::pay::PayStatus::Approved, "{paid:?}");
    let tsc = paid.tsc.unwrap();
    drop((client, queue));

    let (_client, queue) = acq.terminal();
    assert!(
        queue.pending_reversals().unwrap().is_empty(),
        "no reversal is owed"
    );
    let mut history = History::open_in(&acq.dir).unwrap();
    assert!(history.by_tsc(tsc).unwrap().is_none());
    assert_eq!(history.reconcile(&queue, now()).unwrap(), 1);
    let rec = history.by_tsc(tsc).unwrap().unwrap();
    assert_eq!(rec.status, Status::Approved);
    assert_eq!(rec.amount_minor, 1_234);
    assert_eq!(
        rec.payment_id,
        paid.response.as_ref().map(|r| r.payment_id.clone())
    );
    assert!(rec.masked_pan.as_deref().unwrap().contains('*'));
    assert!(rec.fee_minor.unwrap() > 0, "{rec:?}");
    // Once.
    assert_eq!(history.reconcile(&queue, now()).unwrap(), 0);
    let stored = acq.stored(&rec_terminal(&acq));
    assert_eq!(stored.len(), 1);
}

fn rec_terminal(acq: &LocalAcquirer) -> String {
    acq.terminal().0.identity().terminal_id().to_string()
}
