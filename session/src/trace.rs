//! Exchanges decoded for people: command names, every data object with its
//! tag name and a rendered value, status word meanings. Cardholder data is
//! always masked here, whatever the recording holds.

use crate::format::Exchange;
use crate::mask::{self, Masker};
use kernel::dol::{self, DolEntry};
use kernel::tags::{self, Format};
use kernel::tlv::{self, Tag};
use kernel::{CommandApdu, StatusWord};
use serde::Serialize;
use std::fmt;

/// One data object in a trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TraceField {
    /// Nesting depth (0 at the top of the command or response data).
    pub depth: usize,
    pub tag: String,
    pub name: &'static str,
    /// Rendered value (text, digits or hex), masked if sensitive; empty for
    /// templates, whose children follow.
    pub value: String,
}

/// One exchange, decoded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TraceEntry {
    pub index: usize,
    /// "READ RECORD SFI 1 record 2", "GENERATE AC (ARQC, CDA)", …
    pub command: String,
    /// Command bytes (masked).
    pub c: String,
    pub command_fields: Vec<TraceField>,
    /// Response bytes (masked).
    pub r: String,
    pub sw: String,
    pub sw_meaning: &'static str,
    pub response_fields: Vec<TraceField>,
    /// Why the response data could not be decoded, if it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ms: Option<u64>,
}

/// What the card said about its data object lists, learnt from its
/// answers, so that GPO and GENERATE AC data can be split into tags.
#[derive(Debug, Clone, Default)]
pub struct CardDols {
    pub pdol: Option<Vec<DolEntry>>,
    pub cdol1: Option<Vec<DolEntry>>,
    pub cdol2: Option<Vec<DolEntry>>,
}

impl CardDols {
    /// Learns 9F38, 8C and 8D from a response's data.
    pub fn learn(&mut self, response_data: &[u8]) {
        let _ = tlv::walk(response_data, &mut |t, _| match t.tag.value() {
            0x9F38 => self.pdol = dol::parse(t.value).ok(),
            0x8C => self.cdol1 = dol::parse(t.value).ok(),
            0x8D => self.cdol2 = dol::parse(t.value).ok(),
            _ => {}
        });
    }

    /// Splits a GPO's or GENERATE AC's data by the DOL the card sent, when
    /// the lengths agree.
    pub fn split<'a>(&self, command: &CommandApdu, data: &'a [u8]) -> Option<Vec<(Tag, &'a [u8])>> {
        let (entries, body) = match (command.cla, command.ins) {
            (0x80, 0xA8) => match data {
                [0x83, len, rest @ ..] if usize::from(*len) == rest.len() => {
                    (self.pdol.as_deref().unwrap_or(&[]), rest)
                }
                _ => return None,
            },
            (0x80, 0xAE) => {
                let pick = [&self.cdol1, &self.cdol2]
                    .into_iter()
                    .flatten()
                    .find(|d| dol::data_len(d) == data.len())?;
                (pick.as_slice(), data)
            }
            _ => return None,
        };
        if dol::data_len(entries) != body.len() {
            return None;
        }
        let mut out = Vec::with_capacity(entries.len());
        let mut rest = body;
        for e in entries {
            let (value, after) = rest.split_at_checked(e.len)?;
            out.push((e.tag, value));
            rest = after;
        }
        Some(out)
    }
}

/// Decodes a run of exchanges.
pub fn trace(exchanges: &[Exchange]) -> Vec<TraceEntry> {
    let mut masker = Masker::new();
    for x in exchanges {
        masker.learn(&x.r.0);
    }
    let mut dols = CardDols::default();
    let mut out = Vec::with_capacity(exchanges.len());
    for (index, x) in exchanges.iter().enumerate() {
        out.push(trace_one(index, &x.c.0, &x.r.0, x.ms, &masker, &mut dols));
    }
    out
}

/// Decodes one exchange; `dols` carries what earlier answers said.
pub fn trace_one(
    index: usize,
    c: &[u8],
    r: &[u8],
    ms: Option<u64>,
    masker: &Masker,
    dols: &mut CardDols,
) -> TraceEntry {
    let (data, sw) = match r {
        [data @ .., a, b] => (data, StatusWord(u16::from_be_bytes([*a, *b]))),
        _ => (r, StatusWord(0)),
    };
    let command = CommandApdu::parse(c).ok();
    let mut command_fields = Vec::new();
    let name = match &command {
        Some(cmd) => {
            if let Some(split) = dols.split(cmd, &cmd.data) {
                for (tag, value) in split {
                    command_fields.push(field(0, tag, value));
                }
            } else if cmd.ins != 0xA4 && !cmd.data.is_empty() {
                let _ = tlv::walk(&cmd.data, &mut |t, depth| {
                    command_fields.push(field(depth, t.tag, t.value));
                });
            }
            command_name(cmd)
        }
        None => "malformed command".into(),
    };
    let mut response_fields = Vec::new();
    let response_error = if data.is_empty() {
        None
    } else {
        tlv::walk(data, &mut |t, depth| {
            response_fields.push(field(depth, t.tag, t.value));
        })
        .err()
        .map(|e| e.to_string())
    };
    dols.learn(data);
    TraceEntry {
        index,
        command: name,
        c: hex::encode_upper(masker.mask(c)),
        command_fields,
        r: hex::encode_upper(masker.mask(r)),
        sw: sw.to_string(),
        sw_meaning: sw.meaning(),
        response_fields,
        response_error,
        ms,
    }
}

fn field(depth: usize, tag: Tag, value: &[u8]) -> TraceField {
    TraceField {
        depth,
        tag: tag.to_string(),
        name: tags::name(tag),
        value: if tag.is_constructed() {
            String::new()
        } else {
            render(tag, value)
        },
    }
}

/// A value for people: masked if it identifies the cardholder.
pub fn render(tag: Tag, value: &[u8]) -> String {
    if mask::is_masked_tag(tag) {
        return render_masked(tag, value);
    }
    match tags::format(tag) {
        Format::N | Format::Cn => match kernel::bcd::decode_cn(value) {
            Some(d) if tags::format(tag) == Format::Cn => d,
            _ => hex::encode_upper(value),
        },
        _ => tags::render_value(tag, value),
    }
}

fn render_masked(tag: Tag, value: &[u8]) -> String {
    match tag.value() {
        0x5A => kernel::bcd::decode_cn(value)
            .map(|d| star(&d))
            .unwrap_or_else(|| format!("(masked, {} bytes)", value.len())),
        0x57 | 0x9F6B => {
            let digits: String = value
                .iter()
                .flat_map(|b| [b >> 4, b & 0x0F])
                .map(|n| char::from_digit(u32::from(n), 16).unwrap_or('?'))
                .collect::<String>()
                .to_uppercase();
            match digits.split_once('D') {
                Some((pan, rest)) => {
                    let exp_sc: String = rest.chars().take(7).collect();
                    format!("{} D {} (discretionary data masked)", star(pan), exp_sc)
                }
                None => format!("(masked, {} bytes)", value.len()),
            }
        }
        _ => format!("(masked, {} bytes)", value.len()),
    }
}

/// First six and last four digits, stars between.
fn star(d: &str) -> String {
    let n = d.len();
    let head = if n >= 16 {
        6
    } else {
        4.min(n.saturating_sub(4))
    };
    d.chars()
        .enumerate()
        .map(|(i, c)| {
            if i < head || i >= n.saturating_sub(4) {
                c
            } else {
                '*'
            }
        })
        .collect()
}

/// The command's name with the parameters a QA engineer looks for.
pub fn command_name(c: &CommandApdu) -> String {
    match (c.cla & 0xF0, c.ins) {
        (_, 0xA4) => {
            let name = if c.data.iter().all(|b| b.is_ascii_graphic()) && !c.data.is_empty() {
                String::from_utf8_lossy(&c.data).into_owned()
            } else {
                hex::encode_upper(&c.data)
            };
            let next = if c.p2 & 0x02 != 0 { " (next)" } else { "" };
            format!("SELECT {name}{next}")
        }
        (_, 0xB2) => format!("READ RECORD SFI {} record {}", c.p2 >> 3, c.p1),
        (0x80, 0xAE) => {
            let kind = match c.p1 & 0xC0 {
                0x00 => "AAC",
                0x40 => "TC",
                0x80 => "ARQC",
                _ => "RFU",
            };
            let cda = if c.p1 & 0x10 != 0 { ", CDA" } else { "" };
            format!("GENERATE AC ({kind}{cda})")
        }
        (0x80, 0xCA) => {
            let tag = Tag::from_u32_unchecked(u32::from(u16::from_be_bytes([c.p1, c.p2])));
            format!("GET DATA {} ({})", tag, tags::name(tag))
        }
        _ => match c.name() {
            "COMMAND" => format!("COMMAND (CLA {:02X} INS {:02X})", c.cla, c.ins),
            name => name.to_string(),
        },
    }
}

impl fmt::Display for TraceEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{} {}", self.index, self.command)?;
        if let Some(ms) = self.ms {
            write!(f, "  ({ms} ms)")?;
        }
        writeln!(f)?;
        writeln!(f, "  > {}", self.c)?;
        write_fields(f, &self.command_fields)?;
        writeln!(f, "  < {} {}", self.sw, self.sw_meaning)?;
        write_fields(f, &self.response_fields)?;
        if let Some(e) = &self.response_error {
            writeln!(
                f,
                "    (response data is not valid TLV: {e}; raw {})",
                self.r
            )?;
        }
        Ok(())
    }
}

fn write_fields(f: &mut fmt::Formatter<'_>, fields: &[TraceField]) -> fmt::Result {
    for x in fields {
        let indent = "  ".repeat(x.depth.saturating_add(2));
        if x.value.is_empty() {
            writeln!(f, "{indent}{} {}", x.tag, x.name)?;
        } else {
            writeln!(f, "{indent}{} {}: {}", x.tag, x.name, x.value)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hexstr::Hex;

    fn ex(c: &str, r: &str) -> Exchange {
        Exchange {
            c: Hex::parse(c).unwrap(),
            r: Hex::parse(r).unwrap(),
            ms: Some(3),
        }
    }

    #[test]
    fn decodes_and_masks() {
        let x = [
            ex("00A4040007A000000004101000", "6F1C8407A0000000041010A511500F505043204D434420303420207632309000"),
            ex("00B2011400", "702C5711541333008960004 4D14122010123409172 5A0854133300896000445F200C455445432F50415950415353 9000"),
            ex("80AE50002B00000001000100000000000000020000000000003612031500000EEC8522000000000000000000005E0300", "6985"),
        ];
        let t = trace(&x);
        assert_eq!(t[0].command, "SELECT A0000000041010");
        assert!(t[0]
            .response_fields
            .iter()
            .any(|f| f.tag == "50" && f.value == "\"PPC MCD 04  v20\""));
        assert_eq!(t[1].command, "READ RECORD SFI 2 record 1");
        let all = format!("{}{}{}", t[0], t[1], serde_json::to_string(&t).unwrap());
        assert!(!all.contains("5413330089600044"), "{all}");
        assert!(!all.contains("33008960"), "{all}");
        assert!(!all.contains("ETEC"), "{all}");
        assert!(all.contains("541333******0044"), "{all}");
        assert_eq!(t[2].command, "GENERATE AC (TC, CDA)");
        assert_eq!(t[2].sw_meaning, "conditions of use not satisfied");
    }

    #[test]
    fn splits_gpo_by_pdol() {
        let x = [
            ex(
                "00A4040007A000000003101000",
                "6F118407A0000000031010A5069F38039F66049000",
            ),
            ex("80A800000683043600400000", "9000"),
        ];
        let t = trace(&x);
        assert_eq!(t[1].command_fields.len(), 1);
        assert_eq!(t[1].command_fields[0].tag, "9F66");
        assert_eq!(t[1].command_fields[0].value, "36004000");
        // Tampered twin: PDOL data of the wrong length is not split.
        let y = [x[0].clone(), ex("80A8000005830336004000", "9000")];
        assert!(trace(&y)[1].command_fields.iter().all(|f| f.tag != "9F66"));
    }
}
