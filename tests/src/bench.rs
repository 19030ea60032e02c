//! Fixtures shared by the kernel benchmark and the instruction-count
//! example: the card's answers are recorded once from a virtual card, so
//! only the kernel's own work is measured.

// Benchmark fixtures over fixed test data: a failure is a broken fixture.
#![allow(clippy::expect_used)]

use crate::{config_for, tap_card, Terminal};
use cardsim::{pki::RsaPrivateKey, Profile, VirtualCard};
use kernel::tags::t;
use kernel::{ResponseApdu, Step, TerminalConfig, Transaction, TransactionInputs};

pub struct KernelScenario {
    pub name: &'static str,
    pub config: TerminalConfig,
    pub inputs: TransactionInputs,
    pub answers: Vec<ResponseApdu>,
    /// (modulus, exponent, signed data) of each RSA recovery ODA makes.
    pub rsa: Vec<(Vec<u8>, Vec<u8>, Vec<u8>)>,
}

fn find(exchanges: &[crate::Exchange], tag: kernel::Tag) -> Option<Vec<u8>> {
    exchanges.iter().find_map(|e| {
        let body = e.r.get(..e.r.len().checked_sub(2)?)?;
        kernel::tlv::find(body, tag)
            .ok()
            .flatten()
            .map(|t| t.value.to_vec())
    })
}

/// Records one scenario from a virtual card.
pub fn scenario(
    name: &'static str,
    profile: &str,
    amount: u64,
    terminal: Terminal,
    no_cda: bool,
) -> KernelScenario {
    let p = Profile::builtin(profile).expect("profile");
    let mut card = VirtualCard::new(&p).expect("card");
    let mut config = config_for(&card, terminal);
    if no_cda {
        // Terminal Capabilities byte 3 without CDA: Kernel 2 asks no ODA.
        config.tags.insert(t::TERMINAL_CAPS, vec![0xE0, 0xF8, 0xC0]);
    }
    let inputs = kernel::testing::example_inputs(amount);
    let tap = tap_card(&mut card, config.clone(), inputs.clone()).expect("tap");
    let answers = tap
        .exchanges
        .iter()
        .map(|e| ResponseApdu::parse(&e.r).expect("answer"))
        .collect();
    let mut rsa = Vec::new();
    if tap.outcome.oda == kernel::OdaStatus::Passed {
        let ca = card.ca_public_key();
        let issuer = RsaPrivateKey::from_toml_str(&p.keys.issuer).expect("issuer key");
        let icc = RsaPrivateKey::from_toml_str(&p.keys.icc).expect("icc key");
        let sdad = find(&tap.exchanges, t::SDAD).expect("SDAD");
        rsa.push((
            ca.modulus.clone(),
            ca.exponent.clone(),
            find(&tap.exchanges, t::ISSUER_CERT).expect("90"),
        ));
        rsa.push((
            issuer.modulus(),
            issuer.exponent(),
            find(&tap.exchanges, t::ICC_CERT).expect("9F46"),
        ));
        rsa.push((icc.modulus(), icc.exponent(), sdad));
    }
    KernelScenario {
        name,
        config,
        inputs,
        answers,
        rsa,
    }
}

/// Runs the kernel over the recorded answers.
pub fn run(s: &KernelScenario) -> kernel::OutcomeKind {
    run_checked(s)
}

fn run_checked(s: &KernelScenario) -> kernel::OutcomeKind {
    let (mut tx, mut step) = Transaction::start(s.config.clone(), s.inputs.clone()).expect("start");
    let mut answers = s.answers.iter();
    loop {
        match step {
            Step::Done(o) => return o.kind,
            Step::Transmit(_) => {
                let a = answers.next().expect("recorded answer").clone();
                step = tx.handle(a).expect("handle");
            }
        }
    }
}

/// The RSA recoveries of a scenario's ODA alone.
pub fn rsa_only(s: &KernelScenario) -> usize {
    let mut n = 0;
    for (m, e, d) in &s.rsa {
        n += kernel::oda::recover(m, e, d).expect("recover").len();
    }
    n
}

/// The benchmark's scenarios: each kernel with and without ODA.
pub fn kernel_scenarios() -> Vec<KernelScenario> {
    vec![
        scenario(
            "k3-online-no-oda",
            "visa-cvn18",
            1500,
            Terminal::OnlineOnly,
            false,
        ),
        scenario(
            "k3-offline-fdda",
            "visa-offline",
            1500,
            Terminal::OfflineCapable,
            false,
        ),
        scenario(
            "k2-online-no-oda",
            "mastercard-cvn16",
            1500,
            Terminal::OnlineOnly,
            true,
        ),
        scenario(
            "k2-online-cda",
            "mastercard-cvn16",
            1500,
            Terminal::OnlineOnly,
            false,
        ),
        scenario(
            "k2-offline-cda",
            "mastercard-offline",
            1500,
            Terminal::OfflineCapable,
            false,
        ),
    ]
}
