//! Receipts: one [`Receipt`] built from a history record and the
//! acquirer's signed configuration, rendered as plain text (32, 42 or 48
//! columns), an ESC/POS byte stream, self-contained HTML, or a one-page PDF.
//!
//! Every figure on it is the acquirer's: fee and net from its answer for
//! the payment, or, while the payment waits offline, the fee schedule its
//! signed configuration states (marked "expected"). A receipt never holds a
//! clear PAN: it is built from the history, which has none.

pub mod escpos;
pub mod mcc;
pub mod pdf;

use crate::history::{Kind, Record, Status};
use crate::sync::TerminalConfig;
use serde::Serialize;

/// Everything a receipt shows, already formatted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Receipt {
    /// `SALE`, `REFUND` or `QR SALE`.
    pub title: String,
    /// `APPROVED`, `DECLINED`, `ACCEPTED OFFLINE`, `VOIDED`, ...
    pub status: String,
    pub merchant_name: String,
    pub merchant_id: String,
    pub mcc: String,
    pub mcc_description: String,
    pub acquirer_name: String,
    pub terminal_id: String,
    /// UTC, `YYYY-MM-DD HH:MM:SS UTC`.
    pub date_time: String,
    pub tsc: Option<u32>,
    pub payment_id: Option<String>,
    pub auth_code: Option<String>,
    pub response_code: Option<String>,
    /// Masked PAN or wallet.
    pub payer: String,
    /// `EUR 12.34`.
    pub amount: String,
    /// `1.50 %`, with `+ EUR 0.10` when there is a fixed fee.
    pub fee_rate: String,
    pub fee: String,
    pub net: String,
    /// The fee and net are the acquirer's expectation, not yet its answer.
    pub figures_expected: bool,
    pub settlement_account: String,
    pub settlement_date: String,
    /// For a purchase with refunds.
    pub refunded: Option<String>,
    /// For a refund: the purchase refunded.
    pub original_payment_id: Option<String>,
    pub message: String,
}

/// `minor` in `currency` (ISO 4217 numeric) as `EUR 12.34` (`-EUR 1.00`
/// when negative); an unknown currency prints its number and minor units.
pub fn format_amount(minor: i64, currency: u16) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    match kernel::Currency::from_numeric(currency) {
        Ok(c) if c.exponent > 0 => {
            let unit = 10u64.pow(u32::from(c.exponent));
            format!(
                "{sign}{} {}.{:0width$}",
                c.alpha,
                abs / unit,
                abs % unit,
                width = usize::from(c.exponent)
            )
        }
        Ok(c) => format!("{sign}{} {abs}", c.alpha),
        Err(_) => format!("{sign}{abs} (currency {currency}, minor units)"),
    }
}

/// Basis points as a percentage: 150 -> `1.50 %`.
pub fn format_bps(bps: i64) -> String {
    let sign = if bps < 0 { "-" } else { "" };
    let a = bps.unsigned_abs();
    format!("{sign}{}.{:02} %", a / 100, a % 100)
}

fn date_time(ms: u64) -> String {
    let day = crate::history::date_of_ms(ms);
    let s = (ms / 1000) % 86_400;
    format!(
        "{day} {:02}:{:02}:{:02} UTC",
        s / 3600,
        (s / 60) % 60,
        s % 60
    )
}

/// The fee the configuration's schedule gives for an approved purchase:
/// the acquirer's rounding (half up) in integers.
pub fn expected_fee(amount_minor: u64, config: &TerminalConfig) -> i64 {
    let num = i128::from(amount_minor) * i128::from(config.fee_bps);
    let fee = (num + 5_000) / 10_000 + i128::from(config.fee_fixed_minor);
    i64::try_from(fee).unwrap_or(i64::MAX)
}

fn add_days(date: &str, days: u32) -> String {
    let parse = || -> Option<i64> {
        let y: i64 = date.get(0..4)?.parse().ok()?;
        let m: i64 = date.get(5..7)?.parse().ok()?;
        let d: i64 = date.get(8..10)?.parse().ok()?;
        // Hinnant's days_from_civil.
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y.rem_euclid(400);
        let mp = if m > 2 { m - 3 } else { m + 9 };
        let doy = (153 * mp + 2) / 5 + d - 1;
        Some(era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468)
    };
    parse().map_or_else(
        || date.to_string(),
        |n| crate::history::format_day(n + i64::from(days)),
    )
}

impl Receipt {
    /// The receipt for `rec` under the terminal's signed configuration.
    pub fn build(rec: &Record, config: &TerminalConfig) -> Receipt {
        let title = match rec.kind {
            Kind::Purchase => "SALE",
            Kind::Refund => "REFUND",
            Kind::Qr => "QR SALE",
        };
        let status = rec.status.as_str().replace('_', " ").to_uppercase();
        let amount_i = i64::try_from(rec.amount_minor).unwrap_or(i64::MAX);
        let signed = if rec.kind == Kind::Refund {
            amount_i.saturating_neg()
        } else {
            amount_i
        };
        let fee_bps = rec.fee_bps.unwrap_or(i64::from(config.fee_bps));
        let mut fee_rate = format_bps(fee_bps);
        if config.fee_fixed_minor > 0 {
            fee_rate.push_str(" + ");
            fee_rate.push_str(&format_amount(
                i64::try_from(config.fee_fixed_minor).unwrap_or(i64::MAX),
                rec.currency,
            ));
        }
        // The acquirer's figures when it answered; while the payment waits
        // offline, what its schedule says the fee will be.
        let (fee, net, expected) = match (rec.fee_minor, rec.net_minor) {
            (Some(f), Some(n)) => (f, n, false),
            _ if rec.status == Status::AcceptedOffline => {
                let f = expected_fee(rec.amount_minor, config);
                (f, signed.saturating_sub(f), true)
            }
            _ => (0, 0, false),
        };
        let settlement_date = match (&rec.settlement_date, rec.status) {
            (Some(d), Status::Approved) => d.clone(),
            (_, Status::AcceptedOffline) => format!(
                "{} (expected, once delivered)",
                add_days(&rec.business_date, config.settlement_delay_days)
            ),
            _ => "- (not settled)".into(),
        };
        Receipt {
            title: title.into(),
            status,
            merchant_name: config.merchant_name.clone(),
            merchant_id: config.merchant_id.clone(),
            mcc: config.mcc.clone(),
            mcc_description: mcc::label(&config.mcc),
            acquirer_name: if config.acquirer_name.is_empty() {
                "-".into()
            } else {
                config.acquirer_name.clone()
            },
            terminal_id: config.terminal_id.clone(),
            date_time: date_time(rec.created_ms),
            tsc: rec.tsc,
            payment_id: rec.payment_id.clone(),
            auth_code: rec.auth_code.clone(),
            response_code: rec.response_code.clone(),
            payer: rec.payer(),
            amount: format_amount(signed, rec.currency),
            fee_rate,
            fee: format_amount(fee, rec.currency),
            net: format_amount(net, rec.currency),
            figures_expected: expected,
            settlement_account: if config.settlement_account_masked.is_empty() {
                "-".into()
            } else {
                config.settlement_account_masked.clone()
            },
            settlement_date,
            refunded: (rec.refunded_minor > 0).then(|| {
                format_amount(
                    i64::try_from(rec.refunded_minor).unwrap_or(i64::MAX),
                    rec.currency,
                )
            }),
            original_payment_id: rec.original_payment_id.clone(),
            message: rec.message.clone(),
        }
    }

    /// Header lines (centred) and (label, value) rows, in print order:
    /// what every renderer lays out.
    pub fn layout(&self) -> (Vec<String>, Vec<(String, String)>) {
        let header = vec![
            self.merchant_name.clone(),
            format!("MCC {} {}", self.mcc, self.mcc_description),
            format!("Merchant {}", self.merchant_id),
            format!("Acquirer {}", self.acquirer_name),
        ];
        let mut rows: Vec<(String, String)> = vec![
            ("Terminal".into(), self.terminal_id.clone()),
            ("Date".into(), self.date_time.clone()),
        ];
        fn opt(rows: &mut Vec<(String, String)>, label: &str, v: &Option<String>) {
            if let Some(v) = v {
                rows.push((label.into(), v.clone()));
            }
        }
        opt(&mut rows, "TSC", &self.tsc.map(|t| t.to_string()));
        opt(&mut rows, "Payment", &self.payment_id);
        opt(&mut rows, "Refund of", &self.original_payment_id);
        rows.push(("Card".into(), self.payer.clone()));
        opt(&mut rows, "Auth code", &self.auth_code);
        opt(&mut rows, "Response", &self.response_code);
        rows.push((self.title.clone(), self.amount.clone()));
        rows.push(("Result".into(), self.status.clone()));
        opt(&mut rows, "Refunded", &self.refunded);
        let exp = if self.figures_expected {
            " (expected)"
        } else {
            ""
        };
        rows.push(("Fee rate".into(), self.fee_rate.clone()));
        rows.push((format!("Fee{exp}"), self.fee.clone()));
        rows.push((format!("Net{exp}"), self.net.clone()));
        rows.push(("Settles to".into(), self.settlement_account.clone()));
        rows.push(("Settlement".into(), self.settlement_date.clone()));
        (header, rows)
    }

    /// Plain text, `width` columns (32, 42 and 48 are the usual printer
    /// widths; 20 to 120 accepted). Width is counted in characters: a CJK
    /// merchant name takes more room on a printer than it is counted for.
    pub fn to_text(&self, width: usize) -> String {
        let width = width.clamp(20, 120);
        let (header, rows) = self.layout();
        let mut out = String::new();
        for h in &header {
            for line in wrap(h, width) {
                out.push_str(&center(&line, width));
                out.push('\n');
            }
        }
        out.push_str(&"-".repeat(width));
        out.push('\n');
        for (label, value) in &rows {
            let (l, v) = (label.chars().count(), value.chars().count());
            if l + 1 + v <= width {
                out.push_str(label);
                out.push_str(&" ".repeat(width - l - v));
                out.push_str(value);
                out.push('\n');
            } else {
                out.push_str(label);
                out.push('\n');
                for line in wrap(value, width.saturating_sub(2)) {
                    let n = line.chars().count();
                    out.push_str(&" ".repeat(width.saturating_sub(n)));
                    out.push_str(&line);
                    out.push('\n');
                }
            }
        }
        out.push_str(&"-".repeat(width));
        out.push('\n');
        for line in wrap(&self.message, width) {
            out.push_str(&line);
            out.push('\n');
        }
        out
    }

    /// A self-contained HTML page (inline style, no external resources),
    /// every value escaped.
    pub fn to_html(&self) -> String {
        let (header, rows) = self.layout();
        let mut h =
            String::from("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
        h.push_str(&format!(
            "<title>{} {}</title>\n",
            esc(&self.title),
            esc(&self.merchant_name)
        ));
        h.push_str(
            "<style>body{font-family:ui-monospace,Menlo,Consolas,monospace;max-width:26em;margin:1em auto;}\
             h1{font-size:1.2em;text-align:center;margin:0}.c{text-align:center;margin:0}\
             table{width:100%;border-collapse:collapse;margin:.5em 0;border-top:1px dashed #000;border-bottom:1px dashed #000}\
             td{padding:.1em 0}td.v{text-align:right}</style>\n</head>\n<body>\n",
        );
        let mut it = header.iter();
        if let Some(name) = it.next() {
            h.push_str(&format!("<h1>{}</h1>\n", esc(name)));
        }
        for line in it {
            h.push_str(&format!("<p class=\"c\">{}</p>\n", esc(line)));
        }
        h.push_str("<table>\n");
        for (label, value) in &rows {
            h.push_str(&format!(
                "<tr><td>{}</td><td class=\"v\">{}</td></tr>\n",
                esc(label),
                esc(value)
            ));
        }
        h.push_str("</table>\n");
        h.push_str(&format!(
            "<p>{}</p>\n</body>\n</html>\n",
            esc(&self.message)
        ));
        h
    }

    /// The ESC/POS byte stream for a printer `width` columns wide.
    pub fn to_escpos(&self, width: usize) -> Vec<u8> {
        escpos::render(self, width)
    }

    /// A one-page PDF 1.4 document.
    pub fn to_pdf(&self) -> Vec<u8> {
        pdf::render(self)
    }
}

/// HTML-escapes text content and attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

fn center(s: &str, width: usize) -> String {
    let n = s.chars().count();
    let pad = width.saturating_sub(n) / 2;
    format!("{}{s}", " ".repeat(pad))
}

/// Splits `s` into lines of at most `width` characters, at spaces where
/// possible.
pub fn wrap(s: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut lines = Vec::new();
    let mut cur = String::new();
    for word in s.split_whitespace() {
        let mut word: Vec<char> = word.chars().collect();
        while word.len() > width {
            if !cur.is_empty() {
                lines.push(std::mem::take(&mut cur));
            }
            let rest = word.split_off(width);
            lines.push(word.into_iter().collect());
            word = rest;
        }
        let wl = word.len();
        let cl = cur.chars().count();
        if cl > 0 && cl + 1 + wl > width {
            lines.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.extend(word);
    }
    if !cur.is_empty() || lines.is_empty() {
        lines.push(cur);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_and_rates() {
        assert_eq!(format_amount(1_234, 978), "EUR 12.34");
        assert_eq!(format_amount(-5, 978), "-EUR 0.05");
        assert_eq!(format_amount(500, 392), "JPY 500");
        assert_eq!(format_amount(1, 999), "1 (currency 999, minor units)");
        assert_eq!(format_bps(150), "1.50 %");
        assert_eq!(format_bps(5), "0.05 %");
    }

    #[test]
    fn wraps_at_spaces_and_splits_long_words() {
        assert_eq!(wrap("ab cd ef", 5), vec!["ab cd", "ef"]);
        assert_eq!(wrap("abcdefgh", 3), vec!["abc", "def", "gh"]);
        assert_eq!(wrap("", 3), vec![""]);
    }

    #[test]
    fn days_are_added_across_months() {
        assert_eq!(add_days("2024-02-28", 1), "2024-02-29");
        assert_eq!(add_days("2024-12-31", 1), "2025-01-01");
        assert_eq!(add_days("garbage", 1), "garbage");
    }
}
