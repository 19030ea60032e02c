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
    /// Optional field added by this project: the card left the field (or
    /// stopped answering) after the last exchange, so the kernel's next
    /// command got no answer. Replay then ends the way a reader does, with
    /// the kernel's card-removed outcome.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub card_removed: bool,
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
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum CaKeysSpec {
    Named(CaKeySet),
    Keys(Vec<CaKeySpec>),
}

// By hand rather than `untagged`: serde buffers an untagged value before
// trying each variant, which doubled the parse time of a session, and its
// error says nothing useful.
impl<'de> Deserialize<'de> for CaKeysSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = CaKeysSpec;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(
                    "\"test\", \"live\", \"all\" or an array of { rid, index, modulus, exponent, expiry } objects",
                )
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<CaKeysSpec, E> {
                match v {
                    "test" => Ok(CaKeysSpec::Named(CaKeySet::Test)),
                    "live" => Ok(CaKeysSpec::Named(CaKeySet::Live)),
                    "all" => Ok(CaKeysSpec::Named(CaKeySet::All)),
                    _ => Err(E::invalid_value(serde::de::Unexpected::Str(v), &self)),
                }
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<CaKeysSpec, A::Error> {
                let mut keys = Vec::with_capacity(seq.size_hint().unwrap_or(1));
                while let Some(k) = seq.next_element::<CaKeySpec>()? {
                    keys.push(k);
                }
                Ok(CaKeysSpec::Keys(keys))
            }
        }
        d.deserialize_any(V)
    }
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
        // The fast path for the common case; the path-tracking parser runs
        // again only to name the field of an error.
        if let Ok(session) = serde_json::from_str::<Session>(text) {
            session.validate()?;
            return Ok(session);
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the spec, with full exchanges.
    pub(crate) const EXAMPLE: &str = r#"{
      "format": "softpos-card-session/1",
      "title": "Visa qVSDC online request, CDCVM, fDDA",
      "source": "cardsim:visa-cvn18",
      "recorded_at": "2026-11-23T10:15:00Z",
      "reader": "sim",
      "terminal": {
        "tags": {
          "9F1A": "0156", "5F2A": "0156", "5F36": "02", "9F35": "22",
          "9F33": "E0F8C8", "9F40": "6000F0A001", "9F66": "36004000",
          "9F15": "5411", "9F16": "313233343536373839303132333435", "9F1C": "3132333435363738",
          "9F09": "0002", "9F6D": "0001", "DF8117": "00"
        },
        "aids": [
          { "aid": "A0000000031010", "kernel": 3, "partial": true,
            "floor_limit": 0, "cvm_limit": 30000, "transaction_limit": 500000,
            "tac_denial": "0010000000", "tac_online": "DC4004F800", "tac_default": "DC4000A800" },
          { "aid": "A0000000041010", "kernel": 2, "partial": true,
            "floor_limit": 0, "cvm_limit": 30000, "transaction_limit": 500000 }
        ],
        "ca_keys": "test"
      },
      "transaction": {
        "type": "00", "amount": 2500, "amount_other": 0, "currency": "0156",
        "date": "261123", "time": "101500", "unpredictable_numbers": ["A1B2C3D4"]
      },
      "exchanges": [
        { "c": "00A404000E325041592E5359532E444446303100", "r": "6F2F9000", "ms": 11 },
        { "c": "00a4040007 a0000000031010 00", "r": "6f00 9000", "ms": 14 }
      ],
      "expect": {
        "outcome": "online_request", "cvm": "cdcvm", "oda": "passed",
        "data_record": { "9F26": "0102030405060708", "9F27": "80", "9F36": "0015" }
      }
    }"#;

    #[test]
    fn reads_every_field_of_the_spec_example() {
        let s = Session::parse(EXAMPLE).unwrap();
        assert_eq!(
            s.title.as_deref(),
            Some("Visa qVSDC online request, CDCVM, fDDA")
        );
        assert_eq!(s.source.as_deref(), Some("cardsim:visa-cvn18"));
        assert_eq!(s.recorded_at.as_deref(), Some("2026-11-23T10:15:00Z"));
        assert_eq!(s.reader.as_deref(), Some("sim"));
        assert_eq!(s.terminal.tags.len(), 13);
        assert_eq!(
            s.terminal.aids[0].tac_online.as_ref().unwrap().0,
            [0xDC, 0x40, 0x04, 0xF8, 0x00]
        );
        assert_eq!(s.terminal.aids[1].tac_online, None);
        assert_eq!(s.terminal.ca_keys, CaKeysSpec::Named(CaKeySet::Test));
        assert_eq!(s.start, None);
        assert_eq!(
            s.exchanges[1].c.0,
            hex::decode("00A4040007A000000003101000").unwrap()
        );
        assert_eq!(s.exchanges[1].ms, Some(14));
        let e = s.expect.as_ref().unwrap();
        assert_eq!(e.outcome.as_deref(), Some("online_request"));
        assert_eq!(e.data_record.len(), 3);

        let config = s.terminal_config().unwrap();
        assert_eq!(config.aids.len(), 2);
        assert_eq!(config.aids[0].kernel, 3);
        assert_eq!(config.aids[0].cvm_limit, Some(30000));
        assert_eq!(config.aids[1].tac_default, None);
        assert_eq!(
            config.tags.get(&kernel::Tag::from_u32_unchecked(0xDF8117)),
            Some(&vec![0u8])
        );
        let inputs = s.inputs().unwrap();
        assert_eq!(inputs.amount.minor, 2500);
        assert_eq!(inputs.amount.currency.alpha, "CNY");
        assert_eq!(inputs.date, [0x26, 0x11, 0x23]);
        assert_eq!(inputs.time, [0x10, 0x15, 0x00]);
        assert_eq!(inputs.unpredictable_numbers, vec![[0xA1, 0xB2, 0xC3, 0xD4]]);
        assert_eq!(inputs.start, Start::Ppse);
    }

    #[test]
    fn round_trips_in_upper_case() {
        let s = Session::parse(EXAMPLE).unwrap();
        let text = s.to_json_pretty();
        assert!(text.contains("\"00A4040007A000000003101000\""));
        assert!(!text.contains("a0000000031010"));
        let again = Session::parse(&text).unwrap();
        assert_eq!(again, s);
        assert_eq!(again.to_json_pretty(), text);
    }

    #[test]
    fn ignores_unknown_optional_fields() {
        let text = EXAMPLE
            .replacen("\"title\"", "\"operator\": \"alice\", \"title\"", 1)
            .replacen("\"ms\": 11", "\"ms\": 11, \"rf_field\": 3", 1);
        assert!(Session::parse(&text).is_ok());
    }

    #[test]
    fn named_key_sets_and_explicit_keys() {
        for (name, set) in [
            ("test", CaKeySet::Test),
            ("live", CaKeySet::Live),
            ("all", CaKeySet::All),
        ] {
            let text =
                EXAMPLE.replace("\"ca_keys\": \"test\"", &format!("\"ca_keys\": \"{name}\""));
            let s = Session::parse(&text).unwrap();
            assert_eq!(s.terminal.ca_keys, CaKeysSpec::Named(set));
        }
        let all = Session::parse(&EXAMPLE.replace("\"ca_keys\": \"test\"", "\"ca_keys\": \"all\""))
            .unwrap()
            .terminal_config()
            .unwrap();
        assert!(!all.ca_keys.keys().is_empty());
        let keys = r#""ca_keys": [{ "rid": "a000000003", "index": "99", "modulus": "C0FFEE", "exponent": "03", "expiry": "291231" }]"#;
        let s = Session::parse(&EXAMPLE.replace("\"ca_keys\": \"test\"", keys)).unwrap();
        let store = s.terminal_config().unwrap().ca_keys;
        let k = store.find(&[0xA0, 0, 0, 0, 3], 0x99).unwrap();
        assert_eq!(k.modulus, vec![0xC0, 0xFF, 0xEE]);
        assert_eq!(k.expiry, Some([0x29, 0x12, 0x31]));
        assert!(store.find(&[0xA0, 0, 0, 0, 3], 0x98).is_none());
    }

    #[test]
    fn start_final_selection() {
        let text = EXAMPLE.replacen(
            "\"transaction\"",
            "\"start\": \"final_selection\", \"transaction\"",
            1,
        );
        let s = Session::parse(&text).unwrap();
        assert_eq!(s.inputs().unwrap().start, Start::FinalSelection);
        let bad = EXAMPLE.replacen(
            "\"transaction\"",
            "\"start\": \"middle\", \"transaction\"",
            1,
        );
        assert_eq!(Session::parse(&bad).unwrap_err().field, "start");
    }

    fn err(from: &str, to: &str) -> SessionError {
        let text = EXAMPLE.replacen(from, to, 1);
        assert_ne!(text, EXAMPLE, "{from} not in the example");
        Session::parse(&text).unwrap_err()
    }

    #[test]
    fn errors_name_the_field() {
        let cases: &[(&str, &str, &str)] = &[
            ("softpos-card-session/1", "softpos-card-session/2", "format"),
            (
                "\"9F1A\": \"0156\"",
                "\"9F1A\": \"01G6\"",
                "terminal.tags.9F1A",
            ),
            ("\"9F1A\": \"0156\"", "\"9F\": \"0156\"", "terminal.tags.9F"),
            ("\"kernel\": 3", "\"kernel\": 9", "terminal.aids[0].kernel"),
            (
                "\"tac_denial\": \"0010000000\"",
                "\"tac_denial\": \"0010\"",
                "terminal.aids[0].tac_denial",
            ),
            (
                "\"aid\": \"A0000000031010\"",
                "\"aid\": \"A000\"",
                "terminal.aids[0].aid",
            ),
            (
                "\"ca_keys\": \"test\"",
                "\"ca_keys\": \"prod\"",
                "terminal.ca_keys",
            ),
            ("\"type\": \"00\"", "\"type\": \"0A\"", "transaction.type"),
            ("\"amount\": 2500", "\"amount\": -1", "transaction.amount"),
            (
                "\"amount\": 2500",
                "\"amount\": 1000000000000",
                "transaction.amount",
            ),
            (
                "\"currency\": \"0156\"",
                "\"currency\": \"0999\"",
                "transaction.currency",
            ),
            (
                "\"date\": \"261123\"",
                "\"date\": \"2611\"",
                "transaction.date",
            ),
            (
                "\"time\": \"101500\"",
                "\"time\": \"1015ZZ\"",
                "transaction.time",
            ),
            (
                "[\"A1B2C3D4\"]",
                "[\"A1B2C3D4\", \"A1B2C3\"]",
                "transaction.unpredictable_numbers[1]",
            ),
            ("\"r\": \"6F2F9000\"", "\"r\": \"90\"", "exchanges[0].r"),
            (
                "\"c\": \"00A404000E325041592E5359532E444446303100\"",
                "\"c\": \"00A4\"",
                "exchanges[0].c",
            ),
            ("\"online_request\"", "\"online\"", "expect.outcome"),
            ("\"cvm\": \"cdcvm\"", "\"cvm\": \"pin\"", "expect.cvm"),
            ("\"oda\": \"passed\"", "\"oda\": \"ok\"", "expect.oda"),
            (
                "\"9F27\": \"80\"",
                "\"9F27\": \"8\"",
                "expect.data_record.9F27",
            ),
        ];
        for (from, to, field) in cases {
            let e = err(from, to);
            assert_eq!(e.field, *field, "{from} -> {to}: {e}");
            assert!(!e.message.is_empty());
        }
        let missing = EXAMPLE.replacen("\"exchanges\"", "\"exchangez\"", 1);
        let e = Session::parse(&missing).unwrap_err();
        assert!(e.message.contains("exchanges"), "{e}");
        assert!(Session::parse("not json").is_err());
        assert!(Session::parse("").is_err());
    }
}
