//! `softpos`: simulated taps, replay of recorded sessions, transcript
//! import, the list of virtual cards.

use clap::{Args, Parser, Subcommand, ValueEnum};
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
    /// List the payments in the terminal's history.
    History {
        #[arg(long, value_name = "DIR")]
        data_dir: PathBuf,
        /// First business date, YYYY-MM-DD (UTC).
        #[arg(long, value_name = "DATE")]
        from: Option<String>,
        /// Last business date, YYYY-MM-DD (UTC).
        #[arg(long, value_name = "DATE")]
        to: Option<String>,
        /// approved, declined, accepted_offline, reversed, voided, refused.
        #[arg(long)]
        status: Option<String>,
        /// purchase, refund, qr.
        #[arg(long)]
        kind: Option<String>,
        /// Smallest amount, minor units.
        #[arg(long, value_name = "MINOR")]
        min_amount: Option<u64>,
        /// Largest amount, minor units.
        #[arg(long, value_name = "MINOR")]
        max_amount: Option<u64>,
        /// Last four digits of the card.
        #[arg(long)]
        last4: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Print the receipt of the payment recorded under a TSC.
    Receipt {
        tsc: u32,
        #[arg(long, value_name = "DIR")]
        data_dir: PathBuf,
        #[arg(long, value_enum, default_value = "text")]
        format: ReceiptFormat,
        /// Columns for text and ESC/POS (32, 42 or 48).
        #[arg(long, default_value_t = 42)]
        width: usize,
        /// Write to this file instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Refund an approved payment (all that is left of it, or --amount).
    Refund {
        /// The TSC of the payment to refund.
        #[arg(long)]
        tsc: u32,
        /// Minor units; what is left of the payment if absent.
        #[arg(long)]
        amount: Option<u64>,
        #[command(flatten)]
        to: AdjustTo,
    },
    /// Void an approved payment that is not settled yet.
    Void {
        #[arg(long)]
        tsc: u32,
        #[command(flatten)]
        to: AdjustTo,
    },
    /// Count and sum one business day's payments: what the acquirer's
    /// settlement for that day should hold.
    Totals {
        #[arg(long, value_name = "DIR")]
        data_dir: PathBuf,
        /// YYYY-MM-DD (UTC); today if absent.
        #[arg(long)]
        date: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// The acquirer's settlement statement of this terminal's merchant:
    /// every payment with MCC, fee rate, fee, net and settlement date.
    Statement {
        #[arg(long, value_name = "URL")]
        acquirer: String,
        #[arg(long, value_name = "DIR")]
        data_dir: PathBuf,
        /// First business date, YYYY-MM-DD (UTC).
        #[arg(long)]
        from: String,
        /// Last business date, YYYY-MM-DD (UTC); at most a year after --from.
        #[arg(long)]
        to: String,
        #[arg(long)]
        json: bool,
    },
    /// QR payments: build, check and scan EMVCo and wallet codes.
    Qr {
        #[command(subcommand)]
        command: pos::qr::cli::QrCommand,
    },
}

/// Where a refund or void goes, and how its answer is printed.
#[derive(Args)]
struct AdjustTo {
    #[arg(long, value_name = "URL")]
    acquirer: String,
    #[arg(long, value_name = "DIR")]
    data_dir: PathBuf,
    #[arg(long)]
    json: bool,
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
enum ReceiptFormat {
    Text,
    Escpos,
    Html,
    Pdf,
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
        Command::History {
            data_dir,
            from,
            to,
            status,
            kind,
            min_amount,
            max_amount,
            last4,
            json,
        } => run_history(
            &data_dir,
            from,
            to,
            status.as_deref(),
            kind.as_deref(),
            (min_amount, max_amount),
            last4,
            json,
        ),
        Command::Receipt {
            tsc,
            data_dir,
            format,
            width,
            out,
        } => run_receipt(&data_dir, tsc, format, width, out.as_deref()),
        Command::Refund { tsc, amount, to } => run_adjust(&to, tsc, Some(amount)),
        Command::Void { tsc, to } => run_adjust(&to, tsc, None),
        Command::Totals {
            data_dir,
            date,
            json,
        } => run_totals(&data_dir, date.as_deref(), json),
        Command::Statement {
            acquirer,
            data_dir,
            from,
            to,
            json,
        } => run_statement(&acquirer, &data_dir, &from, &to, json),
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
        if let Some(r) = &report.receipt {
            let _ = writeln!(out);
            let _ = write!(out, "{}", r.to_text(42));
        }
    }
    Ok(match report.payment.status {
        pos::pay::PayStatus::Approved | pos::pay::PayStatus::AcceptedOffline => ExitCode::SUCCESS,
        _ => ExitCode::from(1),
    })
}

fn json_out(v: &impl serde::Serialize) -> Result<(), PosError> {
    let text = serde_json::to_string_pretty(v).map_err(|e| PosError::Io(e.to_string()))?;
    let _ = writeln!(std::io::stdout().lock(), "{text}");
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn run_history(
    dir: &std::path::Path,
    from: Option<String>,
    to: Option<String>,
    status: Option<&str>,
    kind: Option<&str>,
    (min_amount, max_amount): (Option<u64>, Option<u64>),
    last4: Option<String>,
    json: bool,
) -> Result<ExitCode, PosError> {
    use pos::history::Filter;
    let parse = |e: pos::history::HistoryError| PosError::Usage(e.to_string());
    let filter = Filter {
        from,
        to,
        status: status.map(str::parse).transpose().map_err(parse)?,
        kind: kind.map(str::parse).transpose().map_err(parse)?,
        min_amount_minor: min_amount,
        max_amount_minor: max_amount,
        last4,
    };
    let records = pos::history::ops::search(dir, &filter)?;
    if json {
        json_out(&records)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "{:>6}  {:<10}  {:<8}  {:<16}  {:>16}  {:<19}  {:>12}",
        "TSC", "DATE", "KIND", "STATUS", "AMOUNT", "CARD", "NET"
    );
    for r in &records {
        let net = match r.net_minor {
            Some(n) if r.counts_toward_settlement() => pos::receipt::format_amount(n, r.currency),
            _ => "-".into(),
        };
        let tsc = r.tsc.map_or_else(|| "-".to_string(), |t| t.to_string());
        let amount = pos::receipt::format_amount(
            i64::try_from(r.amount_minor).unwrap_or(i64::MAX),
            r.currency,
        );
        let _ = writeln!(
            out,
            "{tsc:>6}  {:<10}  {:<8}  {:<16}  {amount:>16}  {:<19}  {net:>12}",
            r.business_date,
            r.kind.as_str(),
            r.status.as_str(),
            r.payer()
        );
    }
    let _ = writeln!(out, "{} payment(s)", records.len());
    Ok(ExitCode::SUCCESS)
}

fn run_receipt(
    dir: &std::path::Path,
    tsc: u32,
    format: ReceiptFormat,
    width: usize,
    out_file: Option<&std::path::Path>,
) -> Result<ExitCode, PosError> {
    if !(20..=120).contains(&width) {
        return Err(PosError::Usage(
            "--width must be 20 to 120 (usually 32, 42 or 48)".into(),
        ));
    }
    let r = pos::history::ops::receipt(dir, tsc)?;
    let bytes = match format {
        ReceiptFormat::Text => r.to_text(width).into_bytes(),
        ReceiptFormat::Escpos => r.to_escpos(width),
        ReceiptFormat::Html => r.to_html().into_bytes(),
        ReceiptFormat::Pdf => r.to_pdf(),
    };
    match out_file {
        Some(p) => {
            std::fs::write(p, &bytes).map_err(|e| PosError::Io(format!("{}: {e}", p.display())))?
        }
        None => {
            let _ = std::io::stdout().lock().write_all(&bytes);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `refund` when `amount` is `Some` (its inner `None`: all that is left),
/// else `void`.
fn run_adjust(to: &AdjustTo, tsc: u32, amount: Option<Option<u64>>) -> Result<ExitCode, PosError> {
    let (dir, acquirer, json) = (to.data_dir.as_path(), to.acquirer.as_str(), to.json);
    let (mut client, mut queue) =
        pos::pay::open_terminal(dir, acquirer, None, &own_binary_sha256()?)?;
    let mut history =
        pos::history::History::open_in(dir).map_err(|e| PosError::Io(e.to_string()))?;
    history
        .reconcile(&queue, pos::sync::now_ms())
        .map_err(|e| PosError::Io(e.to_string()))?;
    let done = match amount {
        Some(amount) => {
            pos::history::ops::refund(&mut client, &mut queue, &mut history, tsc, amount)?
        }
        None => pos::history::ops::void(&mut client, &mut history, tsc)?,
    };
    if json {
        json_out(&done)?;
    } else {
        let _ = write!(std::io::stdout().lock(), "{}", done.receipt.to_text(42));
    }
    Ok(ExitCode::SUCCESS)
}

fn run_statement(
    acquirer: &str,
    dir: &std::path::Path,
    from: &str,
    to: &str,
    json: bool,
) -> Result<ExitCode, PosError> {
    let (mut client, _) = pos::pay::open_terminal(dir, acquirer, None, &own_binary_sha256()?)?;
    let statement = client
        .statement(from, to)
        .map_err(|e| PosError::Io(e.to_string()))?;
    if json {
        json_out(&statement)?;
    } else {
        let _ = write!(std::io::stdout().lock(), "{}", statement.to_text());
    }
    Ok(ExitCode::SUCCESS)
}

fn run_totals(dir: &std::path::Path, date: Option<&str>, json: bool) -> Result<ExitCode, PosError> {
    let t = pos::history::ops::totals(dir, date)?;
    if json {
        json_out(&t)?;
        return Ok(ExitCode::SUCCESS);
    }
    let cur = t.currency.unwrap_or(0);
    let fmt = |m: i64| pos::receipt::format_amount(m, cur);
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "Business date {} (UTC)", t.date);
    let _ = writeln!(
        out,
        "{:<10} {:<18} {:>6} {:>18}",
        "KIND", "STATUS", "COUNT", "AMOUNT"
    );
    for g in &t.groups {
        let _ = writeln!(
            out,
            "{:<10} {:<18} {:>6} {:>18}",
            g.kind,
            g.status,
            g.count,
            fmt(i64::try_from(g.amount_minor).unwrap_or(i64::MAX))
        );
    }
    let _ = writeln!(out, "For settlement: {} payment(s)", t.settled_count);
    let _ = writeln!(out, "  Gross  {:>18}", fmt(t.gross_minor));
    let _ = writeln!(out, "  Fees   {:>18}", fmt(t.fees_minor));
    let _ = writeln!(out, "  Net    {:>18}", fmt(t.net_minor));
    if t.pending_count > 0 {
        let _ = writeln!(
            out,
            "Waiting offline (not in any settlement yet): {} payment(s), {}",
            t.pending_count,
            fmt(i64::try_from(t.pending_minor).unwrap_or(i64::MAX))
        );
    }
    Ok(ExitCode::SUCCESS)
}
