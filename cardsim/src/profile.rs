//! Card profiles: a virtual card is data (`cardsim/profiles/*.toml`), so a
//! QA engineer can add one without touching code, and anyone can recompute
//! its cryptograms from the `imk_ac` it names.

use crate::CardSimError;
use cryptogram::{Cvn, Key16};
use kernel::Pan;
use serde::Deserialize;
use std::fmt;
use std::path::Path;

/// The scheme family a card imitates, which decides its command flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Visa qVSDC, Kernel 3: everything happens in GPO.
    Visa,
    /// Mastercard M/Chip, Kernel 2: GPO gives AIP and AFL, GENERATE AC the cryptogram.
    Mastercard,
    /// UnionPay qUICS, Kernel 7: qVSDC-like.
    Unionpay,
}

impl Kind {
    /// Kernel identifier (EMV Book B) announced in the PPSE (tag 9F2A).
    pub fn kernel_id(self) -> u8 {
        match self {
            Kind::Visa => 3,
            Kind::Mastercard => 2,
            Kind::Unionpay => 7,
        }
    }

    /// qVSDC-style cards answer GPO with the cryptogram.
    pub fn is_qvsdc(self) -> bool {
        matches!(self, Kind::Visa | Kind::Unionpay)
    }
}

/// Answer the `nth` command with instruction byte `ins` by `sw` alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WrongSw {
    pub ins: u8,
    pub sw: u16,
    pub nth: u32,
}

/// How the card behaves beyond the happy path. All off by default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Behaviour {
    /// Card risk management says no: every cryptogram is an AAC.
    pub decline: bool,
    /// The card approves offline (TC) when the terminal lets it.
    pub offline_approval: bool,
    /// Highest amount (minor units) the card approves offline; `None` = any.
    pub offline_limit: Option<u64>,
    /// Consumer device CVM performed (CTQ byte 2 bit 8; AIP on-device CVM for M/Chip).
    pub cdcvm: bool,
    /// Card asks for online PIN (CTQ byte 1 bit 8; CVM list for M/Chip).
    pub online_pin: bool,
    /// Card asks for a signature (CTQ byte 1 bit 7; CVM list for M/Chip).
    pub signature: bool,
    pub wrong_sw: Option<WrongSw>,
    /// Responses to this instruction come back as truncated TLV.
    pub malformed_tlv_on: Option<u8>,
    /// The ICC public key certificate is issued already expired.
    pub expired_certificate: bool,
    /// The card leaves the field after answering this many commands in a tap.
    pub remove_after: Option<u32>,
    /// Added to every answer's reported time.
    pub slow_ms: u32,
    /// Answers with data come as `61xx`, to be fetched with GET RESPONSE.
    pub chained: bool,
    /// READ RECORD and GET DATA answer `6Cxx` unless Le is the exact length.
    pub wrong_le: bool,
}

/// A virtual card's personalisation. `Debug` masks the PAN and the key.
#[derive(Clone)]
pub struct Profile {
    pub name: String,
    pub description: String,
    pub kind: Kind,
    pub aid: Vec<u8>,
    pub label: String,
    pub pan: Pan,
    pub psn: u8,
    /// 5F24, YYMMDD.
    pub expiry: [u8; 3],
    /// 5F25, YYMMDD.
    pub effective: [u8; 3],
    pub cvn: Cvn,
    pub imk_ac: Key16,
    /// Value of the ATC before the first transaction.
    pub initial_atc: u16,
    pub aip: [u8; 2],
    /// Card transaction qualifiers before behaviours add their bits.
    pub ctq: [u8; 2],
    pub iac_default: [u8; 5],
    pub iac_denial: [u8; 5],
    pub iac_online: [u8; 5],
    pub cvm_list: Option<Vec<u8>>,
    pub pdol: Option<Vec<u8>>,
    pub cdol1: Vec<u8>,
    pub issuer_country: [u8; 2],
    pub application_currency: [u8; 2],
    pub keys: KeyTexts,
    pub behaviour: Behaviour,
}

/// The three RSA keys of the card's chain, as key file texts.
#[derive(Clone)]
pub struct KeyTexts {
    pub ca: String,
    pub issuer: String,
    pub icc: String,
}

impl fmt::Debug for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Profile")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("aid", &hex::encode_upper(&self.aid))
            .field("pan", &self.pan)
            .field("cvn", &self.cvn)
            .field("imk_ac", &"<redacted>")
            .field("behaviour", &self.behaviour)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileFile {
    name: String,
    #[serde(default)]
    description: String,
    kind: String,
    aid: String,
    label: String,
    pan: String,
    psn: String,
    expiry: String,
    effective: Option<String>,
    cvn: String,
    imk_ac: String,
    #[serde(default = "default_atc")]
    atc: u16,
    aip: String,
    #[serde(default = "zero_ctq")]
    ctq: String,
    iac_default: Option<String>,
    iac_denial: Option<String>,
    iac_online: Option<String>,
    cvm_list: Option<String>,
    pdol: Option<String>,
    cdol1: Option<String>,
    #[serde(default = "default_country")]
    issuer_country: String,
    #[serde(default = "default_country")]
    application_currency: String,
    keys: KeyRefs,
    #[serde(default)]
    behaviour: BehaviourFile,
}

fn default_atc() -> u16 {
    0x0010
}
fn zero_ctq() -> String {
    "0000".into()
}
fn default_country() -> String {
    "0840".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyRefs {
    ca: String,
    issuer: String,
    icc: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct BehaviourFile {
    #[serde(default)]
    decline: bool,
    #[serde(default)]
    offline_approval: bool,
    offline_limit: Option<u64>,
    #[serde(default)]
    cdcvm: bool,
    #[serde(default)]
    online_pin: bool,
    #[serde(default)]
    signature: bool,
    wrong_sw: Option<WrongSwFile>,
    malformed_tlv_on: Option<String>,
    #[serde(default)]
    expired_certificate: bool,
    remove_after: Option<u32>,
    #[serde(default)]
    slow_ms: u32,
    #[serde(default)]
    chained: bool,
    #[serde(default)]
    wrong_le: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WrongSwFile {
    ins: String,
    sw: String,
    #[serde(default = "one")]
    nth: u32,
}

fn one() -> u32 {
    1
}

/// The profiles shipped with the crate, embedded so they work from any directory.
const BUILTIN_PROFILES: &[(&str, &str)] = &[
    ("visa-cvn18", include_str!("../profiles/visa-cvn18.toml")),
    ("visa-cvn10", include_str!("../profiles/visa-cvn10.toml")),
    (
        "visa-offline",
        include_str!("../profiles/visa-offline.toml"),
    ),
    ("visa-cdcvm", include_str!("../profiles/visa-cdcvm.toml")),
    (
        "visa-online-pin",
        include_str!("../profiles/visa-online-pin.toml"),
    ),
    (
        "visa-signature",
        include_str!("../profiles/visa-signature.toml"),
    ),
    (
        "visa-decline",
        include_str!("../profiles/visa-decline.toml"),
    ),
    (
        "visa-expired-cert",
        include_str!("../profiles/visa-expired-cert.toml"),
    ),
    (
        "visa-malformed-gpo",
        include_str!("../profiles/visa-malformed-gpo.toml"),
    ),
    (
        "visa-record-6a83",
        include_str!("../profiles/visa-record-6a83.toml"),
    ),
    (
        "visa-removed",
        include_str!("../profiles/visa-removed.toml"),
    ),
    ("visa-slow", include_str!("../profiles/visa-slow.toml")),
    (
        "visa-wrong-le",
        include_str!("../profiles/visa-wrong-le.toml"),
    ),
    (
        "visa-gpo-6985",
        include_str!("../profiles/visa-gpo-6985.toml"),
    ),
    (
        "visa-gpo-6984",
        include_str!("../profiles/visa-gpo-6984.toml"),
    ),
    (
        "visa-gpo-6986",
        include_str!("../profiles/visa-gpo-6986.toml"),
    ),
    (
        "visa-ppse-6a82",
        include_str!("../profiles/visa-ppse-6a82.toml"),
    ),
    (
        "mastercard-gac-6985",
        include_str!("../profiles/mastercard-gac-6985.toml"),
    ),
    (
        "mastercard-cvn16",
        include_str!("../profiles/mastercard-cvn16.toml"),
    ),
    (
        "mastercard-cvn17",
        include_str!("../profiles/mastercard-cvn17.toml"),
    ),
    (
        "mastercard-offline",
        include_str!("../profiles/mastercard-offline.toml"),
    ),
    (
        "mastercard-decline",
        include_str!("../profiles/mastercard-decline.toml"),
    ),
    (
        "mastercard-cdcvm",
        include_str!("../profiles/mastercard-cdcvm.toml"),
    ),
    (
        "mastercard-chained",
        include_str!("../profiles/mastercard-chained.toml"),
    ),
    (
        "mastercard-expired-cert",
        include_str!("../profiles/mastercard-expired-cert.toml"),
    ),
    (
        "mastercard-malformed-gac",
        include_str!("../profiles/mastercard-malformed-gac.toml"),
    ),
    (
        "mastercard-removed",
        include_str!("../profiles/mastercard-removed.toml"),
    ),
    ("unionpay", include_str!("../profiles/unionpay.toml")),
    (
        "unionpay-offline",
        include_str!("../profiles/unionpay-offline.toml"),
    ),
];

const BUILTIN_KEYS: &[(&str, &str)] = &[
    ("visa-ca", include_str!("../keys/visa-ca.toml")),
    ("visa-issuer", include_str!("../keys/visa-issuer.toml")),
    ("visa-icc", include_str!("../keys/visa-icc.toml")),
    ("mastercard-ca", include_str!("../keys/mastercard-ca.toml")),
    (
        "mastercard-issuer",
        include_str!("../keys/mastercard-issuer.toml"),
    ),
    (
        "mastercard-icc",
        include_str!("../keys/mastercard-icc.toml"),
    ),
    ("unionpay-ca", include_str!("../keys/unionpay-ca.toml")),
    (
        "unionpay-issuer",
        include_str!("../keys/unionpay-issuer.toml"),
    ),
    ("unionpay-icc", include_str!("../keys/unionpay-icc.toml")),
];

fn builtin_key(name: &str) -> Option<String> {
    BUILTIN_KEYS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, t)| (*t).to_string())
}

fn bad(field: &str, why: impl fmt::Display) -> CardSimError {
    CardSimError::Profile(format!("{field}: {why}"))
}

fn hex_vec(field: &str, s: &str) -> Result<Vec<u8>, CardSimError> {
    let clean: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    hex::decode(clean).map_err(|e| bad(field, e))
}

fn hex_arr<const N: usize>(field: &str, s: &str) -> Result<[u8; N], CardSimError> {
    hex_vec(field, s)?
        .try_into()
        .map_err(|_| bad(field, format_args!("expected {N} bytes of hex")))
}

fn hex_u8(field: &str, s: &str) -> Result<u8, CardSimError> {
    hex_arr::<1>(field, s).map(|[b]| b)
}

impl Profile {
    /// Names of the built-in profiles.
    pub fn builtin_names() -> impl Iterator<Item = &'static str> {
        BUILTIN_PROFILES.iter().map(|(n, _)| *n)
    }

    /// A profile shipped with the crate, e.g. `Profile::builtin("visa-cvn18")`.
    pub fn builtin(name: &str) -> Result<Profile, CardSimError> {
        let (_, text) = BUILTIN_PROFILES
            .iter()
            .find(|(n, _)| *n == name)
            .ok_or_else(|| CardSimError::UnknownProfile(name.to_string()))?;
        Profile::from_toml_str(text)
    }

    /// Parses a profile whose key references name built-in keys.
    pub fn from_toml_str(text: &str) -> Result<Profile, CardSimError> {
        Profile::parse(text, &|name| builtin_key(name))
    }

    /// Reads a profile file. Key references are looked up as
    /// `<dir>/../keys/<name>.toml`, then `<dir>/<name>.toml`, then among
    /// the built-in keys.
    pub fn from_file(path: &Path) -> Result<Profile, CardSimError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| CardSimError::Profile(format!("{}: {e}", path.display())))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let lookup = |name: &str| {
            let file = format!("{name}.toml");
            [dir.join("../keys").join(&file), dir.join(&file)]
                .iter()
                .find_map(|p| std::fs::read_to_string(p).ok())
                .or_else(|| builtin_key(name))
        };
        Profile::parse(&text, &lookup)
    }

    fn parse(text: &str, key: &dyn Fn(&str) -> Option<String>) -> Result<Profile, CardSimError> {
        let f: ProfileFile =
            toml::from_str(text).map_err(|e| CardSimError::Profile(e.message().to_string()))?;
        let kind = match f.kind.as_str() {
            "visa" => Kind::Visa,
            "mastercard" => Kind::Mastercard,
            "unionpay" => Kind::Unionpay,
            other => return Err(bad("kind", format_args!("unknown kind {other:?}"))),
        };
        let pan = Pan::parse(&f.pan).map_err(|e| bad("pan", e))?;
        let aid = hex_vec("aid", &f.aid)?;
        if !(5..=16).contains(&aid.len()) {
            return Err(bad("aid", "an AID has 5 to 16 bytes"));
        }
        let cvn: Cvn = f
            .cvn
            .parse()
            .map_err(|_| bad("cvn", format_args!("unknown {:?}", f.cvn)))?;
        let cdol1_default = match kind {
            Kind::Mastercard => Some(DEFAULT_MC_CDOL1),
            _ => None,
        };
        let cdol1 = match (&f.cdol1, cdol1_default) {
            (Some(s), _) => hex_vec("cdol1", s)?,
            (None, Some(d)) => hex_vec("cdol1", d)?,
            (None, None) => Vec::new(),
        };
        let pdol = match (&f.pdol, kind) {
            (Some(s), _) if s.is_empty() => None,
            (Some(s), _) => Some(hex_vec("pdol", s)?),
            (None, Kind::Mastercard) => None,
            (None, _) => Some(hex_vec("pdol", DEFAULT_QVSDC_PDOL)?),
        };
        for (field, dol) in [("pdol", pdol.as_deref()), ("cdol1", Some(cdol1.as_slice()))] {
            if let Some(dol) = dol {
                kernel::dol::parse(dol).map_err(|e| bad(field, e))?;
            }
        }
        let b = f.behaviour;
        let behaviour = Behaviour {
            decline: b.decline,
            offline_approval: b.offline_approval,
            offline_limit: b.offline_limit,
            cdcvm: b.cdcvm,
            online_pin: b.online_pin,
            signature: b.signature,
            wrong_sw: b
                .wrong_sw
                .map(|w| -> Result<WrongSw, CardSimError> {
                    Ok(WrongSw {
                        ins: hex_u8("wrong_sw.ins", &w.ins)?,
                        sw: u16::from_be_bytes(hex_arr("wrong_sw.sw", &w.sw)?),
                        nth: w.nth.max(1),
                    })
                })
                .transpose()?,
            malformed_tlv_on: b
                .malformed_tlv_on
                .map(|s| hex_u8("malformed_tlv_on", &s))
                .transpose()?,
            expired_certificate: b.expired_certificate,
            remove_after: b.remove_after,
            slow_ms: b.slow_ms,
            chained: b.chained,
            wrong_le: b.wrong_le,
        };
        let load = |role: &str, name: &str| {
            key(name).ok_or_else(|| bad(role, format_args!("no key file named {name:?}")))
        };
        let keys = KeyTexts {
            ca: load("keys.ca", &f.keys.ca)?,
            issuer: load("keys.issuer", &f.keys.issuer)?,
            icc: load("keys.icc", &f.keys.icc)?,
        };
        let iac = |field: &str, v: &Option<String>, default: &str| match v {
            Some(s) => hex_arr::<5>(field, s),
            None => hex_arr::<5>(field, default),
        };
        Ok(Profile {
            name: f.name,
            description: f.description,
            kind,
            aid,
            label: f.label,
            pan,
            psn: hex_u8("psn", &f.psn)?,
            expiry: hex_arr("expiry", &f.expiry)?,
            effective: hex_arr("effective", f.effective.as_deref().unwrap_or("230101"))?,
            cvn,
            imk_ac: hex_arr("imk_ac", &f.imk_ac)?,
            initial_atc: f.atc,
            aip: hex_arr("aip", &f.aip)?,
            ctq: hex_arr("ctq", &f.ctq)?,
            iac_default: iac("iac_default", &f.iac_default, "0000000000")?,
            iac_denial: iac("iac_denial", &f.iac_denial, "0000000000")?,
            iac_online: iac("iac_online", &f.iac_online, "0000000000")?,
            cvm_list: f.cvm_list.map(|s| hex_vec("cvm_list", &s)).transpose()?,
            pdol,
            cdol1,
            issuer_country: hex_arr("issuer_country", &f.issuer_country)?,
            application_currency: hex_arr("application_currency", &f.application_currency)?,
            keys,
            behaviour,
        })
    }
}

/// Visa's usual qVSDC PDOL: TTQ, amount, other amount, country, TVR,
/// currency, date, type, unpredictable number.
pub const DEFAULT_QVSDC_PDOL: &str = "9F66049F02069F03069F1A0295055F2A029A039C019F3704";

/// A typical M/Chip CDOL1: amount, other amount, country, TVR, currency,
/// date, type, UN, terminal type, data authentication code, ICC dynamic
/// number, CVM results.
pub const DEFAULT_MC_CDOL1: &str =
    "9F02069F03069F1A0295055F2A029A039C019F37049F35019F45029F4C089F3403";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_profile_parses() {
        for name in Profile::builtin_names() {
            let p = Profile::builtin(name).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(p.name, name);
        }
        assert!(Profile::builtin_names().count() >= 8);
    }

    #[test]
    fn every_profile_file_is_built_in_and_documented() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles");
        let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| {
                let name = e.unwrap().file_name().into_string().unwrap();
                name.strip_suffix(".toml").map(str::to_string)
            })
            .collect();
        files.sort();
        let mut builtin: Vec<String> = Profile::builtin_names().map(str::to_string).collect();
        builtin.sort();
        assert_eq!(files, builtin);
        for name in builtin {
            assert!(
                readme.contains(&format!("`{name}`")),
                "{name} missing from README"
            );
        }
    }

    #[test]
    fn unknown_profile_is_an_error() {
        assert!(matches!(
            Profile::builtin("no-such-card"),
            Err(CardSimError::UnknownProfile(_))
        ));
    }

    #[test]
    fn debug_masks_pan_and_key() {
        let p = Profile::builtin("visa-cvn18").unwrap();
        let s = format!("{p:?}");
        assert!(!s.contains(p.pan.expose_digits()), "{s}");
        assert!(
            !s.to_uppercase().contains(&hex::encode_upper(p.imk_ac)),
            "{s}"
        );
    }

    #[test]
    fn bad_pan_and_unknown_fields_are_refused() {
        let good = include_str!("../profiles/visa-cvn18.toml");
        let bad_luhn = good.replace("4761739001010119", "4761739001010118");
        assert!(matches!(
            Profile::from_toml_str(&bad_luhn),
            Err(CardSimError::Profile(_))
        ));
        let extra = format!("colour = \"blue\"\n{good}");
        assert!(Profile::from_toml_str(&extra).is_err());
        let bad_key = good.replace("icc = \"visa-icc\"", "icc = \"nope\"");
        assert!(Profile::from_toml_str(&bad_key).is_err());
    }

    #[test]
    fn from_file_finds_keys_next_to_profiles() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/mastercard-cvn16.toml");
        let p = Profile::from_file(&path).unwrap();
        assert_eq!(p.kind, Kind::Mastercard);
        assert!(p.pdol.is_none());
        assert!(!p.cdol1.is_empty());
    }
}
