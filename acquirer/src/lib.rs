//! SoftPOS acquiring backend: the HTTP service terminals sync to. It enrolls
//! terminals under merchants, verifies their attestation and signed
//! requests, runs an issuer simulator over the virtual cards' test keys,
//! records authorizations, reversals, refunds, voids and offline advices,
//! settles and reports per merchant, and writes the payout file (ISO 20022
//! pain.001) that pays each merchant's settlements to its own account.
//! Storage is SQLite (default, one file; payments committed in groups by
//! one writer thread) or PostgreSQL (payments committed in groups by a few
//! writer tasks), with one schema.
//!
//! It must never store, log or answer a clear PAN (only an HMAC token and
//! masked digits), never accept a terminal request that is unsigned,
//! unattested, replayed or under another MCC than the terminal's signed
//! configuration, never answer a client fault with a 500, and never answer
//! a payment before the commit that records it.
#![forbid(unsafe_code)]

pub mod api;
pub mod attest;
pub mod cache;
pub mod demo;
pub mod error;
pub mod issuer;
pub mod keys;
pub mod merchant;
pub mod payout;
pub mod pg_writer;
pub mod qr;
pub mod qr_wallet;
pub mod review;
pub mod risk;
pub mod sim;
pub mod sqlite_writer;
pub mod store;
pub mod terminal;
pub mod tls;
pub mod trust;
pub mod util;

use std::net::SocketAddr;
use std::sync::Arc;

pub use api::{router, AppState, Policy, Shared};
pub use store::Store;
pub use util::Clock;

/// How to run one acquirer.
#[derive(Debug, Clone)]
pub struct Config {
    /// `sqlite:PATH` or `postgres://...`.
    pub database: String,
    pub listen: SocketAddr,
    pub admin_token: String,
    pub policy: Policy,
    pub attestation: attestation::Policy,
    pub clock: Clock,
}

/// How to serve, beside [`Config`].
#[derive(Debug, Clone, Default)]
pub struct Serve {
    /// HTTPS with this configuration; plain HTTP when `None`.
    pub tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    /// How SQLite commits reach the disk (ignored on PostgreSQL).
    pub sqlite_sync: store::SqliteSync,
    /// PostgreSQL connections in the pool; `None` for the default
    /// ([`store::PG_CONNECTIONS`]). Ignored on SQLite.
    pub pg_connections: Option<u32>,
}

/// The attestation policy we start from: tight clocks and short tokens;
/// binaries must be listed explicitly.
pub fn default_attestation_policy(allowed_binaries: Vec<String>) -> attestation::Policy {
    attestation::Policy {
        allowed_binaries,
        max_clock_skew_ms: 2 * 60_000,
        challenge_ttl_ms: 2 * 60_000,
        token_ttl_ms: 15 * 60_000,
        allow_debugger: false,
        allow_emulator: false,
        allow_rooted: false,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("storage: {0}")]
    Store(#[from] store::StoreError),
    #[error("keys: {0}")]
    Keys(#[from] keys::KeyError),
    #[error("listen: {0}")]
    Io(#[from] std::io::Error),
}

/// Opens the store (SQLite commits fully synced) and builds the shared state.
pub async fn build_state(config: &Config) -> Result<Shared, StartError> {
    build_state_with(config, store::SqliteSync::Full).await
}

pub async fn build_state_with(
    config: &Config,
    sqlite_sync: store::SqliteSync,
) -> Result<Shared, StartError> {
    let store = Store::open(&config.database, sqlite_sync).await?;
    state_over(config, store).await
}

async fn state_over(config: &Config, store: Store) -> Result<Shared, StartError> {
    let keys = keys::AcquirerKeys::load_or_create(&store).await?;
    let verifier = attestation::Verifier::new(config.attestation.clone(), &keys.token_secret);
    Ok(Arc::new(AppState {
        store,
        keys,
        clock: config.clock.clone(),
        admin_token: config.admin_token.clone(),
        policy: config.policy.clone(),
        verifier,
        ranges: issuer::RangeCache::default(),
        terminals: cache::Cache::default(),
        terms: cache::Cache::default(),
        qr: qr::QrRuntime::default(),
    }))
}

/// A running server: its address and the task serving it.
pub struct Running {
    pub addr: SocketAddr,
    pub state: Shared,
    pub task: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Binds and serves plain HTTP in the background (port 0 picks a free port).
pub async fn spawn(config: &Config) -> Result<Running, StartError> {
    spawn_with(config, Serve::default()).await
}

/// Binds and serves in the background as `serve` says.
pub async fn spawn_with(config: &Config, serve: Serve) -> Result<Running, StartError> {
    let store = Store::open_with(
        &config.database,
        serve.sqlite_sync,
        serve.pg_connections.unwrap_or(store::PG_CONNECTIONS),
    )
    .await?;
    let state = state_over(config, store).await?;
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let addr = listener.local_addr()?;
    let app = router(state.clone());
    let task = match serve.tls {
        Some(tls) => {
            let listener = tls::TlsListener::new(listener, tls)?;
            tokio::spawn(async move { axum::serve(listener, app).await })
        }
        None => tokio::spawn(async move { axum::serve(listener, app).await }),
    };
    tokio::spawn(prune_nonces(state.clone()));
    Ok(Running { addr, state, task })
}

/// Forgets request nonces older than twice the allowed request skew: a
/// request that old is refused on its timestamp, so its nonce can go.
async fn prune_nonces(state: Shared) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
    loop {
        tick.tick().await;
        let cutoff = state
            .clock
            .now_ms()
            .saturating_sub(state.policy.max_request_skew_ms.saturating_mul(2));
        if let Err(e) = sqlx::query("DELETE FROM request_nonces WHERE at_ms < $1")
            .bind(cutoff)
            .execute(&state.store.pool)
            .await
        {
            tracing::warn!(error = %e, "could not prune request nonces");
        }
    }
}
