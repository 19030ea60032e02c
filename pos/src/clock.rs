//! The terminal's clock, read once per transaction and handed to the
//! kernel as an input (the kernel reads no clock).

use std::time::{SystemTime, UNIX_EPOCH};

/// One reading of the clock, in the forms the kernel and the recording use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Now {
    /// Tag 9A, YYMMDD as BCD.
    pub date_bcd: [u8; 3],
    /// Tag 9F21, HHMMSS as BCD.
    pub time_bcd: [u8; 3],
    /// "2026-11-23T10:15:00Z".
    pub rfc3339: String,
}

impl Now {
    /// The system clock, UTC.
    pub fn system() -> Now {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Now::from_unix(secs)
    }

    /// A given instant (seconds since 1970-01-01T00:00:00Z).
    pub fn from_unix(secs: u64) -> Now {
        let days = secs / 86_400;
        let rem = secs % 86_400;
        let (y, m, d) = civil_from_days(days);
        let (hh, mm, ss) = (rem / 3600, (rem % 3600) / 60, rem % 60);
        let bcd = |v: u64| -> u8 {
            let v = v % 100;
            (((v / 10) as u8) << 4) | ((v % 10) as u8)
        };
        Now {
            date_bcd: [bcd(y), bcd(m), bcd(d)],
            time_bcd: [bcd(hh), bcd(mm), bcd(ss)],
            rfc3339: format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z"),
        }
    }
}

/// Howard Hinnant's days-to-civil algorithm, for days since 1970-01-01.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        let n = Now::from_unix(1_795_428_900); // 2026-11-23T10:15:00Z
        assert_eq!(n.rfc3339, "2026-11-23T10:15:00Z");
        assert_eq!(n.date_bcd, [0x26, 0x11, 0x23]);
        assert_eq!(n.time_bcd, [0x10, 0x15, 0x00]);
        assert_eq!(Now::from_unix(951_782_400).rfc3339, "2000-02-29T00:00:00Z");
        assert_ne!(Now::from_unix(951_782_400).rfc3339, "2000-03-01T00:00:00Z");
    }
}
