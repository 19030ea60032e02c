//! `softpos`: simulated taps, replay of recorded sessions, transcript
//! import, the list of virtual cards.

use clap::{Parser, Subcommand, ValueEnum};
use pos::qa::{self, ImportFormat};
use pos::tap::{self, TapRequest};
use pos::PosError;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "softpos",
    version,
    about = "SoftPOS tap-to-phone terminal: simulated taps and QA tools"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Tap a virtual card and print the outcome, the data record and a trace.
    Tap {
        /// Built-in card profile (see `softpos cards`).
        #[arg(long, default_value = "visa-cvn18")]
        card: String,
        /// Amount in minor units (2500 = 25.00).
        #[arg(long, default_value_t = 2500)]
        amount: u64,
        /// ISO 4217 currency, alphabetic or numeric.
        #[arg(long, default_value = "CNY")]
        currency: String,
        /// Write the tap as a softpos-card-session/1 file.
        #[arg(long, value_name = "FILE")]
        record: Option<PathBuf>,
        /// Keep the test card's PAN and track data in clear in the recording.
        #[arg(long)]
        keep_test_pan: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Where the card is: `sim` (the built-in card named by --card) or
        /// `nfc:<connstring>` (libnfc: `nfc:pn532_uart:/dev/ttyUSB0`,
        /// `nfc:acr122_usb`; `nfc:` alone takes the first device found) or
        /// `pcsc:<name>` (a PC/SC reader through pcscd; any unique part of
        /// its name, e.g. `pcsc:ACR122`; `pcsc:` alone takes the only one).
        #[arg(long, default_value = "sim", value_name = "READER")]
        reader: String,
    },
    /// List the card readers attached (libnfc devices, PC/SC readers), or why none shows.
    Readers,
    /// Replay recorded sessions (files, or directories searched for *.session.json).
    Replay {
        #[arg(required = true, value_name = "FILE|DIR")]
        paths: Vec<PathBuf>,
    },
    /// Work with session files.
    Session {
        #[command(subcommand)]
        command: SessionCommand,
    },
    /// List the built-in virtual cards.
    Cards,
    /// Take a card payment: enroll on first use, attest, tap, authorize
    /// online or queue offline within the limits, and print the result.
    Pay {
        /// Amount in minor units (2500 = 25.00).
        #[arg(long)]
        amount: u64,
        /// ISO 4217 currency, alphabetic or numeric; must be the terminal's.
        #[arg(long)]
        currency: String,
        /// Where the card is: `sim:<profile>` (a built-in virtual card),
        /// `nfc:<connstring>` or `pcsc:<name>` (a real reader; see
        /// `softpos readers`).
        #[arg(long, default_value = "sim:visa-cvn18", value_name = "READER")]
        reader: String,
        /// The acquirer's base URL (`http://127.0.0.1:8420`).
        #[arg(long, value_name = "URL")]
        acquirer: String,
        /// One-time activation code; needed only on first use.
        #[arg(long, value_name = "CODE")]
        activation_code: Option<String>,
        /// SHA-256 of the acquirer's key, from the activation letter: the
        /// first use enrolls only with that acquirer.
        #[arg(long, value_name = "HEX")]
        acquirer_fingerprint: Option<String>,
        /// Where the terminal keeps its sealed key, configuration and queue.
        #[arg(long, value_name = "DIR")]
        data_dir: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// QR payments: build, check and scan EMVCo and wallet codes.
    Qr {
        #[command(subcommand)]
        command: pos::qr::cli::QrCommand,
    },
}

#[derive(Subcommand)]
enum SessionCommand {
    /// Decode a session file's exchanges for people (card data masked).
    Trace {
        file: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Convert another tool's transcript into a session file.
    Import {
        #[arg(long = "from", value_enum)]
        from: From,
        file: PathBuf,
        #[arg(short = 'o', long = "output", value_name = "OUT")]
        output: PathBuf,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum From {
    Binaryfoo,
    Devnied,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Tap {
            card,
            amount,
            currency,
            record,
            keep_test_pan,
            json,
            reader,
        } => run_tap(
            TapRequest {
                card,
                amount,
                currency,
                keep_test_pan,
            },
            &reader,
            record,
            json,
        ),
        Command::Readers => run_readers(),
        Command::Replay { paths } => run_replay(&paths),
        Command::Session {
            command: SessionCommand::Import { from, file, output },
        } => run_import(from, &file, &output),
        Command::Session {
            command: SessionCommand::Trace { file, json },
        } => run_trace(&file, json),
        Command::Cards => run_cards(),
        Command::Qr { command } => pos::qr::cli::run(command),
        Command::Pay {
            amount,
            currency,
            reader,
            acquirer,
            activation_code,
            acquirer_fingerprint,
            data_dir,
            json,
        } => run_pay(
            amount,
            currency,
            &reader,
            (acquirer, activation_code, acquirer_fingerprint),
            data_dir,
            json,
        ),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("softpos: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn run_tap(
    req: TapRequest,
    reader: &str,
    record: Option<PathBuf>,
    json: bool,
) -> Result<ExitCode, PosError> {
    let req_keep = req.keep_test_pan;
    let result = if reader == "sim" {
        tap::tap(&req, &pos::clock::Now::system())?
    } else {
        live_tap(reader, &req)?
    };
    if let Some(path) = &record {
        write_file(path, &result.session.to_json_pretty())?;
    }
    let mut out = std::io::stdout().lock();
    if json {
        let text = serde_json::to_string_pretty(&result)
            .map_err(|e| PosError::Config(format!("JSON output: {e}")))?;
        let _ = writeln!(out, "{text}");
    } else {
        let _ = write!(out, "{}", result.render());
        if let Some(path) = &record {
            let _ = writeln!(out, "\nRecorded to {}", path.display());
            for n in &result.session.notes {
                let _ = writeln!(out, "  note: {n}");
            }
            let masked = !req_keep && result.outcome.oda != kernel::OdaStatus::NotPerformed;
            if masked {
                let _ = writeln!(
                    out,
                    "  hint: this card's ODA checks its PAN; record with --keep-test-pan \
                     (test cards only) for a recording that replays with ODA"
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A tap on a real reader: wait for one card, then run the kernel on it.
fn live_tap(reader: &str, req: &TapRequest) -> Result<tap::TapResult, PosError> {
    let live = tap::LiveTapRequest {
        amount: req.amount,
        currency: req.currency.clone(),
        keep_test_pan: req.keep_test_pan,
    };
    tap::tap_live(
        reader,
        &live,
        std::time::Duration::from_secs(30),
        &mut |m| eprintln!("softpos: {m}"),
        &pos::clock::Now::system(),
    )
}

#[cfg(feature = "pcsc")]
fn pcsc_readers() -> String {
    match pos::reader::pcsc::list_readers() {
        Ok(readers) if readers.is_empty() => {
            format!("none: {}", pos::reader::pcsc::PcscError::NoReader)
        }
        Ok(readers) => readers
            .iter()
            .map(|r| {
                let card = match &r.atr {
                    Some(atr) => format!("card present, ATR {}", hex::encode_upper(atr)),
                    None if r.card_present => "card present".to_string(),
                    None => "no card".to_string(),
                };
                format!("pcsc:{}  ({card})", r.name)
            })
            .collect::<Vec<_>>()
            .join("\n  "),
        Err(e) => format!("none: {e}"),
    }
}

#[cfg(not(feature = "pcsc"))]
fn pcsc_readers() -> String {
    "not built in (build with `--features pcsc`; it needs Debian's libpcsclite-dev, and pcscd \
     to run)"
        .into()
}

fn run_readers() -> Result<ExitCode, PosError> {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "libnfc (--reader nfc:<connstring>):");
    let _ = writeln!(out, "  {}", nfc_readers());
    let _ = writeln!(out, "PC/SC (--reader pcsc:<name>):");
    let _ = writeln!(out, "  {}", pcsc_readers());
    Ok(ExitCode::SUCCESS)
}

#[cfg(feature = "nfc")]
fn nfc_readers() -> String {
    match pos::reader::nfc::list_devices() {
        Ok(devices) => devices
            .iter()
            .map(|d| format!("nfc:{}", d.connstring))
            .collect::<Vec<_>>()
            .join("\n  "),
        Err(e) => format!("none: {e}"),
    }
}

#[cfg(not(feature = "nfc"))]
fn nfc_readers() -> String {
    "not built in (build with `--features nfc`; scripts/nfc-deps.sh installs what it needs)".into()
}

fn run_replay(paths: &[PathBuf]) -> Result<ExitCode, PosError> {
    let files = qa::collect_sessions(paths)?;
    if files.is_empty() {
        return Err(PosError::Usage("no *.session.json found".into()));
    }
    let mut out = std::io::stdout().lock();
    let (mut passed, mut failed) = (0usize, 0usize);
    for f in &files {
        match qa::replay_file(f) {
            Ok(report) if report.passed() => {
                passed += 1;
                let _ = writeln!(out, "{}: {report}", f.display());
            }
            Ok(report) => {
                failed += 1;
                let _ = writeln!(out, "{}: {report}", f.display());
            }
            Err(why) => {
                failed += 1;
                let _ = writeln!(out, "{}: FAIL {why}", f.display());
            }
        }
    }
    let _ = writeln!(out, "{passed} passed, {failed} failed");
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn run_import(
    from: From,
    file: &std::path::Path,
    output: &std::path::Path,
) -> Result<ExitCode, PosError> {
    let format = match from {
        From::Binaryfoo => ImportFormat::Binaryfoo,
        From::Devnied => ImportFormat::Devnied,
    };
    let session = qa::import_file(format, file)?;
    write_file(output, &session.to_json_pretty())?;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "{} -> {}: {} ({} exchanges)",
        file.display(),
        output.display(),
        session.title.as_deref().unwrap_or(""),
        session.exchanges.len()
    );
    for n in &session.notes {
        let _ = writeln!(out, "  note: {n}");
    }
    Ok(ExitCode::SUCCESS)
}

fn run_trace(file: &std::path::Path, json: bool) -> Result<ExitCode, PosError> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| PosError::Io(format!("{}: {e}", file.display())))?;
    let session = session::Session::parse(&text)
        .map_err(|e| PosError::Import(format!("{}: invalid session: {e}", file.display())))?;
    let trace = session::trace(&session.exchanges);
    let mut out = std::io::stdout().lock();
    if json {
        let text = serde_json::to_string_pretty(&trace)
            .map_err(|e| PosError::Config(format!("JSON output: {e}")))?;
        let _ = writeln!(out, "{text}");
    } else {
        if let Some(t) = &session.title {
            let _ = writeln!(out, "{t}");
        }
        for n in &session.notes {
            let _ = writeln!(out, "note: {n}");
        }
        for t in &trace {
            let _ = write!(out, "{t}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn run_cards() -> Result<ExitCode, PosError> {
    let mut out = std::io::stdout().lock();
    for name in cardsim::Profile::builtin_names() {
        let description = cardsim::Profile::builtin(name)
            .map(|p| p.description)
            .unwrap_or_else(|e| format!("(unusable: {e})"));
        let _ = writeln!(out, "{name:<26} {description}");
    }
    Ok(ExitCode::SUCCESS)
}

fn write_file(path: &std::path::Path, text: &str) -> Result<(), PosError> {
    let mut text = text.to_string();
    text.push('\n');
    std::fs::write(path, text).map_err(|e| PosError::Io(format!("{}: {e}", path.display())))
}

/// SHA-256 of the running binary: what attestation reports.
fn own_binary_sha256() -> Result<String, PosError> {
    let exe = std::env::current_exe().map_err(|e| PosError::Io(format!("own binary: {e}")))?;
    let bytes = std::fs::read(&exe).map_err(|e| PosError::Io(format!("{}: {e}", exe.display())))?;
    Ok(hex::encode(ring::digest::digest(
        &ring::digest::SHA256,
        &bytes,
    )))
}

fn run_pay(
    amount: u64,
    currency: String,
    reader: &str,
    (acquirer, activation_code, acquirer_fingerprint): (String, Option<String>, Option<String>),
    data_dir: PathBuf,
    json: bool,
) -> Result<ExitCode, PosError> {
    let card = match reader.strip_prefix("sim:") {
        Some(profile) if !profile.is_empty() => profile,
        _ if reader.starts_with("nfc:") || reader.starts_with("pcsc:") => reader,
        _ => {
            return Err(PosError::Usage(format!(
                "--reader {reader}: expected `sim:<profile>` (see `softpos cards`), \
                 `nfc:<connstring>` or `pcsc:<name>` (see `softpos readers`)"
            )))
        }
    };
    let report = pos::pay::pay(
        &pos::pay::PayRequest {
            amount,
            currency,
            card: card.to_string(),
            acquirer,
            activation_code,
            acquirer_fingerprint,
            data_dir,
            binary_sha256: own_binary_sha256()?,
        },
        &pos::clock::Now::system(),
    )?;
    let mut out = std::io::stdout().lock();
    if json {
        let text =
            serde_json::to_string_pretty(&report).map_err(|e| PosError::Io(e.to_string()))?;
        let _ = writeln!(out, "{text}");
    } else {
        let p = &report.payment;
        let _ = writeln!(out, "Terminal     {}", report.terminal_id);
        let _ = writeln!(
            out,
            "Result       {}",
            format!("{:?}", p.status).to_uppercase()
        );
        let _ = writeln!(out, "Message      {}", p.message);
        if let Some(tsc) = p.tsc {
            let _ = writeln!(out, "TSC          {tsc}");
        }
        if let Some(pan) = &p.masked_pan {
            let _ = writeln!(out, "Card         {pan}");
        }
        if let Some(r) = &p.response {
            let _ = writeln!(out, "Payment ID   {}", r.payment_id);
            let _ = writeln!(out, "Response     {} {}", r.response_code, r.reason);
        }
        let _ = writeln!(
            out,
            "Queue        {} forwarded now, {} waiting",
            report.forwarded, report.queued
        );
        for n in &report.notices {
            let _ = writeln!(out, "NOTICE       {n}");
        }
    }
    Ok(match report.payment.status {
        pos::pay::PayStatus::Approved | pos::pay::PayStatus::AcceptedOffline => ExitCode::SUCCESS,
        _ => ExitCode::from(1),
    })
}
