//! Conversion of other tools' transcripts into `softpos-card-session/1`.
//!
//! The terminal inputs are derived from what the card was actually sent:
//! the GPO's data split by the card's PDOL and the GENERATE AC's data
//! split by its CDOL1. Exchanges an EMV contactless kernel never sends
//! (GET DATA for CPLC, logs, PIN try counter, ATC; log READ RECORDs; the
//! contact PSE directory; contact-only INTERNAL AUTHENTICATE and the
//! completion after the first GENERATE AC) are dropped and listed in
//! `notes`. When a command was not recorded it is rebuilt if the inputs and
//! the card's earlier answers determine it; otherwise the import fails and
//! says why.

use crate::format::{
    AidSpec, CaKeySet, CaKeysSpec, Exchange, Expect, Session, StartSpec, TerminalSpec,
    TransactionSpec, FORMAT,
};
use crate::hexstr::{self, Hex, TagKey};
use kernel::dol::{self, DolEntry};
use kernel::tlv::{self, Tag};
use kernel::CommandApdu;
use std::collections::BTreeMap;

/// Why a transcript cannot become a replayable session.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    #[error("line {line}: {message}")]
    Syntax { line: usize, message: String },
    #[error("the transcript has no exchanges")]
    Empty,
    #[error("cannot be made replayable: {0}")]
    NotReplayable(String),
}

/// One exchange as read from the source, before conversion.
#[derive(Debug, Clone)]
struct Raw {
    line: usize,
    /// `None`: the source did not record the command.
    c: Option<Vec<u8>>,
    /// `None`: the source lost the response.
    r: Option<Vec<u8>>,
}

/// binaryfoo/emv-bertlv `*-in.txt`: one hex line per APDU, commands and
/// responses alternating.
pub fn from_binaryfoo(text: &str) -> Result<Session, ImportError> {
    let mut lines = Vec::new();
    for (i, l) in text.lines().enumerate() {
        let l = l.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let bytes = hexstr::decode(l).map_err(|message| ImportError::Syntax {
            line: i + 1,
            message,
        })?;
        lines.push((i + 1, bytes));
    }
    // The original files lose a response here and there; a line that cannot
    // be a response (no status word) starts the next exchange instead.
    let mut raws = Vec::new();
    let mut it = lines.into_iter().peekable();
    while let Some((line, c)) = it.next() {
        let r = match it.peek() {
            Some((_, r)) if plausible_response(r) => it.next().map(|(_, r)| r),
            _ => None,
        };
        raws.push(Raw {
            line,
            c: Some(c),
            r,
        });
    }
    convert(raws, "binaryfoo")
}

/// devnied/EMV-NFC-Paycard-Enrollment scripts: `send:` / `resp:` lines of
/// spaced hex, `#` comments, an empty `send:` for a command not checked.
pub fn from_devnied(text: &str) -> Result<Session, ImportError> {
    let mut raws = Vec::new();
    let mut pending: Option<(usize, Option<Vec<u8>>)> = None;
    for (i, l) in text.lines().enumerate() {
        let line = i + 1;
        let l = l.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let syntax = |message: String| ImportError::Syntax { line, message };
        // Some scripts end a data line with a comment.
        let l = l.split_once('#').map_or(l, |(data, _)| data).trim();
        if let Some(rest) = l.strip_prefix("send:") {
            if let Some((pl, c)) = pending.take() {
                raws.push(Raw {
                    line: pl,
                    c,
                    r: None,
                });
            }
            let bytes = hexstr::decode(rest).map_err(syntax)?;
            pending = Some((line, if bytes.is_empty() { None } else { Some(bytes) }));
        } else if let Some(rest) = l.strip_prefix("resp:") {
            let bytes = hexstr::decode(rest).map_err(syntax)?;
            let Some((pl, c)) = pending.take() else {
                return Err(syntax("resp: without a send: before it".into()));
            };
            raws.push(Raw {
                line: pl,
                c,
                r: Some(bytes),
            });
        } else {
            return Err(syntax(format!(
                "expected send:, resp: or a # comment, found {:?}",
                l.chars().take(20).collect::<String>()
            )));
        }
    }
    if let Some((pl, c)) = pending {
        raws.push(Raw {
            line: pl,
            c,
            r: None,
        });
    }
    convert(raws, "devnied")
}

fn plausible_response(r: &[u8]) -> bool {
    match r {
        [.., sw1, _] => matches!(sw1, 0x61..=0x6F | 0x90..=0x9F),
        _ => false,
    }
}

const PPSE: &[u8] = b"2PAY.SYS.DDF01";
const PSE: &[u8] = b"1PAY.SYS.DDF01";

/// What the card told us so far, and where we are.
#[derive(Default)]
struct CardState {
    pdol: Option<Vec<DolEntry>>,
    pdol_line: usize,
    cdol1: Option<Vec<DolEntry>>,
    afl: Vec<(u8, u8)>,
    ppse_fci: Option<Vec<u8>>,
}

fn convert(raws: Vec<Raw>, tool: &str) -> Result<Session, ImportError> {
    if raws.is_empty() {
        return Err(ImportError::Empty);
    }
    let mut notes = Vec::new();
    let raws = last_run(raws, &mut notes);
    let raws = drop_outside_kernel(raws, &mut notes)?;
    if raws.is_empty() {
        return Err(ImportError::NotReplayable(
            "no exchange left that an EMV contactless kernel sends".into(),
        ));
    }

    // The inputs come from the commands that were recorded; rebuilt
    // commands then use the same inputs.
    let mut state = CardState::default();
    let mut seen: BTreeMap<Tag, Vec<u8>> = BTreeMap::new();
    let mut uns: Vec<Vec<u8>> = Vec::new();
    for raw in &raws {
        match (&raw.c, &raw.r) {
            (Some(c), Some(r)) => {
                learn_inputs(c, &state, &mut seen, &mut uns, raw.line, &mut notes)?;
                learn_card(c, r, &mut state, raw.line);
            }
            // A record read by an unrecorded command still carries the
            // CDOL1 that splits a recorded GENERATE AC.
            (None, Some(r)) => learn_cdol(r, &mut state),
            _ => {}
        }
    }
    let inputs = Inputs::derive(&seen, &uns, &raws, &mut notes);

    // Rebuild unrecorded commands, check what a kernel would send.
    let mut state = CardState::default();
    let mut exchanges: Vec<Exchange> = Vec::with_capacity(raws.len());
    let mut read: Vec<(u8, u8)> = Vec::new();
    let mut prev: Option<(Vec<u8>, Vec<u8>)> = None;
    let mut cut: Option<Cut> = None;
    for (k, raw) in raws.iter().enumerate() {
        let Some(r) = &raw.r else {
            return Err(ImportError::NotReplayable(format!(
                "line {}: the card's answer to this command was not recorded",
                raw.line
            )));
        };
        let c = match &raw.c {
            Some(c) => c.clone(),
            None => match rebuild(prev.as_ref(), &state, &read, &inputs) {
                Some(c) => {
                    notes.push(format!(
                        "line {}: command not recorded, rebuilt as {}",
                        raw.line,
                        hex::encode_upper(&c)
                    ));
                    c
                }
                None => {
                    let after = prev
                        .as_ref()
                        .map(|(c, r)| describe(c, r))
                        .unwrap_or_else(|| "the start".into());
                    cut = Some(Cut {
                        line: raw.line,
                        dropped: raws.len().saturating_sub(k),
                        after,
                    });
                    break;
                }
            },
        };
        check_gpo(&c, &state, raw.line)?;
        if let Ok(cmd) = CommandApdu::parse(&c) {
            if cmd.ins == 0xB2 && r.ends_with(&[0x90, 0x00]) {
                read.push((cmd.p2 >> 3, cmd.p1));
            }
        }
        learn_card(&c, r, &mut state, raw.line);
        exchanges.push(Exchange {
            c: Hex(c.clone()),
            r: Hex(r.clone()),
            ms: None,
        });
        prev = Some((c, r.clone()));
    }
    if let Some(c) = &cut {
        notes.push(format!(
            "transcript cut at line {}: {} exchange(s) from there dropped; the command was not \
             recorded and is not determined by the inputs (it follows {}), and a trial replay \
             shows the kernel ends before it",
            c.line, c.dropped, c.after
        ));
    }
    let missing: Vec<String> = state
        .afl
        .iter()
        .filter(|x| !read.contains(x))
        .map(|(s, r)| format!("SFI {s} record {r}"))
        .collect();

    let floor_limit = inputs.floor_limit_exceeded.then(|| {
        notes.push(
            "floor_limit set to 0: the terminal's TVR said the floor limit was exceeded".into(),
        );
        0
    });
    let (start, aid) = start_and_aid(&exchanges, cut.is_some())?;
    let kernel_id = kernel_for(&aid, &state, &mut notes)?;
    let mut tags = inputs.terminal_tags.clone();
    // The kernel compares the card's application version (9F08) with the
    // terminal's (9F09); the recorded terminal evidently matched it.
    if let Some(version) = card_tag(&exchanges, 0x9F08) {
        tags.entry(TagKey(Tag::from_u32_unchecked(0x9F09)))
            .or_insert(Hex(version));
    }
    for (tag, value) in DEFAULT_TAGS {
        tags.entry(TagKey(Tag::from_u32_unchecked(*tag)))
            .or_insert_with(|| Hex(value.to_vec()));
    }
    tags.entry(TagKey(Tag::from_u32_unchecked(0x5F36)))
        .or_insert_with(|| Hex(vec![inputs.exponent]));
    if let Some(c) = inputs.issuer_country.clone() {
        tags.entry(TagKey(Tag::from_u32_unchecked(0x9F1A)))
            .or_insert(Hex(c));
    }
    let expect = expect_from(&exchanges);
    let title = format!(
        "{} imported from {tool} ({} exchanges kept{})",
        aid_label(&exchanges).unwrap_or_else(|| hex::encode_upper(&aid)),
        exchanges.len(),
        if notes.is_empty() { "" } else { ", see notes" }
    );
    let session = Session {
        format: FORMAT.into(),
        title: Some(title),
        source: Some(format!("import:{tool}")),
        recorded_at: None,
        reader: None,
        terminal: TerminalSpec {
            tags,
            aids: vec![AidSpec {
                aid: Hex(aid),
                kernel: kernel_id,
                partial: true,
                floor_limit,
                cvm_limit: None,
                transaction_limit: None,
                tac_denial: None,
                tac_online: None,
                tac_default: None,
            }],
            ca_keys: CaKeysSpec::Named(CaKeySet::All),
        },
        start,
        transaction: inputs.spec,
        exchanges,
        card_removed: false,
        expect,
        notes,
    };
    if cut.is_some() || !missing.is_empty() {
        trial(&session, cut.as_ref(), &missing)?;
    }
    Ok(session)
}

/// Where an import stopped because a command was neither recorded nor
/// determined.
struct Cut {
    line: usize,
    dropped: usize,
    after: String,
}

/// The missing record a command reads, if it reads one.
fn asks_missing(command: &[u8], missing: &[String]) -> Option<String> {
    let c = CommandApdu::parse(command).ok()?;
    let name = format!("SFI {} record {}", c.p2 >> 3, c.p1);
    (c.ins == 0xB2 && missing.contains(&name)).then_some(name)
}

/// A transcript that stops early (or skips records) is replayable only if
/// the kernel, run on it, uses every exchange and asks for nothing more:
/// run it and see. If the kernel stops or diverges before the gap, whether
/// it needs what is missing cannot be told, and the import says so.
fn trial(session: &Session, cut: Option<&Cut>, missing: &[String]) -> Result<(), ImportError> {
    use crate::replay::Failure;
    let report = crate::replay::replay(session);
    let what = match cut {
        Some(c) if missing.is_empty() => format!(
            "line {}: the command was not recorded and is not determined by the inputs (it \
             follows {})",
            c.line, c.after
        ),
        _ => format!(
            "the transcript does not read every record the card's AFL lists (missing {})",
            missing.join(", ")
        ),
    };
    let kernel_said = report
        .outcome
        .as_ref()
        .and_then(|o| o.reason.as_ref())
        .map(|r| format!(" (kernel: {})", r.text()))
        .unwrap_or_default();
    for f in &report.failures {
        match f {
            Failure::Divergence(d) if d.expected.is_none() => {
                return Err(ImportError::NotReplayable(format!(
                    "{what}, and the kernel asks for it at exchange #{}",
                    d.index
                )))
            }
            Failure::Divergence(d) if asks_missing(&d.actual, missing).is_some() => {
                return Err(ImportError::NotReplayable(format!(
                    "{what}, and the kernel asks for {} at exchange #{}",
                    asks_missing(&d.actual, missing).unwrap_or_default(),
                    d.index
                )))
            }
            Failure::Divergence(d) => {
                return Err(ImportError::NotReplayable(format!(
                    "{what}; the kernel diverges at exchange #{} before that point, so whether \
                     it needs it cannot be told",
                    d.index
                )))
            }
            Failure::Unused { first, .. } => {
                return Err(ImportError::NotReplayable(format!(
                    "{what}; the kernel ends at exchange #{first}{kernel_said}, before that \
                     point, so whether it needs it cannot be told"
                )))
            }
            Failure::Setup(m) | Failure::Kernel(m) => {
                return Err(ImportError::NotReplayable(format!(
                    "{what}; trial replay: {m}"
                )))
            }
            Failure::Expect { .. } => {}
        }
    }
    Ok(())
}

/// The first value of a primitive tag in the card's answers.
fn card_tag(exchanges: &[Exchange], tag: u32) -> Option<Vec<u8>> {
    let tag = Tag::from_u32_unchecked(tag);
    exchanges.iter().find_map(|x| {
        let r = &x.r.0;
        let body = r.get(..r.len().checked_sub(2)?)?;
        tlv::find(body, tag)
            .ok()
            .flatten()
            .map(|t| t.value.to_vec())
    })
}

/// Terminal data the card never saw; any value replays the same, these are
/// a plain attended contactless POS.
const DEFAULT_TAGS: &[(u32, &[u8])] = &[
    (0x9F35, &[0x22]),
    (0x9F33, &[0xE0, 0xF8, 0xC8]),
    (0x9F40, &[0x60, 0x00, 0xF0, 0xA0, 0x01]),
    (0x9F66, &[0x36, 0x00, 0x40, 0x00]),
    (0x9F09, &[0x00, 0x02]),
];

/// Transaction inputs the kernel produces itself, never configuration.
const KERNEL_MADE: &[u32] = &[
    0x95, 0x9B, 0x9F34, 0x9F45, 0x9F4C, 0x8A, 0x91, 0x9F27, 0x9F26,
];
const INPUT_TAGS: &[u32] = &[0x9F02, 0x9F03, 0x5F2A, 0x9A, 0x9F21, 0x9C, 0x9F37];

struct Inputs {
    spec: TransactionSpec,
    exponent: u8,
    terminal_tags: BTreeMap<TagKey, Hex>,
    issuer_country: Option<Vec<u8>>,
    /// TVR byte 4 bit 8 in a recorded command.
    floor_limit_exceeded: bool,
}

impl Inputs {
    fn derive(
        seen: &BTreeMap<Tag, Vec<u8>>,
        uns: &[Vec<u8>],
        raws: &[Raw],
        notes: &mut Vec<String>,
    ) -> Inputs {
        let get = |t: u32| seen.get(&Tag::from_u32_unchecked(t));
        let card = |t: u32| -> Option<Vec<u8>> {
            raws.iter().filter_map(|r| r.r.as_deref()).find_map(|r| {
                tlv::find(
                    r.get(..r.len().saturating_sub(2)).unwrap_or(&[]),
                    Tag::from_u32_unchecked(t),
                )
                .ok()
                .flatten()
                .map(|x| x.value.to_vec())
            })
        };
        let mut missing = Vec::new();
        let amount = match get(0x9F02).and_then(|v| kernel::bcd::decode_u64(v)) {
            Some(a) => a,
            None => {
                missing.push("amount (0)");
                0
            }
        };
        let amount_other = get(0x9F03)
            .and_then(|v| kernel::bcd::decode_u64(v))
            .unwrap_or(0);
        let known = |c: &Vec<u8>| kernel::Currency::from_bcd(c).is_ok();
        let currency = match get(0x5F2A).filter(|c| known(c)) {
            Some(c) => c.clone(),
            None => match card(0x9F42).filter(known) {
                Some(c) => {
                    missing.push("currency (the card's application currency)");
                    c
                }
                None => {
                    missing.push("currency (0978 EUR)");
                    vec![0x09, 0x78]
                }
            },
        };
        let date = match get(0x9A).filter(|d| d.len() == 3) {
            Some(d) => d.clone(),
            None => match card(0x5F25).filter(|d| d.len() == 3) {
                Some(d) => {
                    missing.push("date (the card's effective date)");
                    d
                }
                None => {
                    missing.push("date (250101)");
                    vec![0x25, 0x01, 0x01]
                }
            },
        };
        let time = match get(0x9F21).filter(|t| t.len() == 3) {
            Some(t) => t.clone(),
            None => vec![0x12, 0x00, 0x00],
        };
        let tx_type = get(0x9C)
            .filter(|t| t.len() == 1)
            .cloned()
            .unwrap_or(vec![0]);
        let mut unpredictable_numbers: Vec<Hex> = uns.iter().map(|u| Hex(u.clone())).collect();
        if unpredictable_numbers.is_empty() {
            missing.push("unpredictable number (00000000)");
            unpredictable_numbers.push(Hex(vec![0; 4]));
        }
        if !missing.is_empty() {
            notes.push(format!(
                "not sent to the card, so not derived; set to: {}",
                missing.join(", ")
            ));
        }
        let exponent = kernel::Currency::from_bcd(&currency).map_or(2, |c| c.exponent);
        let terminal_tags = seen
            .iter()
            .filter(|(t, _)| !KERNEL_MADE.contains(&t.value()) && !INPUT_TAGS.contains(&t.value()))
            .map(|(t, v)| (TagKey(*t), Hex(v.clone())))
            .collect();
        Inputs {
            spec: TransactionSpec {
                tx_type: Hex(tx_type),
                amount,
                amount_other,
                currency: Hex(currency),
                date: Hex(date),
                time: Hex(time),
                unpredictable_numbers,
            },
            exponent,
            terminal_tags,
            issuer_country: card(0x5F28).filter(|c| c.len() == 2),
            floor_limit_exceeded: get(0x95)
                .and_then(|t| t.get(3))
                .is_some_and(|b| b & 0x80 != 0),
        }
    }

    fn value(&self, tag: Tag) -> Option<Vec<u8>> {
        let s = &self.spec;
        let amount = |v: u64| {
            let mut out = vec![0u8; 6];
            kernel::bcd::encode_u64(v, &mut out);
            out
        };
        match tag.value() {
            0x9F02 => Some(amount(s.amount)),
            0x9F03 => Some(amount(s.amount_other)),
            0x5F2A => Some(s.currency.0.clone()),
            0x9A => Some(s.date.0.clone()),
            0x9F21 => Some(s.time.0.clone()),
            0x9C => Some(s.tx_type.0.clone()),
            0x9F37 => s.unpredictable_numbers.first().map(|u| u.0.clone()),
            _ => self
                .terminal_tags
                .get(&TagKey(tag))
                .map(|v| v.0.clone())
                .or_else(|| {
                    DEFAULT_TAGS
                        .iter()
                        .find(|(t, _)| *t == tag.value())
                        .map(|(_, v)| v.to_vec())
                }),
        }
    }
}

fn learn_inputs(
    c: &[u8],
    state: &CardState,
    seen: &mut BTreeMap<Tag, Vec<u8>>,
    uns: &mut Vec<Vec<u8>>,
    line: usize,
    notes: &mut Vec<String>,
) -> Result<(), ImportError> {
    let Ok(cmd) = CommandApdu::parse(c) else {
        return Ok(());
    };
    let (entries, data) = match (cmd.cla, cmd.ins, cmd.data.as_slice()) {
        (0x80, 0xA8, [0x83, _, rest @ ..]) => (state.pdol.as_deref(), rest),
        (0x80, 0xAE, data) => (state.cdol1.as_deref(), data),
        _ => return Ok(()),
    };
    let Some(entries) = entries else {
        return Ok(());
    };
    if dol::data_len(entries) != data.len() {
        return Ok(());
    }
    let mut rest = data;
    for e in entries {
        let Some((value, after)) = rest.split_at_checked(e.len) else {
            break;
        };
        rest = after;
        if e.tag.value() == 0x9F37 {
            if uns.last().map(Vec::as_slice) != Some(value) {
                uns.push(value.to_vec());
            }
            continue;
        }
        match seen.get(&e.tag) {
            Some(old) if old.as_slice() != value && !KERNEL_MADE.contains(&e.tag.value()) => {
                notes.push(format!(
                    "line {line}: {} {} differs from an earlier command ({} then {}); the first is kept",
                    e.tag,
                    kernel::tags::name(e.tag),
                    hex::encode_upper(old),
                    hex::encode_upper(value)
                ));
            }
            Some(_) => {}
            None => {
                seen.insert(e.tag, value.to_vec());
            }
        }
    }
    Ok(())
}

fn learn_card(c: &[u8], r: &[u8], state: &mut CardState, line: usize) {
    let data = r.get(..r.len().saturating_sub(2)).unwrap_or(&[]);
    let ok = r.ends_with(&[0x90, 0x00]);
    let Ok(cmd) = CommandApdu::parse(c) else {
        return;
    };
    if cmd.ins == 0xA4 && ok {
        if cmd.data == PPSE {
            state.ppse_fci = Some(data.to_vec());
        } else if let Ok(Some(p)) = tlv::find(data, Tag::from_u32_unchecked(0x9F38)) {
            state.pdol = dol::parse(p.value).ok();
            state.pdol_line = line;
        } else {
            state.pdol = Some(Vec::new());
            state.pdol_line = line;
        }
    }
    if (cmd.ins == 0xA8) && ok {
        let afl = match data {
            [0x80, _, rest @ ..] => rest.get(2..).map(<[u8]>::to_vec),
            _ => tlv::find(data, Tag::from_u32_unchecked(0x94))
                .ok()
                .flatten()
                .map(|t| t.value.to_vec()),
        };
        state.afl = afl.map(|a| parse_afl(&a)).unwrap_or_default();
    }
    learn_cdol(r, state);
}

fn learn_cdol(r: &[u8], state: &mut CardState) {
    let data = r.get(..r.len().saturating_sub(2)).unwrap_or(&[]);
    if let Ok(Some(cdol)) = tlv::find(data, Tag::from_u32_unchecked(0x8C)) {
        state.cdol1 = dol::parse(cdol.value).ok();
    }
}

fn parse_afl(afl: &[u8]) -> Vec<(u8, u8)> {
    let mut out = Vec::new();
    for entry in afl.chunks_exact(4) {
        if let [sfi, first, last, _] = entry {
            for rec in *first..=*last {
                out.push((sfi >> 3, rec));
            }
        }
    }
    out
}

/// The command an EMV kernel must send next, when nothing but the inputs
/// and the card's earlier answers decide it.
fn rebuild(
    prev: Option<&(Vec<u8>, Vec<u8>)>,
    state: &CardState,
    read: &[(u8, u8)],
    inputs: &Inputs,
) -> Option<Vec<u8>> {
    let (pc, pr) = prev?;
    let cmd = CommandApdu::parse(pc).ok()?;
    match pr.as_slice() {
        [0x61, le] => return Some(CommandApdu::get_response(*le).to_bytes()),
        [0x6C, le] => return Some(cmd.with_le(*le).to_bytes()),
        _ => {}
    }
    if !pr.ends_with(&[0x90, 0x00]) {
        return None;
    }
    if cmd.ins == 0xA4 && cmd.data != PPSE && cmd.data != PSE {
        let entries = state.pdol.as_deref().unwrap_or(&[]);
        let values: Vec<(Tag, Vec<u8>)> = entries
            .iter()
            .filter_map(|e| inputs.value(e.tag).map(|v| (e.tag, v)))
            .collect();
        let data = dol::build(entries, |t| {
            values
                .iter()
                .find(|(x, _)| *x == t)
                .map(|(_, v)| v.as_slice())
        });
        return Some(CommandApdu::gpo(&data).to_bytes());
    }
    if cmd.ins == 0xA8 || cmd.ins == 0xB2 {
        let (sfi, rec) = state.afl.iter().find(|x| !read.contains(x))?;
        return Some(CommandApdu::read_record(*sfi, *rec).to_bytes());
    }
    None
}

fn check_gpo(c: &[u8], state: &CardState, line: usize) -> Result<(), ImportError> {
    let Ok(cmd) = CommandApdu::parse(c) else {
        return Ok(());
    };
    if (cmd.cla, cmd.ins) != (0x80, 0xA8) {
        return Ok(());
    }
    let wanted = state.pdol.as_deref().map_or(0, dol::data_len);
    let sent = match cmd.data.as_slice() {
        [0x83, len, rest @ ..] if usize::from(*len) == rest.len() => rest.len(),
        _ => {
            return Err(ImportError::NotReplayable(format!(
                "line {line}: the GPO's data is not a tag 83 template"
            )))
        }
    };
    if sent != wanted {
        return Err(ImportError::NotReplayable(format!(
            "line {line}: the recorded GPO carries {sent} byte(s) of PDOL data but the card's \
             PDOL (line {}) asks for {wanted}; an EMV kernel always sends what the PDOL asks",
            state.pdol_line
        )));
    }
    Ok(())
}

fn describe(c: &[u8], r: &[u8]) -> String {
    let name = CommandApdu::parse(c)
        .map(|c| crate::trace::command_name(&c))
        .unwrap_or_else(|_| "a malformed command".into());
    let sw = match r {
        [.., a, b] => kernel::StatusWord(u16::from_be_bytes([*a, *b])),
        _ => kernel::StatusWord(0),
    };
    format!("{name} answered {sw} ({})", sw.meaning())
}

/// Keeps the last run when the transcript restarts the same transaction;
/// drops what follows the first application otherwise.
fn last_run(raws: Vec<Raw>, notes: &mut Vec<String>) -> Vec<Raw> {
    let mut runs: Vec<Vec<Raw>> = vec![Vec::new()];
    let mut gpo_seen = false;
    for raw in raws {
        let cmd = raw.c.as_deref().and_then(|c| CommandApdu::parse(c).ok());
        let is_select = cmd.as_ref().is_some_and(|c| c.ins == 0xA4);
        if is_select && gpo_seen {
            runs.push(Vec::new());
            gpo_seen = false;
        }
        // An unrecorded command answered with a GPO response template was
        // the GPO.
        let gpo_answer = raw
            .r
            .as_deref()
            .is_some_and(|r| r.ends_with(&[0x90, 0x00]) && matches!(r.first(), Some(0x77 | 0x80)));
        if cmd.as_ref().is_some_and(|c| c.ins == 0xA8) || (raw.c.is_none() && gpo_answer) {
            gpo_seen = true;
        }
        if let Some(run) = runs.last_mut() {
            run.push(raw);
        }
    }
    if runs.len() == 1 {
        return runs.pop().unwrap_or_default();
    }
    let first_select = |run: &Vec<Raw>| -> Option<Vec<u8>> {
        run.iter()
            .filter_map(|r| r.c.as_deref())
            .filter_map(|c| CommandApdu::parse(c).ok())
            .find(|c| c.ins == 0xA4)
            .map(|c| c.data)
    };
    let head = runs.first().and_then(first_select);
    let restart = runs.iter().skip(1).all(|r| first_select(r) == head);
    let count = runs.len();
    if restart {
        let first_line = runs.last().and_then(|r| r.first()).map_or(0, |r| r.line);
        notes.push(format!(
            "the transcript runs the transaction {count} times; the last run (from line \
             {first_line}) is imported"
        ));
        runs.pop().unwrap_or_default()
    } else {
        let dropped: usize = runs.iter().skip(1).map(Vec::len).sum();
        notes.push(format!(
            "{dropped} exchange(s) after the first application's processing dropped: the \
             tool went on to other applications, a kernel stops at one"
        ));
        runs.into_iter().next().unwrap_or_default()
    }
}

/// Drops what a contactless kernel never sends; fails on what it cannot
/// make sense of.
fn drop_outside_kernel(raws: Vec<Raw>, notes: &mut Vec<String>) -> Result<Vec<Raw>, ImportError> {
    let mut out = Vec::with_capacity(raws.len());
    let mut dropped: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut in_pse = false;
    let mut after_gen_ac = false;
    let mut afl: Vec<(u8, u8)> = Vec::new();
    for raw in raws {
        let cmd = raw.c.as_deref().and_then(|c| CommandApdu::parse(c).ok());
        let why: Option<&'static str> = match &cmd {
            _ if after_gen_ac => Some("completion after the first GENERATE AC (contact only)"),
            Some(c) if c.ins == 0xA4 && c.data == PSE => {
                in_pse = true;
                Some("contact PSE directory selection")
            }
            Some(c) if c.ins == 0xA4 => {
                in_pse = false;
                None
            }
            Some(c) if c.ins == 0xB2 && in_pse => Some("contact PSE directory selection"),
            Some(c) if (c.cla, c.ins) == (0x80, 0xCA) => {
                Some("GET DATA (CPLC, log format, PIN try counter, ATC)")
            }
            Some(c) if c.ins == 0xB2 && !afl.is_empty() && !afl.contains(&(c.p2 >> 3, c.p1)) => {
                Some("READ RECORD outside the AFL (transaction log)")
            }
            Some(c) if c.ins == 0x88 => Some("INTERNAL AUTHENTICATE (contact DDA)"),
            Some(c) if c.ins == 0x82 => Some("EXTERNAL AUTHENTICATE (contact only)"),
            Some(c) if c.ins == 0xAE => {
                after_gen_ac = true;
                None
            }
            _ => None,
        };
        if let Some(why) = why {
            *dropped.entry(why).or_insert(0) += 1;
            continue;
        }
        if let Some(r) = &raw.r {
            // An unrecorded command answered with a GPO response template
            // was the GPO.
            let gpo = cmd.as_ref().is_none_or(|c| c.ins == 0xA8);
            if gpo && r.ends_with(&[0x90, 0x00]) && matches!(r.first(), Some(0x77 | 0x80)) {
                let data = r.get(..r.len().saturating_sub(2)).unwrap_or(&[]);
                let a = match data {
                    [0x80, _, rest @ ..] => rest.get(2..).map(<[u8]>::to_vec),
                    _ => tlv::find(data, Tag::from_u32_unchecked(0x94))
                        .ok()
                        .flatten()
                        .map(|t| t.value.to_vec()),
                };
                afl = a.map(|a| parse_afl(&a)).unwrap_or_default();
            }
        }
        out.push(raw);
    }
    for (why, n) in dropped {
        notes.push(format!("dropped {n} exchange(s): {why}"));
    }
    Ok(out)
}

fn start_and_aid(
    exchanges: &[Exchange],
    cut: bool,
) -> Result<(Option<StartSpec>, Vec<u8>), ImportError> {
    let selects: Vec<CommandApdu> = exchanges
        .iter()
        .filter_map(|x| CommandApdu::parse(&x.c.0).ok())
        .filter(|c| c.ins == 0xA4)
        .collect();
    let first = selects.first().ok_or_else(|| {
        ImportError::NotReplayable("the transcript never selects an application".into())
    })?;
    if first.data == PPSE {
        match selects.iter().find(|c| c.data != PPSE) {
            Some(app) => Ok((None, app.data.clone())),
            // The card refused the PPSE and the transcript stops: the
            // terminal's AIDs never reach the card, any will do.
            None if cut || selects.len() == exchanges.len() => {
                Ok((None, vec![0xA0, 0x00, 0x00, 0x00, 0x03, 0x10, 0x10]))
            }
            None => Err(ImportError::NotReplayable(
                "the transcript selects the PPSE but no application after it".into(),
            )),
        }
    } else {
        Ok((Some(StartSpec::FinalSelection), first.data.clone()))
    }
}

fn kernel_for(aid: &[u8], state: &CardState, notes: &mut Vec<String>) -> Result<u8, ImportError> {
    let rid = aid.get(..5).unwrap_or(aid);
    let by_rid = match rid {
        [0xA0, 0, 0, 0, 0x03] => Some(3),
        [0xA0, 0, 0, 0, 0x04] | [0xA0, 0, 0, 0, 0x05] => Some(2),
        [0xA0, 0, 0, 0, 0x25] => Some(4),
        [0xA0, 0, 0, 0, 0x65] => Some(5),
        [0xA0, 0, 0, 0x01, 0x52] => Some(6),
        [0xA0, 0, 0, 0x03, 0x33] => Some(7),
        _ => None,
    };
    if let Some(k) = by_rid {
        return Ok(k);
    }
    if let Some(fci) = &state.ppse_fci {
        if let Ok(Some(k)) = tlv::find(fci, Tag::from_u32_unchecked(0x9F2A)) {
            if let Some(k) = k.value.first().copied().filter(|k| (1..=7).contains(k)) {
                return Ok(k);
            }
        }
    }
    if state
        .pdol
        .as_deref()
        .is_some_and(|p| p.iter().any(|e| e.tag.value() == 0x9F66))
    {
        notes.push(format!(
            "kernel 3 assumed for AID {}: its RID has no EMV kernel and its PDOL asks for the TTQ",
            hex::encode_upper(aid)
        ));
        return Ok(3);
    }
    Err(ImportError::NotReplayable(format!(
        "no EMV contactless kernel is defined for AID {} (RID {})",
        hex::encode_upper(aid),
        hex::encode_upper(rid)
    )))
}

fn aid_label(exchanges: &[Exchange]) -> Option<String> {
    exchanges.iter().find_map(|x| {
        let cmd = CommandApdu::parse(&x.c.0).ok()?;
        if cmd.ins != 0xA4 || cmd.data == PPSE {
            return None;
        }
        let data = x.r.0.get(..x.r.0.len().saturating_sub(2))?;
        let label = tlv::find(data, Tag::from_u32_unchecked(0x50)).ok()??;
        let s = std::str::from_utf8(label.value).ok()?;
        Some(s.trim().to_string()).filter(|s| s.chars().all(|c| (' '..='~').contains(&c)))
    })
}

/// What the card's own answer says the outcome is: the cryptogram type of
/// the first GENERATE AC (or of a Visa GPO that carries one).
fn expect_from(exchanges: &[Exchange]) -> Option<Expect> {
    let (ins, x) = exchanges.iter().rev().find_map(|x| {
        let c = CommandApdu::parse(&x.c.0).ok()?;
        ((c.ins == 0xAE || c.ins == 0xA8) && x.r.0.ends_with(&[0x90, 0x00])).then_some((c.ins, x))
    })?;
    let data = x.r.0.get(..x.r.0.len().saturating_sub(2))?;
    let mut record = BTreeMap::new();
    let cid = match data {
        // Format 1 of a GENERATE AC answer: CID, ATC, AC, IAD. A GPO's
        // format 1 is AIP and AFL, with no cryptogram.
        [0x80, _, cid, atc1, atc2, rest @ ..] if ins == 0xAE && rest.len() >= 8 => {
            record.insert(
                TagKey(Tag::from_u32_unchecked(0x9F36)),
                Hex(vec![*atc1, *atc2]),
            );
            if let Some(ac) = rest.get(..8) {
                record.insert(TagKey(Tag::from_u32_unchecked(0x9F26)), Hex(ac.to_vec()));
            }
            *cid
        }
        _ => {
            let cid = tlv::find(data, Tag::from_u32_unchecked(0x9F27)).ok()??;
            for t in [0x9F26, 0x9F36] {
                if let Ok(Some(v)) = tlv::find(data, Tag::from_u32_unchecked(t)) {
                    record.insert(TagKey(v.tag), Hex(v.value.to_vec()));
                }
            }
            *cid.value.first()?
        }
    };
    record.insert(TagKey(Tag::from_u32_unchecked(0x9F27)), Hex(vec![cid]));
    let outcome = match cid & 0xC0 {
        0x00 => "declined",
        0x40 => "approved",
        0x80 => "online_request",
        _ => return None,
    };
    Some(Expect {
        outcome: Some(outcome.into()),
        cvm: None,
        oda: None,
        data_record: record,
    })
}
