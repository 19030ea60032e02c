//! The transaction state machine: bytes in, bytes out, no I/O.

use crate::apdu::{CommandApdu, ResponseApdu};
use crate::config::{TerminalConfig, TransactionInputs};
use crate::outcome::Outcome;

/// What the caller must do next.
#[derive(Debug, Clone)]
pub enum Step {
    /// Send this command to the card and pass its answer to `handle`.
    Transmit(CommandApdu),
    /// The transaction is over.
    Done(Box<Outcome>),
}

/// Misuse of the kernel by its caller. Anything the card does wrong ends
/// in an `Outcome`, never in this error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KernelError {
    #[error("the transaction is already over")]
    Finished,
    #[error("terminal configuration: {0}")]
    Config(String),
    #[error("the kernel needed unpredictable number #{0} but the caller gave fewer")]
    OutOfUnpredictableNumbers(usize),
}

/// One contactless transaction, from PPSE to outcome.
pub struct Transaction {
    _config: TerminalConfig,
    _inputs: TransactionInputs,
}

impl Transaction {
    /// Starts a transaction and returns the first command.
    pub fn start(
        config: TerminalConfig,
        inputs: TransactionInputs,
    ) -> Result<(Transaction, Step), KernelError> {
        let _ = (&config, &inputs);
        Err(KernelError::Config("not yet implemented".into()))
    }

    /// Consumes the card's answer to the last command.
    pub fn handle(&mut self, response: ResponseApdu) -> Result<Step, KernelError> {
        let _ = response;
        Err(KernelError::Finished)
    }

    /// The card left the field or the reader failed: Book A says Try Again
    /// with "present card again".
    pub fn card_removed(&mut self) -> Outcome {
        Outcome::new(crate::outcome::OutcomeKind::TryAgain, None)
    }
}
