//! Replay: the kernel runs with the recorded terminal and inputs, and each
//! command it sends is answered with the recorded response if, and only
//! if, it equals the recorded command byte for byte.

use crate::format::{Expect, Session};
use crate::trace::{self, CardDols};
use kernel::tlv::{self, Tag};
use kernel::{CommandApdu, Outcome, ResponseApdu, Step, Transaction};
use std::fmt;

/// Why a replay failed. A report may hold several (e.g. two `expect`
/// fields), but at most one divergence, which ends the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The session cannot be turned into kernel inputs.
    Setup(String),
    /// The kernel refused the configuration or was misused.
    Kernel(String),
    /// The kernel sent a command other than the recorded one.
    Divergence(Divergence),
    /// The transaction ended before these recorded exchanges were used.
    Unused { first: usize, count: usize },
    /// An `expect` field did not match.
    Expect {
        field: String,
        expected: String,
        actual: String,
    },
}

/// The first command that differs from the recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Divergence {
    /// Index of the exchange in `exchanges`.
    pub index: usize,
    /// The recorded command, `None` when the recording had ended.
    pub expected: Option<Vec<u8>>,
    pub actual: Vec<u8>,
    /// The differing parts, decoded as TLV (or by the card's DOL) where
    /// possible: "9F37 Unpredictable Number: expected …, actual …".
    pub differences: Vec<String>,
}

/// The result of replaying one session.
#[derive(Debug, Clone)]
pub struct ReplayReport {
    pub outcome: Option<Box<Outcome>>,
    /// How many recorded exchanges the kernel consumed.
    pub used: usize,
    pub failures: Vec<Failure>,
}

impl ReplayReport {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }

    fn fail(failure: Failure) -> ReplayReport {
        ReplayReport {
            outcome: None,
            used: 0,
            failures: vec![failure],
        }
    }
}

/// Replays a session. Never panics on any session content.
pub fn replay(session: &Session) -> ReplayReport {
    let config = match session.terminal_config() {
        Ok(c) => c,
        Err(e) => return ReplayReport::fail(Failure::Setup(e.to_string())),
    };
    let inputs = match session.inputs() {
        Ok(i) => i,
        Err(e) => return ReplayReport::fail(Failure::Setup(e.to_string())),
    };
    let (mut tx, mut step) = match Transaction::start(config, inputs) {
        Ok(x) => x,
        Err(e) => return ReplayReport::fail(Failure::Kernel(e.to_string())),
    };
    let mut dols = CardDols::default();
    let mut used = 0usize;
    let mut failures = Vec::new();
    let outcome = loop {
        let command = match step {
            Step::Done(outcome) => break Some(outcome),
            Step::Transmit(c) => c,
        };
        let actual = command.to_bytes();
        let Some(recorded) = session.exchanges.get(used) else {
            if session.card_removed {
                break Some(Box::new(tx.card_removed()));
            }
            failures.push(Failure::Divergence(Divergence {
                index: used,
                expected: None,
                differences: vec![format!(
                    "the recording has no exchange #{used}: the kernel sent {} after the last one",
                    trace::command_name(&command)
                )],
                actual,
            }));
            break None;
        };
        if recorded.c.0 != actual {
            failures.push(Failure::Divergence(Divergence {
                index: used,
                differences: differences(&recorded.c.0, &command, &dols),
                expected: Some(recorded.c.0.clone()),
                actual,
            }));
            break None;
        }
        let response = match ResponseApdu::parse(&recorded.r.0) {
            Ok(r) => r,
            Err(e) => {
                failures.push(Failure::Setup(format!("exchanges[{used}].r: {e}")));
                break None;
            }
        };
        dols.learn(&response.data);
        used = used.saturating_add(1);
        step = match tx.handle(response) {
            Ok(s) => s,
            Err(e) => {
                failures.push(Failure::Kernel(e.to_string()));
                break None;
            }
        };
    };
    if let Some(outcome) = &outcome {
        if used < session.exchanges.len() {
            failures.push(Failure::Unused {
                first: used,
                count: session.exchanges.len().saturating_sub(used),
            });
        }
        if let Some(expect) = &session.expect {
            check_expect(expect, outcome, &mut failures);
        }
    }
    ReplayReport {
        outcome,
        used,
        failures,
    }
}

fn check_expect(expect: &Expect, outcome: &Outcome, failures: &mut Vec<Failure>) {
    let mut check = |field: &str, expected: &Option<String>, actual: &str| {
        if let Some(e) = expected {
            if e != actual {
                failures.push(Failure::Expect {
                    field: field.into(),
                    expected: e.clone(),
                    actual: actual.into(),
                });
            }
        }
    };
    check("outcome", &expect.outcome, outcome.kind.as_str());
    check("cvm", &expect.cvm, outcome.cvm.as_str());
    check("oda", &expect.oda, outcome.oda.as_str());
    for (tag, value) in &expect.data_record {
        let actual = outcome.data_record.get(tag.0);
        if actual != Some(value.0.as_slice()) {
            let show = |v: Option<&[u8]>| match v {
                None => "absent".to_string(),
                Some(v) if crate::mask::is_masked_tag(tag.0) => trace::render(tag.0, v),
                Some(v) => hex::encode_upper(v),
            };
            failures.push(Failure::Expect {
                field: format!("data_record.{}", tag.0),
                expected: show(Some(&value.0)),
                actual: show(actual),
            });
        }
    }
}

/// Explains how two commands differ, field by field.
pub fn differences(expected: &[u8], actual: &CommandApdu, dols: &CardDols) -> Vec<String> {
    let Ok(exp) = CommandApdu::parse(expected) else {
        return vec![format!(
            "the recorded command {} is not a valid APDU",
            hex::encode_upper(expected)
        )];
    };
    let mut out = Vec::new();
    let (en, an) = (trace::command_name(&exp), trace::command_name(actual));
    if [exp.cla, exp.ins, exp.p1, exp.p2] != [actual.cla, actual.ins, actual.p1, actual.p2] {
        out.push(format!(
            "header: expected {:02X}{:02X}{:02X}{:02X} ({en}), actual {:02X}{:02X}{:02X}{:02X} ({an})",
            exp.cla, exp.ins, exp.p1, exp.p2, actual.cla, actual.ins, actual.p1, actual.p2
        ));
    }
    if exp.data != actual.data {
        let e_split = dols.split(&exp, &exp.data);
        let a_split = dols.split(actual, &actual.data);
        match (e_split, a_split) {
            (Some(e), Some(a)) if e.len() == a.len() => {
                for ((tag, ev), (_, av)) in e.iter().zip(a.iter()) {
                    if ev != av {
                        out.push(tag_line(*tag, ev, av));
                    }
                }
            }
            _ => match (tlv::parse_all(&exp.data), tlv::parse_all(&actual.data)) {
                (Ok(e), Ok(a)) if !e.is_empty() && !a.is_empty() => tlv_diff(&e, &a, &mut out),
                _ => out.push(byte_diff(&exp.data, &actual.data)),
            },
        }
    }
    if exp.le != actual.le {
        let show = |le: Option<u8>| le.map_or("absent".into(), |l| format!("{l:02X}"));
        out.push(format!(
            "Le: expected {}, actual {}",
            show(exp.le),
            show(actual.le)
        ));
    }
    if out.is_empty() {
        out.push("same fields, different encoding".into());
    }
    out
}

fn tag_line(tag: Tag, expected: &[u8], actual: &[u8]) -> String {
    format!(
        "{} {}: expected {}, actual {}",
        tag,
        kernel::tags::name(tag),
        trace::render(tag, expected),
        trace::render(tag, actual)
    )
}

fn tlv_diff(e: &[tlv::Tlv<'_>], a: &[tlv::Tlv<'_>], out: &mut Vec<String>) {
    for x in e {
        match a.iter().find(|y| y.tag == x.tag) {
            Some(y) if y.value == x.value => {}
            Some(y) => out.push(tag_line(x.tag, x.value, y.value)),
            None => out.push(format!(
                "{} {}: expected {}, actual absent",
                x.tag,
                kernel::tags::name(x.tag),
                trace::render(x.tag, x.value)
            )),
        }
    }
    for y in a {
        if !e.iter().any(|x| x.tag == y.tag) {
            out.push(format!(
                "{} {}: not expected, actual {}",
                y.tag,
                kernel::tags::name(y.tag),
                trace::render(y.tag, y.value)
            ));
        }
    }
}

fn byte_diff(e: &[u8], a: &[u8]) -> String {
    let first = e
        .iter()
        .zip(a.iter())
        .position(|(x, y)| x != y)
        .unwrap_or(e.len().min(a.len()));
    format!(
        "data differs from byte {first}: expected {} ({} bytes), actual {} ({} bytes)",
        hex::encode_upper(e.get(first..).unwrap_or(&[])),
        e.len(),
        hex::encode_upper(a.get(first..).unwrap_or(&[])),
        a.len()
    )
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Setup(m) => write!(f, "session unusable: {m}"),
            Failure::Kernel(m) => write!(f, "kernel error: {m}"),
            Failure::Divergence(d) => {
                write!(f, "divergence at exchange #{}: expected ", d.index)?;
                match &d.expected {
                    Some(e) => write!(f, "{}", hex::encode_upper(e))?,
                    None => write!(f, "no command (recording ended)")?,
                }
                write!(f, ", actual {}", hex::encode_upper(&d.actual))?;
                for line in &d.differences {
                    write!(f, "; {line}")?;
                }
                Ok(())
            }
            Failure::Unused { first, count } => write!(
                f,
                "{count} recorded exchange(s) unused, from #{first}: the transaction ended early"
            ),
            Failure::Expect {
                field,
                expected,
                actual,
            } => write!(f, "expect.{field}: expected {expected}, actual {actual}"),
        }
    }
}

impl fmt::Display for ReplayReport {
    /// One line: "PASS approved" or "FAIL <first failure> (+n more)".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = self
            .outcome
            .as_ref()
            .map_or("no outcome", |o| o.kind.as_str());
        match self.failures.split_first() {
            None => write!(f, "PASS {kind}"),
            Some((first, rest)) => {
                write!(f, "FAIL {first}")?;
                for r in rest {
                    write!(f, " | {r}")?;
                }
                // What the kernel itself said is often the quickest clue.
                if let Some(o) = &self.outcome {
                    write!(f, " (kernel ended {kind}")?;
                    if let Some(r) = &o.reason {
                        write!(f, ": {}", r.text())?;
                    }
                    write!(f, ")")?;
                }
                Ok(())
            }
        }
    }
}
