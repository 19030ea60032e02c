//! Acquirer risk scoring: simple rules, each named and explained, whose
//! points add up to a score; a score at or above the merchant's threshold
//! declines the payment (response code 59) naming the rules that fired.
//! Runs before the issuer, for online purchases only (an offline payment
//! has already happened).

use crate::error::ApiResult;
use crate::store::col;
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{Any, Transaction};

const WINDOW_MS: i64 = 10 * 60_000;
const SPLIT_WINDOW_MS: i64 = 2 * 60_000;

/// One rule that fired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hit {
    pub rule: &'static str,
    pub points: u32,
    pub detail: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Assessment {
    pub score: u32,
    pub hits: Vec<Hit>,
}

impl Assessment {
    fn add(&mut self, rule: &'static str, points: u32, detail: String) {
        self.score = self.score.saturating_add(points);
        self.hits.push(Hit {
            rule,
            points,
            detail,
        });
    }

    /// "card_velocity (6 payments on this card in 10 minutes), ..."
    pub fn explain(&self) -> String {
        self.hits
            .iter()
            .map(|h| format!("{} ({})", h.rule, h.detail))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// What the rules look at, gathered by [`gather`]; separate so the rules
/// are a pure function that tests can drive directly.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub amount_minor: i64,
    /// (status, same terminal, age ms) of this card's recent purchases.
    pub card_recent: Vec<(String, bool, i64)>,
    /// Distinct cards declined at this terminal in the window.
    pub terminal_declined_cards: i64,
    /// The merchant's recent approved purchase amounts.
    pub merchant_amounts: Vec<i64>,
}

pub fn assess(f: &Facts) -> Assessment {
    let mut a = Assessment::default();
    let in_window = f.card_recent.len();
    if in_window >= 5 {
        a.add(
            "card_velocity",
            50,
            format!("{in_window} payments on this card in 10 minutes"),
        );
    }
    let declines = f
        .card_recent
        .iter()
        .filter(|(s, _, _)| s == "declined")
        .count();
    if declines >= 3 {
        a.add(
            "card_testing",
            60,
            format!("{declines} declines on this card in 10 minutes"),
        );
    } else if f.terminal_declined_cards >= 5 {
        a.add(
            "card_testing",
            60,
            format!(
                "{} different cards declined at this terminal in 10 minutes",
                f.terminal_declined_cards
            ),
        );
    }
    let splits = f
        .card_recent
        .iter()
        .filter(|(s, same, age)| s == "approved" && *same && *age <= SPLIT_WINDOW_MS)
        .count();
    if splits >= 2 {
        a.add(
            "split_payment",
            40,
            format!("{splits} approved payments on this card at this terminal in 2 minutes"),
        );
    }
    if f.merchant_amounts.len() >= 20 {
        let n = i64::try_from(f.merchant_amounts.len()).unwrap_or(i64::MAX);
        let avg = f
            .merchant_amounts
            .iter()
            .fold(0i64, |s, x| s.saturating_add(*x))
            / n.max(1);
        if avg > 0 && f.amount_minor > avg.saturating_mul(10) {
            a.add(
                "amount_anomaly",
                50,
                format!(
                    "amount {} is over ten times this merchant's average of {avg}",
                    f.amount_minor
                ),
            );
        }
    }
    a
}

pub async fn gather(
    tx: &mut Transaction<'_, Any>,
    merchant_id: &str,
    terminal_id: &str,
    pan_token: &str,
    amount_minor: i64,
    now: i64,
) -> ApiResult<Facts> {
    let since = now.saturating_sub(WINDOW_MS);
    let rows: Vec<AnyRow> = sqlx::query(
        "SELECT status, terminal_id, created_ms FROM payments \
         WHERE pan_token = $1 AND kind = 'purchase' AND created_ms > $2 ORDER BY created_ms DESC LIMIT 100",
    )
    .bind(pan_token)
    .bind(since)
    .fetch_all(&mut **tx)
    .await?;
    let mut card_recent = Vec::with_capacity(rows.len());
    for r in &rows {
        let tid: String = col(r, "terminal_id")?;
        card_recent.push((
            col(r, "status")?,
            tid == terminal_id,
            now.saturating_sub(col(r, "created_ms")?),
        ));
    }
    let row: AnyRow = sqlx::query(
        "SELECT COUNT(DISTINCT pan_token) AS n FROM payments \
         WHERE terminal_id = $1 AND status = 'declined' AND created_ms > $2",
    )
    .bind(terminal_id)
    .bind(since)
    .fetch_one(&mut **tx)
    .await?;
    let terminal_declined_cards: i64 = col(&row, "n")?;
    let rows: Vec<AnyRow> = sqlx::query(
        "SELECT amount_minor FROM payments WHERE merchant_id = $1 AND kind = 'purchase' AND status = 'approved' \
         ORDER BY created_ms DESC LIMIT 50",
    )
    .bind(merchant_id)
    .fetch_all(&mut **tx)
    .await?;
    let merchant_amounts = rows
        .iter()
        .map(|r| col::<i64>(r, "amount_minor"))
        .collect::<Result<_, _>>()?;
    Ok(Facts {
        amount_minor,
        card_recent,
        terminal_declined_cards,
        merchant_amounts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recent(status: &str, n: usize, age: i64) -> Vec<(String, bool, i64)> {
        (0..n).map(|_| (status.to_string(), true, age)).collect()
    }

    #[test]
    fn quiet_payment_scores_zero() {
        let f = Facts {
            amount_minor: 1_000,
            merchant_amounts: vec![1_000; 30],
            ..Facts::default()
        };
        assert_eq!(assess(&f), Assessment::default());
    }

    #[test]
    fn card_testing_and_velocity_add_up() {
        let mut card = recent("declined", 3, 60_000);
        card.extend(recent("approved", 2, 300_000));
        let a = assess(&Facts {
            amount_minor: 100,
            card_recent: card,
            ..Facts::default()
        });
        assert_eq!(a.score, 110);
        assert_eq!(
            a.hits.iter().map(|h| h.rule).collect::<Vec<_>>(),
            ["card_velocity", "card_testing"]
        );
        assert!(a.explain().contains("3 declines on this card"));
    }

    #[test]
    fn split_and_anomaly() {
        let a = assess(&Facts {
            amount_minor: 20_001,
            card_recent: recent("approved", 2, 30_000),
            terminal_declined_cards: 0,
            merchant_amounts: vec![2_000; 20],
        });
        assert_eq!(a.score, 90);
        // Twin: exactly ten times the average is not an anomaly, and the
        // approvals are outside the split window.
        let b = assess(&Facts {
            amount_minor: 20_000,
            card_recent: recent("approved", 2, 130_000),
            terminal_declined_cards: 0,
            merchant_amounts: vec![2_000; 20],
        });
        assert_eq!(b.score, 0);
    }

    #[test]
    fn many_cards_declined_at_one_terminal() {
        let a = assess(&Facts {
            amount_minor: 1,
            terminal_declined_cards: 5,
            ..Facts::default()
        });
        assert_eq!(a.hits.first().map(|h| h.rule), Some("card_testing"));
    }
}
