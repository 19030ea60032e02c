//! The one loop that does card I/O: it drives the kernel over a transport,
//! records every exchange, and turns a lost card or a silent one into the
//! kernel's own "card removed" outcome.

use crate::reader::{Transport, TransportError};
use kernel::outcome::Reason;
use kernel::{Outcome, OutcomeKind, ResponseApdu, Step, Transaction};
use session::Recorder;
use std::time::Duration;

/// Bounds on one tap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest wait for one answer.
    pub per_command: Duration,
    /// Longest time the whole exchange with the card may take.
    pub total: Duration,
    /// More exchanges than this means a kernel or card in a loop.
    pub max_exchanges: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            per_command: Duration::from_millis(1000),
            total: Duration::from_millis(5000),
            max_exchanges: 64,
        }
    }
}

/// Runs the transaction to its outcome with the default limits.
pub fn run(
    tx: &mut Transaction,
    step: Step,
    transport: &mut dyn Transport,
    recorder: &mut Recorder,
) -> Outcome {
    run_with_limits(tx, step, transport, recorder, Limits::default())
}

/// Runs the transaction to its outcome. Time is the card's reported time,
/// so a simulated slow card and a real one are treated alike.
pub fn run_with_limits(
    tx: &mut Transaction,
    mut step: Step,
    transport: &mut dyn Transport,
    recorder: &mut Recorder,
    limits: Limits,
) -> Outcome {
    let mut spent_ms: u64 = 0;
    let total_ms = u64::try_from(limits.total.as_millis()).unwrap_or(u64::MAX);
    let mut exchanges = 0usize;
    loop {
        let command = match step {
            Step::Done(outcome) => return *outcome,
            Step::Transmit(c) => c,
        };
        if exchanges >= limits.max_exchanges {
            return Outcome::new(
                OutcomeKind::EndApplication,
                Some(Reason::CardBrokeRule(format!(
                    "more than {} exchanges with the card",
                    limits.max_exchanges
                ))),
            );
        }
        let left = total_ms.saturating_sub(spent_ms);
        let deadline = limits.per_command.min(Duration::from_millis(left));
        let bytes = command.to_bytes();
        let reply = match transport.transceive(&bytes, deadline) {
            Ok(r) => r,
            Err(TransportError::CardRemoved | TransportError::Timeout { .. }) => {
                return tx.card_removed()
            }
            Err(TransportError::Reader(why)) => {
                let mut o = tx.card_removed();
                o.reason = Some(Reason::Communication(why));
                return o;
            }
        };
        exchanges = exchanges.saturating_add(1);
        spent_ms = spent_ms.saturating_add(reply.elapsed_ms);
        recorder.record(&bytes, &reply.bytes, Some(reply.elapsed_ms));
        let response = match ResponseApdu::parse(&reply.bytes) {
            Ok(r) => r,
            // Fewer than two bytes: no status word, the card is gone mid-answer.
            Err(_) => return tx.card_removed(),
        };
        step = match tx.handle(response) {
            Ok(s) => s,
            Err(e) => {
                return Outcome::new(
                    OutcomeKind::EndApplication,
                    Some(Reason::Configuration(format!("kernel: {e}"))),
                )
            }
        };
    }
}
