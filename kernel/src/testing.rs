//! A terminal configuration for tests, fuzzing and benchmarks: the values
//! of the card-session spec's example (a Chinese merchant taking Visa and
//! Mastercard), so every tool starts from the same terminal.

use crate::config::{AidConfig, Start, TerminalConfig, TransactionInputs};
use crate::money::{Amount, Currency};
use crate::oda::CaKeyStore;
use crate::tlv::Tag;
use std::collections::BTreeMap;

/// Terminal data objects of the example terminal.
pub fn example_tags() -> BTreeMap<Tag, Vec<u8>> {
    let pairs: &[(u32, &str)] = &[
        (0x9F1A, "0156"),
        (0x5F2A, "0156"),
        (0x5F36, "02"),
        (0x9F35, "22"),
        (0x9F33, "E0F8C8"),
        (0x9F40, "6000F0A001"),
        (0x9F66, "36004000"),
        (0x9F15, "5411"),
        (0x9F16, "313233343536373839303132333435"),
        (0x9F1C, "3132333435363738"),
        (0x9F09, "0002"),
        (0x9F6D, "0001"),
        (0xDF8117, "00"),
        (0xDF8118, "60"),
        (0xDF8119, "08"),
        (0xDF811B, "20"),
    ];
    pairs
        .iter()
        .filter_map(|(t, v)| Some((Tag::new(*t).ok()?, hex::decode(v).ok()?)))
        .collect()
}

/// Visa, Mastercard and UnionPay AIDs with the spec example's limits.
pub fn example_aids() -> Vec<AidConfig> {
    let aid = |hex_aid: &str, kernel: u8| AidConfig {
        aid: hex::decode(hex_aid).unwrap_or_default(),
        kernel,
        partial: true,
        floor_limit: Some(0),
        cvm_limit: Some(30_000),
        transaction_limit: Some(500_000),
        tac_denial: None,
        tac_online: None,
        tac_default: None,
    };
    let mut visa = aid("A0000000031010", 3);
    visa.tac_denial = Some([0x00, 0x10, 0x00, 0x00, 0x00]);
    visa.tac_online = Some([0xDC, 0x40, 0x04, 0xF8, 0x00]);
    visa.tac_default = Some([0xDC, 0x40, 0x00, 0xA8, 0x00]);
    let mut mc = aid("A0000000041010", 2);
    mc.tac_denial = Some([0x00, 0x00, 0x00, 0x00, 0x00]);
    mc.tac_online = Some([0xF4, 0x50, 0x84, 0x80, 0x0C]);
    mc.tac_default = Some([0xF4, 0x50, 0x84, 0x80, 0x0C]);
    vec![visa, mc, aid("A000000333010101", 7)]
}

/// The example terminal with the given CA keys.
pub fn example_config(ca_keys: CaKeyStore) -> TerminalConfig {
    TerminalConfig {
        tags: example_tags(),
        aids: example_aids(),
        ca_keys,
        revocations: Default::default(),
    }
}

/// A purchase of `minor` units of CNY on 23 November 2026.
pub fn example_inputs(minor: u64) -> TransactionInputs {
    let cny = Currency {
        numeric: 156,
        alpha: "CNY",
        exponent: 2,
    };
    TransactionInputs {
        tx_type: 0x00,
        amount: Amount {
            minor: minor.min(crate::money::MAX_EMV_AMOUNT),
            currency: cny,
        },
        amount_other: 0,
        date: [0x26, 0x11, 0x23],
        time: [0x10, 0x15, 0x00],
        unpredictable_numbers: vec![[0xA1, 0xB2, 0xC3, 0xD4]],
        start: Start::Ppse,
    }
}
