//! Helpers for the end-to-end tests in `tests/tests/`: run the kernel
//! against a virtual card and keep every exchange.

pub mod bench;
pub mod corpus;

use cardsim::{Profile, VirtualCard};
use kernel::oda::CaKeyStore;
use kernel::testing::{example_config, example_inputs};
use kernel::{Outcome, ResponseApdu, Step, TerminalConfig, Transaction, TransactionInputs};

/// One command and its answer.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub c: Vec<u8>,
    pub r: Vec<u8>,
    /// How long the card said it took.
    pub ms: u32,
}

/// The result of a tap.
#[derive(Debug)]
pub struct Tap {
    pub outcome: Outcome,
    pub exchanges: Vec<Exchange>,
    /// The card left the field after the last exchange.
    pub removed: bool,
}

/// Runs one transaction of `minor` CNY units against the named built-in
/// profile, trusting the card's test CA.
pub fn tap(profile: &str, minor: u64) -> Result<Tap, String> {
    tap_with(profile, minor, Terminal::OnlineOnly)
}

/// The two terminals the tests use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Terminal {
    /// The spec example: floor limit 0, every payment goes online.
    OnlineOnly,
    /// Floor limit 200.00: small payments may be approved offline.
    OfflineCapable,
    /// Online-only, and the reader checks fDDA for online authorisations
    /// (TTQ byte 1 b1).
    OnlineOda,
}

/// Runs one transaction against a named profile on the given terminal.
pub fn tap_with(profile: &str, minor: u64, terminal: Terminal) -> Result<Tap, String> {
    let profile = Profile::builtin(profile).map_err(|e| e.to_string())?;
    let mut card = VirtualCard::new(&profile).map_err(|e| e.to_string())?;
    let config = config_for(&card, terminal);
    tap_card(&mut card, config, example_inputs(minor))
}

/// The terminal configuration for `terminal`, trusting `card`'s test CA.
pub fn config_for(card: &VirtualCard, terminal: Terminal) -> TerminalConfig {
    let mut config = example_config(CaKeyStore::from_keys(vec![card.ca_public_key()]));
    match terminal {
        Terminal::OnlineOnly => {}
        Terminal::OfflineCapable => {
            for aid in &mut config.aids {
                aid.floor_limit = Some(20_000);
            }
        }
        Terminal::OnlineOda => {
            config
                .tags
                .insert(kernel::tags::t::TTQ, vec![0x37, 0x00, 0x40, 0x00]);
        }
    }
    config
}

/// Runs one transaction against a card.
pub fn tap_card(
    card: &mut VirtualCard,
    config: TerminalConfig,
    inputs: TransactionInputs,
) -> Result<Tap, String> {
    let (mut tx, mut step) = Transaction::start(config, inputs).map_err(|e| e.to_string())?;
    let mut exchanges = Vec::new();
    loop {
        match step {
            Step::Done(outcome) => {
                return Ok(Tap {
                    outcome: *outcome,
                    exchanges,
                    removed: false,
                })
            }
            Step::Transmit(c) => {
                if exchanges.len() > 100 {
                    return Err("the kernel did not end".into());
                }
                let c = c.to_bytes();
                let r = match card.transmit(&c) {
                    Ok(r) => r,
                    Err(_) => {
                        return Ok(Tap {
                            outcome: tx.card_removed(),
                            exchanges,
                            removed: true,
                        })
                    }
                };
                exchanges.push(Exchange {
                    c,
                    r: r.clone(),
                    ms: card.delay_ms(),
                });
                let r = ResponseApdu::parse(&r).map_err(|e| e.to_string())?;
                step = tx.handle(r).map_err(|e| e.to_string())?;
            }
        }
    }
}
