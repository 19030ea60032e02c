//! EMVCo Merchant-Presented Mode: the payload a terminal shows for the
//! customer's wallet to scan.
//!
//! A payload is a run of data objects, each a two-digit ID, a two-digit
//! length and that many characters of value; some values are themselves runs
//! of objects (templates). Lengths count characters, not bytes: only the
//! language template (64) may hold non-ASCII text. ID 00 comes first, the
//! CRC (63) last, and every other object may appear in any order.
//!
//! [`parse`] is strict and names the offending ID in every rejection;
//! [`MerchantPayload::encode`] re-parses what it wrote, so the terminal can
//! never show a code its own parser would refuse.

use super::crc::crc16_ccitt_false;
use kernel::money::{Amount, Currency};
use std::fmt;

/// EMVCo caps a merchant-presented payload at 512 characters.
pub const MAX_PAYLOAD_CHARS: usize = 512;

/// The only payload format indicator (ID 00) defined so far.
pub const PAYLOAD_FORMAT: &str = "01";

/// Why a merchant-presented payload was refused. `path` names the object,
/// "62.05" being sub-ID 05 of template 62.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MpmError {
    #[error("the payload is empty")]
    Empty,
    #[error("the payload has {0} characters, more than EMVCo's {MAX_PAYLOAD_CHARS}")]
    TooLong(usize),
    #[error("{where_} ends inside a {what}")]
    Truncated { where_: String, what: &'static str },
    #[error("{where_}: the {what} must be two digits, found {found:?}")]
    NotTwoDigits {
        where_: String,
        what: &'static str,
        found: String,
    },
    #[error("ID {path} has length 00; an empty object must be left out")]
    ZeroLength { path: String },
    #[error("ID {path} claims {claimed} characters but only {available} remain")]
    ValueTruncated {
        path: String,
        claimed: usize,
        available: usize,
    },
    #[error("ID {path} appears twice")]
    Duplicate { path: String },
    #[error("mandatory ID {path} ({name}) is missing")]
    Missing { path: String, name: &'static str },
    #[error(
        "the payload must start with ID 00 (payload format indicator), it starts with ID {0:02}"
    )]
    FormatIndicatorNotFirst(u8),
    #[error("the CRC (ID 63) must be the last object, ID {0:02} follows it")]
    CrcNotLast(u8),
    #[error("the CRC says {stated} but the payload's CRC-16/CCITT-FALSE is {computed:04X}")]
    CrcMismatch { stated: String, computed: u16 },
    #[error("no merchant account information (one of IDs 02 to 51 is mandatory)")]
    NoMerchantAccount,
    #[error("ID {path}: {reason}")]
    Invalid { path: String, reason: String },
}

fn invalid(path: impl Into<String>, reason: impl Into<String>) -> MpmError {
    MpmError::Invalid {
        path: path.into(),
        reason: reason.into(),
    }
}

/// One data object as it appeared, with its children when it is a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataObject {
    pub id: u8,
    pub value: String,
    /// Parsed sub-objects of a template (empty for a primitive).
    pub children: Vec<DataObject>,
}

impl DataObject {
    pub fn primitive(id: u8, value: impl Into<String>) -> DataObject {
        DataObject {
            id,
            value: value.into(),
            children: Vec::new(),
        }
    }

    /// A template whose value is its children, encoded.
    pub fn template(id: u8, children: Vec<DataObject>) -> DataObject {
        let value = children.iter().map(DataObject::encode).collect();
        DataObject {
            id,
            value,
            children,
        }
    }

    fn encode(&self) -> String {
        format!(
            "{:02}{:02}{}",
            self.id,
            self.value.chars().count(),
            self.value
        )
    }
}

/// Point of initiation method (ID 01).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Initiation {
    /// "11": the same code for every payment, the customer keys the amount.
    Static,
    /// "12": a code for one payment, usually with its amount.
    Dynamic,
}

/// Merchant account information (IDs 02–51): where the money goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MerchantAccount {
    /// IDs 02–25, reserved for card schemes (02–03 Visa, 04–05 Mastercard,
    /// 15–16 UnionPay ...), whose value is the scheme's own string.
    Scheme { id: u8, value: String },
    /// IDs 26–51: a template naming its payment network by a globally unique
    /// identifier (sub-ID 00: an AID, a UUID or a reversed domain name).
    Template {
        id: u8,
        gui: String,
        fields: Vec<DataObject>,
    },
}

impl MerchantAccount {
    pub fn id(&self) -> u8 {
        match self {
            MerchantAccount::Scheme { id, .. } | MerchantAccount::Template { id, .. } => *id,
        }
    }
}

/// Tip or convenience indicator (ID 55) with its value (56 or 57).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tip {
    /// "01": the wallet asks the customer for a tip.
    Prompt,
    /// "02": a fixed convenience fee (ID 56), in the payload's currency.
    FixedFee(Amount),
    /// "03": a percentage convenience fee (ID 57), e.g. "3.5".
    Percentage(String),
}

/// Additional data field template (ID 62).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AdditionalData {
    /// 01: the invoice or bill this payment settles.
    pub bill_number: Option<String>,
    /// 02
    pub mobile_number: Option<String>,
    /// 03
    pub store_label: Option<String>,
    /// 04
    pub loyalty_number: Option<String>,
    /// 05: the merchant's or acquirer's reference for this payment (an order ID).
    pub reference_label: Option<String>,
    /// 06
    pub customer_label: Option<String>,
    /// 07: which terminal shows the code.
    pub terminal_label: Option<String>,
    /// 08
    pub purpose: Option<String>,
    /// 09: what the wallet should ask the customer for ("A" address, "M"
    /// mobile, "E" e-mail).
    pub consumer_data_request: Option<String>,
    /// 10–49 (reserved for EMVCo) and 50–99 (payment system templates).
    pub other: Vec<DataObject>,
}

impl AdditionalData {
    fn is_empty(&self) -> bool {
        *self == AdditionalData::default()
    }
}

/// Merchant information in an alternate language (ID 64).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LanguageTemplate {
    /// 00: ISO 639 two-letter code, e.g. "ZH".
    pub language: String,
    /// 01: the merchant's name in that language (any Unicode text).
    pub name: String,
    /// 02
    pub city: Option<String>,
    /// 03–99, reserved for EMVCo.
    pub other: Vec<DataObject>,
}

/// A merchant-presented payload, typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MerchantPayload {
    pub initiation: Option<Initiation>,
    /// At least one, each ID at most once.
    pub accounts: Vec<MerchantAccount>,
    /// ID 52: ISO 18245 merchant category code, four digits.
    pub mcc: String,
    /// ID 53 (and the exponent the amount is read with).
    pub currency: Currency,
    /// ID 54, absent in a static code.
    pub amount: Option<Amount>,
    pub tip: Option<Tip>,
    /// ID 58: ISO 3166-1 alpha-2.
    pub country: String,
    /// ID 59, at most 25 characters.
    pub merchant_name: String,
    /// ID 60, at most 15 characters.
    pub merchant_city: String,
    /// ID 61, at most 10 characters.
    pub postal_code: Option<String>,
    pub additional: Option<AdditionalData>,
    pub language: Option<LanguageTemplate>,
    /// IDs 65–79 (reserved for EMVCo) and 80–99 (unreserved templates).
    pub other: Vec<DataObject>,
}

/// What the merchant's configuration says, the same for every code it shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MerchantProfile {
    pub name: String,
    pub city: String,
    pub country: String,
    pub mcc: String,
    pub postal_code: Option<String>,
    pub accounts: Vec<MerchantAccount>,
    pub language: Option<LanguageTemplate>,
}

/// One payment to show a dynamic code for: what the acquirer's order
/// creation will hand the terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRequest {
    pub amount: Amount,
    pub bill_number: Option<String>,
    /// The acquirer's order ID, which the wallet echoes back.
    pub reference_label: Option<String>,
    pub terminal_label: Option<String>,
}

/// A parsed payload: the typed view, every object as it appeared (for
/// display), the CRC, and notes on tolerated deviations from the
/// specification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedMpm {
    pub payload: MerchantPayload,
    pub objects: Vec<DataObject>,
    pub crc: u16,
    pub notes: Vec<String>,
}

impl MerchantPayload {
    /// A static code: no amount, the customer keys it in the wallet.
    pub fn static_code(profile: &MerchantProfile, currency: Currency) -> MerchantPayload {
        MerchantPayload {
            initiation: Some(Initiation::Static),
            accounts: profile.accounts.clone(),
            mcc: profile.mcc.clone(),
            currency,
            amount: None,
            tip: None,
            country: profile.country.clone(),
            merchant_name: profile.name.clone(),
            merchant_city: profile.city.clone(),
            postal_code: profile.postal_code.clone(),
            additional: None,
            language: profile.language.clone(),
            other: Vec::new(),
        }
    }

    /// A dynamic code for one payment.
    pub fn for_payment(profile: &MerchantProfile, request: &PaymentRequest) -> MerchantPayload {
        let additional = AdditionalData {
            bill_number: request.bill_number.clone(),
            reference_label: request.reference_label.clone(),
            terminal_label: request.terminal_label.clone(),
            ..AdditionalData::default()
        };
        MerchantPayload {
            initiation: Some(Initiation::Dynamic),
            amount: Some(request.amount),
            additional: (!additional.is_empty()).then_some(additional),
            ..MerchantPayload::static_code(profile, request.amount.currency)
        }
    }

    /// The payload string, CRC included. It is parsed back before it is
    /// returned, so anything the parser would refuse is refused here, with
    /// the same reason.
    pub fn encode(&self) -> Result<String, MpmError> {
        if let Some(a) = &self.amount {
            if a.currency != self.currency {
                return Err(invalid(
                    "54",
                    format!(
                        "amount in {} but the code's currency is {}",
                        a.currency, self.currency
                    ),
                ));
            }
        }
        let mut out = String::new();
        for object in self.objects() {
            check_lengths(&object, "")?;
            out.push_str(&object.encode());
        }
        out.push_str("6304");
        let crc = crc16_ccitt_false(out.as_bytes());
        out.push_str(&format!("{crc:04X}"));
        let parsed = parse(&out)?;
        if parsed.payload != *self {
            // A value that encodes to something else (e.g. a sub-template
            // hidden in a scheme string) would show the customer a different
            // payment than the one asked for.
            return Err(invalid("", "the payload does not read back as built"));
        }
        Ok(out)
    }

    fn objects(&self) -> Vec<DataObject> {
        let mut v = vec![DataObject::primitive(0, PAYLOAD_FORMAT)];
        match self.initiation {
            Some(Initiation::Static) => v.push(DataObject::primitive(1, "11")),
            Some(Initiation::Dynamic) => v.push(DataObject::primitive(1, "12")),
            None => {}
        }
        for a in self.accounts.iter().cloned() {
            v.push(match a {
                MerchantAccount::Scheme { id, value } => DataObject::primitive(id, value),
                MerchantAccount::Template { id, gui, fields } => {
                    let mut children = vec![DataObject::primitive(0, gui)];
                    children.extend(fields);
                    DataObject::template(id, children)
                }
            });
        }
        v.push(DataObject::primitive(52, self.mcc.clone()));
        v.push(DataObject::primitive(
            53,
            format!("{:03}", self.currency.numeric),
        ));
        if let Some(a) = &self.amount {
            v.push(DataObject::primitive(54, format_amount(*a)));
        }
        match &self.tip {
            None => {}
            Some(Tip::Prompt) => v.push(DataObject::primitive(55, "01")),
            Some(Tip::FixedFee(fee)) => {
                v.push(DataObject::primitive(55, "02"));
                v.push(DataObject::primitive(56, format_amount(*fee)));
            }
            Some(Tip::Percentage(p)) => {
                v.push(DataObject::primitive(55, "03"));
                v.push(DataObject::primitive(57, p.clone()));
            }
        }
        v.push(DataObject::primitive(58, self.country.clone()));
        v.push(DataObject::primitive(59, self.merchant_name.clone()));
        v.push(DataObject::primitive(60, self.merchant_city.clone()));
        if let Some(p) = &self.postal_code {
            v.push(DataObject::primitive(61, p.clone()));
        }
        if let Some(ad) = &self.additional {
            let mut c = Vec::new();
            let named = [
                (1, &ad.bill_number),
                (2, &ad.mobile_number),
                (3, &ad.store_label),
                (4, &ad.loyalty_number),
                (5, &ad.reference_label),
                (6, &ad.customer_label),
                (7, &ad.terminal_label),
                (8, &ad.purpose),
                (9, &ad.consumer_data_request),
            ];
            for (id, value) in named {
                if let Some(value) = value {
                    c.push(DataObject::primitive(id, value.clone()));
                }
            }
            c.extend(ad.other.iter().cloned());
            v.push(DataObject::template(62, c));
        }
        if let Some(l) = &self.language {
            let mut c = vec![
                DataObject::primitive(0, l.language.clone()),
                DataObject::primitive(1, l.name.clone()),
            ];
            if let Some(city) = &l.city {
                c.push(DataObject::primitive(2, city.clone()));
            }
            c.extend(l.other.iter().cloned());
            v.push(DataObject::template(64, c));
        }
        for o in &self.other {
            if o.children.is_empty() {
                v.push(o.clone());
            } else {
                v.push(DataObject::template(o.id, o.children.clone()));
            }
        }
        v
    }
}

/// A value's length has two digits: 1 to 99 characters, at every depth.
fn check_lengths(o: &DataObject, parent: &str) -> Result<(), MpmError> {
    let path = path_of(parent, o.id);
    // Children first: the innermost object is the one to fix.
    for c in &o.children {
        check_lengths(c, &path)?;
    }
    let n = o.value.chars().count();
    if n == 0 {
        return Err(MpmError::ZeroLength { path });
    }
    if n > 99 {
        return Err(invalid(
            path,
            format!("value has {n} characters, at most 99 fit"),
        ));
    }
    for c in &o.children {
        check_lengths(c, &path)?;
    }
    Ok(())
}

/// "23.72" for 2372 minor units of a two-decimal currency, "1500" for yen:
/// integer arithmetic only.
pub fn format_amount(amount: Amount) -> String {
    kernel::money::decimal(u128::from(amount.minor), amount.currency.exponent)
}

/// Reads an amount (ID 54 or 56) into minor units of `currency`: digits with
/// at most one '.', and no more decimals than the currency has.
pub fn parse_amount(path: &str, text: &str, currency: Currency) -> Result<Amount, MpmError> {
    if text.chars().count() > 13 {
        return Err(invalid(path, "an amount has at most 13 characters"));
    }
    let (major, minor) = match text.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (text, None),
    };
    let digits_only = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits_only(major) || !minor.is_none_or(digits_only) {
        return Err(invalid(
            path,
            format!("{text:?} is not an amount (digits with an optional '.' and decimals)"),
        ));
    }
    let exp = usize::from(currency.exponent);
    let decimals = minor.unwrap_or("");
    if decimals.len() > exp {
        return Err(invalid(
            path,
            format!(
                "{text:?} has more decimals than {} has ({exp})",
                currency.alpha
            ),
        ));
    }
    let padded = format!("{major}{decimals:0<exp$}");
    let minor_units: u64 = padded
        .parse()
        .map_err(|_| invalid(path, format!("{text:?} is too large")))?;
    Amount::new(minor_units, currency).map_err(|e| invalid(path, e.to_string()))
}

/// Parses and checks a merchant-presented payload. The CRC's hex digits are
/// accepted in either case (we write upper case).
pub fn parse(text: &str) -> Result<ParsedMpm, MpmError> {
    if text.is_empty() {
        return Err(MpmError::Empty);
    }
    let chars = text.chars().count();
    if chars > MAX_PAYLOAD_CHARS {
        return Err(MpmError::TooLong(chars));
    }
    let raw = split(text, "")?;
    match raw.first() {
        Some((0, _)) => {}
        Some((id, _)) => return Err(MpmError::FormatIndicatorNotFirst(*id)),
        None => return Err(MpmError::Empty),
    }
    if let Some(pos) = raw.iter().position(|(id, _)| *id == 63) {
        if let Some((next, _)) = raw.get(pos.saturating_add(1)) {
            return Err(MpmError::CrcNotLast(*next));
        }
    }
    check_duplicates(&raw, "")?;
    let crc = check_crc(text, &raw)?;

    let mut notes = Vec::new();
    let mut objects = Vec::with_capacity(raw.len());
    for (id, value) in &raw {
        objects.push(interpret(*id, value, &mut notes)?);
    }
    let payload = build_payload(&objects, &mut notes)?;
    Ok(ParsedMpm {
        payload,
        objects,
        crc,
        notes,
    })
}

/// "62.50.00": the IDs from the top level down, `parent` being "" at the top.
fn path_of(parent: &str, id: u8) -> String {
    if parent.is_empty() {
        format!("{id:02}")
    } else {
        format!("{parent}.{id:02}")
    }
}

fn where_of(parent: &str) -> String {
    if parent.is_empty() {
        "the payload".to_string()
    } else {
        format!("template {parent}")
    }
}

/// Splits `s` into (ID, value) pairs, lengths counted in characters.
fn split<'a>(s: &'a str, parent: &str) -> Result<Vec<(u8, &'a str)>, MpmError> {
    let mut rest = s;
    let mut out = Vec::new();
    while !rest.is_empty() {
        let (id_text, r) = take_chars(rest, 2).ok_or_else(|| MpmError::Truncated {
            where_: where_of(parent),
            what: "two-digit ID",
        })?;
        let id = two_digits(id_text).ok_or_else(|| MpmError::NotTwoDigits {
            where_: where_of(parent),
            what: "ID",
            found: id_text.to_string(),
        })?;
        let path = path_of(parent, id);
        let (len_text, r) = take_chars(r, 2).ok_or_else(|| MpmError::Truncated {
            where_: format!("ID {path}"),
            what: "two-digit length",
        })?;
        let len = two_digits(len_text).ok_or_else(|| MpmError::NotTwoDigits {
            where_: format!("ID {path}"),
            what: "length",
            found: len_text.to_string(),
        })?;
        if len == 0 {
            return Err(MpmError::ZeroLength { path });
        }
        let (value, r) =
            take_chars(r, usize::from(len)).ok_or_else(|| MpmError::ValueTruncated {
                path,
                claimed: usize::from(len),
                available: r.chars().count(),
            })?;
        out.push((id, value));
        rest = r;
    }
    Ok(out)
}

/// The first `n` characters and the rest, or None when there are fewer.
fn take_chars(s: &str, n: usize) -> Option<(&str, &str)> {
    let end = match s.char_indices().nth(n) {
        Some((i, _)) => i,
        None if s.chars().count() == n => s.len(),
        None => return None,
    };
    Some((s.get(..end)?, s.get(end..)?))
}

fn two_digits(s: &str) -> Option<u8> {
    if s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

fn check_duplicates(raw: &[(u8, &str)], parent: &str) -> Result<(), MpmError> {
    let mut seen = [false; 100];
    for (id, _) in raw {
        match seen.get_mut(usize::from(*id)) {
            Some(s) if *s => {
                return Err(MpmError::Duplicate {
                    path: path_of(parent, *id),
                })
            }
            Some(s) => *s = true,
            None => {}
        }
    }
    Ok(())
}

fn check_crc(text: &str, raw: &[(u8, &str)]) -> Result<u16, MpmError> {
    let stated = match raw.last() {
        Some((63, v)) => *v,
        _ => {
            return Err(MpmError::Missing {
                path: "63".into(),
                name: "CRC",
            })
        }
    };
    if stated.len() != 4 || !stated.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(invalid(
            "63",
            format!("the CRC must be four hexadecimal digits, found {stated:?}"),
        ));
    }
    // The CRC covers everything before its own four digits, "6304" included.
    let covered = text
        .get(..text.len().saturating_sub(4))
        .ok_or_else(|| invalid("63", "CRC not at the end"))?;
    let computed = crc16_ccitt_false(covered.as_bytes());
    let value = u16::from_str_radix(stated, 16)
        .map_err(|_| invalid("63", format!("{stated:?} is not hexadecimal")))?;
    if value != computed {
        return Err(MpmError::CrcMismatch {
            stated: stated.to_string(),
            computed,
        });
    }
    Ok(computed)
}

/// Printable ASCII: EMVCo's "ans" outside the language template.
fn is_ans(s: &str) -> bool {
    s.bytes().all(|b| (0x20..=0x7E).contains(&b))
}

fn check_ans(path: &str, value: &str, max: usize) -> Result<(), MpmError> {
    if !is_ans(value) {
        return Err(invalid(
            path,
            "only printable ASCII is allowed here (non-ASCII text belongs in template 64)",
        ));
    }
    check_len(path, value, max)
}

fn check_len(path: &str, value: &str, max: usize) -> Result<(), MpmError> {
    let n = value.chars().count();
    if n > max {
        return Err(invalid(
            path,
            format!("at most {max} characters, found {n}"),
        ));
    }
    Ok(())
}

fn check_digits(path: &str, value: &str, len: usize) -> Result<(), MpmError> {
    if value.len() != len || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(
            path,
            format!("must be exactly {len} digits, found {value:?}"),
        ));
    }
    Ok(())
}

/// Checks one top-level object's value rules and parses templates.
fn interpret(id: u8, value: &str, notes: &mut Vec<String>) -> Result<DataObject, MpmError> {
    let path = path_of("", id);
    let p = path.as_str();
    let mut children = Vec::new();
    match id {
        0 => {
            if value != PAYLOAD_FORMAT {
                return Err(invalid(
                    p,
                    format!("payload format indicator must be \"01\", found {value:?}"),
                ));
            }
        }
        1 => {
            if value != "11" && value != "12" {
                return Err(invalid(
                    p,
                    format!("point of initiation must be \"11\" (static) or \"12\" (dynamic), found {value:?}"),
                ));
            }
        }
        2..=25 => check_ans(p, value, 99)?,
        26..=51 | 80..=99 => children = template_with_gui(p, value)?,
        52 => check_digits(p, value, 4)?,
        53 => check_digits(p, value, 3)?,
        54 | 56 => check_ans(p, value, 13)?,
        55 => {
            if !matches!(value, "01" | "02" | "03") {
                return Err(invalid(
                    p,
                    format!("tip indicator must be 01, 02 or 03, found {value:?}"),
                ));
            }
        }
        57 => {
            check_ans(p, value, 5)?;
            let ok = value.split_once('.').map_or_else(
                || value.bytes().all(|b| b.is_ascii_digit()),
                |(a, b)| {
                    !a.is_empty()
                        && !b.is_empty()
                        && a.bytes().chain(b.bytes()).all(|c| c.is_ascii_digit())
                },
            );
            if !ok {
                return Err(invalid(p, format!("{value:?} is not a percentage")));
            }
        }
        58 => {
            if value.len() != 2 || !value.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(invalid(
                    p,
                    format!(
                        "country must be ISO 3166-1 alpha-2 (two capital letters), found {value:?}"
                    ),
                ));
            }
        }
        59 => check_ans(p, value, 25)?,
        60 => check_ans(p, value, 15)?,
        61 => check_ans(p, value, 10)?,
        62 => children = additional_data(value, notes)?,
        63 => {}
        64 => children = language_template(value)?,
        _ => check_ans(p, value, 99)?, // 65–79, reserved for EMVCo: kept as they are
    }
    Ok(DataObject {
        id,
        value: value.to_string(),
        children,
    })
}

fn sub_objects(parent: &str, value: &str) -> Result<Vec<DataObject>, MpmError> {
    let raw = split(value, parent)?;
    check_duplicates(&raw, parent)?;
    Ok(raw
        .into_iter()
        .map(|(id, v)| DataObject::primitive(id, v))
        .collect())
}

/// Templates 26–51 and 80–99 (and 50–99 inside 62): sub-ID 00, the globally
/// unique identifier, is mandatory.
fn template_with_gui(parent: &str, value: &str) -> Result<Vec<DataObject>, MpmError> {
    let children = sub_objects(parent, value)?;
    let mut has_gui = false;
    for c in &children {
        let path = path_of(parent, c.id);
        check_ans(&path, &c.value, if c.id == 0 { 32 } else { 99 })?;
        has_gui |= c.id == 0;
    }
    if !has_gui {
        return Err(MpmError::Missing {
            path: path_of(parent, 0),
            name: "globally unique identifier",
        });
    }
    Ok(children)
}

fn additional_data(value: &str, notes: &mut Vec<String>) -> Result<Vec<DataObject>, MpmError> {
    let mut children = sub_objects("62", value)?;
    for c in &mut children {
        let path = path_of("62", c.id);
        match c.id {
            0 => {
                return Err(invalid(
                    path,
                    "sub-ID 00 is not defined in the additional data template",
                ))
            }
            1..=8 => check_ans(&path, &c.value, 25)?,
            9 => {
                check_ans(&path, &c.value, 25)?;
                let flags_ok =
                    c.value.len() <= 3 && c.value.bytes().all(|b| matches!(b, b'A' | b'M' | b'E'));
                if !flags_ok {
                    // Published examples carry free text here; it asks the
                    // wallet for nothing we act on, so it is shown, not refused.
                    notes.push(format!(
                        "ID {path}: additional consumer data request should be up to three of A, M, E; found {:?}",
                        c.value
                    ));
                }
            }
            10..=49 => check_ans(&path, &c.value, 99)?,
            _ => {
                let grandchildren = template_with_gui(&path, &c.value)?;
                c.children = grandchildren;
            }
        }
    }
    Ok(children)
}

fn language_template(value: &str) -> Result<Vec<DataObject>, MpmError> {
    let children = sub_objects("64", value)?;
    for c in &children {
        let path = path_of("64", c.id);
        if c.value.chars().any(char::is_control) {
            return Err(invalid(&path, "control characters are not allowed"));
        }
        match c.id {
            0 if c.value.len() != 2 || !c.value.bytes().all(|b| b.is_ascii_alphabetic()) => {
                return Err(invalid(
                    &path,
                    format!(
                        "language must be an ISO 639 two-letter code, found {:?}",
                        c.value
                    ),
                ));
            }
            1 => check_len(&path, &c.value, 25)?,
            2 => check_len(&path, &c.value, 15)?,
            _ => {}
        }
    }
    for (id, name) in [
        (0, "language preference"),
        (1, "merchant name, alternate language"),
    ] {
        if !children.iter().any(|c| c.id == id) {
            return Err(MpmError::Missing {
                path: path_of("64", id),
                name,
            });
        }
    }
    Ok(children)
}

fn get(objects: &[DataObject], id: u8) -> Option<&DataObject> {
    objects.iter().find(|o| o.id == id)
}

fn mandatory<'a>(
    objects: &'a [DataObject],
    id: u8,
    name: &'static str,
) -> Result<&'a str, MpmError> {
    get(objects, id)
        .map(|o| o.value.as_str())
        .ok_or(MpmError::Missing {
            path: format!("{id:02}"),
            name,
        })
}

fn child(o: &DataObject, id: u8) -> Option<String> {
    get(&o.children, id).map(|c| c.value.clone())
}

fn build_payload(
    objects: &[DataObject],
    notes: &mut Vec<String>,
) -> Result<MerchantPayload, MpmError> {
    let mcc = mandatory(objects, 52, "merchant category code")?.to_string();
    let currency_text = mandatory(objects, 53, "transaction currency")?;
    let country = mandatory(objects, 58, "country code")?.to_string();
    let merchant_name = mandatory(objects, 59, "merchant name")?.to_string();
    let merchant_city = mandatory(objects, 60, "merchant city")?.to_string();

    let numeric: u16 = currency_text
        .parse()
        .map_err(|_| invalid("53", "not a number"))?;
    let currency = Currency::from_numeric(numeric).map_err(|_| {
        invalid(
            "53",
            format!("currency {numeric:03} is not in the terminal's ISO 4217 table"),
        )
    })?;

    let accounts: Vec<MerchantAccount> = objects
        .iter()
        .filter(|o| (2..=51).contains(&o.id))
        .map(|o| {
            if o.id <= 25 {
                MerchantAccount::Scheme {
                    id: o.id,
                    value: o.value.clone(),
                }
            } else {
                MerchantAccount::Template {
                    id: o.id,
                    gui: child(o, 0).unwrap_or_default(),
                    fields: o.children.iter().filter(|c| c.id != 0).cloned().collect(),
                }
            }
        })
        .collect();
    if accounts.is_empty() {
        return Err(MpmError::NoMerchantAccount);
    }

    let initiation = get(objects, 1).map(|o| {
        if o.value == "12" {
            Initiation::Dynamic
        } else {
            Initiation::Static
        }
    });
    let amount = get(objects, 54)
        .map(|o| parse_amount("54", &o.value, currency))
        .transpose()?;
    if initiation == Some(Initiation::Dynamic) && amount.is_none() {
        notes
            .push("ID 01 says dynamic but there is no amount (ID 54): the customer keys it".into());
    }
    let tip = match get(objects, 55).map(|o| o.value.as_str()) {
        None => None,
        Some("01") => Some(Tip::Prompt),
        Some("02") => {
            let fee = get(objects, 56).ok_or(MpmError::Missing {
                path: "56".into(),
                name: "convenience fee (tip indicator 02)",
            })?;
            Some(Tip::FixedFee(parse_amount("56", &fee.value, currency)?))
        }
        Some(_) => {
            let pct = get(objects, 57).ok_or(MpmError::Missing {
                path: "57".into(),
                name: "convenience fee percentage (tip indicator 03)",
            })?;
            Some(Tip::Percentage(pct.value.clone()))
        }
    };
    let stray_fee = match &tip {
        Some(Tip::FixedFee(_)) => get(objects, 57).is_some(),
        Some(Tip::Percentage(_)) => get(objects, 56).is_some(),
        _ => get(objects, 56).is_some() || get(objects, 57).is_some(),
    };
    if stray_fee {
        notes.push(
            "IDs 56/57 present without the tip indicator (55) that uses them: ignored".into(),
        );
    }

    let additional = get(objects, 62).map(|o| AdditionalData {
        bill_number: child(o, 1),
        mobile_number: child(o, 2),
        store_label: child(o, 3),
        loyalty_number: child(o, 4),
        reference_label: child(o, 5),
        customer_label: child(o, 6),
        terminal_label: child(o, 7),
        purpose: child(o, 8),
        consumer_data_request: child(o, 9),
        other: o.children.iter().filter(|c| c.id >= 10).cloned().collect(),
    });
    let language = get(objects, 64).map(|o| LanguageTemplate {
        language: child(o, 0).unwrap_or_default(),
        name: child(o, 1).unwrap_or_default(),
        city: child(o, 2),
        other: o.children.iter().filter(|c| c.id >= 3).cloned().collect(),
    });
    let other = objects.iter().filter(|o| o.id >= 65).cloned().collect();

    Ok(MerchantPayload {
        initiation,
        accounts,
        mcc,
        currency,
        amount,
        tip,
        country,
        merchant_name,
        merchant_city,
        postal_code: get(objects, 61).map(|o| o.value.clone()),
        additional,
        language,
        other,
    })
}

/// The specification's name for an ID (in a template when `parent` is set).
pub fn field_name(parent: Option<u8>, id: u8) -> &'static str {
    match (parent, id) {
        (None, 0) => "Payload Format Indicator",
        (None, 1) => "Point of Initiation Method",
        (None, 2..=3) => "Merchant Account Information (Visa)",
        (None, 4..=5) => "Merchant Account Information (Mastercard)",
        (None, 6..=8) => "Merchant Account Information (EMVCo)",
        (None, 9..=10) => "Merchant Account Information (Discover)",
        (None, 11..=12) => "Merchant Account Information (Amex)",
        (None, 13..=14) => "Merchant Account Information (JCB)",
        (None, 15..=16) => "Merchant Account Information (UnionPay)",
        (None, 17..=25) => "Merchant Account Information (EMVCo)",
        (None, 26..=51) => "Merchant Account Information (template)",
        (None, 52) => "Merchant Category Code",
        (None, 53) => "Transaction Currency",
        (None, 54) => "Transaction Amount",
        (None, 55) => "Tip or Convenience Indicator",
        (None, 56) => "Value of Convenience Fee Fixed",
        (None, 57) => "Value of Convenience Fee Percentage",
        (None, 58) => "Country Code",
        (None, 59) => "Merchant Name",
        (None, 60) => "Merchant City",
        (None, 61) => "Postal Code",
        (None, 62) => "Additional Data Field Template",
        (None, 63) => "CRC",
        (None, 64) => "Merchant Information - Language Template",
        (None, 65..=79) => "RFU for EMVCo",
        (None, _) => "Unreserved Template",
        (Some(62), 1) => "Bill Number",
        (Some(62), 2) => "Mobile Number",
        (Some(62), 3) => "Store Label",
        (Some(62), 4) => "Loyalty Number",
        (Some(62), 5) => "Reference Label",
        (Some(62), 6) => "Customer Label",
        (Some(62), 7) => "Terminal Label",
        (Some(62), 8) => "Purpose of Transaction",
        (Some(62), 9) => "Additional Consumer Data Request",
        (Some(62), 10..=49) => "RFU for EMVCo",
        (Some(62), _) => "Payment System Specific Template",
        (Some(64), 0) => "Language Preference",
        (Some(64), 1) => "Merchant Name - Alternate Language",
        (Some(64), 2) => "Merchant City - Alternate Language",
        (Some(64), _) => "RFU for EMVCo",
        (Some(_), 0) => "Globally Unique Identifier",
        (Some(_), _) => "Payment network specific",
    }
}

impl fmt::Display for ParsedMpm {
    /// Every object, one a line, with its specification name.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "EMVCo merchant-presented payload (CRC {:04X} verified)",
            self.crc
        )?;
        for o in &self.objects {
            write_object(f, None, o, 1)?;
        }
        let p = &self.payload;
        if let Some(a) = &p.amount {
            writeln!(f, "amount: {a}")?;
        } else {
            writeln!(f, "amount: none (the customer keys it)")?;
        }
        for n in &self.notes {
            writeln!(f, "note: {n}")?;
        }
        Ok(())
    }
}

fn write_object(
    f: &mut fmt::Formatter<'_>,
    parent: Option<u8>,
    o: &DataObject,
    depth: usize,
) -> fmt::Result {
    let indent = "  ".repeat(depth);
    let name = field_name(parent, o.id);
    if o.children.is_empty() {
        let shown = match (parent, o.id) {
            (None, 53) => o
                .value
                .parse::<u16>()
                .ok()
                .and_then(|n| Currency::from_numeric(n).ok())
                .map_or_else(|| o.value.clone(), |c| format!("{} ({})", o.value, c.alpha)),
            (None, 1) if o.value == "11" => "11 (static)".into(),
            (None, 1) if o.value == "12" => "12 (dynamic)".into(),
            _ => o.value.clone(),
        };
        writeln!(f, "{indent}{:02} {name}: {shown}", o.id)
    } else {
        writeln!(f, "{indent}{:02} {name}:", o.id)?;
        for c in &o.children {
            write_object(f, Some(o.id), c, depth.saturating_add(1))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cny() -> Currency {
        Currency::parse("CNY").unwrap()
    }

    #[test]
    fn amounts_are_integer_minor_units() {
        let a = Amount::new(2372, cny()).unwrap();
        assert_eq!(format_amount(a), "23.72");
        assert_eq!(format_amount(Amount::new(5, cny()).unwrap()), "0.05");
        assert_eq!(format_amount(Amount::new(0, cny()).unwrap()), "0.00");
        let jpy = Currency::parse("JPY").unwrap();
        assert_eq!(format_amount(Amount::new(1500, jpy).unwrap()), "1500");
        let kwd = Currency::parse("KWD").unwrap();
        assert_eq!(format_amount(Amount::new(1005, kwd).unwrap()), "1.005");

        assert_eq!(parse_amount("54", "23.72", cny()).unwrap().minor, 2372);
        assert_eq!(parse_amount("54", "23.7", cny()).unwrap().minor, 2370);
        assert_eq!(parse_amount("54", "10", cny()).unwrap().minor, 1000);
        assert_eq!(parse_amount("54", "1500", jpy).unwrap().minor, 1500);
        for bad in [
            "23.725",
            "",
            ".5",
            "5.",
            "1.2.3",
            "-1",
            "1e3",
            "12345678901234",
            "1,00",
        ] {
            assert!(parse_amount("54", bad, cny()).is_err(), "{bad}");
        }
        assert!(parse_amount("54", "15.0", jpy).is_err());
    }

    #[test]
    fn take_chars_counts_characters() {
        assert_eq!(take_chars("北京ab", 2), Some(("北京", "ab")));
        assert_eq!(take_chars("ab", 2), Some(("ab", "")));
        assert_eq!(take_chars("a", 2), None);
    }
}
