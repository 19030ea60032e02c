//! What a customer shows the terminal: an EMVCo consumer-presented QR code,
//! or a wallet's payment code (a one-time number shown as a barcode or QR).
//!
//! Wallet codes are told apart by length and prefix, as the wallets'
//! merchant documentation publishes them:
//! - WeChat Pay (micropay `auth_code`): 18 digits starting 10–15;
//! - Alipay (`auth_code`): 16–24 digits starting 25–30;
//! - UnionPay QR payment code: 19 digits starting 62.
//!
//! A payment code is a bearer credential for about a minute, so it is masked
//! whenever it is printed and zeroised on drop, like a PAN.

use super::cpm::{self, CpmCode, CpmError};
use std::fmt;
use zeroize::Zeroize;

/// A scanned customer code, recognised.
#[derive(Debug)]
pub enum CustomerCode {
    EmvCpm(CpmCode),
    Alipay(WalletCode),
    WeChatPay(WalletCode),
    UnionPay(WalletCode),
}

/// The wallet a payment code belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Wallet {
    Alipay,
    WeChatPay,
    UnionPay,
}

impl Wallet {
    pub fn name(self) -> &'static str {
        match self {
            Wallet::Alipay => "Alipay",
            Wallet::WeChatPay => "WeChat Pay",
            Wallet::UnionPay => "UnionPay",
        }
    }

    /// The published shape of this wallet's codes: (lengths, two-digit prefixes).
    fn rule(
        self,
    ) -> (
        std::ops::RangeInclusive<usize>,
        std::ops::RangeInclusive<u8>,
    ) {
        match self {
            Wallet::WeChatPay => (18..=18, 10..=15),
            Wallet::Alipay => (16..=24, 25..=30),
            Wallet::UnionPay => (19..=19, 62..=62),
        }
    }
}

/// A wallet's one-time payment code: digits only, masked when printed.
#[derive(Clone, PartialEq, Eq)]
pub struct WalletCode {
    digits: String,
}

impl WalletCode {
    /// The digits in clear, for the micropay request only.
    pub fn expose_digits(&self) -> &str {
        &self.digits
    }

    /// First four and last four digits; the rest masked.
    pub fn masked(&self) -> String {
        let n = self.digits.len();
        self.digits
            .char_indices()
            .map(|(i, c)| {
                if i < 4 || i >= n.saturating_sub(4) {
                    c
                } else {
                    '*'
                }
            })
            .collect()
    }
}

impl Drop for WalletCode {
    fn drop(&mut self) {
        self.digits.zeroize();
    }
}

impl fmt::Debug for WalletCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WalletCode({})", self.masked())
    }
}

impl fmt::Display for WalletCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

/// Why a scanned customer code was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CustomerCodeError {
    #[error("nothing was scanned")]
    Empty,
    #[error(
        "{len} digits starting {prefix} is no wallet's payment code (WeChat Pay: 18 digits \
         starting 10-15; Alipay: 16-24 digits starting 25-30; UnionPay: 19 digits starting 62)"
    )]
    UnknownWalletCode { len: usize, prefix: String },
    #[error("not an EMVCo consumer-presented code: {0}")]
    Cpm(#[from] CpmError),
    #[error(
        "neither a wallet payment code (digits) nor an EMVCo consumer-presented code (base64)"
    )]
    Unrecognised,
}

impl CustomerCode {
    /// Recognises what a scanner or camera read. Surrounding whitespace (a
    /// keyboard-wedge scanner's Enter) is ignored; anything else must match
    /// exactly one kind.
    pub fn parse(text: &str) -> Result<CustomerCode, CustomerCodeError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(CustomerCodeError::Empty);
        }
        if text.bytes().all(|b| b.is_ascii_digit()) {
            return wallet_code(text);
        }
        let base64_alphabet = text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='));
        if base64_alphabet {
            return Ok(CustomerCode::EmvCpm(cpm::parse(text)?));
        }
        Err(CustomerCodeError::Unrecognised)
    }

    /// What kind of code this is, for people.
    pub fn kind(&self) -> &'static str {
        match self {
            CustomerCode::EmvCpm(_) => "EMVCo consumer-presented code",
            CustomerCode::Alipay(_) => Wallet::Alipay.name(),
            CustomerCode::WeChatPay(_) => Wallet::WeChatPay.name(),
            CustomerCode::UnionPay(_) => Wallet::UnionPay.name(),
        }
    }

    /// The wallet and its code, for the micropay flow; None for EMV CPM,
    /// which is authorized like a card.
    pub fn wallet(&self) -> Option<(Wallet, &WalletCode)> {
        match self {
            CustomerCode::EmvCpm(_) => None,
            CustomerCode::Alipay(c) => Some((Wallet::Alipay, c)),
            CustomerCode::WeChatPay(c) => Some((Wallet::WeChatPay, c)),
            CustomerCode::UnionPay(c) => Some((Wallet::UnionPay, c)),
        }
    }
}

impl fmt::Display for CustomerCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CustomerCode::EmvCpm(c) => write!(f, "{c}"),
            other => match other.wallet() {
                Some((wallet, code)) => writeln!(
                    f,
                    "{} payment code: {} ({} digits)",
                    wallet.name(),
                    code.masked(),
                    code.expose_digits().len()
                ),
                None => Ok(()),
            },
        }
    }
}

fn wallet_code(digits: &str) -> Result<CustomerCode, CustomerCodeError> {
    let len = digits.len();
    let prefix: Option<u8> = digits.get(..2).and_then(|p| p.parse().ok());
    let matching = [Wallet::WeChatPay, Wallet::Alipay, Wallet::UnionPay]
        .into_iter()
        .find(|w| {
            let (lengths, prefixes) = w.rule();
            lengths.contains(&len) && prefix.is_some_and(|p| prefixes.contains(&p))
        });
    let code = WalletCode {
        digits: digits.to_string(),
    };
    match matching {
        Some(Wallet::WeChatPay) => Ok(CustomerCode::WeChatPay(code)),
        Some(Wallet::Alipay) => Ok(CustomerCode::Alipay(code)),
        Some(Wallet::UnionPay) => Ok(CustomerCode::UnionPay(code)),
        None => Err(CustomerCodeError::UnknownWalletCode {
            len,
            prefix: digits.get(..2).unwrap_or(digits).to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wallet_rules_are_disjoint() {
        // No length/prefix pair may belong to two wallets, or a code could be
        // sent to the wrong one.
        for len in 1..=30usize {
            for prefix in 0..=99u8 {
                let n = [Wallet::WeChatPay, Wallet::Alipay, Wallet::UnionPay]
                    .into_iter()
                    .filter(|w| {
                        let (l, p) = w.rule();
                        l.contains(&len) && p.contains(&prefix)
                    })
                    .count();
                assert!(n <= 1, "{len} digits, prefix {prefix}");
            }
        }
    }
}
