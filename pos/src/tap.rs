//! A simulated tap: the terminal's default configuration, a virtual card,
//! the kernel, and everything a merchant and a QA engineer want to see.

use crate::card::{self, Limits};
use crate::clock::Now;
use crate::reader::sim::SimReader;
use crate::reader::Transport;
use crate::PosError;
use kernel::{Amount, Currency, Outcome, TransactionInputs};
use serde::Serialize;
use session::{Recorder, Run, Session, TerminalSpec, TraceEntry};
use std::fmt::Write as _;

/// The terminal configuration built into the binary (session `terminal`
/// shape).
pub const DEFAULT_TERMINAL: &str = include_str!("../defaults/terminal.json");

/// The default terminal configuration.
pub fn default_terminal() -> Result<TerminalSpec, PosError> {
    serde_json::from_str(DEFAULT_TERMINAL)
        .map_err(|e| PosError::Config(format!("embedded defaults/terminal.json: {e}")))
}

/// What to tap.
#[derive(Debug, Clone)]
pub struct TapRequest {
    pub card: String,
    pub amount: u64,
    /// ISO 4217 alphabetic or numeric code.
    pub currency: String,
    /// Keep the test card's PAN and track data in clear in the recording.
    pub keep_test_pan: bool,
}

/// What a tap produced.
#[derive(Debug, Clone, Serialize)]
pub struct TapResult {
    pub card: String,
    pub card_description: String,
    pub amount_minor: u64,
    pub currency: String,
    /// "25.00 CNY".
    pub amount: String,
    pub outcome: Outcome,
    pub trace: Vec<TraceEntry>,
    /// The recording of this tap (masked unless `keep_test_pan`).
    #[serde(skip)]
    pub session: Session,
}

/// Runs one tap against a built-in virtual card.
pub fn tap(req: &TapRequest, now: &Now) -> Result<TapResult, PosError> {
    let profile = cardsim::Profile::builtin(&req.card)
        .map_err(|e| PosError::Usage(format!("{e}; `softpos cards` lists the built-in cards")))?;
    let card = cardsim::VirtualCard::new(&profile)
        .map_err(|e| PosError::Config(format!("card {}: {e}", req.card)))?;
    // The virtual card's CA is a cardsim test key: trusted for this tap only.
    let ca = card.ca_public_key();
    let mut reader = SimReader::new(card);
    run_tap(
        &mut reader,
        &Charge {
            amount: req.amount,
            currency: &req.currency,
            keep_test_pan: req.keep_test_pan,
        },
        Source {
            card: req.card.clone(),
            description: profile.description.clone(),
            origin: format!("cardsim:{}", req.card),
            extra_ca: Some(ca),
        },
        now,
    )
}

/// What to charge on a card presented to a real reader.
#[derive(Debug, Clone)]
pub struct LiveTapRequest {
    pub amount: u64,
    /// ISO 4217 alphabetic or numeric code.
    pub currency: String,
    /// Keep PAN and track data in clear in the recording: test cards only.
    pub keep_test_pan: bool,
}

/// Runs one tap on the card a reader has selected (`nfc:` or `pcsc:`),
/// with the same terminal, kernel, limits and recording as [`tap`]. Only
/// the CA keys built into the terminal are trusted.
pub fn tap_on_reader(
    reader: &mut dyn Transport,
    req: &LiveTapRequest,
    now: &Now,
) -> Result<TapResult, PosError> {
    let name = reader.name();
    run_tap(
        reader,
        &Charge {
            amount: req.amount,
            currency: &req.currency,
            keep_test_pan: req.keep_test_pan,
        },
        Source {
            card: name.clone(),
            description: "the card presented to the reader".into(),
            origin: name,
            extra_ca: None,
        },
        now,
    )
}

struct Charge<'a> {
    amount: u64,
    currency: &'a str,
    keep_test_pan: bool,
}

/// Where the card comes from, for the result and the recording.
struct Source {
    card: String,
    description: String,
    /// The session's `source`: `cardsim:<profile>`, `pcsc:<reader>`, ...
    origin: String,
    /// A test CA to trust for this tap only (a virtual card's).
    extra_ca: Option<kernel::oda::CaPublicKey>,
}

/// The one tap: default terminal, kernel over the reader, recording.
fn run_tap(
    reader: &mut dyn Transport,
    charge: &Charge<'_>,
    source: Source,
    now: &Now,
) -> Result<TapResult, PosError> {
    let currency = Currency::parse(charge.currency)
        .map_err(|e| PosError::Usage(format!("--currency: {e}")))?;
    let amount = Amount::new(charge.amount, currency)
        .map_err(|e| PosError::Usage(format!("--amount: {e}")))?;
    let mut terminal = default_terminal()?;
    set_currency(&mut terminal, currency);
    let mut config = terminal
        .to_config()
        .map_err(|e| PosError::Config(format!("default terminal: {e}")))?;
    if let Some(ca) = &source.extra_ca {
        let mut keys = config.ca_keys.keys().to_vec();
        keys.push(ca.clone());
        config.ca_keys = kernel::oda::CaKeyStore::from_keys(keys);
        // The recording names only the CA key this card needs: the
        // published test keys are compiled into every replayer anyway.
        terminal.ca_keys =
            session::CaKeysSpec::from_store(&kernel::oda::CaKeyStore::from_keys(vec![ca.clone()]));
    }
    let inputs = TransactionInputs {
        tx_type: 0x00,
        amount,
        amount_other: 0,
        date: now.date_bcd,
        time: now.time_bcd,
        unpredictable_numbers: unpredictable_numbers(8)?,
        start: kernel::Start::Ppse,
    };
    let (mut tx, step) = kernel::Transaction::start(config, inputs.clone())
        .map_err(|e| PosError::Config(format!("kernel refused the configuration: {e}")))?;
    let mut recorder = Recorder::new();
    let outcome = card::run_with_limits(&mut tx, step, reader, &mut recorder, Limits::default());
    let card_removed = recorder.was_card_removed();
    let exchanges = recorder.into_exchanges();
    let trace = session::trace(&exchanges);
    let session = Session::from_run(Run {
        title: Some(format!(
            "{}: {amount} purchase, {}",
            source.card,
            outcome.kind.as_str()
        )),
        source: Some(source.origin),
        recorded_at: Some(now.rfc3339.clone()),
        reader: Some(reader.name()),
        terminal,
        inputs: &inputs,
        exchanges,
        card_removed,
        outcome: &outcome,
        keep_test_pan: charge.keep_test_pan,
    });
    Ok(TapResult {
        card: source.card,
        card_description: source.description,
        amount_minor: amount.minor,
        currency: currency.alpha.to_string(),
        amount: amount.to_string(),
        outcome,
        trace,
        session,
    })
}

fn set_currency(terminal: &mut TerminalSpec, currency: Currency) {
    let tag = |v: u32| session::TagKey(kernel::Tag::from_u32_unchecked(v));
    terminal
        .tags
        .insert(tag(0x5F2A), session::Hex(currency.to_bcd().to_vec()));
    terminal
        .tags
        .insert(tag(0x5F36), session::Hex(vec![currency.exponent]));
}

fn unpredictable_numbers(n: usize) -> Result<Vec<[u8; 4]>, PosError> {
    use ring::rand::{SecureRandom, SystemRandom};
    let rng = SystemRandom::new();
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let mut un = [0u8; 4];
        rng.fill(&mut un)
            .map_err(|_| PosError::Config("no system random source".into()))?;
        out.push(un);
    }
    Ok(out)
}

impl TapResult {
    /// The human report: outcome first, for the merchant; then the data
    /// record and the trace, for QA.
    pub fn render(&self) -> String {
        let o = &self.outcome;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "SoftPOS {}: card {:?} ({})",
            // Live readers are named "nfc:..." or "pcsc:..."; built-in
            // cards never hold a colon.
            if self.card.contains(':') {
                "tap"
            } else {
                "simulated tap"
            },
            self.card,
            self.card_description
        );
        let _ = writeln!(s, "Amount       {} (purchase)", self.amount);
        let _ = writeln!(s);
        let headline = o.kind.as_str().replace('_', " ").to_uppercase();
        let message = o.ui.message.text();
        if message.is_empty() {
            let _ = writeln!(s, "Outcome      {headline}");
        } else {
            let _ = writeln!(s, "Outcome      {headline}  \"{message}\"");
        }
        if let Some(r) = &o.reason {
            let _ = writeln!(s, "Reason       {}", r.text());
        }
        let _ = writeln!(s, "CVM          {}", cvm_text(o.cvm));
        let method = o
            .oda_method
            .map(|m| format!(" ({})", format!("{m:?}").to_uppercase()))
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "ODA          {}{method}",
            o.oda.as_str().replace('_', " ")
        );
        let mut card = Vec::new();
        if let Some(l) = &o.application_label {
            card.push(l.clone());
        }
        if let Some(p) = &o.masked_pan {
            card.push(p.to_string());
        }
        if let Some(aid) = &o.aid {
            card.push(format!("AID {}", hex::encode_upper(aid)));
        }
        if let Some(k) = o.kernel {
            card.push(format!("kernel {k}"));
        }
        if !card.is_empty() {
            let _ = writeln!(s, "Card         {}", card.join("  "));
        }
        let _ = writeln!(s, "TVR          {}", hex::encode_upper(o.tvr));
        if !o.data_record.0.is_empty() {
            let _ = writeln!(s, "\nData record (ISO 8583 field 55)");
            for (tag, value) in &o.data_record.0 {
                let _ = writeln!(
                    s,
                    "  {:<6} {:<40} {}",
                    tag.to_string(),
                    kernel::tags::name(*tag),
                    session::trace::render(*tag, value)
                );
            }
        }
        let _ = writeln!(s, "\nTrace ({} exchanges)", self.trace.len());
        for t in &self.trace {
            let _ = write!(s, "{t}");
        }
        s
    }
}

fn cvm_text(c: kernel::Cvm) -> &'static str {
    match c {
        kernel::Cvm::NoCvm => "no CVM",
        kernel::Cvm::Signature => "signature",
        kernel::Cvm::OnlinePin => "online PIN",
        kernel::Cvm::Cdcvm => "consumer device CVM (CDCVM)",
        kernel::Cvm::None => "none",
    }
}

/// Waits up to `wait` for one card on a real reader (`nfc:<connstring>` or
/// `pcsc:<name>`), then runs [`tap_on_reader`] on it. `notify` hears what
/// the merchant should be told meanwhile ("present one card to ...").
pub fn tap_live(
    reader: &str,
    req: &LiveTapRequest,
    wait: std::time::Duration,
    notify: &mut dyn FnMut(String),
    now: &Now,
) -> Result<TapResult, PosError> {
    if let Some(connstring) = reader.strip_prefix("nfc:") {
        return nfc_tap(connstring, req, wait, notify, now);
    }
    if let Some(name) = reader.strip_prefix("pcsc:") {
        return pcsc_tap(name, req, wait, notify, now);
    }
    Err(PosError::Usage(format!(
        "--reader {reader:?}: expected `sim`, `nfc:<connstring>` or `pcsc:<name>`; \
         `softpos readers` lists them"
    )))
}

#[cfg(feature = "nfc")]
fn nfc_tap(
    connstring: &str,
    req: &LiveTapRequest,
    wait: std::time::Duration,
    notify: &mut dyn FnMut(String),
    now: &Now,
) -> Result<TapResult, PosError> {
    use crate::reader::nfc::NfcReader;
    let mut reader = NfcReader::open(connstring).map_err(|e| PosError::Io(e.to_string()))?;
    notify(format!("present one card to {} ...", reader.connstring()));
    let card = reader
        .wait_for_card(wait)
        .map_err(|e| PosError::Io(e.to_string()))?;
    notify(format!("card found ({})", card.modulation));
    tap_on_reader(&mut reader, req, now)
}

#[cfg(not(feature = "nfc"))]
fn nfc_tap(
    _: &str,
    _: &LiveTapRequest,
    _: std::time::Duration,
    _: &mut dyn FnMut(String),
    _: &Now,
) -> Result<TapResult, PosError> {
    Err(built_without("libnfc", "bash scripts/nfc-deps.sh", "nfc"))
}

#[cfg(feature = "pcsc")]
fn pcsc_tap(
    name: &str,
    req: &LiveTapRequest,
    wait: std::time::Duration,
    notify: &mut dyn FnMut(String),
    now: &Now,
) -> Result<TapResult, PosError> {
    use crate::reader::pcsc::PcscReader;
    let mut reader = PcscReader::open(name).map_err(|e| PosError::Io(e.to_string()))?;
    notify(format!("present one card to {} ...", reader.reader_name()));
    let atr = reader
        .wait_for_card(wait)
        .map_err(|e| PosError::Io(e.to_string()))?;
    notify(format!("card found (ATR {})", hex::encode_upper(atr)));
    let result = tap_on_reader(&mut reader, req, now);
    reader.release();
    result
}

#[cfg(not(feature = "pcsc"))]
fn pcsc_tap(
    _: &str,
    _: &LiveTapRequest,
    _: std::time::Duration,
    _: &mut dyn FnMut(String),
    _: &Now,
) -> Result<TapResult, PosError> {
    Err(built_without(
        "PC/SC",
        "apt-get install libpcsclite-dev pcscd",
        "pcsc",
    ))
}

/// Why a build without a reader kind's `feature` cannot use it, and how to
/// build one that can.
#[cfg(any(not(feature = "nfc"), not(feature = "pcsc")))]
fn built_without(library: &str, setup: &str, feature: &str) -> PosError {
    PosError::Usage(format!(
        "this softpos was built without {library}: `{setup}`, then \
         `cargo build -p pos --features {feature}`"
    ))
}
