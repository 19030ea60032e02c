//! The recorded-session corpus under `tests/sessions/cardsim/`: every
//! scenario the kernel must handle against the virtual cards, with the
//! outcome, CVM and ODA result a payments engineer expects of it.
//!
//! `cargo run -p softpos-tests --bin gen-sessions` rewrites the files; the
//! test `corpus_is_current` fails when a file differs from what the cards
//! and the kernel produce today.

use crate::{config_for, tap_card, Tap, Terminal};
use cardsim::{Profile, VirtualCard};
use kernel::outcome::{Cvm, OdaStatus, OutcomeKind};
use kernel::testing::example_inputs;
use kernel::Start;
use session::{Run, Session, TerminalSpec};

/// One recorded scenario.
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    /// File stem under `tests/sessions/cardsim/`.
    pub name: &'static str,
    pub profile: &'static str,
    /// Minor units of CNY.
    pub amount: u64,
    pub terminal: Terminal,
    pub start: Start,
    pub outcome: OutcomeKind,
    pub cvm: Cvm,
    pub oda: OdaStatus,
    pub title: &'static str,
}

macro_rules! scenarios {
    ($( $name:literal: $profile:literal, $amount:literal, $terminal:ident, $start:ident => $outcome:ident, $cvm:ident, $oda:ident, $title:literal; )*) => {
        /// Every scenario of the corpus.
        pub const SCENARIOS: &[Scenario] = &[
            $( Scenario {
                name: $name, profile: $profile, amount: $amount,
                terminal: Terminal::$terminal, start: Start::$start,
                outcome: OutcomeKind::$outcome, cvm: Cvm::$cvm, oda: OdaStatus::$oda,
                title: $title,
            }, )*
        ];
    };
}

scenarios! {
    // Visa qVSDC (kernel 3).
    "k3-visa-cvn18-online": "visa-cvn18", 1500, OnlineOnly, Ppse => OnlineRequest, NoCvm, NotPerformed, "Visa CVN 18 ARQC under the CVM limit";
    "k3-visa-cvn18-cvm-required": "visa-cvn18", 50000, OnlineOnly, Ppse => Declined, None, NotPerformed, "Visa over the CVM limit and the card asks for no CVM: declined (C-3 5.7.1)";
    "k3-visa-cvn18-online-fdda": "visa-cvn18", 1500, OnlineOda, Ppse => OnlineRequest, NoCvm, Passed, "Visa ARQC with fDDA checked for online (TTQ b1)";
    "k3-visa-cvn10-online": "visa-cvn10", 1500, OnlineOnly, Ppse => OnlineRequest, NoCvm, NotPerformed, "Visa CVN 10 ARQC";
    "k3-visa-offline-approved": "visa-offline", 1500, OfflineCapable, Ppse => Approved, NoCvm, Passed, "Visa offline approval with fDDA";
    "k3-visa-offline-over-limit": "visa-offline", 15000, OfflineCapable, Ppse => OnlineRequest, NoCvm, NotPerformed, "Visa over the card's offline limit goes online";
    "k3-visa-offline-floor": "visa-offline", 1500, OnlineOnly, Ppse => OnlineRequest, NoCvm, NotPerformed, "Visa offline card on an online-only terminal";
    "k3-visa-cdcvm": "visa-cdcvm", 50000, OnlineOnly, Ppse => OnlineRequest, Cdcvm, NotPerformed, "Visa phone wallet: consumer device CVM";
    "k3-visa-online-pin": "visa-online-pin", 50000, OnlineOnly, Ppse => OnlineRequest, OnlinePin, NotPerformed, "Visa card asking for online PIN";
    "k3-visa-signature": "visa-signature", 50000, OnlineOnly, Ppse => OnlineRequest, Signature, NotPerformed, "Visa card asking for a signature";
    "k3-visa-decline": "visa-decline", 1500, OnlineOnly, Ppse => Declined, None, NotPerformed, "Visa card declines offline (AAC)";
    "k3-visa-expired-cert-online": "visa-expired-cert", 1500, OfflineCapable, Ppse => OnlineRequest, NoCvm, Failed, "Visa fDDA fails on an expired certificate: the CTQ sends it online";
    "k3-visa-expired-cert-fdda": "visa-expired-cert", 1500, OnlineOda, Ppse => OnlineRequest, NoCvm, Failed, "Visa ARQC whose fDDA fails (TTQ b1)";
    "k3-visa-malformed-gpo": "visa-malformed-gpo", 1500, OnlineOnly, Ppse => EndApplication, None, NotPerformed, "Visa GPO answer with truncated TLV";
    "k3-visa-record-6a83": "visa-record-6a83", 1500, OnlineOnly, Ppse => EndApplication, None, NotPerformed, "Visa record listed in the AFL is missing (6A83)";
    "k3-visa-removed": "visa-removed", 1500, OnlineOnly, Ppse => TryAgain, None, NotPerformed, "Visa card leaves the field after two commands";
    "k3-visa-slow": "visa-slow", 1500, OnlineOnly, Ppse => OnlineRequest, NoCvm, NotPerformed, "Visa card that answers slowly";
    "k3-visa-wrong-le": "visa-wrong-le", 1500, OnlineOnly, Ppse => OnlineRequest, NoCvm, NotPerformed, "Visa card answering 6Cxx: resend with its Le";
    "k3-visa-gpo-6985": "visa-gpo-6985", 1500, OnlineOnly, Ppse => EndApplication, None, NotPerformed, "GPO 6985 with no other candidate: End Application";
    "k3-visa-gpo-6985-kernel": "visa-gpo-6985", 1500, OnlineOnly, FinalSelection => SelectNext, None, NotPerformed, "GPO 6985 without Entry Point: Select Next";
    "k3-visa-gpo-6984": "visa-gpo-6984", 1500, OnlineOnly, Ppse => TryAnotherInterface, None, NotPerformed, "GPO 6984: Try Another Interface";
    "k3-visa-gpo-6986": "visa-gpo-6986", 1500, OnlineOnly, Ppse => TryAgain, None, NotPerformed, "Phone answers GPO 6986: see phone, try again";
    "ep-ppse-6a82": "visa-ppse-6a82", 1500, OnlineOnly, Ppse => EndApplication, None, NotPerformed, "No PPSE on the card";
    "ep-over-transaction-limit": "visa-cvn18", 500000, OnlineOnly, Ppse => TryAnotherInterface, None, NotPerformed, "Amount at the contactless transaction limit";
    "k3-visa-final-selection": "visa-cvn18", 1500, OnlineOnly, FinalSelection => OnlineRequest, NoCvm, NotPerformed, "Visa transcript starting at final selection";
    // Mastercard M/Chip (kernel 2) with CDA.
    "k2-mc-cvn16-online-cda": "mastercard-cvn16", 1500, OnlineOnly, Ppse => OnlineRequest, NoCvm, Passed, "Mastercard CVN 16 ARQC with CDA";
    "k2-mc-cvn16-online-pin": "mastercard-cvn16", 50000, OnlineOnly, Ppse => OnlineRequest, OnlinePin, Passed, "Mastercard over the CVM limit: online PIN from the CVM list";
    "k2-mc-cvn17-online-cda": "mastercard-cvn17", 1500, OnlineOnly, Ppse => OnlineRequest, NoCvm, Passed, "Mastercard CVN 17 ARQC with CDA";
    "k2-mc-offline-approved": "mastercard-offline", 1500, OfflineCapable, Ppse => Approved, NoCvm, Passed, "Mastercard offline approval (TC) with CDA";
    "k2-mc-decline": "mastercard-decline", 1500, OnlineOnly, Ppse => Declined, NoCvm, NotPerformed, "Mastercard card declines (AAC)";
    "k2-mc-cdcvm": "mastercard-cdcvm", 50000, OnlineOnly, Ppse => OnlineRequest, Cdcvm, Passed, "Mastercard phone wallet: on-device CVM";
    "k2-mc-chained": "mastercard-chained", 1500, OnlineOnly, Ppse => OnlineRequest, NoCvm, Passed, "Mastercard answers in 61xx chunks (GET RESPONSE)";
    "k2-mc-expired-cert": "mastercard-expired-cert", 1500, OnlineOnly, Ppse => EndApplication, None, Failed, "Mastercard CDA fails on an expired ICC certificate: End Application (C-2 S910.7)";
    "k2-mc-malformed-gac": "mastercard-malformed-gac", 1500, OnlineOnly, Ppse => EndApplication, None, NotPerformed, "Mastercard GENERATE AC answer with truncated TLV";
    "k2-mc-removed": "mastercard-removed", 1500, OnlineOnly, Ppse => TryAgain, None, NotPerformed, "Mastercard card leaves before GENERATE AC";
    "k2-mc-gac-6985": "mastercard-gac-6985", 1500, OnlineOnly, Ppse => EndApplication, None, NotPerformed, "Mastercard GENERATE AC answers 6985";
    // UnionPay qUICS (kernel 7, the qVSDC flow).
    "k7-unionpay-online": "unionpay", 1500, OnlineOnly, Ppse => OnlineRequest, NoCvm, NotPerformed, "UnionPay ARQC";
    "k7-unionpay-offline": "unionpay-offline", 1500, OfflineCapable, Ppse => Approved, NoCvm, Passed, "UnionPay offline approval with fDDA";
}

/// Fixed clock of the corpus: the spec example's date and time.
pub const RECORDED_AT: &str = "2026-11-23T10:15:00Z";

/// Runs a scenario against a fresh card and records it as a session.
pub fn record(s: &Scenario) -> Result<(Tap, Session), String> {
    let profile = Profile::builtin(s.profile).map_err(|e| e.to_string())?;
    let mut card = VirtualCard::new(&profile).map_err(|e| e.to_string())?;
    let config = config_for(&card, s.terminal);
    let mut inputs = example_inputs(s.amount);
    inputs.start = s.start;
    let tap = tap_card(&mut card, config.clone(), inputs.clone())?;
    let exchanges = tap
        .exchanges
        .iter()
        .map(|x| session::Exchange {
            c: session::Hex(x.c.clone()),
            r: session::Hex(x.r.clone()),
            ms: Some(u64::from(x.ms)),
        })
        .collect();
    let session = Session::from_run(Run {
        title: Some(s.title.to_string()),
        source: Some(format!("cardsim:{}", s.profile)),
        recorded_at: Some(RECORDED_AT.to_string()),
        reader: Some("sim".to_string()),
        terminal: TerminalSpec::from_config(&config),
        inputs: &inputs,
        exchanges,
        card_removed: tap.removed,
        outcome: &tap.outcome,
        keep_test_pan: true,
    });
    Ok((tap, session))
}
