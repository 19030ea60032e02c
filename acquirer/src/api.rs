//! The HTTP surface: shared state, the router, and the extractors that turn
//! a request into checked input. Handlers live in `merchant` and `terminal`;
//! every body goes through [`parse_json`] so that a malformed or oversized
//! body is a 4xx with a reason, never a 500.

use crate::error::{ApiError, ApiResult};
use crate::keys::AcquirerKeys;
use crate::store::Store;
use crate::util::Clock;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use serde::de::DeserializeOwned;
use std::sync::Arc;

/// Largest request body accepted, in bytes. An advice batch of 100 with
/// field 55 data fits well inside.
pub const MAX_BODY: usize = 256 * 1024;

/// Everything a handler needs.
pub struct AppState {
    pub store: Store,
    pub keys: AcquirerKeys,
    pub clock: Clock,
    /// Bearer token of the operator API (onboarding, issuer keys, settlement).
    pub admin_token: String,
    pub policy: Policy,
    /// Checks attestation evidence and tokens (the `attestation` crate).
    pub verifier: attestation::Verifier,
    /// The issuer simulator's ranges, cached briefly.
    pub ranges: crate::issuer::RangeCache,
    /// Enrolled terminals by ID, read on every terminal request.
    pub terminals: crate::cache::Cache<crate::trust::Terminal>,
    /// Merchant terms and history head by merchant ID, read on every payment.
    pub terms: crate::cache::Cache<(crate::merchant::Merchant, i64)>,
    /// QR payments' runtime switches (demo mode).
    pub qr: crate::qr::QrRuntime,
}

/// Tunables with safe defaults.
#[derive(Debug, Clone)]
pub struct Policy {
    /// How far a terminal's request timestamp may be from our clock.
    pub max_request_skew_ms: i64,
    /// Lifetime of an activation code.
    pub activation_ttl_ms: i64,
    /// The acquirer's own account, debited by the payout files; without it
    /// `GET /v1/payouts/{date}` answers 409 saying how to configure it.
    pub payout: Option<crate::payout::PayoutAccount>,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            max_request_skew_ms: 2 * 60_000,
            activation_ttl_ms: 7 * 24 * 3_600_000,
            payout: None,
        }
    }
}

pub type Shared = Arc<AppState>;

pub fn router(state: Shared) -> Router {
    use crate::{merchant as m, terminal as t};
    Router::new()
        .route("/v1/health", get(health))
        .route("/v1/acquirer/keys", get(t::acquirer_keys))
        // Operator.
        .route("/v1/merchants", post(m::onboard))
        .route("/v1/merchants/{id}", get(m::get_merchant))
        .route(
            "/v1/merchants/{id}/activation-codes",
            post(m::activation_code),
        )
        .route("/v1/merchants/{id}/changes", post(m::propose_change))
        .route(
            "/v1/merchants/{id}/changes/{change_id}/acknowledge",
            post(m::acknowledge_change),
        )
        .route("/v1/merchants/{id}/history", get(m::history))
        .route("/v1/merchants/{id}/settlements", post(m::settle))
        .route("/v1/merchants/{id}/statement", get(m::statement))
        .route(
            "/v1/merchants/{id}/review",
            post(crate::review::schedule_review),
        )
        .route("/v1/payouts/{settlement_date}", get(crate::payout::file))
        .route(
            "/v1/payouts/{settlement_date}/summary",
            get(crate::payout::summary),
        )
        .route("/v1/issuer/ranges", post(t::add_issuer_range))
        .route("/v1/issuer/cards", post(t::set_card))
        .route("/v1/terminals/{id}/monitoring", get(t::monitoring))
        .route("/v1/terminals/{id}/block", post(t::block))
        // Terminal.
        .route("/v1/enroll", post(t::enroll))
        .route("/v1/attest/challenge", post(crate::attest::challenge))
        .route("/v1/attest", post(crate::attest::attest))
        .route("/v1/terminal/config", get(t::terminal_config))
        .route(
            "/v1/terminal/statement",
            get(crate::review::terminal_statement),
        )
        .route(
            "/v1/terminal/merchant-info/confirm",
            post(crate::review::confirm_info),
        )
        .route("/v1/authorizations", post(t::authorize))
        .route("/v1/reversals", post(t::reverse))
        .route("/v1/voids", post(t::void))
        .route("/v1/refunds", post(t::refund))
        .route("/v1/advices", post(t::advices))
        .route("/v1/qr/orders", post(crate::qr::create_order))
        .route("/v1/qr/micropay", post(crate::qr::micropay))
        .route("/v1/qr/query", post(crate::qr::query))
        .route("/v1/qr/cancel", post(crate::qr::cancel))
        .route("/v1/qr/refunds", post(crate::qr::refund))
        .route("/v1/demo/qr/orders/{id}/pay", post(crate::qr::demo_pay))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn(run_to_completion))
        .with_state(state)
}

/// Runs each request on its own task, so that a client that hangs up (a
/// terminal killed or out of coverage) cannot cancel a handler halfway
/// through a database transaction: the work is finished or rolled back
/// by the handler itself, and the terminal's retry finds it done.
async fn run_to_completion(req: Request, next: axum::middleware::Next) -> axum::response::Response {
    match tokio::spawn(next.run(req)).await {
        Ok(response) => response,
        Err(e) => axum::response::IntoResponse::into_response(ApiError::internal(e)),
    }
}

async fn health() -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({ "status": "ok" }))
}

async fn not_found() -> ApiError {
    ApiError::not_found("not_found", "no such endpoint")
}

/// Parses a JSON body: syntax errors are 400, well-formed JSON of the wrong
/// shape or type is 422, each with serde's reason.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> ApiResult<T> {
    serde_json::from_slice(bytes).map_err(|e| {
        // serde reports some shape errors as syntax (an array where an
        // empty struct was expected gives "trailing characters"): what
        // parses as JSON of any shape is well-formed, so a 422.
        let well_formed = e.classify() == serde_json::error::Category::Data
            || serde_json::from_slice::<serde_json::Value>(bytes).is_ok();
        if well_formed {
            ApiError::unprocessable("invalid_field", format!("request body: {e}"))
        } else {
            ApiError::bad_request("malformed_json", format!("request body is not JSON: {e}"))
        }
    })
}

/// Reads the whole body within [`MAX_BODY`].
pub async fn read_body(req: Request) -> ApiResult<Bytes> {
    axum::body::to_bytes(req.into_body(), MAX_BODY)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("request body exceeds {MAX_BODY} bytes or could not be read"),
            )
        })
}

/// A JSON body, parsed by [`parse_json`].
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, _: &S) -> ApiResult<Self> {
        let bytes = read_body(req).await?;
        parse_json(&bytes).map(ApiJson)
    }
}

fn bearer(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

/// Compares secrets through their SHA-256, so the time taken says nothing
/// about how many leading bytes of a guess were right.
pub fn same_secret(a: &str, b: &str) -> bool {
    crate::util::sha256_hex(a.as_bytes()) == crate::util::sha256_hex(b.as_bytes())
}

/// The operator, authenticated by the admin bearer token.
pub struct Admin;

impl FromRequestParts<Shared> for Admin {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> ApiResult<Self> {
        match bearer(parts) {
            Some(t) if same_secret(t, &state.admin_token) => Ok(Admin),
            _ => Err(ApiError::unauthorized(
                "admin_auth_required",
                "this endpoint needs the operator's bearer token",
            )),
        }
    }
}

/// Either the operator or a merchant (by its merchant key); the handler
/// checks that a merchant only reads its own data.
pub enum Caller {
    Admin,
    /// SHA-256 (hex) of the merchant key presented.
    Merchant {
        key_hash: String,
    },
}

impl FromRequestParts<Shared> for Caller {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> ApiResult<Self> {
        match bearer(parts) {
            Some(t) if same_secret(t, &state.admin_token) => Ok(Caller::Admin),
            Some(t) if !t.is_empty() => Ok(Caller::Merchant {
                key_hash: crate::util::sha256_hex(t.as_bytes()),
            }),
            _ => Err(ApiError::unauthorized(
                "auth_required",
                "this endpoint needs the merchant key or the operator token",
            )),
        }
    }
}
