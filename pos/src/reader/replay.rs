//! The `replay` transport: a recorded session plays the card. A command
//! that differs from the recorded one is a reader failure naming the
//! exchange, so a replayed tap can never answer a question it was not
//! asked; the end of the recording is the card leaving the field.

use super::{Reply, Transport, TransportError};
use session::{Exchange, Session};
use std::time::Duration;

/// A recorded card behind a virtual reader.
pub struct ReplayReader {
    exchanges: Vec<Exchange>,
    next: usize,
    card_removed: bool,
}

impl ReplayReader {
    pub fn new(session: &Session) -> Self {
        ReplayReader {
            exchanges: session.exchanges.clone(),
            next: 0,
            card_removed: session.card_removed,
        }
    }

    /// How many recorded exchanges were used.
    pub fn used(&self) -> usize {
        self.next
    }
}

impl Transport for ReplayReader {
    fn name(&self) -> String {
        "replay".into()
    }

    fn transceive(&mut self, command: &[u8], deadline: Duration) -> Result<Reply, TransportError> {
        let Some(x) = self.exchanges.get(self.next) else {
            // Past the recording the card is gone: it left the field
            // (`card_removed`), or the recording ended early.
            return Err(if self.card_removed {
                TransportError::CardRemoved
            } else {
                TransportError::Reader(format!(
                    "the recording ends after {} exchanges; the kernel asked for more",
                    self.next
                ))
            });
        };
        if x.c.0 != command {
            return Err(TransportError::Reader(format!(
                "exchange #{}: the recording has {} but the kernel sent {}",
                self.next,
                hex::encode_upper(&x.c.0),
                hex::encode_upper(command)
            )));
        }
        self.next = self.next.saturating_add(1);
        let elapsed_ms = x.ms.unwrap_or(0);
        let deadline_ms = u64::try_from(deadline.as_millis()).unwrap_or(u64::MAX);
        if elapsed_ms > deadline_ms {
            return Err(TransportError::Timeout { deadline_ms });
        }
        Ok(Reply {
            bytes: x.r.0.clone(),
            elapsed_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::card;
    use session::Recorder;

    fn corpus(name: &str) -> Session {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/sessions/cardsim")
            .join(name);
        Session::parse(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn a_recording_plays_the_card_through_the_card_loop() {
        for (name, kind) in [
            (
                "k3-visa-cvn18-online.session.json",
                kernel::OutcomeKind::OnlineRequest,
            ),
            (
                "k2-mc-offline-approved.session.json",
                kernel::OutcomeKind::Approved,
            ),
            (
                "k3-visa-removed.session.json",
                kernel::OutcomeKind::TryAgain,
            ),
        ] {
            let s = corpus(name);
            let (mut tx, step) =
                kernel::Transaction::start(s.terminal_config().unwrap(), s.inputs().unwrap())
                    .unwrap();
            let mut reader = ReplayReader::new(&s);
            let mut recorder = Recorder::new();
            let outcome = card::run(&mut tx, step, &mut reader, &mut recorder);
            assert_eq!(outcome.kind, kind, "{name}");
            assert_eq!(reader.used(), s.exchanges.len(), "{name}");
            assert_eq!(recorder.exchanges(), &s.exchanges[..], "{name}");
        }
    }

    #[test]
    fn a_different_command_is_a_reader_failure() {
        let mut s = corpus("k3-visa-cvn18-online.session.json");
        s.exchanges[0].c.0[5] ^= 1;
        let mut reader = ReplayReader::new(&s);
        let err = reader
            .transceive(
                &kernel::CommandApdu::select(b"2PAY.SYS.DDF01").to_bytes(),
                Duration::from_secs(1),
            )
            .unwrap_err();
        assert!(matches!(err, TransportError::Reader(m) if m.contains("exchange #0")));
    }
}
