//! Dates as EMV writes them: BCD YYMMDD and MMYY, years 50–99 in the 1900s
//! and 00–49 in the 2000s (EMV Book 3 Annex A, "n 6 YYMMDD").

use super::OdaError;

fn bcd_byte(b: u8) -> Option<u16> {
    let (hi, lo) = (b >> 4, b & 0x0F);
    (hi <= 9 && lo <= 9).then(|| {
        u16::from(hi)
            .saturating_mul(10)
            .saturating_add(u16::from(lo))
    })
}

fn full_year(yy: u16) -> u16 {
    if yy < 50 {
        yy.saturating_add(2000)
    } else {
        yy.saturating_add(1900)
    }
}

/// A calendar month, comparable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct YearMonth {
    year: u16,
    month: u16,
}

/// A day, comparable; from BCD YYMMDD.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Day {
    month: YearMonth,
    day: u16,
}

impl Day {
    pub(crate) fn from_yymmdd(bcd: [u8; 3]) -> Result<Day, OdaError> {
        let [y, m, d] = bcd;
        let (Some(y), Some(m), Some(d)) = (bcd_byte(y), bcd_byte(m), bcd_byte(d)) else {
            return Err(OdaError::BadDate);
        };
        if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
            return Err(OdaError::BadDate);
        }
        Ok(Day {
            month: YearMonth {
                year: full_year(y),
                month: m,
            },
            day: d,
        })
    }

    pub(crate) fn month(self) -> YearMonth {
        self.month
    }
}

/// A certificate expiry date, BCD MMYY; `None` when not a valid date.
pub(crate) fn from_mmyy(bcd: [u8; 2]) -> Option<YearMonth> {
    let [m, y] = bcd;
    let (m, y) = (bcd_byte(m)?, bcd_byte(y)?);
    (1..=12).contains(&m).then(|| YearMonth {
        year: full_year(y),
        month: m,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn century_window_and_ordering() {
        let d = Day::from_yymmdd([0x12, 0x03, 0x15]).unwrap();
        assert!(from_mmyy([0x12, 0x14]).unwrap() >= d.month());
        assert!(from_mmyy([0x02, 0x12]).unwrap() < d.month());
        assert!(from_mmyy([0x03, 0x12]).unwrap() >= d.month());
        assert!(from_mmyy([0x12, 0x99]).unwrap() < d.month());
        assert!(Day::from_yymmdd([0x99, 0x12, 0x31]).unwrap() < d);
    }

    #[test]
    fn rejects_non_dates() {
        assert_eq!(Day::from_yymmdd([0x12, 0x13, 0x01]), Err(OdaError::BadDate));
        assert_eq!(Day::from_yymmdd([0x1A, 0x01, 0x01]), Err(OdaError::BadDate));
        assert_eq!(Day::from_yymmdd([0x12, 0x01, 0x00]), Err(OdaError::BadDate));
        assert_eq!(from_mmyy([0x00, 0x12]), None);
        assert_eq!(from_mmyy([0x1F, 0x12]), None);
    }
}
