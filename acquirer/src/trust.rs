//! Terminal authentication, in one place: every terminal request is signed
//! by the terminal's enrolled device key over method, path, body, timestamp
//! and a single-use nonce (headers below), and all but the attestation calls
//! carry a valid attestation token. Every refusal is answered with a reason
//! code and recorded in monitoring against the terminal.
//!
//! Headers: `X-Terminal-Id`, `X-Timestamp-Ms`, `X-Nonce` (hex, 16 to 64
//! bytes), `X-Signature` (hex, ECDSA P-256 SHA-256 ASN.1 DER over
//! [`attestation::request_signing_bytes`] of method, path with query, body,
//! timestamp and the nonce string) and, where a token is needed,
//! `Authorization: Bearer <token>` (an [`attestation::Verifier`] token).

use crate::api::{parse_json, read_body, Shared};
use crate::error::{ApiError, ApiResult};
use crate::store::{col, is_unique_violation};
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;

/// What the acquirer knows about an enrolled terminal.
#[derive(Debug, Clone)]
pub struct Terminal {
    pub id: String,
    pub merchant_id: String,
    pub public_key: Vec<u8>,
    pub key_kind: String,
    pub config: TerminalConfig,
    pub config_sha256: String,
    pub blocked: bool,
}

/// The configuration the acquirer signs for a terminal. Its JSON encoding
/// (fields in this order) is what the signature covers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TerminalConfig {
    pub terminal_id: String,
    pub merchant_id: String,
    pub merchant_name: String,
    pub mcc: String,
    /// ISO 4217 numeric.
    pub currency: u16,
    /// Largest single payment, minor units.
    pub max_amount_minor: u64,
    /// Largest payment the terminal may approve offline, minor units.
    pub offline_limit_minor: u64,
    /// Undelivered offline payments at most.
    #[serde(default)]
    pub offline_max_count: u64,
    /// Undelivered offline amount at most, minor units.
    #[serde(default)]
    pub offline_max_total_minor: u64,
    /// Undelivered offline payments by one card at most.
    #[serde(default)]
    pub offline_max_per_card: u64,
    /// No new offline payment while the oldest undelivered one is older.
    #[serde(default)]
    pub offline_max_age_ms: u64,
    pub acquirer_key_id: String,
    /// Uncompressed SEC1 P-256 public key of the acquirer, hex.
    pub acquirer_public_key: String,
    pub issued_ms: i64,
    /// What a receipt prints (issue 5): who acquires, the merchant's fee
    /// schedule as it stands, where and when the money goes. Defaulted so a
    /// configuration signed before these fields existed still parses.
    #[serde(default)]
    pub acquirer_name: String,
    /// Fee rate in basis points (150 = 1.50 %) on each approved purchase.
    #[serde(default)]
    pub fee_bps: u32,
    /// Fixed fee per approved purchase, minor units (none today: 0).
    #[serde(default)]
    pub fee_fixed_minor: u64,
    /// The settlement account with all but its last four characters masked.
    #[serde(default)]
    pub settlement_account_masked: String,
    /// Days from a payment's business date to its settlement date.
    #[serde(default)]
    pub settlement_delay_days: u32,
    /// `YYYY-MM-DD`: when the merchant's information is next due for its
    /// regular review. Left out when empty, so that a configuration signed
    /// before it existed re-encodes to the very bytes that were signed.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub info_review_due: String,
}

/// SHA-256 (hex) of the exact configuration JSON the acquirer signed: what
/// attestation evidence must name as `config_sha256`.
pub fn config_sha256(config_json: &str) -> String {
    crate::util::sha256_hex(config_json.as_bytes())
}

/// The terminal, from the cache when fresh (see [`crate::cache`]).
pub async fn load_terminal(state: &Shared, id: &str) -> ApiResult<Option<Terminal>> {
    let generation = match state.terminals.get(id) {
        Ok(t) => return Ok(Some(Terminal::clone(&t))),
        Err(g) => g,
    };
    let t = read_terminal(state, id).await?;
    if let Some(t) = &t {
        state
            .terminals
            .put(id, std::sync::Arc::new(t.clone()), generation);
    }
    Ok(t)
}

async fn read_terminal(state: &Shared, id: &str) -> ApiResult<Option<Terminal>> {
    let row: Option<AnyRow> = sqlx::query(
        "SELECT id, merchant_id, public_key_hex, key_kind, config_json, blocked \
         FROM terminals WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&state.store.read)
    .await?;
    let Some(r) = row else { return Ok(None) };
    let config: String = col(&r, "config_json")?;
    let pk: String = col(&r, "public_key_hex")?;
    Ok(Some(Terminal {
        id: col(&r, "id")?,
        merchant_id: col(&r, "merchant_id")?,
        public_key: hex::decode(pk).map_err(ApiError::internal)?,
        key_kind: col(&r, "key_kind")?,
        config: serde_json::from_str(&config).map_err(ApiError::internal)?,
        config_sha256: config_sha256(&config),
        blocked: col::<i64>(&r, "blocked")? != 0,
    }))
}

/// Records a verdict or incident against a terminal. Monitoring must not
/// turn a refusal into a 500, so a failure to record is only logged.
pub async fn record(state: &Shared, terminal_id: &str, kind: &str, code: &str, message: &str) {
    let res = sqlx::query(
        "INSERT INTO monitoring_events (id, terminal_id, kind, code, message, at_ms) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(crate::util::new_id("evt"))
    .bind(terminal_id)
    .bind(kind)
    .bind(code)
    .bind(message)
    .bind(state.clock.now_ms())
    .execute(&state.store.pool)
    .await;
    if let Err(e) = res {
        tracing::error!(terminal_id, kind, code, error = %e, "could not record monitoring event");
    }
    if kind != "attestation_ok" {
        tracing::warn!(terminal_id, kind, code, message, "terminal request refused");
    }
}

fn header<'a>(req: &'a Request, name: &str) -> ApiResult<&'a str> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            ApiError::unauthorized("signature_required", format!("missing header {name}"))
        })
}

/// A request signed by an enrolled, unblocked terminal, with a fresh nonce.
pub struct Signed<T> {
    pub terminal: Terminal,
    pub body: T,
}

/// A [`Signed`] request that also carries a valid attestation token.
pub struct Attested<T> {
    pub terminal: Terminal,
    pub body: T,
}

/// An [`Attested`] request whose nonce the handler must spend, in its own
/// transaction or, when it refuses the request before one, on its own.
pub struct AttestedPayment<T> {
    pub terminal: Terminal,
    pub body: T,
    pub nonce: Nonce,
}

/// Checks a terminal request; spends its nonce at once if `spend_now`,
/// else leaves that to the handler through the returned [`Nonce`].
async fn authenticate(
    req: Request,
    state: &Shared,
    need_token: bool,
    spend_now: bool,
) -> ApiResult<(Terminal, axum::body::Bytes, Nonce)> {
    let terminal_id = header(&req, "x-terminal-id")?.to_string();
    let ts_ms: u64 = header(&req, "x-timestamp-ms")?.parse().map_err(|_| {
        ApiError::unauthorized(
            "bad_timestamp",
            "X-Timestamp-Ms must be milliseconds since the epoch",
        )
    })?;
    let nonce = header(&req, "x-nonce")?.to_string();
    if !(32..=128).contains(&nonce.len()) || hex::decode(&nonce).is_err() {
        return Err(ApiError::unauthorized(
            "bad_nonce",
            "X-Nonce must be 16 to 64 bytes in hex",
        ));
    }
    let sig = hex::decode(header(&req, "x-signature")?)
        .map_err(|_| ApiError::unauthorized("bad_signature", "X-Signature must be hex"))?;
    let token = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    let method = req.method().as_str().to_string();
    let path = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.uri().path().to_string(), |p| p.as_str().to_string());

    let Some(terminal) = load_terminal(state, &terminal_id).await? else {
        return Err(ApiError::unauthorized(
            "unknown_terminal",
            "no terminal is enrolled under this ID",
        ));
    };
    let body = read_body(req).await?;
    let refuse = |kind: &'static str, code: &'static str, msg: String| async move {
        record(state, &terminal_id, kind, code, &msg).await;
        ApiError::unauthorized(code, msg)
    };
    if terminal.blocked {
        record(
            state,
            &terminal.id,
            "refused",
            "terminal_blocked",
            "request from a blocked terminal",
        )
        .await;
        return Err(ApiError::forbidden(
            "terminal_blocked",
            "this terminal is blocked by the acquirer's monitoring; contact support",
        ));
    }
    let msg = attestation::request_signing_bytes(&method, &path, &body, ts_ms, &nonce);
    if let Err(f) = attestation::verify_request_signature(&terminal.public_key, &msg, &sig) {
        return Err(refuse("tampered", f.code.as_str(), f.message).await);
    }
    let now = state.clock.now_ms();
    let now_u = u64::try_from(now).unwrap_or(0);
    let skew = u64::try_from(state.policy.max_request_skew_ms).unwrap_or(0);
    if let Err(f) = attestation::check_request_time(ts_ms, now_u, skew) {
        return Err(refuse("refused", f.code.as_str(), f.message).await);
    }
    if need_token {
        let Some(token) = token else {
            return Err(refuse(
                "refused",
                "attestation_required",
                "request carries no attestation token; attest first".into(),
            )
            .await);
        };
        if let Err(f) = state.verifier.check_token(&token, &terminal.id, now_u) {
            return Err(refuse("refused", f.code.as_str(), f.message).await);
        }
    }
    // The nonce is spent only once the signature is known good, so a forger
    // cannot burn a terminal's nonces.
    let nonce = Nonce {
        terminal_id: terminal.id.clone(),
        nonce: nonce.to_ascii_lowercase(),
    };
    if spend_now {
        nonce.spend(state).await?;
    }
    Ok((terminal, body, nonce))
}

/// A request's nonce, checked but maybe not yet spent. A payment spends it
/// inside its own transaction: one commit per authorization instead of two,
/// and a payment that rolls back leaves its nonce unspent.
#[derive(Debug, Clone)]
pub struct Nonce {
    terminal_id: String,
    nonce: String,
}

impl Nonce {
    fn insert(&self, at_ms: i64) -> sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments<'_>> {
        sqlx::query("INSERT INTO request_nonces (terminal_id, nonce, at_ms) VALUES ($1, $2, $3)")
            .bind(&self.terminal_id)
            .bind(&self.nonce)
            .bind(at_ms)
    }

    /// Spends the nonce in a statement of its own; a replay is refused.
    pub async fn spend(&self, state: &Shared) -> ApiResult<()> {
        match self
            .insert(state.clock.now_ms())
            .execute(&state.store.pool)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(self.replayed(state).await),
            Err(e) => Err(e.into()),
        }
    }

    /// Spends the nonce inside `tx`; `false` if it was already spent. The
    /// caller must then end `tx` and answer [`Nonce::replayed`] (which
    /// writes to the store, so cannot wait behind the caller's transaction).
    pub async fn spend_in(
        &self,
        state: &Shared,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    ) -> ApiResult<bool> {
        match self.insert(state.clock.now_ms()).execute(&mut **tx).await {
            Ok(_) => Ok(true),
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// (terminal ID, nonce), for a caller that spends it in a statement of
    /// its own making.
    pub fn parts(&self) -> (&str, &str) {
        (&self.terminal_id, &self.nonce)
    }

    /// [`Nonce::spend_in`] on the SQLite writer's connection, inside its
    /// transaction.
    pub fn spend_sqlite(&self, conn: &rusqlite::Connection, at_ms: i64) -> ApiResult<bool> {
        use crate::sqlite_writer::{db, is_unique_violation, positional};
        let sql = "INSERT INTO request_nonces (terminal_id, nonce, at_ms) VALUES ($1, $2, $3)";
        match conn
            .prepare_cached(&positional(sql))
            .and_then(|mut s| s.execute(rusqlite::params![self.terminal_id, self.nonce, at_ms]))
        {
            Ok(_) => Ok(true),
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(db(e)),
        }
    }

    /// Records the replay and makes the refusal.
    pub async fn replayed(&self, state: &Shared) -> ApiError {
        let msg = "this request nonce was already used";
        record(state, &self.terminal_id, "replay", "replayed_request", msg).await;
        ApiError::unauthorized("replayed_request", msg)
    }
}

impl<T: DeserializeOwned> FromRequest<Shared> for Signed<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &Shared) -> ApiResult<Self> {
        let (terminal, body, _) = authenticate(req, state, false, true).await?;
        Ok(Signed {
            terminal,
            body: parse_json(&body)?,
        })
    }
}

impl<T: DeserializeOwned> FromRequest<Shared> for Attested<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &Shared) -> ApiResult<Self> {
        let (terminal, body, _) = authenticate(req, state, true, true).await?;
        Ok(Attested {
            terminal,
            body: parse_json(&body)?,
        })
    }
}

impl<T: DeserializeOwned + Send> FromRequest<Shared> for AttestedPayment<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &Shared) -> ApiResult<Self> {
        let (terminal, body, nonce) = authenticate(req, state, true, false).await?;
        match parse_json(&body) {
            Ok(body) => Ok(AttestedPayment {
                terminal,
                body,
                nonce,
            }),
            Err(e) => {
                // Refused before the handler: spent here, so a replay of
                // a malformed request is a replay like any other.
                nonce.spend(state).await?;
                Err(e)
            }
        }
    }
}
