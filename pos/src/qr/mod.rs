//! QR payments: the EMVCo merchant-presented payload the terminal shows
//! ([`mpm`]), the customer codes it scans ([`cpm`], [`customer`]), drawing
//! ([`render`]) and reading ([`scan`]) QR images, and the `softpos qr`
//! commands ([`cli`]).
//!
//! Only [`flow`] and [`refund`] talk to the acquirer (orders, micropay,
//! query, cancel, refunds),
//! through a trait, so the flows run against scripted answers in tests; the
//! other modules are pure. Card numbers and wallet
//! codes are masked in every printed form; parsers never panic on what a
//! scanner or a file sends.

pub mod cli;
pub mod cpm;
pub mod crc;
pub mod customer;
pub mod flow;
pub mod flow_owed;
pub mod mpm;
pub mod refund;
pub mod render;
pub mod scan;

pub use customer::{CustomerCode, CustomerCodeError, Wallet, WalletCode};
pub use mpm::{MerchantPayload, MerchantProfile, MpmError, ParsedMpm, PaymentRequest};

use std::fmt;

/// What a scanned or typed QR payload turned out to be.
#[derive(Debug)]
pub enum Content {
    /// A merchant's code (as another terminal or a printed sticker shows it).
    Merchant(Box<ParsedMpm>),
    /// A customer's code, to be charged.
    Customer(CustomerCode),
}

/// Why a payload is neither a valid merchant code nor a valid customer code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QrError {
    #[error("invalid EMVCo merchant-presented payload: {0}")]
    Merchant(#[from] MpmError),
    #[error("{0}")]
    Customer(#[from] CustomerCodeError),
}

/// Recognises and checks a payload. A merchant-presented payload always
/// starts with "00" (ID 00); no customer code does (CPM's base64 starts
/// "hQ", wallet codes start 10–30 or 62), so the first two characters decide
/// which strict parser judges it.
pub fn parse_any(text: &str) -> Result<Content, QrError> {
    let text = text.trim();
    if text.starts_with("00") {
        Ok(Content::Merchant(Box::new(mpm::parse(text)?)))
    } else {
        Ok(Content::Customer(CustomerCode::parse(text)?))
    }
}

impl fmt::Display for Content {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Content::Merchant(m) => write!(f, "{m}"),
            Content::Customer(c) => write!(f, "{c}"),
        }
    }
}
