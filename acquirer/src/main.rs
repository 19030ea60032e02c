//! `softpos-acquirer serve`: runs the acquiring backend.

use acquirer::{default_attestation_policy, Clock, Config, Policy};
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "softpos-acquirer", about = "SoftPOS acquiring backend")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Serve the HTTP API.
    Serve {
        #[arg(long, default_value = "127.0.0.1:8420")]
        listen: SocketAddr,
        /// `sqlite:PATH` (created on first start) or `postgres://user:pass@host/db`.
        #[arg(long, default_value = "sqlite:softpos-acquirer.db")]
        database: String,
        /// Operator bearer token; also read from SOFTPOS_ADMIN_TOKEN. A
        /// random one is made and printed if neither is given.
        #[arg(long, env = "SOFTPOS_ADMIN_TOKEN", hide_env_values = true)]
        admin_token: Option<String>,
        /// SHA-256 (hex) of an app binary allowed to attest; repeatable.
        #[arg(long = "allow-binary")]
        allow_binary: Vec<String>,
        /// Accept evidence from emulators and virtual machines (test labs).
        #[arg(long)]
        allow_emulator: bool,
        /// Seed a demo merchant, an activation code and the virtual cards'
        /// issuer keys.
        #[arg(long)]
        demo: bool,
        /// Card profiles to read issuer keys from in --demo.
        #[arg(long, default_value = "cardsim/profiles")]
        profiles: PathBuf,
        /// SQLite only: `full` (default) syncs every commit to disk;
        /// `normal` may lose the last payments on a power cut (see README).
        #[arg(long, default_value = "full", value_parser = ["full", "normal"])]
        sqlite_synchronous: String,
        /// PostgreSQL only: connections in the pool (default 16).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1000))]
        db_connections: Option<u32>,
        /// Serve HTTPS with this PEM certificate chain (leaf first); needs
        /// --tls-key. Plain HTTP without it.
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// PEM private key of --tls-cert.
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// IBAN of the acquirer's own account, debited by the settlement
        /// payout files (GET /v1/payouts/{date}, ISO 20022 pain.001.001.09);
        /// spaces allowed. Without it payout files are refused (409), except
        /// under --demo, which uses the example IBAN NL91ABNA0417164300.
        #[arg(long, env = "SOFTPOS_PAYOUT_ACCOUNT", value_name = "IBAN")]
        payout_account: Option<String>,
        /// The account holder's name in the payout files (at most 70
        /// characters are written).
        #[arg(
            long,
            env = "SOFTPOS_PAYOUT_NAME",
            value_name = "NAME",
            default_value = "SoftPOS Acquirer"
        )]
        payout_name: String,
        /// BIC of the bank holding --payout-account, if the bank wants it in
        /// the file (otherwise the file says NOTPROVIDED).
        #[arg(long, env = "SOFTPOS_PAYOUT_BIC", value_name = "BIC")]
        payout_bic: Option<String>,
    },
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let Cli { cmd } = Cli::parse();
    let Cmd::Serve {
        listen,
        database,
        admin_token,
        allow_binary,
        allow_emulator,
        demo,
        profiles,
        tls_cert,
        tls_key,
        sqlite_synchronous,
        db_connections,
        payout_account,
        payout_name,
        payout_bic,
    } = cmd;
    let payout = match (payout_account, demo) {
        (Some(iban), _) => Some((iban, payout_name)),
        (None, true) => Some((
            acquirer::payout::DEMO_PAYOUT_ACCOUNT.to_string(),
            payout_name,
        )),
        (None, false) => {
            println!("note: no --payout-account given: payout files are refused until one is");
            None
        }
    };
    let payout = match payout {
        Some((iban, name)) => {
            match acquirer::payout::PayoutAccount::new(&iban, &name, payout_bic.as_deref()) {
                Ok(p) => Some(p),
                Err(e) => {
                    eprintln!("softpos-acquirer: --payout-account: {e}");
                    return std::process::ExitCode::FAILURE;
                }
            }
        }
        None => None,
    };
    let tls = match (tls_cert, tls_key) {
        (Some(cert), Some(key)) => match load_tls(&cert, &key) {
            Ok(c) => Some(c),
            Err(e) => {
                eprintln!("softpos-acquirer: {e}");
                return std::process::ExitCode::FAILURE;
            }
        },
        _ => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let admin_token = admin_token.unwrap_or_else(|| {
        let t = hex::encode(acquirer::util::random_bytes::<16>());
        println!("operator token (pass as Authorization: Bearer ...): {t}");
        t
    });
    let mut attestation = default_attestation_policy(allow_binary);
    attestation.allow_emulator = allow_emulator;
    if attestation.allowed_binaries.is_empty() {
        println!("note: no --allow-binary given: no terminal can attest until one is allowed");
    }
    let config = Config {
        database,
        listen,
        admin_token,
        policy: Policy {
            payout,
            ..Policy::default()
        },
        attestation,
        clock: Clock::System,
    };
    let serve = acquirer::Serve {
        tls,
        sqlite_sync: if sqlite_synchronous == "normal" {
            acquirer::store::SqliteSync::Normal
        } else {
            acquirer::store::SqliteSync::Full
        },
        pg_connections: db_connections,
    };
    let running = match acquirer::spawn_with(&config, serve).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("softpos-acquirer: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    if demo {
        acquirer::qr::enable_demo(&running.state);
        match acquirer::demo::seed(&running.state, &profiles).await {
            Ok(s) => {
                println!(
                    "demo merchant: {} (merchant key {})",
                    s.merchant_id, s.merchant_key
                );
                println!("demo activation code: {}", s.activation_code);
                println!(
                    "acquirer key fingerprint (softpos pay --acquirer-fingerprint): {}",
                    acquirer::util::sha256_hex(running.state.keys.public_key())
                );
                for (prefix, cvn, _) in &s.ranges {
                    println!("issuer range {prefix}* ({cvn})");
                }
            }
            Err(e) => {
                eprintln!(
                    "softpos-acquirer: demo seeding failed: {} ({})",
                    e.message, e.code
                );
                return std::process::ExitCode::FAILURE;
            }
        }
    }
    println!("softpos-acquirer listening on {scheme}://{}", running.addr);
    tokio::select! {
        r = running.task => {
            if let Ok(Err(e)) | Err(e) = r.map_err(std::io::Error::other) {
                eprintln!("softpos-acquirer: {e}");
                return std::process::ExitCode::FAILURE;
            }
        }
        _ = tokio::signal::ctrl_c() => println!("shutting down"),
    }
    std::process::ExitCode::SUCCESS
}

fn load_tls(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<std::sync::Arc<tokio_rustls::rustls::ServerConfig>, String> {
    let read = |p: &std::path::Path| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
    acquirer::tls::server_config(&read(cert)?, &read(key)?).map_err(|e| e.to_string())
}
