//! The `sim` transport: a `cardsim` virtual card in a virtual field.

use super::{Reply, Transport, TransportError};
use cardsim::VirtualCard;
use std::time::Duration;

/// A virtual card behind a virtual reader. Slow cards report their delay
/// rather than sleep, and the deadline is checked against that report, so
/// timeouts are tested without waiting.
pub struct SimReader {
    card: VirtualCard,
}

impl SimReader {
    pub fn new(card: VirtualCard) -> Self {
        SimReader { card }
    }

    pub fn card(&self) -> &VirtualCard {
        &self.card
    }
}

impl Transport for SimReader {
    fn name(&self) -> String {
        "sim".into()
    }

    fn transceive(&mut self, command: &[u8], deadline: Duration) -> Result<Reply, TransportError> {
        let bytes = self
            .card
            .transmit(command)
            .map_err(|_| TransportError::CardRemoved)?;
        let elapsed_ms = u64::from(self.card.delay_ms());
        let deadline_ms = u64::try_from(deadline.as_millis()).unwrap_or(u64::MAX);
        if elapsed_ms > deadline_ms {
            return Err(TransportError::Timeout { deadline_ms });
        }
        Ok(Reply { bytes, elapsed_ms })
    }
}
