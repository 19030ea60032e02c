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
    /// This card's purchases in the last 10 minutes.
    pub card_n: usize,
    /// Of which declined.
    pub card_declined: usize,
    /// This card's approved purchases at this terminal in the last 2 minutes.
    pub card_split: usize,
    /// Distinct cards declined at this terminal in the last 10 minutes.
    pub terminal_declined_cards: i64,
    /// The merchant's recent approved purchases (up to 50): count and sum.
    pub merchant_n: usize,
    pub merchant_sum: i64,
}

pub fn assess(f: &Facts) -> Assessment {
    let mut a = Assessment::default();
    if f.card_n >= 5 {
        a.add(
            "card_velocity",
            50,
            format!("{} payments on this card in 10 minutes", f.card_n),
        );
    }
    if f.card_declined >= 3 {
        a.add(
            "card_testing",
            60,
            format!("{} declines on this card in 10 minutes", f.card_declined),
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
    if f.card_split >= 2 {
        a.add(
            "split_payment",
            40,
            format!(
                "{} approved payments on this card at this terminal in 2 minutes",
                f.card_split
            ),
        );
    }
    if f.merchant_n >= 20 {
        let avg = f.merchant_sum / i64::try_from(f.merchant_n).unwrap_or(i64::MAX).max(1);
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

/// The facts in one statement (see [`gather`]); shared with the SQLite
/// writer thread ([`gather_sqlite`]).
///
/// The card's counts come from one pass over the card's recent payments,
/// with no literal `kind`/`status` in its WHERE: such a WHERE would match
/// the predicates of the partial indexes of migration 4, and PostgreSQL,
/// planning on a young table's statistics, then chose those indexes for a
/// whole-index scan instead of `payments_by_card` (28 ms at 10,000 rows).
///
/// The merchant's count and sum come from one pass over its latest 50
/// approvals (a derived table, not two scalar sub-queries): on PostgreSQL
/// each of those 50 index entries costs a heap visit on a young table, and
/// this was the statement's largest part.
const GATHER: &str = "SELECT c.card_n, c.card_declined, c.card_split, \
     (SELECT COUNT(DISTINCT pan_token) FROM payments WHERE terminal_id = $4 AND created_ms > $2 \
        AND status = 'declined') AS terminal_declined, \
     m.merchant_n, m.merchant_sum \
     FROM (SELECT CAST(COUNT(*) AS BIGINT) AS merchant_n, \
        CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) AS merchant_sum \
        FROM (SELECT amount_minor FROM payments WHERE merchant_id = $5 AND kind = 'purchase' \
        AND status = 'approved' ORDER BY created_ms DESC LIMIT 50) r) m, \
     (SELECT \
        CAST(COALESCE(SUM(CASE WHEN kind = 'purchase' THEN 1 ELSE 0 END), 0) AS BIGINT) AS card_n, \
        CAST(COALESCE(SUM(CASE WHEN kind = 'purchase' AND status = 'declined' THEN 1 ELSE 0 END), 0) AS BIGINT) \
           AS card_declined, \
        CAST(COALESCE(SUM(CASE WHEN kind = 'purchase' AND status = 'approved' AND created_ms > $3 \
           AND terminal_id = $4 THEN 1 ELSE 0 END), 0) AS BIGINT) AS card_split \
        FROM payments WHERE pan_token = $1 AND created_ms > $2) c";

/// Reads the facts in one statement (one round trip per payment matters:
/// the store is the bottleneck of an authorization).
pub async fn gather(
    tx: &mut Transaction<'_, Any>,
    merchant_id: &str,
    terminal_id: &str,
    pan_token: &str,
    amount_minor: i64,
    now: i64,
) -> ApiResult<Facts> {
    let (since, split_since) = windows(now);
    let row: AnyRow = sqlx::query(GATHER)
        .bind(pan_token)
        .bind(since)
        .bind(split_since)
        .bind(terminal_id)
        .bind(merchant_id)
        .fetch_one(&mut **tx)
        .await?;
    facts(&row, amount_minor)
}

fn facts(row: &AnyRow, amount_minor: i64) -> ApiResult<Facts> {
    facts_from(|c| Ok(col::<i64>(row, c)?), amount_minor)
}

/// The facts from the columns of [`GATHER`] as `get` reads them.
pub fn facts_from(get: impl Fn(&str) -> ApiResult<i64>, amount_minor: i64) -> ApiResult<Facts> {
    let n = |c: &str| -> ApiResult<usize> { Ok(usize::try_from(get(c)?).unwrap_or(0)) };
    Ok(Facts {
        amount_minor,
        card_n: n("card_n")?,
        card_declined: n("card_declined")?,
        card_split: n("card_split")?,
        terminal_declined_cards: get("terminal_declined")?,
        merchant_n: n("merchant_n")?,
        merchant_sum: get("merchant_sum")?,
    })
}

/// [`gather`] with the request's nonce spent in the same statement, on
/// PostgreSQL (a data-modifying `WITH`; SQLite has none): one round trip
/// fewer per authorization. `false` if the nonce was already spent, in
/// which case the facts are not to be used.
#[allow(clippy::too_many_arguments)]
pub async fn spend_nonce_and_gather(
    tx: &mut Transaction<'_, Any>,
    nonce: (&str, &str),
    merchant_id: &str,
    terminal_id: &str,
    pan_token: &str,
    amount_minor: i64,
    now: i64,
) -> ApiResult<(bool, Facts)> {
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "WITH spent AS (INSERT INTO request_nonces (terminal_id, nonce, at_ms) VALUES ($6, $7, $8) \
             ON CONFLICT DO NOTHING RETURNING 1) \
             SELECT g.*, (SELECT COUNT(*) FROM spent) AS nonce_fresh FROM ({GATHER}) g"
        )
    });
    let (since, split_since) = windows(now);
    let row: AnyRow = sqlx::query(SQL.as_str())
        .bind(pan_token)
        .bind(since)
        .bind(split_since)
        .bind(terminal_id)
        .bind(merchant_id)
        .bind(nonce.0)
        .bind(nonce.1)
        .bind(now)
        .fetch_one(&mut **tx)
        .await?;
    Ok((
        col::<i64>(&row, "nonce_fresh")? == 1,
        facts(&row, amount_minor)?,
    ))
}

/// The first statement of an online authorization on PostgreSQL, which
/// the payment writer pipelines (see [`crate::pg_writer`]): spends the
/// request's nonce, opens the card's account (or finds and locks it), and
/// reads the risk facts and the card's approvals in the issuer's velocity
/// window (since $11; NULL when the card's range has no limit). Parameters:
/// card token, window start, split-window start, terminal, merchant, the
/// nonce's terminal and value, now, masked PAN, the range's default
/// balance, velocity-window start.
pub static SPEND_GATHER_AND_OPEN_ACCOUNT: std::sync::LazyLock<String> = std::sync::LazyLock::new(
    || {
        format!(
            "WITH spent AS (INSERT INTO request_nonces (terminal_id, nonce, at_ms) VALUES ($6, $7, $8) \
             ON CONFLICT DO NOTHING RETURNING 1), \
             acct AS (INSERT INTO card_accounts (pan_token, masked_pan, balance_minor, blocked) \
             VALUES ($1, $9, $10, 0) ON CONFLICT (pan_token) DO UPDATE SET masked_pan = excluded.masked_pan \
             RETURNING balance_minor, blocked) \
             SELECT g.*, (SELECT COUNT(*) FROM spent) AS nonce_fresh, a.balance_minor, a.blocked, \
             (SELECT COUNT(*) FROM payments v WHERE v.pan_token = $1 AND v.status = 'approved' \
             AND v.created_ms > $11) AS velocity_n \
             FROM ({GATHER}) g, acct a"
        )
    },
);

/// Where the risk windows start at `now`: facts since, split payments
/// since (the parameters $2 and $3 of [`GATHER`]).
pub fn windows(now: i64) -> (i64, i64) {
    (
        now.saturating_sub(WINDOW_MS),
        now.saturating_sub(SPLIT_WINDOW_MS),
    )
}

/// [`gather`] on the SQLite writer's connection.
pub fn gather_sqlite(
    conn: &rusqlite::Connection,
    merchant_id: &str,
    terminal_id: &str,
    pan_token: &str,
    amount_minor: i64,
    now: i64,
) -> ApiResult<Facts> {
    use crate::sqlite_writer::{db, positional};
    let (since, split_since) = windows(now);
    let n = |v: i64| usize::try_from(v).unwrap_or(0);
    conn.prepare_cached(&positional(GATHER))
        .and_then(|mut s| {
            s.query_row(
                rusqlite::params![pan_token, since, split_since, terminal_id, merchant_id],
                |r| {
                    Ok(Facts {
                        amount_minor,
                        card_n: n(r.get("card_n")?),
                        card_declined: n(r.get("card_declined")?),
                        card_split: n(r.get("card_split")?),
                        terminal_declined_cards: r.get("terminal_declined")?,
                        merchant_n: n(r.get("merchant_n")?),
                        merchant_sum: r.get("merchant_sum")?,
                    })
                },
            )
        })
        .map_err(db)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_payment_scores_zero() {
        let f = Facts {
            amount_minor: 1_000,
            merchant_n: 30,
            merchant_sum: 30_000,
            ..Facts::default()
        };
        assert_eq!(assess(&f), Assessment::default());
    }

    #[test]
    fn card_testing_and_velocity_add_up() {
        let a = assess(&Facts {
            amount_minor: 100,
            card_n: 5,
            card_declined: 3,
            ..Facts::default()
        });
        assert_eq!(a.score, 110);
        assert_eq!(
            a.hits.iter().map(|h| h.rule).collect::<Vec<_>>(),
            ["card_velocity", "card_testing"]
        );
        assert!(a.explain().contains("3 declines on this card"));
        // Twin just under both thresholds.
        assert_eq!(
            assess(&Facts {
                amount_minor: 100,
                card_n: 4,
                card_declined: 2,
                ..Facts::default()
            })
            .score,
            0
        );
    }

    #[test]
    fn split_and_anomaly() {
        let a = assess(&Facts {
            amount_minor: 20_001,
            card_split: 2,
            merchant_n: 20,
            merchant_sum: 40_000,
            ..Facts::default()
        });
        assert_eq!(a.score, 90);
        // Twin: exactly ten times the average is not an anomaly; one earlier
        // approval is not a split.
        let b = assess(&Facts {
            amount_minor: 20_000,
            card_split: 1,
            merchant_n: 20,
            merchant_sum: 40_000,
            ..Facts::default()
        });
        assert_eq!(b.score, 0);
        // Too little history: no anomaly judged.
        let c = assess(&Facts {
            amount_minor: 1_000_000,
            merchant_n: 19,
            merchant_sum: 19,
            ..Facts::default()
        });
        assert_eq!(c.score, 0);
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
