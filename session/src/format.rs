//! The `softpos-card-session/1` file format, field by field as
//! `shared/specs/card-session.md` defines it.

use crate::hexstr::{Hex, TagKey};
use kernel::oda::{CaKeyStore, CaPublicKey};
use kernel::{AidConfig, Amount, Currency, Start, TerminalConfig, TransactionInputs};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The only format this crate reads and writes.
pub const FORMAT: &str = "softpos-card-session/1";

/// One recorded card session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub format: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reader: Option<String>,
    pub terminal: TerminalSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<StartSpec>,
    pub transaction: TransactionSpec,
    pub exchanges: Vec<Exchange>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<Expect>,
    /// Optional field added by this project: what an importer or recorder
    /// changed or could not keep (dropped exchanges, masked data).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// `terminal`: the terminal's standing configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TerminalSpec {
    pub tags: BTreeMap<TagKey, Hex>,
    pub aids: Vec<AidSpec>,
    pub ca_keys: CaKeysSpec,
}

/// One entry of `terminal.aids`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AidSpec {
    pub aid: Hex,
    pub kernel: u8,
    #[serde(default)]
    pub partial: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub floor_limit: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cvm_limit: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_limit: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tac_denial: Option<Hex>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tac_online: Option<Hex>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tac_default: Option<Hex>,
}

/// `terminal.ca_keys`: a published set by name, or explicit keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CaKeysSpec {
    Named(CaKeySet),
    Keys(Vec<CaKeySpec>),
}

/// The published key sets a session can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CaKeySet {
    Test,
    Live,
    All,
}

/// One explicit CA public key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaKeySpec {
    pub rid: Hex,
    pub index: Hex,
    pub modulus: Hex,
    pub exponent: Hex,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry: Option<Hex>,
}

/// `start`: where the transcript begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StartSpec {
    Ppse,
    FinalSelection,
}

/// `transaction`: every input the terminal would otherwise invent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransactionSpec {
    #[serde(rename = "type")]
    pub tx_type: Hex,
    pub amount: u64,
    #[serde(default)]
    pub amount_other: u64,
    pub currency: Hex,
    pub date: Hex,
    pub time: Hex,
    pub unpredictable_numbers: Vec<Hex>,
}

/// One command and the card's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Exchange {
    pub c: Hex,
    pub r: Hex,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ms: Option<u64>,
}

/// `expect`: what the kernel must conclude.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Expect {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cvm: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oda: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data_record: BTreeMap<TagKey, Hex>,
}

pub const OUTCOMES: &[&str] = &[
    "approved",
    "declined",
    "online_request",
    "try_another_interface",
    "end_application",
    "try_again",
    "select_next",
];
pub const CVMS: &[&str] = &["no_cvm", "signature", "online_pin", "cdcvm", "none"];
pub const ODAS: &[&str] = &["passed", "failed", "not_performed"];

/// Why a session file cannot be used. `field` is the JSON path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct SessionError {
    pub field: String,
    pub message: String,
}

impl SessionError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        SessionError {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl Session {
    /// Parses and checks a session file. The error names the field at fault.
    pub fn parse(text: &str) -> Result<Session, SessionError> {
        let de = &mut serde_json::Deserializer::from_str(text);
        let session: Session = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let field = if path == "." { "(file)".into() } else { path };
            let inner = e.into_inner();
            let message = untagged_hint(&field, inner.to_string());
            SessionError::new(field, message)
        })?;
        session.validate()?;
        Ok(session)
    }

    /// The file's text: pretty JSON, hex in upper case.
    pub fn to_json_pretty(&self) -> String {
        // Serialising plain data with string keys cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Checks what serde cannot: the format name, byte lengths, BCD digits,
    /// names from the spec's closed lists.
    pub fn validate(&self) -> Result<(), SessionError> {
        if self.format != FORMAT {
            return Err(SessionError::new(
                "format",
                format!("expected {FORMAT:?}, found {:?}", self.format),
            ));
        }
        for (i, a) in self.terminal.aids.iter().enumerate() {
            let f = |name: &str| format!("terminal.aids[{i}].{name}");
            if !(5..=16).contains(&a.aid.0.len()) {
                return Err(SessionError::new(f("aid"), "an AID has 5 to 16 bytes"));
            }
            if !(1..=7).contains(&a.kernel) {
                return Err(SessionError::new(f("kernel"), "kernel ID must be 1 to 7"));
            }
            for (name, tac) in [
                ("tac_denial", &a.tac_denial),
                ("tac_online", &a.tac_online),
                ("tac_default", &a.tac_default),
            ] {
                if let Some(t) = tac {
                    fixed_len(&f(name), t, 5)?;
                }
            }
        }
        if self.terminal.aids.is_empty() {
            return Err(SessionError::new(
                "terminal.aids",
                "the terminal must support at least one AID",
            ));
        }
        if let CaKeysSpec::Keys(keys) = &self.terminal.ca_keys {
            for (i, k) in keys.iter().enumerate() {
                let f = |name: &str| format!("terminal.ca_keys[{i}].{name}");
                fixed_len(&f("rid"), &k.rid, 5)?;
                fixed_len(&f("index"), &k.index, 1)?;
                if k.modulus.0.is_empty() || k.modulus.0.len() > 248 {
                    return Err(SessionError::new(f("modulus"), "1 to 248 bytes"));
                }
                if !matches!(k.exponent.0.as_slice(), [3] | [1, 0, 1] | [0, 1, 0, 1]) {
                    return Err(SessionError::new(f("exponent"), "expected 03 or 010001"));
                }
                if let Some(e) = &k.expiry {
                    bcd_len(&f("expiry"), e, 3)?;
                }
            }
        }
        let t = &self.transaction;
        bcd_len("transaction.type", &t.tx_type, 1)?;
        bcd_len("transaction.currency", &t.currency, 2)?;
        bcd_len("transaction.date", &t.date, 3)?;
        bcd_len("transaction.time", &t.time, 3)?;
        Currency::from_bcd(&t.currency.0)
            .map_err(|e| SessionError::new("transaction.currency", e.to_string()))?;
        for field in [("amount", t.amount), ("amount_other", t.amount_other)] {
            if field.1 > kernel::money::MAX_EMV_AMOUNT {
                return Err(SessionError::new(
                    format!("transaction.{}", field.0),
                    "more than the 12 digits EMV carries",
                ));
            }
        }
        for (i, un) in t.unpredictable_numbers.iter().enumerate() {
            fixed_len(&format!("transaction.unpredictable_numbers[{i}]"), un, 4)?;
        }
        for (i, x) in self.exchanges.iter().enumerate() {
            if x.c.0.len() < 4 {
                return Err(SessionError::new(
                    format!("exchanges[{i}].c"),
                    "a command has at least its 4-byte header",
                ));
            }
            if x.r.0.len() < 2 {
                return Err(SessionError::new(
                    format!("exchanges[{i}].r"),
                    "a response has at least its 2-byte status word",
                ));
            }
        }
        if let Some(e) = &self.expect {
            one_of("expect.outcome", e.outcome.as_deref(), OUTCOMES)?;
            one_of("expect.cvm", e.cvm.as_deref(), CVMS)?;
            one_of("expect.oda", e.oda.as_deref(), ODAS)?;
        }
        Ok(())
    }

    /// The kernel's terminal configuration.
    pub fn terminal_config(&self) -> Result<TerminalConfig, SessionError> {
        self.terminal.to_config()
    }

    /// The kernel's transaction inputs.
    pub fn inputs(&self) -> Result<TransactionInputs, SessionError> {
        let t = &self.transaction;
        let currency = Currency::from_bcd(&t.currency.0)
            .map_err(|e| SessionError::new("transaction.currency", e.to_string()))?;
        let amount = Amount::new(t.amount, currency)
            .map_err(|e| SessionError::new("transaction.amount", e.to_string()))?;
        let mut unpredictable_numbers = Vec::with_capacity(t.unpredictable_numbers.len());
        for (i, un) in t.unpredictable_numbers.iter().enumerate() {
            unpredictable_numbers.push(array::<4>(
                &format!("transaction.unpredictable_numbers[{i}]"),
                un,
            )?);
        }
        let [tx_type] = array::<1>("transaction.type", &t.tx_type)?;
        Ok(TransactionInputs {
            tx_type,
            amount,
            amount_other: t.amount_other,
            date: array::<3>("transaction.date", &t.date)?,
            time: array::<3>("transaction.time", &t.time)?,
            unpredictable_numbers,
            start: match self.start {
                None | Some(StartSpec::Ppse) => Start::Ppse,
                Some(StartSpec::FinalSelection) => Start::FinalSelection,
            },
        })
    }
}

impl TerminalSpec {
    /// The kernel's terminal configuration.
    pub fn to_config(&self) -> Result<TerminalConfig, SessionError> {
        let tags = self.tags.iter().map(|(k, v)| (k.0, v.0.clone())).collect();
        let mut aids = Vec::with_capacity(self.aids.len());
        for (i, a) in self.aids.iter().enumerate() {
            let tac = |name: &str, v: &Option<Hex>| -> Result<Option<[u8; 5]>, SessionError> {
                v.as_ref()
                    .map(|h| array::<5>(&format!("terminal.aids[{i}].{name}"), h))
                    .transpose()
            };
            aids.push(AidConfig {
                aid: a.aid.0.clone(),
                kernel: a.kernel,
                partial: a.partial,
                floor_limit: a.floor_limit,
                cvm_limit: a.cvm_limit,
                transaction_limit: a.transaction_limit,
                tac_denial: tac("tac_denial", &a.tac_denial)?,
                tac_online: tac("tac_online", &a.tac_online)?,
                tac_default: tac("tac_default", &a.tac_default)?,
            });
        }
        Ok(TerminalConfig {
            tags,
            aids,
            ca_keys: self.ca_keys.to_store()?,
            revocations: Default::default(),
        })
    }

    /// The session form of a kernel configuration (CA keys written out).
    pub fn from_config(config: &TerminalConfig) -> TerminalSpec {
        TerminalSpec {
            tags: config
                .tags
                .iter()
                .map(|(k, v)| (TagKey(*k), Hex(v.clone())))
                .collect(),
            aids: config
                .aids
                .iter()
                .map(|a| AidSpec {
                    aid: Hex(a.aid.clone()),
                    kernel: a.kernel,
                    partial: a.partial,
                    floor_limit: a.floor_limit,
                    cvm_limit: a.cvm_limit,
                    transaction_limit: a.transaction_limit,
                    tac_denial: a.tac_denial.map(|t| Hex(t.to_vec())),
                    tac_online: a.tac_online.map(|t| Hex(t.to_vec())),
                    tac_default: a.tac_default.map(|t| Hex(t.to_vec())),
                })
                .collect(),
            ca_keys: CaKeysSpec::from_store(&config.ca_keys),
        }
    }
}

impl CaKeysSpec {
    /// The key store this names.
    pub fn to_store(&self) -> Result<CaKeyStore, SessionError> {
        match self {
            CaKeysSpec::Named(CaKeySet::Test) => Ok(CaKeyStore::test()),
            CaKeysSpec::Named(CaKeySet::Live) => Ok(CaKeyStore::live()),
            CaKeysSpec::Named(CaKeySet::All) => Ok(CaKeyStore::all()),
            CaKeysSpec::Keys(keys) => {
                let mut out = Vec::with_capacity(keys.len());
                for (i, k) in keys.iter().enumerate() {
                    let f = |name: &str| format!("terminal.ca_keys[{i}].{name}");
                    let [index] = array::<1>(&f("index"), &k.index)?;
                    let mut key = CaPublicKey::new(
                        array::<5>(&f("rid"), &k.rid)?,
                        index,
                        k.modulus.0.clone(),
                        k.exponent.0.clone(),
                    );
                    key.expiry = k
                        .expiry
                        .as_ref()
                        .map(|e| array::<3>(&f("expiry"), e))
                        .transpose()?;
                    out.push(key);
                }
                Ok(CaKeyStore::from_keys(out))
            }
        }
    }

    /// Every key of a store, written out.
    pub fn from_store(store: &CaKeyStore) -> CaKeysSpec {
        CaKeysSpec::Keys(
            store
                .keys()
                .iter()
                .map(|k| CaKeySpec {
                    rid: Hex(k.rid.to_vec()),
                    index: Hex(vec![k.index]),
                    modulus: Hex(k.modulus.clone()),
                    exponent: Hex(k.exponent.clone()),
                    expiry: k.expiry.map(|e| Hex(e.to_vec())),
                })
                .collect(),
        )
    }
}

impl TransactionSpec {
    /// The session form of the kernel's inputs.
    pub fn from_inputs(inputs: &TransactionInputs) -> TransactionSpec {
        TransactionSpec {
            tx_type: Hex(vec![inputs.tx_type]),
            amount: inputs.amount.minor,
            amount_other: inputs.amount_other,
            currency: Hex(inputs.amount.currency.to_bcd().to_vec()),
            date: Hex(inputs.date.to_vec()),
            time: Hex(inputs.time.to_vec()),
            unpredictable_numbers: inputs
                .unpredictable_numbers
                .iter()
                .map(|u| Hex(u.to_vec()))
                .collect(),
        }
    }
}

fn untagged_hint(field: &str, message: String) -> String {
    if field.ends_with("ca_keys") && message.contains("untagged") {
        "expected \"test\", \"live\", \"all\" or an array of { rid, index, modulus, exponent, expiry } objects".into()
    } else {
        message
    }
}

fn fixed_len(field: &str, h: &Hex, len: usize) -> Result<(), SessionError> {
    if h.0.len() == len {
        Ok(())
    } else {
        Err(SessionError::new(
            field,
            format!("expected {len} byte(s), found {}", h.0.len()),
        ))
    }
}

fn bcd_len(field: &str, h: &Hex, len: usize) -> Result<(), SessionError> {
    fixed_len(field, h, len)?;
    if h.0.iter().all(|b| b >> 4 <= 9 && b & 0x0F <= 9) {
        Ok(())
    } else {
        Err(SessionError::new(
            field,
            format!("{} is not decimal digits", h),
        ))
    }
}

fn one_of(field: &str, value: Option<&str>, allowed: &[&str]) -> Result<(), SessionError> {
    match value {
        Some(v) if !allowed.contains(&v) => Err(SessionError::new(
            field,
            format!("{v:?} is not one of {}", allowed.join(", ")),
        )),
        _ => Ok(()),
    }
}

fn array<const N: usize>(field: &str, h: &Hex) -> Result<[u8; N], SessionError> {
    <[u8; N]>::try_from(h.0.as_slice())
        .map_err(|_| SessionError::new(field, format!("expected {N} byte(s), found {}", h.0.len())))
}
