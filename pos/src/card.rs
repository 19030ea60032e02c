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
                recorder.card_removed();
                return tx.card_removed();
            }
            Err(TransportError::Reader(why)) => {
                recorder.card_removed();
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
            // Fewer than two bytes: no status word, the card is gone
            // mid-answer. The recording keeps the bytes; a replay of them
            // fails to parse, which is the honest result.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reader::Reply;
    use kernel::{Amount, Currency, Start, TransactionInputs};

    /// Answers every command from a script; then fails as told.
    struct Scripted {
        answers: Vec<Result<Reply, TransportError>>,
    }

    impl Transport for Scripted {
        fn name(&self) -> String {
            "scripted".into()
        }
        fn transceive(&mut self, _: &[u8], _: Duration) -> Result<Reply, TransportError> {
            if self.answers.is_empty() {
                return Err(TransportError::CardRemoved);
            }
            self.answers.remove(0)
        }
    }

    fn start() -> (Transaction, Step) {
        let terminal: session::TerminalSpec =
            serde_json::from_str(crate::tap::DEFAULT_TERMINAL).unwrap();
        let inputs = TransactionInputs {
            tx_type: 0,
            amount: Amount::new(100, Currency::from_numeric(156).unwrap()).unwrap(),
            amount_other: 0,
            date: [0x26, 0x11, 0x23],
            time: [0, 0, 0],
            unpredictable_numbers: vec![[1, 2, 3, 4]; 4],
            start: Start::Ppse,
        };
        Transaction::start(terminal.to_config().unwrap(), inputs).unwrap()
    }

    fn run_script(
        answers: Vec<Result<Reply, TransportError>>,
        limits: Limits,
    ) -> (Outcome, Recorder) {
        let (mut tx, step) = start();
        let mut rec = Recorder::new();
        let mut t = Scripted { answers };
        let o = run_with_limits(&mut tx, step, &mut t, &mut rec, limits);
        (o, rec)
    }

    #[test]
    fn removal_timeout_and_reader_failure_end_in_try_again() {
        for err in [
            TransportError::CardRemoved,
            TransportError::Timeout { deadline_ms: 1 },
            TransportError::Reader("USB unplugged".into()),
        ] {
            let (o, rec) = run_script(vec![Err(err.clone())], Limits::default());
            assert_eq!(o.kind, OutcomeKind::TryAgain, "{err}");
            assert!(rec.exchanges().is_empty());
        }
        let (o, _) = run_script(
            vec![Err(TransportError::Reader("USB unplugged".into()))],
            Limits::default(),
        );
        assert_eq!(o.reason.unwrap().text(), "USB unplugged");
    }

    #[test]
    fn answers_are_recorded_with_their_time() {
        let (o, rec) = run_script(
            vec![Ok(Reply {
                bytes: vec![0x6A, 0x82],
                elapsed_ms: 7,
            })],
            Limits::default(),
        );
        assert_eq!(rec.exchanges().len(), 1);
        assert_eq!(rec.exchanges()[0].ms, Some(7));
        assert_eq!(rec.exchanges()[0].r.0, vec![0x6A, 0x82]);
        assert_ne!(o.kind, OutcomeKind::Approved);
        // Tampered twin: half a status word is a lost card, not a panic.
        let (o, _) = run_script(
            vec![Ok(Reply {
                bytes: vec![0x90],
                elapsed_ms: 1,
            })],
            Limits::default(),
        );
        assert_eq!(o.kind, OutcomeKind::TryAgain);
    }

    #[test]
    fn the_exchange_bound_stops_a_loop() {
        let limits = Limits {
            max_exchanges: 0,
            ..Limits::default()
        };
        let (o, rec) = run_script(vec![], limits);
        assert_eq!(o.kind, OutcomeKind::EndApplication);
        assert!(rec.exchanges().is_empty());
    }

    #[test]
    fn slow_virtual_card_hits_the_deadline() {
        let profile = cardsim::Profile::builtin("visa-slow").unwrap();
        let card = cardsim::VirtualCard::new(&profile).unwrap();
        let mut reader = crate::reader::sim::SimReader::new(card);
        let (mut tx, step) = start();
        let mut rec = Recorder::new();
        let limits = Limits {
            per_command: Duration::from_millis(100),
            ..Limits::default()
        };
        let o = run_with_limits(&mut tx, step, &mut reader, &mut rec, limits);
        assert_eq!(o.kind, OutcomeKind::TryAgain);
    }
}
