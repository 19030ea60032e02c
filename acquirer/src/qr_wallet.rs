//! The wallet simulator behind QR payments: which wallet a customer's code
//! belongs to, how that wallet behaves, and how the code is kept (a keyed
//! hash and a masked form, never the code itself).
//!
//! Behaviour is chosen by the code, so tests and demos are deterministic.
//! For a wallet payment code (digits) the last two digits `NN` decide:
//!
//! | NN            | the wallet ...                                           |
//! |---------------|----------------------------------------------------------|
//! | 00–79, 89, 94–99 | pays at once (SUCCESS)                                |
//! | 80–88         | asks the customer to confirm: USERPAYING until the terminal has queried `NN − 79` times (1 to 9), then SUCCESS |
//! | 90            | refuses: insufficient balance (FAIL)                     |
//! | 91            | refuses: the code has expired (FAIL)                     |
//! | 92            | never answers: USERPAYING until cancelled or the order expires |
//! | 93            | the customer declines in the wallet: USERPAYING, then FAIL at the first query |
//!
//! An EMVCo consumer-presented code (base64) pays at once. Every code is
//! single use, as the wallets' codes are: a code already seen in another
//! order is refused (`code_used`).
//!
//! Which wallet: the shapes the wallets publish (WeChat Pay 18 digits
//! starting 10–15, Alipay 16–24 digits starting 25–30, UnionPay 19 digits
//! starting 62), the same rules as `pos::qr::customer`.

use ring::hmac;

/// Longest code accepted (an EMVCo CPM payload in base64 is a few hundred
/// characters).
pub const MAX_CODE_LEN: usize = 512;

/// The wallet a code belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalletKind {
    Alipay,
    WeChatPay,
    UnionPay,
    EmvCpm,
}

impl WalletKind {
    /// The stable name used in the API and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            WalletKind::Alipay => "alipay",
            WalletKind::WeChatPay => "wechat_pay",
            WalletKind::UnionPay => "unionpay",
            WalletKind::EmvCpm => "emv_cpm",
        }
    }
}

/// What the simulated wallet does with a payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    PayNow,
    /// USERPAYING until this many queries have been made, then SUCCESS.
    Confirm(u32),
    Insufficient,
    CodeExpired,
    NeverAnswers,
    /// USERPAYING, then FAIL at the first query.
    CustomerDeclines,
}

/// Why a code is not one any wallet would take.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    #[error("payment code is empty")]
    Empty,
    #[error("payment code is longer than {MAX_CODE_LEN} characters")]
    TooLong,
    #[error("{len} digits starting {prefix} is no wallet's payment code (WeChat Pay: 18 digits starting 10-15; Alipay: 16-24 digits starting 25-30; UnionPay: 19 digits starting 62)")]
    UnknownWallet { len: usize, prefix: String },
    #[error(
        "neither a wallet payment code (digits) nor an EMVCo consumer-presented code (base64)"
    )]
    Unrecognised,
}

/// A recognised customer code, reduced to what may be kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeRef {
    pub wallet: WalletKind,
    pub behaviour: Behaviour,
    /// HMAC-SHA256 of the code, hex: matches reuse without keeping the code.
    pub hash: String,
    /// First four and last four characters, the rest `*`.
    pub masked: String,
}

/// Recognises `code` and reduces it to a [`CodeRef`] under `key`.
pub fn recognise(code: &str, key: &hmac::Key) -> Result<CodeRef, CodeError> {
    let code = code.trim();
    if code.is_empty() {
        return Err(CodeError::Empty);
    }
    if code.len() > MAX_CODE_LEN {
        return Err(CodeError::TooLong);
    }
    let (wallet, behaviour) = if code.bytes().all(|b| b.is_ascii_digit()) {
        (wallet_of_digits(code)?, behaviour_of_digits(code))
    } else if code
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
    {
        (WalletKind::EmvCpm, Behaviour::PayNow)
    } else {
        return Err(CodeError::Unrecognised);
    };
    Ok(CodeRef {
        wallet,
        behaviour,
        hash: hex::encode(hmac::sign(key, code.as_bytes()).as_ref()),
        masked: mask(code),
    })
}

fn wallet_of_digits(digits: &str) -> Result<WalletKind, CodeError> {
    let len = digits.len();
    let prefix: Option<u8> = digits.get(..2).and_then(|p| p.parse().ok());
    let is = |lens: std::ops::RangeInclusive<usize>, pre: std::ops::RangeInclusive<u8>| {
        lens.contains(&len) && prefix.is_some_and(|p| pre.contains(&p))
    };
    if is(18..=18, 10..=15) {
        Ok(WalletKind::WeChatPay)
    } else if is(16..=24, 25..=30) {
        Ok(WalletKind::Alipay)
    } else if is(19..=19, 62..=62) {
        Ok(WalletKind::UnionPay)
    } else {
        Err(CodeError::UnknownWallet {
            len,
            prefix: digits.get(..2).unwrap_or(digits).to_string(),
        })
    }
}

/// The table in the module doc, by the last two digits.
pub fn behaviour_of_digits(digits: &str) -> Behaviour {
    let nn: u32 = digits
        .get(digits.len().saturating_sub(2)..)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    match nn {
        80..=88 => Behaviour::Confirm(nn.saturating_sub(79)),
        90 => Behaviour::Insufficient,
        91 => Behaviour::CodeExpired,
        92 => Behaviour::NeverAnswers,
        93 => Behaviour::CustomerDeclines,
        _ => Behaviour::PayNow,
    }
}

/// First four and last four characters; everything between masked. Codes
/// of eight characters or fewer are masked whole.
pub fn mask(code: &str) -> String {
    let n = code.chars().count();
    if n <= 8 {
        return "*".repeat(n);
    }
    code.chars()
        .enumerate()
        .map(|(i, c)| if i < 4 || i + 4 >= n { c } else { '*' })
        .collect()
}

/// The key payment codes are hashed under, derived from the acquirer's
/// token secret with a label of its own so the two uses never share a key.
pub fn code_key(token_secret: &[u8]) -> hmac::Key {
    let root = hmac::Key::new(hmac::HMAC_SHA256, token_secret);
    let derived = hmac::sign(&root, b"softpos qr payment-code hash v1");
    hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> hmac::Key {
        code_key(b"test secret")
    }

    #[test]
    fn recognises_each_wallet_and_refuses_the_rest() {
        let k = key();
        assert_eq!(
            recognise("134567890123456700", &k).unwrap().wallet,
            WalletKind::WeChatPay
        );
        assert_eq!(
            recognise("2812345678901234", &k).unwrap().wallet,
            WalletKind::Alipay
        );
        assert_eq!(
            recognise("6212345678901234500", &k).unwrap().wallet,
            WalletKind::UnionPay
        );
        assert_eq!(
            recognise("hQVDUFYwMQ==", &k).unwrap().wallet,
            WalletKind::EmvCpm
        );
        // Tampered twins: one digit too many, a wrong prefix, a stray symbol.
        assert!(matches!(
            recognise("1345678901234567001", &k),
            Err(CodeError::UnknownWallet { .. })
        ));
        assert!(matches!(
            recognise("992345678901234567", &k),
            Err(CodeError::UnknownWallet { .. })
        ));
        assert_eq!(recognise("2812-3456", &k), Err(CodeError::Unrecognised));
        assert_eq!(recognise("  ", &k), Err(CodeError::Empty));
        assert_eq!(
            recognise(&"A".repeat(MAX_CODE_LEN + 1), &k),
            Err(CodeError::TooLong)
        );
    }

    #[test]
    fn behaviour_follows_the_table() {
        assert_eq!(behaviour_of_digits("134567890123456700"), Behaviour::PayNow);
        assert_eq!(
            behaviour_of_digits("134567890123456780"),
            Behaviour::Confirm(1)
        );
        assert_eq!(
            behaviour_of_digits("134567890123456788"),
            Behaviour::Confirm(9)
        );
        assert_eq!(behaviour_of_digits("134567890123456789"), Behaviour::PayNow);
        assert_eq!(
            behaviour_of_digits("134567890123456790"),
            Behaviour::Insufficient
        );
        assert_eq!(
            behaviour_of_digits("134567890123456791"),
            Behaviour::CodeExpired
        );
        assert_eq!(
            behaviour_of_digits("134567890123456792"),
            Behaviour::NeverAnswers
        );
        assert_eq!(
            behaviour_of_digits("134567890123456793"),
            Behaviour::CustomerDeclines
        );
    }

    #[test]
    fn keeps_only_a_hash_and_a_mask() {
        let r = recognise("134567890123456700", &key()).unwrap();
        assert_eq!(r.masked, "1345**********6700");
        assert!(!r.hash.contains("134567890123456700"));
        assert_eq!(r.hash.len(), 64);
        // Another key gives another hash: the hash is keyed, not a bare digest.
        let other = recognise("134567890123456700", &code_key(b"other")).unwrap();
        assert_ne!(r.hash, other.hash);
        assert_eq!(mask("12345678"), "********");
    }
}
