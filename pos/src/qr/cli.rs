//! `softpos qr ...`: thin wrappers that read arguments, call the QR use
//! cases and print. Invalid payloads are a result (exit 1 with the reason),
//! not a tool failure.

use super::mpm::{MerchantAccount, MerchantPayload, MerchantProfile, PaymentRequest};
use super::{flow, mpm, parse_any, render, scan};
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
    /// Take a QR payment with the acquirer: create an order, show its
    /// merchant-presented code, wait for the customer's wallet to pay it.
    Charge(Box<ChargeArgs>),
    /// Charge a customer's payment code (wallet digits or EMVCo CPM) with
    /// the acquirer; "-" reads it from standard input (a scanner).
    Collect(Box<CollectArgs>),
    /// Refund a paid QR sale (all that is left of it, or --amount), named
    /// by the acquirer's payment ID or order ID from its receipt.
    Refund(Box<RefundArgs>),
}

/// Arguments of `softpos qr refund`.
#[derive(Debug, clap::Args)]
pub struct RefundArgs {
    /// The sale's payment ID (`pay_...`) or order ID (`Q...`).
    pub id: String,
    /// Minor units; what is left of the sale if absent.
    #[arg(long)]
    pub amount: Option<u64>,
    /// The acquirer's base URL (`http://127.0.0.1:8420`).
    #[arg(long, value_name = "URL")]
    pub acquirer: String,
    /// The terminal's data directory.
    #[arg(long, value_name = "DIR")]
    pub data_dir: PathBuf,
    /// Print the refund's record and receipt as JSON.
    #[arg(long)]
    pub json: bool,
}

/// What `qr charge` and `qr collect` share with `softpos pay`.
#[derive(Debug, clap::Args)]
pub struct SaleArgs {
    /// Amount in minor units (2500 = 25.00).
    #[arg(long)]
    pub amount: u64,
    /// ISO 4217 currency, alphabetic or numeric; must be the terminal's.
    #[arg(long)]
    pub currency: String,
    /// The acquirer's base URL (`http://127.0.0.1:8420`).
    #[arg(long, value_name = "URL")]
    pub acquirer: String,
    /// One-time activation code; needed only on first use.
    #[arg(long, value_name = "CODE")]
    pub activation_code: Option<String>,
    /// Where the terminal keeps its sealed key, configuration and queue.
    #[arg(long, value_name = "DIR")]
    pub data_dir: PathBuf,
    /// Seconds to wait for the customer before cancelling.
    #[arg(long, default_value_t = 120, value_name = "S")]
    pub timeout: u64,
    /// Print the result as JSON (progress goes to standard error).
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `softpos qr charge`.
#[derive(Debug, clap::Args)]
pub struct ChargeArgs {
    #[command(flatten)]
    pub sale: SaleArgs,
    /// Also write the code as PNG.
    #[arg(long, value_name = "FILE")]
    pub png: Option<PathBuf>,
    /// Also write the code as SVG.
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
    /// Do not draw the code in the terminal (print the payload only).
    #[arg(long)]
    pub no_show: bool,
}

/// Arguments of `softpos qr collect`.
#[derive(Debug, clap::Args)]
pub struct CollectArgs {
    /// The customer's code as scanned; "-" reads one line from standard input.
    pub code: String,
    #[command(flatten)]
    pub sale: SaleArgs,
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
        QrCommand::Charge(args) => run_charge(&args),
        QrCommand::Collect(args) => run_collect(&args),
        QrCommand::Refund(args) => run_refund(&args),
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

fn own_binary_sha256() -> Result<String, PosError> {
    let exe = std::env::current_exe().map_err(|e| PosError::Io(format!("own binary: {e}")))?;
    let bytes = std::fs::read(&exe).map_err(|e| PosError::Io(format!("{}: {e}", exe.display())))?;
    Ok(hex::encode(ring::digest::digest(
        &ring::digest::SHA256,
        &bytes,
    )))
}

fn sale_options(sale: &SaleArgs) -> Result<(flow::TerminalOptions, flow::QrSaleRequest), PosError> {
    Ok((
        flow::TerminalOptions {
            acquirer: sale.acquirer.clone(),
            data_dir: sale.data_dir.clone(),
            activation_code: sale.activation_code.clone(),
            binary_sha256: own_binary_sha256()?,
        },
        flow::QrSaleRequest {
            amount_minor: sale.amount,
            currency: sale.currency.clone(),
            polling: flow::Polling {
                timeout: std::time::Duration::from_secs(sale.timeout.max(1)),
                ..flow::Polling::default()
            },
        },
    ))
}

/// Progress lines go to standard error, so standard output holds only the
/// code (text mode) and the result.
fn progress(event: &flow::QrEvent<'_>) {
    let mut err = std::io::stderr().lock();
    match event {
        flow::QrEvent::Show { order, .. } => {
            let _ = writeln!(
                err,
                "softpos: order {} ({}) shown; waiting for the customer's wallet",
                order.order_id, order.out_trade_no
            );
        }
        flow::QrEvent::Status(o) => {
            let _ = writeln!(
                err,
                "softpos: order {}: {} ({})",
                o.order_id, o.status, o.reason
            );
        }
        flow::QrEvent::Cancelling { why } => {
            let _ = writeln!(err, "softpos: cancelling: {why}");
        }
    }
}

fn run_charge(args: &ChargeArgs) -> Result<ExitCode, PosError> {
    let (opts, req) = sale_options(&args.sale)?;
    let mut shown: Result<(), PosError> = Ok(());
    let json = args.sale.json;
    let r = flow::run_sale(&opts, &req, None, &mut |e| {
        if let flow::QrEvent::Show { payload, .. } = e {
            if shown.is_ok() {
                shown = show_code(payload, args, json);
            }
        }
        progress(e);
    })?;
    shown?;
    print_result(&r, json)
}

fn show_code(payload: &str, args: &ChargeArgs, json: bool) -> Result<(), PosError> {
    let render_err = |e: render::RenderError| PosError::Usage(e.to_string());
    if let Some(path) = &args.png {
        write_bytes(path, &render::png(payload, 400).map_err(render_err)?)?;
    }
    if let Some(path) = &args.svg {
        write_bytes(
            path,
            render::svg(payload, 400).map_err(render_err)?.as_bytes(),
        )?;
    }
    let drawing = if args.no_show {
        String::new()
    } else {
        render::terminal(payload).map_err(render_err)?
    };
    // In JSON mode standard output is the result only.
    if json {
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{payload}\n{drawing}");
    } else {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{payload}\n{drawing}");
        let _ = out.flush();
    }
    Ok(())
}

fn run_collect(args: &CollectArgs) -> Result<ExitCode, PosError> {
    let code = if args.code == "-" {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .map_err(|e| PosError::Io(format!("standard input: {e}")))?;
        line
    } else {
        args.code.clone()
    };
    // Checked before the terminal takes a seq: a misread code is the
    // cashier's to rescan, not a payment (exit 1, like `qr parse`).
    if let Err(e) = super::CustomerCode::parse(&code) {
        let _ = writeln!(std::io::stderr().lock(), "softpos: {e}");
        return Ok(ExitCode::from(1));
    }
    let (opts, req) = sale_options(&args.sale)?;
    let r = flow::run_sale(&opts, &req, Some(&code), &mut |e| progress(e))?;
    print_result(&r, args.sale.json)
}

fn run_refund(args: &RefundArgs) -> Result<ExitCode, PosError> {
    let dir = args.data_dir.as_path();
    let (mut client, mut queue) =
        crate::pay::open_terminal(dir, &args.acquirer, None, &own_binary_sha256()?)?;
    let mut history =
        crate::history::History::open_in(dir).map_err(|e| PosError::Io(e.to_string()))?;
    let tsc = crate::history::ops::qr_sale_tsc(&history, args.id.trim())?;
    let done =
        crate::history::ops::refund(&mut client, &mut queue, &mut history, tsc, args.amount)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        let text = serde_json::to_string_pretty(&done).map_err(|e| PosError::Io(e.to_string()))?;
        let _ = writeln!(out, "{text}");
    } else {
        let _ = write!(out, "{}", done.receipt.to_text(42));
    }
    Ok(ExitCode::SUCCESS)
}

fn print_result(r: &flow::QrResult, json: bool) -> Result<ExitCode, PosError> {
    let mut out = std::io::stdout().lock();
    if json {
        let text = serde_json::to_string_pretty(r).map_err(|e| PosError::Io(e.to_string()))?;
        let _ = writeln!(out, "{text}");
    } else {
        let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
        let _ = writeln!(out, "Terminal     {}", r.terminal_id);
        let _ = writeln!(
            out,
            "Result       {}",
            format!("{:?}", r.outcome).to_uppercase()
        );
        let _ = writeln!(out, "Message      {}", r.message);
        let _ = writeln!(
            out,
            "Order        {} ({})",
            opt(&r.order_id),
            r.out_trade_no
        );
        let _ = writeln!(
            out,
            "Amount       {} (currency {})",
            r.amount_minor, r.currency
        );
        if r.wallet.is_some() || r.masked_code.is_some() {
            let _ = writeln!(
                out,
                "Wallet       {} {}",
                opt(&r.wallet),
                opt(&r.masked_code)
            );
        }
        if let Some(id) = &r.payment_id {
            let _ = writeln!(out, "Payment ID   {id}");
        }
        if let (Some(fee), Some(net)) = (r.fee_minor, r.net_minor) {
            let _ = writeln!(out, "Fee / net    {fee} / {net}");
        }
        if let Some(d) = &r.settlement_date {
            let _ = writeln!(out, "Settlement   {d}");
        }
    }
    Ok(if r.outcome == flow::QrOutcome::Paid {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
