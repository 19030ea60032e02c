//! Attestation endpoints: a fresh challenge, then signed evidence checked by
//! [`attestation::Verifier`] against the enrolled terminal; an accepted
//! verdict spends the challenge, advances the terminal's counter and yields
//! a short-lived token. Every verdict, accepted or not, goes to monitoring.

use crate::api::Shared;
use crate::error::{ApiError, ApiResult};
use crate::store::col;
use crate::trust::{self, Signed};
use attestation::{Challenge, KeyKind, SignedEvidence, TerminalState};
use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use sqlx::any::AnyRow;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChallengeRequest {}

pub async fn challenge(
    State(st): State<Shared>,
    req: Signed<ChallengeRequest>,
) -> ApiResult<Json<Challenge>> {
    let now = u64::try_from(st.clock.now_ms()).unwrap_or(0);
    let c = Challenge::new(st.keys.rng(), now).map_err(ApiError::internal)?;
    sqlx::query("INSERT INTO attest_challenges (nonce, terminal_id, issued_ms, used) VALUES ($1, $2, $3, 0)")
        .bind(c.nonce_hex())
        .bind(&req.terminal.id)
        .bind(i64::try_from(c.issued_at_ms).unwrap_or(i64::MAX))
        .execute(&st.store.pool)
        .await?;
    Ok(Json(c))
}

fn key_kind(s: &str) -> KeyKind {
    if s == "tpm" {
        KeyKind::Tpm
    } else {
        KeyKind::Software
    }
}

pub async fn attest(
    State(st): State<Shared>,
    req: Signed<SignedEvidence>,
) -> ApiResult<Json<attestation::AttestationToken>> {
    let t = &req.terminal;
    let se = &req.body;
    let now = st.clock.now_ms();
    let now_u = u64::try_from(now).unwrap_or(0);
    let mut tx = st.store.begin().await?;
    let row: Option<AnyRow> = sqlx::query(
        "SELECT issued_ms, used FROM attest_challenges WHERE nonce = $1 AND terminal_id = $2",
    )
    .bind(se.evidence.nonce.to_ascii_lowercase())
    .bind(&t.id)
    .fetch_optional(&mut *tx)
    .await?;
    let stc = st.clone();
    let refuse = |code: &'static str, message: String| async move {
        trust::record(&stc, &t.id, "attestation_failed", code, &message).await;
        ApiError::forbidden(code, message)
    };
    let Some(row) = row else {
        tx.rollback().await?;
        return Err(refuse("unknown_nonce", "evidence answers no challenge this acquirer issued to this terminal; request a new challenge".into()).await);
    };
    let mut nonce = [0u8; 32];
    if hex::decode_to_slice(&se.evidence.nonce, &mut nonce).is_err() {
        tx.rollback().await?;
        return Err(refuse(
            "unknown_nonce",
            "evidence nonce is not 32 bytes of hex".into(),
        )
        .await);
    }
    let challenge = Challenge {
        nonce,
        issued_at_ms: u64::try_from(col::<i64>(&row, "issued_ms")?).unwrap_or(0),
    };
    let used = col::<i64>(&row, "used")? != 0;
    let counter: Option<AnyRow> =
        sqlx::query("SELECT counter FROM attest_counters WHERE terminal_id = $1")
            .bind(&t.id)
            .fetch_optional(&mut *tx)
            .await?;
    let last_counter = match counter {
        Some(r) => u64::try_from(col::<i64>(&r, "counter")?).unwrap_or(0),
        None => 0,
    };
    let state = TerminalState {
        terminal_id: t.id.clone(),
        public_key: t.public_key.clone(),
        key_kind: key_kind(&t.key_kind),
        last_counter,
        config_sha256: t.config_sha256.clone(),
        blocked: t.blocked,
    };
    let verdict = match st.verifier.verify(se, &state, &challenge, used, now_u) {
        Ok(v) => v,
        Err(f) => {
            tx.rollback().await?;
            return Err(refuse(f.code.as_str(), f.message).await);
        }
    };
    // Spend the challenge and advance the counter atomically; the guards
    // make a concurrent second use of the same evidence lose.
    let spent = sqlx::query("UPDATE attest_challenges SET used = 1 WHERE nonce = $1 AND used = 0")
        .bind(challenge.nonce_hex())
        .execute(&mut *tx)
        .await?;
    let new_counter = i64::try_from(verdict.counter)
        .map_err(|_| ApiError::unprocessable("invalid_counter", "counter too large"))?;
    let advanced = if last_counter == 0 {
        sqlx::query("INSERT INTO attest_counters (terminal_id, counter) VALUES ($1, $2) ON CONFLICT (terminal_id) DO NOTHING")
            .bind(&t.id)
            .bind(new_counter)
            .execute(&mut *tx)
            .await?
    } else {
        sqlx::query(
            "UPDATE attest_counters SET counter = $1 WHERE terminal_id = $2 AND counter < $1",
        )
        .bind(new_counter)
        .bind(&t.id)
        .execute(&mut *tx)
        .await?
    };
    if spent.rows_affected() != 1 || advanced.rows_affected() != 1 {
        tx.rollback().await?;
        return Err(refuse(
            "nonce_reused",
            "this challenge or counter was already used; request a new challenge".into(),
        )
        .await);
    }
    tx.commit().await?;
    let summary = format!(
        "app {} ({}), {} {}, reader {}, clock skew {} ms, counter {}",
        verdict.app_version,
        verdict.app_binary_sha256,
        verdict.os,
        verdict.os_version,
        verdict.reader,
        verdict.clock_skew_ms,
        verdict.counter
    );
    trust::record(&st, &t.id, "attestation_ok", "ok", &summary).await;
    Ok(Json(st.verifier.issue_token(&t.id, &verdict, now_u)))
}
