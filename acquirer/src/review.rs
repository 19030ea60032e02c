//! The merchant's own view from its terminals: the settlement statement, and
//! the regular review of the merchant's information (legal name, MCC, fee
//! schedule, settlement account). The acquirer's policy is a review every
//! [`REVIEW_INTERVAL_DAYS`] after onboarding or the last confirmation; the
//! due date is in the signed terminal configuration, so the terminal can
//! remind the merchant offline.
//!
//! A confirmation only records that the information is still correct (in
//! the hash-chained history) and moves the date: it never changes the MCC or
//! fees, which go through the propose and acknowledge flow of `merchant`.

use crate::api::{Admin, ApiJson, Shared};
use crate::error::{ApiError, ApiResult};
use crate::merchant::{
    append_history, load_merchant, mask_account, merchant_statement, HistoryEntry, StatementQuery,
};
use crate::store::col;
use crate::trust::Attested;
use crate::util::{format_day, parse_day};
use axum::extract::{Path, RawQuery, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Any;

/// Days from onboarding or a confirmation to the next review.
pub const REVIEW_INTERVAL_DAYS: i64 = 365;

const DAY_MS: i64 = 86_400_000;

/// The date the merchant's information is next due for review,
/// `YYYY-MM-DD`. Merchants from before the review existed are due one
/// interval after their onboarding.
pub async fn due_date<'e, E>(exec: E, merchant_id: &str) -> ApiResult<String>
where
    E: sqlx::Executor<'e, Database = Any>,
{
    let row: Option<AnyRow> =
        sqlx::query("SELECT created_ms, info_review_due FROM merchants WHERE id = $1")
            .bind(merchant_id)
            .fetch_optional(exec)
            .await?;
    let r = row.ok_or_else(|| ApiError::not_found("unknown_merchant", "no such merchant"))?;
    let due: Option<String> = col(&r, "info_review_due")?;
    match due {
        Some(d) if parse_day(&d).is_some() => Ok(d),
        _ => {
            let created: i64 = col(&r, "created_ms")?;
            Ok(format_day(
                created
                    .div_euclid(DAY_MS)
                    .saturating_add(REVIEW_INTERVAL_DAYS),
            ))
        }
    }
}

/// Sets the due date and records why, then re-signs the merchant's
/// terminal configurations (they carry the date), in one transaction.
async fn set_due(
    st: &Shared,
    merchant_id: &str,
    kind: &str,
    body: impl FnOnce(&str) -> serde_json::Value,
    next_due: &str,
) -> ApiResult<HistoryEntry> {
    let now = st.clock.now_ms();
    let mut tx = st.store.begin().await?;
    let previous = due_date(&mut *tx, merchant_id).await?;
    sqlx::query("UPDATE merchants SET info_review_due = $1 WHERE id = $2")
        .bind(next_due)
        .bind(merchant_id)
        .execute(&mut *tx)
        .await?;
    let entry = append_history(&mut tx, merchant_id, kind, body(&previous), now).await?;
    crate::terminal::resign_configs(st, &mut tx, merchant_id, now).await?;
    tx.commit().await?;
    // As after an acknowledged change: the next request must see the
    // re-signed configurations.
    st.terms.remove(merchant_id);
    st.terminals.remove_where(|t| t.merchant_id == merchant_id);
    Ok(entry)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleRequest {
    /// `YYYY-MM-DD`: when the merchant's information is next due.
    pub info_review_due: String,
}

/// The operator moves a merchant's next review (a policy change, a risk
/// finding, or the demo's merchant that is due soon).
pub async fn schedule(
    st: &Shared,
    merchant_id: &str,
    req: &ScheduleRequest,
) -> ApiResult<HistoryEntry> {
    if parse_day(&req.info_review_due).is_none() {
        return Err(ApiError::unprocessable(
            "invalid_date",
            "info_review_due must be YYYY-MM-DD",
        ));
    }
    load_merchant(&st.store.pool, merchant_id).await?;
    let next = req.info_review_due.clone();
    set_due(
        st,
        merchant_id,
        "review_scheduled",
        |previous| serde_json::json!({ "previous_due": previous, "next_due": next }),
        &req.info_review_due,
    )
    .await
}

pub async fn schedule_review(
    State(st): State<Shared>,
    _: Admin,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ScheduleRequest>,
) -> ApiResult<Json<HistoryEntry>> {
    schedule(&st, &id, &req).await.map(Json)
}

/// The information the merchant saw on its terminal and says is correct.
/// It must be what the acquirer holds now: a confirmation of something
/// already changed would confirm nothing.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ConfirmRequest {
    pub merchant_name: String,
    pub mcc: String,
    pub fee_bps: u32,
    pub settlement_account_masked: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ConfirmResponse {
    pub history_entry: HistoryEntry,
    /// The next review date, also in the re-signed configuration.
    pub info_review_due: String,
}

/// `POST /v1/terminal/merchant-info/confirm`: the merchant confirms from
/// its terminal that its information is still correct.
pub async fn confirm_info(
    State(st): State<Shared>,
    req: Attested<ConfirmRequest>,
) -> ApiResult<Json<ConfirmResponse>> {
    let m = load_merchant(&st.store.pool, &req.terminal.merchant_id).await?;
    let held = ConfirmRequest {
        merchant_name: m.name.clone(),
        mcc: m.mcc.clone(),
        fee_bps: u32::try_from(m.fee_bps).unwrap_or(0),
        settlement_account_masked: mask_account(&m.settlement_account),
    };
    if req.body != held {
        return Err(ApiError::conflict(
            "merchant_info_changed",
            "the merchant's information changed since this terminal's configuration; \
             refresh it and review again",
        ));
    }
    let today = st.clock.now_ms().div_euclid(DAY_MS);
    let next = format_day(today.saturating_add(REVIEW_INTERVAL_DAYS));
    let terminal_id = req.terminal.id.clone();
    let entry = set_due(
        &st,
        &m.id,
        "info_confirmed",
        |previous| {
            serde_json::json!({ "terminal_id": terminal_id, "merchant_name": held.merchant_name,
                "mcc": held.mcc, "fee_bps": held.fee_bps,
                "settlement_account": held.settlement_account_masked,
                "previous_due": previous, "next_due": next })
        },
        &next,
    )
    .await?;
    tracing::info!(merchant_id = %m.id, terminal_id = %req.terminal.id, "merchant information confirmed");
    Ok(Json(ConfirmResponse {
        history_entry: entry,
        info_review_due: next,
    }))
}

/// The period of a terminal's statement request. The query is read here,
/// after the signature and token are checked, so that an unauthenticated
/// caller learns nothing from how its query is judged.
fn period(raw: Option<&str>) -> ApiResult<StatementQuery> {
    let (mut from, mut to) = (None, None);
    for pair in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("from", v)) if from.is_none() => from = Some(v.to_string()),
            Some(("to", v)) if to.is_none() => to = Some(v.to_string()),
            _ => {
                return Err(ApiError::unprocessable(
                    "invalid_query",
                    "the query takes from=YYYY-MM-DD and to=YYYY-MM-DD, once each",
                ))
            }
        }
    }
    match (from, to) {
        (Some(from), Some(to)) => Ok(StatementQuery { from, to }),
        _ => Err(ApiError::unprocessable(
            "invalid_query",
            "from and to (YYYY-MM-DD) are both needed",
        )),
    }
}

/// `GET /v1/terminal/statement?from=&to=`: the statement of the terminal's
/// own merchant, the same document the merchant reads with its key.
pub async fn terminal_statement(
    State(st): State<Shared>,
    RawQuery(raw): RawQuery,
    req: Attested<serde_json::Value>,
) -> ApiResult<Json<serde_json::Value>> {
    let q = period(raw.as_deref())?;
    let m = load_merchant(&st.store.pool, &req.terminal.merchant_id).await?;
    let mut statement = merchant_statement(&st, &m, &q).await?;
    if let Some(obj) = statement.as_object_mut() {
        obj.insert(
            "info_review_due".into(),
            due_date(&st.store.pool, &m.id).await?.into(),
        );
    }
    Ok(Json(statement))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn period_reads_from_and_to_only() {
        let q = period(Some("from=2026-11-01&to=2026-11-30")).unwrap();
        assert_eq!(
            (q.from.as_str(), q.to.as_str()),
            ("2026-11-01", "2026-11-30")
        );
        assert!(period(Some("from=2026-11-01")).is_err());
        assert!(period(None).is_err());
        assert!(period(Some("from=a&to=b&merchant=mer_x")).is_err());
        assert!(period(Some("from=a&from=b&to=c")).is_err());
    }
}
