//! What the kernel is given: the terminal's configuration and the inputs of
//! one transaction. Everything the kernel would otherwise invent (date,
//! time, unpredictable numbers) is here, so a replay is exact.

use crate::money::Amount;
use crate::oda::{CaKeyStore, RevocationList};
use crate::tlv::Tag;
use std::collections::BTreeMap;

/// One AID the terminal accepts, with its kernel and limits (EMV Book B
/// "Entry Point Configuration Data"). Limits are in minor units of the
/// transaction currency; `None` means no limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AidConfig {
    pub aid: Vec<u8>,
    /// Kernel ID, 1 to 7 (2 = Mastercard, 3 = Visa, 7 = UnionPay qUICS).
    pub kernel: u8,
    /// Partial AID selection allowed (the card's ADF name may extend it).
    pub partial: bool,
    pub floor_limit: Option<u64>,
    pub cvm_limit: Option<u64>,
    pub transaction_limit: Option<u64>,
    pub tac_denial: Option<[u8; 5]>,
    pub tac_online: Option<[u8; 5]>,
    pub tac_default: Option<[u8; 5]>,
}

/// The terminal's standing configuration.
#[derive(Debug, Clone)]
pub struct TerminalConfig {
    /// Terminal data objects by tag: 9F1A, 5F2A, 9F33, 9F35, 9F40, 9F66,
    /// 9F15, 9F16, 9F1C, kernel configuration tags…
    pub tags: BTreeMap<Tag, Vec<u8>>,
    /// Supported AIDs in the terminal's order of preference.
    pub aids: Vec<AidConfig>,
    pub ca_keys: CaKeyStore,
    /// Issuer certificates the schemes have revoked.
    pub revocations: RevocationList,
}

/// How the transcript starts (see the card-session spec's `start`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Start {
    /// SELECT of the PPSE, as Entry Point does.
    #[default]
    Ppse,
    /// Straight to final selection of the first configured AID.
    FinalSelection,
}

/// The inputs of one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionInputs {
    /// Tag 9C: 00 purchase, 01 cash, 09 purchase with cashback, 20 refund.
    pub tx_type: u8,
    pub amount: Amount,
    /// Tag 9F03, same currency as `amount`.
    pub amount_other: u64,
    /// Tag 9A as BCD YYMMDD.
    pub date: [u8; 3],
    /// Tag 9F21 as BCD HHMMSS.
    pub time: [u8; 3],
    /// Every unpredictable number the kernel may use, in order.
    pub unpredictable_numbers: Vec<[u8; 4]>,
    pub start: Start,
}
