//! Transports: how command APDUs reach a card and answers come back.

#[cfg(feature = "nfc")]
pub mod nfc;
#[cfg(feature = "pcsc")]
pub mod pcsc;
pub mod replay;
pub mod sim;

use std::time::Duration;

/// The card's answer and how long it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub bytes: Vec<u8>,
    pub elapsed_ms: u64,
}

/// Why no answer came.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    #[error("card removed from the field")]
    CardRemoved,
    #[error("the card did not answer within {deadline_ms} ms")]
    Timeout { deadline_ms: u64 },
    #[error("reader failure: {0}")]
    Reader(String),
}

/// What a reader can do: shown by `softpos readers` and the app's
/// settings, and used to tell the merchant what a reader will not accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// ISO 14443 type A and type B cards.
    pub type_a: bool,
    pub type_b: bool,
    /// Extended-length APDUs (none of EMV contactless needs them).
    pub extended_apdu: bool,
    /// The reader reports a card's arrival and removal itself, rather
    /// than being polled.
    pub card_events: bool,
}

/// A contactless reader with a card in (or leaving) its field. Card
/// arrival is each reader's `wait_for_card`; removal shows as
/// [`TransportError::CardRemoved`] from `transceive`.
pub trait Transport {
    /// What this reader can do.
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            type_a: true,
            type_b: false,
            extended_apdu: false,
            card_events: false,
        }
    }

    /// The reader's name as a session's `reader` field records it
    /// ("sim", "pcsc:ACS ACR122U", "nfc:pn532_uart:/dev/ttyUSB0").
    fn name(&self) -> String;

    /// Sends one command APDU and waits at most `deadline` for the answer.
    fn transceive(&mut self, command: &[u8], deadline: Duration) -> Result<Reply, TransportError>;
}
