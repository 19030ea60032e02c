//! `softpos qr ...`: thin wrappers that read arguments, call the QR use
//! cases and print. Invalid payloads are a result (exit 1 with the reason),
//! not a tool failure.

use super::mpm::{MerchantAccount, MerchantPayload, MerchantProfile, PaymentRequest};
use super::{mpm, parse_any, render, scan};
use crate::PosError;
use clap::Subcommand;
use kernel::money::{Amount, Currency};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The `qr` subcommands.
#[derive(Debug, Subcommand)]
pub enum QrCommand {
    /// Build an EMVCo merchant-presented payload, print it and show the code.
    Mpm(Box<MpmArgs>),
    /// Check a payload (merchant- or customer-presented) and print every field.
    Parse {
        /// The payload; "-" reads one line from standard input (a
        /// keyboard-wedge scanner).
        payload: String,
    },
    /// Decode the QR codes in an image file, then check each payload.
    Scan { image: PathBuf },
}

/// Arguments of `softpos qr mpm`.
#[derive(Debug, clap::Args)]
pub struct MpmArgs {
    /// Amount in minor units (2500 = 25.00); without it, a static code.
    #[arg(long)]
    pub amount: Option<u64>,
    /// ISO 4217 currency, alphabetic or numeric.
    #[arg(long, default_value = "CNY")]
    pub currency: String,
    #[arg(long, default_value = "SOFTPOS DEMO")]
    pub merchant_name: String,
    #[arg(long, default_value = "SHANGHAI")]
    pub city: String,
    /// ISO 3166-1 alpha-2.
    #[arg(long, default_value = "CN")]
    pub country: String,
    /// ISO 18245 merchant category code.
    #[arg(long, default_value = "5999")]
    pub mcc: String,
    #[arg(long)]
    pub postal_code: Option<String>,
    /// Bill number (62.01).
    #[arg(long)]
    pub bill: Option<String>,
    /// Reference label (62.05), e.g. the acquirer's order ID.
    #[arg(long)]
    pub reference: Option<String>,
    /// Terminal label (62.07).
    #[arg(long)]
    pub terminal_label: Option<String>,
    /// Merchant account template ID (26–51).
    #[arg(long, default_value_t = 26)]
    pub account_id: u8,
    /// Globally unique identifier of the payment network (sub-ID 00).
    #[arg(long, default_value = "com.softpos.demo")]
    pub gui: String,
    /// Merchant ID at that network (sub-ID 01).
    #[arg(long, default_value = "DEMO0001")]
    pub merchant_id: String,
    /// Also write the code as PNG.
    #[arg(long, value_name = "FILE")]
    pub png: Option<PathBuf>,
    /// Also write the code as SVG.
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
    /// Print the payload only, without drawing the code in the terminal.
    #[arg(long)]
    pub no_show: bool,
}

/// Runs one `qr` subcommand.
pub fn run(command: QrCommand) -> Result<ExitCode, PosError> {
    match command {
        QrCommand::Mpm(args) => run_mpm(&args),
        QrCommand::Parse { payload } => {
            let payload = if payload == "-" {
                let mut line = String::new();
                std::io::stdin()
                    .read_line(&mut line)
                    .map_err(|e| PosError::Io(format!("standard input: {e}")))?;
                line
            } else {
                payload
            };
            Ok(report(&payload))
        }
        QrCommand::Scan { image } => run_scan(&image),
    }
}

/// The payload `softpos qr mpm` would print for these arguments.
pub fn build_mpm(args: &MpmArgs) -> Result<String, PosError> {
    let currency = Currency::parse(&args.currency).map_err(|e| PosError::Usage(e.to_string()))?;
    if !(26..=51).contains(&args.account_id) {
        return Err(PosError::Usage(format!(
            "--account-id must be a template ID, 26 to 51, not {}",
            args.account_id
        )));
    }
    let profile = MerchantProfile {
        name: args.merchant_name.clone(),
        city: args.city.clone(),
        country: args.country.clone(),
        mcc: args.mcc.clone(),
        postal_code: args.postal_code.clone(),
        accounts: vec![MerchantAccount::Template {
            id: args.account_id,
            gui: args.gui.clone(),
            fields: vec![mpm::DataObject::primitive(1, args.merchant_id.clone())],
        }],
        language: None,
    };
    let payload = match args.amount {
        Some(minor) => {
            let amount =
                Amount::new(minor, currency).map_err(|e| PosError::Usage(e.to_string()))?;
            MerchantPayload::for_payment(
                &profile,
                &PaymentRequest {
                    amount,
                    bill_number: args.bill.clone(),
                    reference_label: args.reference.clone(),
                    terminal_label: args.terminal_label.clone(),
                },
            )
        }
        None => MerchantPayload::static_code(&profile, currency),
    };
    payload
        .encode()
        .map_err(|e| PosError::Usage(format!("cannot build this payload: {e}")))
}

fn run_mpm(args: &MpmArgs) -> Result<ExitCode, PosError> {
    let payload = build_mpm(args)?;
    let render_err = |e: render::RenderError| PosError::Usage(e.to_string());
    if let Some(path) = &args.png {
        write_bytes(path, &render::png(&payload, 400).map_err(render_err)?)?;
    }
    if let Some(path) = &args.svg {
        write_bytes(
            path,
            render::svg(&payload, 400).map_err(render_err)?.as_bytes(),
        )?;
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{payload}");
    if !args.no_show {
        let _ = writeln!(out, "{}", render::terminal(&payload).map_err(render_err)?);
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints every field of a valid payload, or the reason it is refused on
/// standard error; the exit code says which.
fn report(payload: &str) -> ExitCode {
    match parse_any(payload) {
        Ok(content) => {
            let _ = write!(std::io::stdout().lock(), "{content}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            let _ = writeln!(std::io::stderr().lock(), "softpos: {e}");
            ExitCode::from(1)
        }
    }
}

fn run_scan(image: &Path) -> Result<ExitCode, PosError> {
    let payloads = match scan::decode_file(image) {
        Ok(p) => p,
        Err(scan::ScanError::Io(e)) => return Err(PosError::Io(e)),
        Err(e) => {
            let _ = writeln!(
                std::io::stderr().lock(),
                "softpos: {}: {e}",
                image.display()
            );
            return Ok(ExitCode::from(1));
        }
    };
    let mut code = ExitCode::SUCCESS;
    for p in payloads {
        // The raw text is not echoed: a customer code is a payment credential.
        if report(&p) != ExitCode::SUCCESS {
            code = ExitCode::from(1);
        }
    }
    Ok(code)
}

fn write_bytes(path: &Path, bytes: &[u8]) -> Result<(), PosError> {
    std::fs::write(path, bytes).map_err(|e| PosError::Io(format!("{}: {e}", path.display())))
}
