//! EMVCo Consumer-Presented Mode: the code a customer's wallet shows and the
//! terminal scans. The QR text is base64 of BER-TLV: payload format indicator
//! 85 "CPV01", then one or more application templates 61, then at most one
//! common data template 62. Inside them: 4F (mandatory in each 61), 50, 57,
//! 5A, 5F20, 9F25 ... and the transparent templates 63 (in 61) and 64 (in
//! 62) that carry the cryptogram data for the issuer.
//!
//! The decoded bytes hold a PAN or track 2, so [`CpmCode`] masks them in
//! every view, zeroises them on drop, and hands them out only through
//! [`CpmCode::expose_tlv`], for the authorization request.

use base64::Engine;
use kernel::tags;
use kernel::tlv::{self, Tag, Tlv, TlvError};
use std::fmt;
use zeroize::Zeroize;

/// A QR code holds at most 2953 bytes, so its base64 text is shorter than this.
pub const MAX_BASE64_CHARS: usize = 4096;

/// The only payload format indicator defined so far.
pub const PAYLOAD_FORMAT: &[u8] = b"CPV01";

const PFI: Tag = Tag::from_u32_unchecked(0x85);
const APP_TEMPLATE: Tag = Tag::from_u32_unchecked(0x61);
const COMMON_TEMPLATE: Tag = Tag::from_u32_unchecked(0x62);
const APP_TRANSPARENT: Tag = Tag::from_u32_unchecked(0x63);
const COMMON_TRANSPARENT: Tag = Tag::from_u32_unchecked(0x64);
const AID: Tag = Tag::from_u32_unchecked(0x4F);
const LABEL: Tag = Tag::from_u32_unchecked(0x50);
const TRACK2: Tag = Tag::from_u32_unchecked(0x57);
const PAN: Tag = Tag::from_u32_unchecked(0x5A);
const PAN_LAST4: Tag = Tag::from_u32_unchecked(0x9F25);

/// Why a consumer-presented code was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CpmError {
    #[error("the code is empty")]
    Empty,
    #[error("the code has {0} characters, more than a QR code can hold")]
    TooLong(usize),
    #[error("not base64: {0}")]
    Base64(String),
    #[error("not BER-TLV{}: {source}", at_tag(.within))]
    Tlv {
        within: Option<Tag>,
        source: TlvError,
    },
    #[error("the payload must start with tag 85 (payload format indicator)")]
    FormatIndicatorNotFirst,
    #[error("payload format indicator must be \"CPV01\", found {0}")]
    UnknownFormat(String),
    #[error("tag {tag} appears twice{}", at_tag(.within))]
    Duplicate { tag: Tag, within: Option<Tag> },
    #[error("tag {tag} is not allowed{}", at_tag(.within))]
    NotAllowed { tag: Tag, within: Option<Tag> },
    #[error("no application template (tag 61)")]
    NoApplication,
    #[error("the common data template (62) must follow the application templates")]
    CommonBeforeApplication,
    #[error("application template {index} has no application identifier (tag 4F)")]
    NoAid { index: usize },
    #[error("tag {tag}: {reason}")]
    Invalid { tag: Tag, reason: String },
}

fn at_tag(within: &Option<Tag>) -> String {
    within.map_or_else(String::new, |t| format!(" in template {t}"))
}

/// One data object for display: sensitive values already masked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpmField {
    pub tag: Tag,
    pub name: &'static str,
    pub shown: String,
    /// 0 for a template's own fields, 1 inside its transparent template.
    pub depth: usize,
}

/// An application template (61), as safe to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpmApplication {
    pub aid: Vec<u8>,
    pub label: Option<String>,
    /// The PAN (5A) or track 2's PAN (57), masked, or the last four digits
    /// (9F25) when that is all the wallet shows.
    pub masked_pan: Option<String>,
    pub fields: Vec<CpmField>,
}

/// A parsed consumer-presented code.
pub struct CpmCode {
    tlv: Vec<u8>,
    pub applications: Vec<CpmApplication>,
    /// The common data template (62), masked.
    pub common: Vec<CpmField>,
    /// Masked PAN from the common template, if it carries one.
    pub common_masked_pan: Option<String>,
    /// Tolerated deviations (e.g. a PAN that fails the Luhn check).
    pub notes: Vec<String>,
}

impl CpmCode {
    /// The decoded BER-TLV in clear, PAN included: only for the
    /// authorization request. Named so every use stands out in review.
    pub fn expose_tlv(&self) -> &[u8] {
        &self.tlv
    }
}

impl Drop for CpmCode {
    fn drop(&mut self) {
        self.tlv.zeroize();
    }
}

impl fmt::Debug for CpmCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CpmCode")
            .field("applications", &self.applications)
            .field("common", &self.common)
            .field("notes", &self.notes)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for CpmCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "EMVCo consumer-presented code (CPV01)")?;
        for (i, app) in self.applications.iter().enumerate() {
            writeln!(
                f,
                "  61 Application Template {}: AID {}",
                i.saturating_add(1),
                hex::encode_upper(&app.aid)
            )?;
            write_fields(f, &app.fields)?;
        }
        if !self.common.is_empty() {
            writeln!(f, "  62 Common Data Template")?;
            write_fields(f, &self.common)?;
        }
        for n in &self.notes {
            writeln!(f, "note: {n}")?;
        }
        Ok(())
    }
}

fn write_fields(f: &mut fmt::Formatter<'_>, fields: &[CpmField]) -> fmt::Result {
    for fld in fields {
        let indent = "  ".repeat(fld.depth.saturating_add(2));
        writeln!(f, "{indent}{} {}: {}", fld.tag, fld.name, fld.shown)?;
    }
    Ok(())
}

/// Decodes and checks a consumer-presented code (the QR text, base64).
pub fn parse(text: &str) -> Result<CpmCode, CpmError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(CpmError::Empty);
    }
    if text.len() > MAX_BASE64_CHARS {
        return Err(CpmError::TooLong(text.len()));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| CpmError::Base64(e.to_string()))?;
    parse_tlv(bytes)
}

/// Checks decoded CPM bytes; takes ownership so they are zeroised with the
/// result (or on refusal).
pub fn parse_tlv(mut bytes: Vec<u8>) -> Result<CpmCode, CpmError> {
    let result = check(&bytes);
    match result {
        Ok((applications, common, common_masked_pan, notes)) => Ok(CpmCode {
            tlv: bytes,
            applications,
            common,
            common_masked_pan,
            notes,
        }),
        Err(e) => {
            bytes.zeroize();
            Err(e)
        }
    }
}

type Checked = (
    Vec<CpmApplication>,
    Vec<CpmField>,
    Option<String>,
    Vec<String>,
);

fn check(bytes: &[u8]) -> Result<Checked, CpmError> {
    let top = strict_objects(bytes, None)?;
    let mut iter = top.iter();
    match iter.next() {
        Some(t) if t.tag == PFI => {
            if t.value != PAYLOAD_FORMAT {
                return Err(CpmError::UnknownFormat(tags::render_value(PFI, t.value)));
            }
        }
        _ => return Err(CpmError::FormatIndicatorNotFirst),
    }
    let mut notes = Vec::new();
    let mut applications = Vec::new();
    let mut common = None;
    for t in iter {
        if t.tag == APP_TEMPLATE {
            if common.is_some() {
                return Err(CpmError::CommonBeforeApplication);
            }
            let index = applications.len().saturating_add(1);
            applications.push(application(t, index, &mut notes)?);
        } else if t.tag == COMMON_TEMPLATE {
            if common.is_some() {
                return Err(CpmError::Duplicate {
                    tag: t.tag,
                    within: None,
                });
            }
            common = Some(template_fields(t, COMMON_TRANSPARENT, &mut notes)?);
        } else if t.tag == PFI {
            return Err(CpmError::Duplicate {
                tag: t.tag,
                within: None,
            });
        } else {
            return Err(CpmError::NotAllowed {
                tag: t.tag,
                within: None,
            });
        }
    }
    if applications.is_empty() {
        return Err(CpmError::NoApplication);
    }
    let (common, common_pan) = common.unwrap_or_default();
    Ok((applications, common, common_pan, notes))
}

/// The objects of `bytes`, with no padding between them and no trailing
/// garbage (unlike card records, a QR code has no reason for either).
fn strict_objects(bytes: &[u8], within: Option<Tag>) -> Result<Vec<Tlv<'_>>, CpmError> {
    let mut rest = bytes;
    let mut out: Vec<Tlv<'_>> = Vec::new();
    while !rest.is_empty() {
        let (t, r) = tlv::parse_one(rest).map_err(|source| CpmError::Tlv { within, source })?;
        if out.iter().any(|o| o.tag == t.tag) && t.tag != APP_TEMPLATE {
            return Err(CpmError::Duplicate { tag: t.tag, within });
        }
        out.push(t);
        rest = r;
    }
    Ok(out)
}

fn application(
    t: &Tlv<'_>,
    index: usize,
    notes: &mut Vec<String>,
) -> Result<CpmApplication, CpmError> {
    let children = strict_objects(t.value, Some(APP_TEMPLATE))?;
    let aid = children
        .iter()
        .find(|c| c.tag == AID)
        .ok_or(CpmError::NoAid { index })?;
    if !(5..=16).contains(&aid.value.len()) {
        return Err(CpmError::Invalid {
            tag: AID,
            reason: format!("an AID has 5 to 16 bytes, this has {}", aid.value.len()),
        });
    }
    let label = children
        .iter()
        .find(|c| c.tag == LABEL)
        .map(|c| String::from_utf8_lossy(c.value).into_owned());
    let (fields, masked_pan) = template_fields(t, APP_TRANSPARENT, notes)?;
    Ok(CpmApplication {
        aid: aid.value.to_vec(),
        label,
        masked_pan,
        fields,
    })
}

/// The masked fields of template `t`, whose only allowed nested template is
/// `transparent`; and the masked PAN it carries.
fn template_fields(
    t: &Tlv<'_>,
    transparent: Tag,
    notes: &mut Vec<String>,
) -> Result<(Vec<CpmField>, Option<String>), CpmError> {
    let mut fields = Vec::new();
    let mut masked_pan = None;
    for c in strict_objects(t.value, Some(t.tag))? {
        if c.tag == transparent {
            fields.push(CpmField {
                tag: c.tag,
                name: template_name(c.tag),
                shown: String::new(),
                depth: 0,
            });
            for g in strict_objects(c.value, Some(c.tag))? {
                if g.tag.is_constructed() {
                    return Err(CpmError::NotAllowed {
                        tag: g.tag,
                        within: Some(c.tag),
                    });
                }
                fields.push(field(&g, 1, &mut masked_pan, notes)?);
            }
        } else if c.tag.is_constructed() {
            return Err(CpmError::NotAllowed {
                tag: c.tag,
                within: Some(t.tag),
            });
        } else {
            fields.push(field(&c, 0, &mut masked_pan, notes)?);
        }
    }
    Ok((fields, masked_pan))
}

fn template_name(tag: Tag) -> &'static str {
    match tag.value() {
        0x63 => "Application Specific Transparent Template",
        0x64 => "Common Data Transparent Template",
        _ => "Template",
    }
}

fn field(
    t: &Tlv<'_>,
    depth: usize,
    masked_pan: &mut Option<String>,
    notes: &mut Vec<String>,
) -> Result<CpmField, CpmError> {
    let shown = if t.tag == PAN {
        let digits = cn_digits(t.value).ok_or_else(|| CpmError::Invalid {
            tag: PAN,
            reason: "a PAN is digits, padded with F".into(),
        })?;
        let masked = mask_digits(&digits, notes);
        *masked_pan = Some(masked.clone());
        masked
    } else if t.tag == TRACK2 {
        let nibbles = hex::encode_upper(t.value);
        let pan = nibbles.split('D').next().unwrap_or_default();
        if nibbles.find('D').is_none() || !pan.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CpmError::Invalid {
                tag: TRACK2,
                reason: "track 2 equivalent data needs a PAN, then the separator D".into(),
            });
        }
        let masked = mask_digits(pan, notes);
        masked_pan.get_or_insert_with(|| masked.clone());
        format!("{masked}D**** (expiry and discretionary data hidden)")
    } else if t.tag == PAN_LAST4 {
        let last4 = cn_digits(t.value).unwrap_or_default();
        masked_pan.get_or_insert_with(|| format!("************{last4}"));
        last4
    } else if tags::is_sensitive(t.tag) {
        format!("(hidden, {} bytes)", t.value.len())
    } else {
        tags::render_value(t.tag, t.value)
    };
    let name = match t.tag.value() {
        0x9F25 => "Last 4 Digits of PAN",
        0x9F19 => "Token Requestor ID",
        0x9F24 => "Payment Account Reference",
        0x5F50 => "Issuer URL",
        _ => tags::name(t.tag),
    };
    Ok(CpmField {
        tag: t.tag,
        name,
        shown,
        depth,
    })
}

/// Digits of a cn value (trailing F padding allowed), or None.
fn cn_digits(value: &[u8]) -> Option<String> {
    let nibbles = hex::encode_upper(value);
    let digits = nibbles.trim_end_matches('F');
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())).then(|| digits.to_string())
}

/// First six and last four (fewer for short numbers), the rest masked. A
/// number that fails the Luhn check is still masked, and noted.
fn mask_digits(digits: &str, notes: &mut Vec<String>) -> String {
    match kernel::Pan::parse(digits) {
        Ok(pan) => pan.masked().as_str().to_string(),
        Err(e) => {
            notes.push(format!(
                "the PAN is not a valid card number ({e}); shown masked anyway"
            ));
            let n = digits.len();
            let head = if n >= 16 {
                6
            } else {
                n.saturating_sub(8).min(4)
            };
            let tail = n.saturating_sub(head).min(4);
            digits
                .char_indices()
                .map(|(i, c)| {
                    if i < head || i >= n.saturating_sub(tail) {
                        c
                    } else {
                        '*'
                    }
                })
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_numbers_are_masked_too() {
        let mut notes = Vec::new();
        assert_eq!(
            mask_digits("1234567890123458", &mut notes),
            "123456******3458"
        );
        assert_eq!(notes.len(), 1);
        let masked = mask_digits("12345678", &mut notes);
        assert!(masked.contains('*'), "{masked}");
        assert!(!masked.contains("12345678"));
    }
}
