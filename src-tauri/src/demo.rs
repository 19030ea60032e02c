//! Demo mode's acquirer: the `acquirer` crate's server in-process on
//! 127.0.0.1 (a free port), its SQLite file in the app's data directory,
//! seeded as `softpos-acquirer serve --demo` seeds it. It runs on its own
//! Tokio runtime so that the terminal's blocking HTTP client never waits
//! on the runtime that must answer it.

use std::path::Path;

/// A running demo acquirer; dropping it stops the server.
pub struct DemoAcquirer {
    _rt: tokio::runtime::Runtime,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    pub url: String,
    /// A fresh one-time activation code for the demo merchant.
    pub activation_code: String,
}

impl Drop for DemoAcquirer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The virtual cards' issuer keys: cardsim's profiles in this checkout.
/// Outside a checkout the acquirer falls back to its public test ranges.
const PROFILES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../cardsim/profiles");

/// Starts the demo acquirer; `binary_sha256` is the one app binary it lets
/// attest (this one).
pub fn start(data_dir: &Path, binary_sha256: &str) -> Result<DemoAcquirer, String> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("demo-acquirer")
        .enable_all()
        .build()
        .map_err(|e| format!("demo acquirer runtime: {e}"))?;
    std::fs::create_dir_all(data_dir).map_err(|e| format!("{}: {e}", data_dir.display()))?;
    let db = data_dir.join("demo-acquirer.sqlite");
    let config = acquirer::Config {
        database: format!("sqlite:{}", db.display()),
        listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        // Nobody operates the demo acquirer: a random token nobody knows.
        admin_token: hex::encode(acquirer::util::random_bytes::<16>()),
        policy: acquirer::Policy::default(),
        attestation: acquirer::default_attestation_policy(vec![binary_sha256.to_string()]),
        clock: acquirer::Clock::System,
    };
    let (run, seeded) = rt.block_on(async {
        let run = acquirer::spawn(&config)
            .await
            .map_err(|e| format!("demo acquirer: {e}"))?;
        let seeded = acquirer::demo::seed(&run.state, Path::new(PROFILES))
            .await
            .map_err(|e| format!("demo seeding: {} ({})", e.message, e.code))?;
        // The demo's customer pays a shown QR order through the acquirer
        // (`POST /v1/demo/qr/orders/{id}/pay`), as `serve --demo` allows.
        acquirer::qr::enable_demo(&run.state);
        Ok::<_, String>((run, seeded))
    })?;
    Ok(DemoAcquirer {
        url: format!("http://{}", run.addr),
        task: run.task,
        _rt: rt,
        activation_code: seeded.activation_code,
    })
}

/// A base URL where nothing listens: the demo's "network off".
pub fn nowhere() -> String {
    // Port 9 (discard) on loopback is closed on any sane machine: the
    // connection is refused at once, exactly like a dead network.
    "http://127.0.0.1:9".into()
}
