//! The EMV tag dictionary: names, formats and length rules, used to decode
//! traces for people and to pad or truncate DOL entries by format.

use crate::tlv::Tag;

/// EMV Book 3 data element formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Numeric, BCD, right-justified, padded with leading zeros.
    N,
    /// Compressed numeric, BCD, left-justified, padded with trailing `F`.
    Cn,
    /// Alphanumeric.
    An,
    /// Alphanumeric special (printable ASCII).
    Ans,
    /// Binary.
    B,
    /// A template of other data objects.
    Template,
}

/// What the dictionary knows of one tag.
#[derive(Debug, Clone, Copy)]
pub struct TagInfo {
    pub tag: Tag,
    pub name: &'static str,
    pub format: Format,
    /// Allowed value length in bytes, inclusive.
    pub min_len: u16,
    pub max_len: u16,
}

macro_rules! dict {
    ($( $tag:literal, $name:literal, $fmt:ident, $min:literal, $max:literal; )*) => {
        const DICTIONARY: &[TagInfo] = &[
            $( TagInfo { tag: Tag::from_u32_unchecked($tag), name: $name, format: Format::$fmt, min_len: $min, max_len: $max }, )*
        ];
    };
}

dict! {
    0x42, "Issuer Identification Number", N, 3, 4;
    0x4F, "Application Identifier (ADF Name)", B, 5, 16;
    0x50, "Application Label", Ans, 1, 16;
    0x56, "Track 1 Data", Ans, 0, 76;
    0x57, "Track 2 Equivalent Data", B, 0, 19;
    0x5A, "Application PAN", Cn, 0, 10;
    0x61, "Application Template", Template, 0, 252;
    0x6F, "File Control Information Template", Template, 0, 252;
    0x70, "READ RECORD Response Message Template", Template, 0, 65535;
    0x71, "Issuer Script Template 1", Template, 0, 255;
    0x72, "Issuer Script Template 2", Template, 0, 255;
    0x77, "Response Message Template Format 2", Template, 0, 65535;
    0x80, "Response Message Template Format 1", B, 0, 65535;
    0x82, "Application Interchange Profile", B, 2, 2;
    0x84, "Dedicated File Name", B, 5, 16;
    0x87, "Application Priority Indicator", B, 1, 1;
    0x88, "Short File Identifier", B, 1, 1;
    0x89, "Authorisation Code", Ans, 6, 6;
    0x8A, "Authorisation Response Code", An, 2, 2;
    0x8C, "CDOL1", B, 0, 252;
    0x8D, "CDOL2", B, 0, 252;
    0x8E, "CVM List", B, 10, 252;
    0x8F, "CA Public Key Index", B, 1, 1;
    0x90, "Issuer Public Key Certificate", B, 0, 248;
    0x91, "Issuer Authentication Data", B, 8, 16;
    0x92, "Issuer Public Key Remainder", B, 0, 248;
    0x93, "Signed Static Application Data", B, 0, 248;
    0x94, "Application File Locator", B, 0, 252;
    0x95, "Terminal Verification Results", B, 5, 5;
    0x9A, "Transaction Date", N, 3, 3;
    0x9B, "Transaction Status Information", B, 2, 2;
    0x9C, "Transaction Type", N, 1, 1;
    0x9D, "DDF Name", B, 5, 16;
    0xA5, "FCI Proprietary Template", Template, 0, 252;
    0x5F20, "Cardholder Name", Ans, 2, 26;
    0x5F24, "Application Expiration Date", N, 3, 3;
    0x5F25, "Application Effective Date", N, 3, 3;
    0x5F28, "Issuer Country Code", N, 2, 2;
    0x5F2A, "Transaction Currency Code", N, 2, 2;
    0x5F2D, "Language Preference", An, 2, 8;
    0x5F30, "Service Code", N, 2, 2;
    0x5F34, "PAN Sequence Number", N, 1, 1;
    0x5F36, "Transaction Currency Exponent", N, 1, 1;
    0x5F50, "Issuer URL", Ans, 0, 255;
    0x9F01, "Acquirer Identifier", N, 6, 6;
    0x9F02, "Amount, Authorised (Numeric)", N, 6, 6;
    0x9F03, "Amount, Other (Numeric)", N, 6, 6;
    0x9F06, "Application Identifier (Terminal)", B, 5, 16;
    0x9F07, "Application Usage Control", B, 2, 2;
    0x9F08, "Application Version Number (Card)", B, 2, 2;
    0x9F09, "Application Version Number (Terminal)", B, 2, 2;
    0x9F0B, "Cardholder Name Extended", Ans, 27, 45;
    0x9F0D, "Issuer Action Code - Default", B, 5, 5;
    0x9F0E, "Issuer Action Code - Denial", B, 5, 5;
    0x9F0F, "Issuer Action Code - Online", B, 5, 5;
    0x9F10, "Issuer Application Data", B, 0, 32;
    0x9F11, "Issuer Code Table Index", N, 1, 1;
    0x9F12, "Application Preferred Name", Ans, 1, 16;
    0x9F15, "Merchant Category Code", N, 2, 2;
    0x9F16, "Merchant Identifier", Ans, 15, 15;
    0x9F17, "PIN Try Counter", B, 1, 1;
    0x9F1A, "Terminal Country Code", N, 2, 2;
    0x9F1C, "Terminal Identification", An, 8, 8;
    0x9F1E, "Interface Device Serial Number", An, 8, 8;
    0x9F1F, "Track 1 Discretionary Data", Ans, 0, 54;
    0x9F21, "Transaction Time", N, 3, 3;
    0x9F24, "Payment Account Reference", An, 29, 29;
    0x9F26, "Application Cryptogram", B, 8, 8;
    0x9F27, "Cryptogram Information Data", B, 1, 1;
    0x9F29, "Extended Selection", B, 0, 11;
    0x9F2A, "Kernel Identifier", B, 1, 8;
    0x9F32, "Issuer Public Key Exponent", B, 1, 3;
    0x9F33, "Terminal Capabilities", B, 3, 3;
    0x9F34, "CVM Results", B, 3, 3;
    0x9F35, "Terminal Type", N, 1, 1;
    0x9F36, "Application Transaction Counter", B, 2, 2;
    0x9F37, "Unpredictable Number", B, 4, 4;
    0x9F38, "PDOL", B, 0, 252;
    0x9F39, "POS Entry Mode", N, 1, 1;
    0x9F40, "Additional Terminal Capabilities", B, 5, 5;
    0x9F41, "Transaction Sequence Counter", N, 2, 4;
    0x9F42, "Application Currency Code", N, 2, 2;
    0x9F44, "Application Currency Exponent", N, 1, 1;
    0x9F45, "Data Authentication Code", B, 2, 2;
    0x9F46, "ICC Public Key Certificate", B, 0, 248;
    0x9F47, "ICC Public Key Exponent", B, 1, 3;
    0x9F48, "ICC Public Key Remainder", B, 0, 248;
    0x9F49, "DDOL", B, 0, 252;
    0x9F4A, "Static Data Authentication Tag List", B, 0, 252;
    0x9F4B, "Signed Dynamic Application Data", B, 0, 248;
    0x9F4C, "ICC Dynamic Number", B, 2, 8;
    0x9F4D, "Log Entry", B, 2, 2;
    0x9F4E, "Merchant Name and Location", Ans, 0, 255;
    0x9F4F, "Log Format", B, 0, 252;
    0x9F53, "Transaction Category Code", An, 1, 1;
    0x9F5A, "Application Program Identifier", B, 1, 32;
    0x9F5D, "Available Offline Spending Amount", N, 6, 6;
    0x9F66, "Terminal Transaction Qualifiers", B, 4, 4;
    0x9F69, "Card Authentication Related Data", B, 5, 16;
    0x9F6C, "Card Transaction Qualifiers", B, 2, 2;
    0x9F6D, "Mag-stripe Application Version Number (Reader)", B, 2, 2;
    0x9F6E, "Form Factor Indicator / Third Party Data", B, 4, 32;
    0x9F7C, "Customer Exclusive Data", B, 0, 32;
    0x9F7F, "Card Production Life Cycle", B, 0, 64;
    0xBF0C, "FCI Issuer Discretionary Data", Template, 0, 222;
    0xDF8117, "Card Data Input Capability", B, 1, 1;
    0xDF8118, "CVM Capability - CVM Required", B, 1, 1;
    0xDF8119, "CVM Capability - No CVM Required", B, 1, 1;
    0xDF811B, "Kernel Configuration", B, 1, 1;
    0xDF811F, "Security Capability", B, 1, 1;
    0xDF8120, "Terminal Action Code - Default", B, 5, 5;
    0xDF8121, "Terminal Action Code - Denial", B, 5, 5;
    0xDF8122, "Terminal Action Code - Online", B, 5, 5;
    0xDF8123, "Reader Contactless Floor Limit", N, 6, 6;
    0xDF8124, "Reader Contactless Transaction Limit (No On-device CVM)", N, 6, 6;
    0xDF8125, "Reader Contactless Transaction Limit (On-device CVM)", N, 6, 6;
    0xDF8126, "Reader CVM Required Limit", N, 6, 6;
    0xDF8129, "Outcome Parameter Set", B, 8, 8;
    0xDF812C, "Mag-stripe CVM Capability - No CVM Required", B, 1, 1;
    0xDF811E, "Mag-stripe CVM Capability - CVM Required", B, 1, 1;
}

/// Looks a tag up. Unknown tags are normal (issuers define their own).
pub fn lookup(tag: Tag) -> Option<&'static TagInfo> {
    DICTIONARY.iter().find(|i| i.tag == tag)
}

/// The tag's name, or "unknown tag".
pub fn name(tag: Tag) -> &'static str {
    lookup(tag).map_or("unknown tag", |i| i.name)
}

/// The tag's format; proprietary tags are treated as binary, as Book 3 says
/// the terminal must when it does not know a tag.
pub fn format(tag: Tag) -> Format {
    lookup(tag).map_or(
        if tag.is_constructed() {
            Format::Template
        } else {
            Format::B
        },
        |i| i.format,
    )
}

/// Renders a value for a person: text for an/ans, digits for n/cn, hex
/// otherwise. Never prints more than the value holds.
pub fn render_value(tag: Tag, value: &[u8]) -> String {
    match format(tag) {
        Format::An | Format::Ans => {
            if value.iter().all(|b| (0x20..0x7F).contains(b)) {
                format!("\"{}\"", String::from_utf8_lossy(value))
            } else {
                hex::encode_upper(value)
            }
        }
        _ => hex::encode_upper(value),
    }
}

/// Card data that identifies the cardholder: PAN, track data, name.
pub fn is_sensitive(tag: Tag) -> bool {
    crate::outcome::SENSITIVE.contains(&tag)
}

/// Well-known tags as constants, so code reads like the specification.
pub mod t {
    use crate::tlv::Tag;
    macro_rules! tags { ($($n:ident = $v:literal),* $(,)?) => { $(pub const $n: Tag = Tag::from_u32_unchecked($v);)* }; }
    tags! {
        AID = 0x4F, LABEL = 0x50, TRACK2 = 0x57, PAN = 0x5A, APP_TEMPLATE = 0x61, FCI = 0x6F,
        RECORD = 0x70, RMT2 = 0x77, RMT1 = 0x80, AIP = 0x82, DF_NAME = 0x84, PRIORITY = 0x87,
        CDOL1 = 0x8C, CDOL2 = 0x8D, CVM_LIST = 0x8E, CA_INDEX = 0x8F, ISSUER_CERT = 0x90,
        ISSUER_REMAINDER = 0x92, SSAD = 0x93, AFL = 0x94, TVR = 0x95, DATE = 0x9A, TSI = 0x9B,
        TX_TYPE = 0x9C, FCI_PROP = 0xA5, CARDHOLDER_NAME = 0x5F20, EXPIRY = 0x5F24,
        EFFECTIVE = 0x5F25, ISSUER_COUNTRY = 0x5F28, CURRENCY = 0x5F2A, PSN = 0x5F34,
        CURRENCY_EXP = 0x5F36, AMOUNT = 0x9F02, AMOUNT_OTHER = 0x9F03, AID_TERMINAL = 0x9F06,
        AUC = 0x9F07, APP_VERSION_TERMINAL = 0x9F09, IAC_DEFAULT = 0x9F0D, IAC_DENIAL = 0x9F0E,
        IAC_ONLINE = 0x9F0F, IAD = 0x9F10, PREFERRED_NAME = 0x9F12, MCC = 0x9F15,
        COUNTRY = 0x9F1A, TERMINAL_ID = 0x9F1C, TIME = 0x9F21, AC = 0x9F26, CID = 0x9F27,
        ISSUER_EXP = 0x9F32, TERMINAL_CAPS = 0x9F33, CVM_RESULTS = 0x9F34, TERMINAL_TYPE = 0x9F35,
        ATC = 0x9F36, UN = 0x9F37, PDOL = 0x9F38, ADDITIONAL_CAPS = 0x9F40, DAC = 0x9F45,
        ICC_CERT = 0x9F46, ICC_EXP = 0x9F47, ICC_REMAINDER = 0x9F48, DDOL = 0x9F49,
        SDA_TAG_LIST = 0x9F4A, SDAD = 0x9F4B, ICC_DYNAMIC_NUMBER = 0x9F4C, TTQ = 0x9F66,
        CARD_AUTH_DATA = 0x9F69, CTQ = 0x9F6C, FFI = 0x9F6E, FCI_ISSUER = 0xBF0C,
        KERNEL_ID = 0x9F2A, EXTENDED_SELECTION = 0x9F29,
        OUTCOME_PARAMETER_SET = 0xDF8129,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dictionary_is_well_formed() {
        for (i, info) in DICTIONARY.iter().enumerate() {
            assert!(
                Tag::new(info.tag.value()).is_ok(),
                "{} is not a valid tag",
                info.tag
            );
            assert!(info.min_len <= info.max_len, "{}", info.tag);
            assert!(
                DICTIONARY.iter().skip(i + 1).all(|o| o.tag != info.tag),
                "{} twice",
                info.tag
            );
        }
    }

    #[test]
    fn formats() {
        assert_eq!(format(t::AMOUNT), Format::N);
        assert_eq!(format(t::PAN), Format::Cn);
        assert_eq!(format(Tag::from_u32_unchecked(0xDF01)), Format::B);
        assert_eq!(name(t::AIP), "Application Interchange Profile");
        assert_eq!(render_value(t::LABEL, b"VISA"), "\"VISA\"");
    }
}
