//! Money: integer minor units with an ISO 4217 currency. Never a float.

use serde::{Deserialize, Serialize};
use std::fmt;

/// An ISO 4217 currency: numeric code (as in tag 5F2A), alphabetic code and
/// minor-unit exponent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency {
    pub numeric: u16,
    pub alpha: &'static str,
    pub exponent: u8,
}

const CURRENCIES: &[Currency] = &[
    Currency {
        numeric: 36,
        alpha: "AUD",
        exponent: 2,
    },
    Currency {
        numeric: 124,
        alpha: "CAD",
        exponent: 2,
    },
    Currency {
        numeric: 156,
        alpha: "CNY",
        exponent: 2,
    },
    Currency {
        numeric: 208,
        alpha: "DKK",
        exponent: 2,
    },
    Currency {
        numeric: 344,
        alpha: "HKD",
        exponent: 2,
    },
    Currency {
        numeric: 356,
        alpha: "INR",
        exponent: 2,
    },
    Currency {
        numeric: 360,
        alpha: "IDR",
        exponent: 2,
    },
    Currency {
        numeric: 392,
        alpha: "JPY",
        exponent: 0,
    },
    Currency {
        numeric: 410,
        alpha: "KRW",
        exponent: 0,
    },
    Currency {
        numeric: 414,
        alpha: "KWD",
        exponent: 3,
    },
    Currency {
        numeric: 446,
        alpha: "MOP",
        exponent: 2,
    },
    Currency {
        numeric: 458,
        alpha: "MYR",
        exponent: 2,
    },
    Currency {
        numeric: 484,
        alpha: "MXN",
        exponent: 2,
    },
    Currency {
        numeric: 554,
        alpha: "NZD",
        exponent: 2,
    },
    Currency {
        numeric: 578,
        alpha: "NOK",
        exponent: 2,
    },
    Currency {
        numeric: 608,
        alpha: "PHP",
        exponent: 2,
    },
    Currency {
        numeric: 643,
        alpha: "RUB",
        exponent: 2,
    },
    Currency {
        numeric: 682,
        alpha: "SAR",
        exponent: 2,
    },
    Currency {
        numeric: 702,
        alpha: "SGD",
        exponent: 2,
    },
    Currency {
        numeric: 704,
        alpha: "VND",
        exponent: 0,
    },
    Currency {
        numeric: 710,
        alpha: "ZAR",
        exponent: 2,
    },
    Currency {
        numeric: 752,
        alpha: "SEK",
        exponent: 2,
    },
    Currency {
        numeric: 756,
        alpha: "CHF",
        exponent: 2,
    },
    Currency {
        numeric: 764,
        alpha: "THB",
        exponent: 2,
    },
    Currency {
        numeric: 784,
        alpha: "AED",
        exponent: 2,
    },
    Currency {
        numeric: 826,
        alpha: "GBP",
        exponent: 2,
    },
    Currency {
        numeric: 840,
        alpha: "USD",
        exponent: 2,
    },
    Currency {
        numeric: 901,
        alpha: "TWD",
        exponent: 2,
    },
    Currency {
        numeric: 978,
        alpha: "EUR",
        exponent: 2,
    },
    Currency {
        numeric: 985,
        alpha: "PLN",
        exponent: 2,
    },
    Currency {
        numeric: 986,
        alpha: "BRL",
        exponent: 2,
    },
];

/// Why a currency or amount was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("unknown ISO 4217 currency {0:?}")]
    UnknownCurrency(String),
    #[error("amount overflows")]
    Overflow,
    #[error("amounts in different currencies ({0} and {1})")]
    CurrencyMismatch(&'static str, &'static str),
    #[error("amount {0} does not fit the 12 digits of EMV tag 9F02")]
    TooLarge(u64),
}

impl Currency {
    /// By numeric code, e.g. 978.
    pub fn from_numeric(numeric: u16) -> Result<Currency, MoneyError> {
        CURRENCIES
            .iter()
            .find(|c| c.numeric == numeric)
            .copied()
            .ok_or_else(|| MoneyError::UnknownCurrency(numeric.to_string()))
    }

    /// By alphabetic ("EUR") or numeric ("978") code.
    pub fn parse(code: &str) -> Result<Currency, MoneyError> {
        let code = code.trim();
        if let Ok(n) = code.parse::<u16>() {
            return Self::from_numeric(n);
        }
        CURRENCIES
            .iter()
            .find(|c| c.alpha.eq_ignore_ascii_case(code))
            .copied()
            .ok_or_else(|| MoneyError::UnknownCurrency(code.to_string()))
    }

    /// From the two BCD bytes of tag 5F2A ("0978").
    pub fn from_bcd(bytes: &[u8]) -> Result<Currency, MoneyError> {
        let digits = crate::bcd::decode_digits(bytes)
            .ok_or_else(|| MoneyError::UnknownCurrency(hex::encode_upper(bytes)))?;
        let n = digits
            .parse::<u16>()
            .map_err(|_| MoneyError::UnknownCurrency(digits.clone()))?;
        Self::from_numeric(n)
    }

    /// The two BCD bytes of tag 5F2A.
    pub fn to_bcd(self) -> [u8; 2] {
        let mut out = [0u8; 2];
        crate::bcd::encode_u64(u64::from(self.numeric), &mut out);
        out
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.alpha)
    }
}

impl Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.alpha)
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Currency::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Minor units as a plain decimal by the currency's exponent, for formats
/// that carry amounts as text (EMVCo QR, ISO 20022): (123456, 2) → "1234.56",
/// (5, 3) → "0.005", (1500, 0) → "1500". Integer arithmetic only; `u128` so
/// that sums of many amounts (control sums) fit too.
pub fn decimal(minor: u128, exponent: u8) -> String {
    let digits = minor.to_string();
    let e = usize::from(exponent);
    if e == 0 {
        return digits;
    }
    let padded = format!("{digits:0>width$}", width = e.saturating_add(1));
    let split = padded.len().saturating_sub(e);
    match (padded.get(..split), padded.get(split..)) {
        (Some(int), Some(frac)) => format!("{int}.{frac}"),
        _ => padded,
    }
}

/// An amount in minor units of its currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Amount {
    pub minor: u64,
    pub currency: Currency,
}

/// The largest amount tag 9F02 (n12) can carry.
pub const MAX_EMV_AMOUNT: u64 = 999_999_999_999;

impl Amount {
    pub fn new(minor: u64, currency: Currency) -> Result<Amount, MoneyError> {
        if minor > MAX_EMV_AMOUNT {
            return Err(MoneyError::TooLarge(minor));
        }
        Ok(Amount { minor, currency })
    }

    pub fn checked_add(self, other: Amount) -> Result<Amount, MoneyError> {
        if self.currency != other.currency {
            return Err(MoneyError::CurrencyMismatch(
                self.currency.alpha,
                other.currency.alpha,
            ));
        }
        let sum = self
            .minor
            .checked_add(other.minor)
            .ok_or(MoneyError::Overflow)?;
        Amount::new(sum, self.currency)
    }

    /// The six BCD bytes of tag 9F02 / 9F03.
    pub fn to_bcd(self) -> [u8; 6] {
        let mut out = [0u8; 6];
        crate::bcd::encode_u64(self.minor, &mut out);
        out
    }
}

impl fmt::Display for Amount {
    /// "25.00 EUR", "1500 JPY": major units by the currency's exponent.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scale = 10u64
            .checked_pow(u32::from(self.currency.exponent))
            .unwrap_or(1);
        let major = self.minor.checked_div(scale).unwrap_or(0);
        let minor = self.minor.checked_rem(scale).unwrap_or(0);
        if self.currency.exponent == 0 {
            write!(f, "{} {}", major, self.currency.alpha)
        } else {
            write!(
                f,
                "{}.{:0width$} {}",
                major,
                minor,
                self.currency.alpha,
                width = usize::from(self.currency.exponent)
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currencies_and_formatting() {
        let eur = Currency::parse("eur").unwrap();
        assert_eq!(eur.numeric, 978);
        assert_eq!(Currency::parse("156").unwrap().alpha, "CNY");
        assert_eq!(eur.to_bcd(), [0x09, 0x78]);
        assert_eq!(Currency::from_bcd(&[0x01, 0x56]).unwrap().alpha, "CNY");
        assert!(Currency::parse("XXX").is_err());
        assert_eq!(Amount::new(2500, eur).unwrap().to_string(), "25.00 EUR");
        let jpy = Currency::parse("JPY").unwrap();
        assert_eq!(Amount::new(1500, jpy).unwrap().to_string(), "1500 JPY");
        let kwd = Currency::parse("KWD").unwrap();
        assert_eq!(Amount::new(1005, kwd).unwrap().to_string(), "1.005 KWD");
    }

    #[test]
    fn arithmetic_is_checked() {
        let eur = Currency::parse("EUR").unwrap();
        let usd = Currency::parse("USD").unwrap();
        let a = Amount::new(100, eur).unwrap();
        assert_eq!(a.checked_add(a).unwrap().minor, 200);
        assert!(a.checked_add(Amount::new(1, usd).unwrap()).is_err());
        assert!(Amount::new(MAX_EMV_AMOUNT + 1, eur).is_err());
        let max = Amount::new(MAX_EMV_AMOUNT, eur).unwrap();
        assert!(max.checked_add(a).is_err());
        assert_eq!(
            Amount::new(2500, eur).unwrap().to_bcd(),
            [0, 0, 0, 0, 0x25, 0x00]
        );
    }
}
