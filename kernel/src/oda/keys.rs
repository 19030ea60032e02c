//! Certification authority public keys and the revocation list.
//!
//! The compiled-in keys come from `vectors/oda/ca-public-keys.txt`
//! (binaryfoo/emv-bertlv, MIT; see `vectors/oda/README.md`). The file is
//! parsed at run time by code that cannot panic; a line whose SHA-1
//! checksum is present but wrong, or whose exponent is not 3 or 65537 (the
//! only ones EMV Book 2 §11.2 allows), is dropped and reported through
//! [`CaKeyStore::rejected`], never trusted.

use ring::digest;
use std::sync::OnceLock;

/// Whether a scheme publishes a key for production or for testing.
///
/// A terminal in the field must trust only [`KeyClass::Live`] keys: a test
/// key's private half is widely held, so a card signed under it proves
/// nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyClass {
    /// Published by the scheme as a production key.
    Live,
    /// Published by the scheme as a test key, or used to sign a public test
    /// card.
    Test,
    /// We found no public statement either way; kept out of both
    /// [`CaKeyStore::live`] and [`CaKeyStore::test`].
    Unclassified,
}

/// What we know about a key's integrity check value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Checksum {
    /// SHA-1 over RID || index || modulus || exponent matched the published
    /// value.
    Verified,
    /// The source published no checksum for this key.
    Absent,
}

/// One certification authority public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaPublicKey {
    pub rid: [u8; 5],
    pub index: u8,
    pub modulus: Vec<u8>,
    pub exponent: Vec<u8>,
    /// YYMMDD as BCD; `None` when unknown.
    pub expiry: Option<[u8; 3]>,
    pub class: KeyClass,
    pub checksum: Checksum,
}

impl CaPublicKey {
    /// A key supplied by the caller (configuration, tests). It is
    /// unclassified, has no expiry and no checksum until the caller sets them.
    pub fn new(rid: [u8; 5], index: u8, modulus: Vec<u8>, exponent: Vec<u8>) -> Self {
        CaPublicKey {
            rid,
            index,
            modulus,
            exponent,
            expiry: None,
            class: KeyClass::Unclassified,
            checksum: Checksum::Absent,
        }
    }

    /// SHA-1 over RID || index || modulus || exponent (EMV Book 2 §11.2.2).
    pub fn checksum_value(&self) -> [u8; 20] {
        let mut ctx = digest::Context::new(&digest::SHA1_FOR_LEGACY_USE_ONLY);
        ctx.update(&self.rid);
        ctx.update(&[self.index]);
        ctx.update(&self.modulus);
        ctx.update(&self.exponent);
        let mut out = [0u8; 20];
        out.copy_from_slice(ctx.finish().as_ref());
        out
    }
}

/// A line of the key file that was not accepted, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedKey {
    /// 1-based line number in the key file.
    pub line: usize,
    pub rid: Option<[u8; 5]>,
    pub index: Option<u8>,
    pub why: &'static str,
}

/// The CA keys a terminal trusts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaKeyStore {
    keys: Vec<CaPublicKey>,
    rejected: Vec<RejectedKey>,
}

const KEY_FILE: &str = include_str!("../../vectors/oda/ca-public-keys.txt");

fn embedded() -> &'static CaKeyStore {
    static STORE: OnceLock<CaKeyStore> = OnceLock::new();
    STORE.get_or_init(|| CaKeyStore::parse(KEY_FILE))
}

impl CaKeyStore {
    /// Exactly the given keys.
    pub fn from_keys(keys: Vec<CaPublicKey>) -> Self {
        CaKeyStore {
            keys,
            rejected: Vec::new(),
        }
    }

    /// Every compiled-in key whose checksum is right or absent, live, test
    /// and unclassified. For laboratories and replay of public sessions only.
    pub fn all() -> Self {
        embedded().clone()
    }

    /// The compiled-in keys the schemes publish as production keys.
    pub fn live() -> Self {
        embedded().filtered(KeyClass::Live)
    }

    /// The compiled-in keys the schemes publish as test keys (or that sign
    /// public test cards). Never for a terminal in the field.
    pub fn test() -> Self {
        embedded().filtered(KeyClass::Test)
    }

    fn filtered(&self, class: KeyClass) -> Self {
        CaKeyStore {
            keys: self
                .keys
                .iter()
                .filter(|k| k.class == class)
                .cloned()
                .collect(),
            rejected: self.rejected.clone(),
        }
    }

    /// The first key with this RID and index.
    pub fn find(&self, rid: &[u8], index: u8) -> Option<&CaPublicKey> {
        self.keys
            .iter()
            .find(|k| k.rid.as_slice() == rid && k.index == index)
    }

    /// Every key with this RID and index. Published lists reuse an index
    /// for keys of different lengths (Mastercard 00, 01, 02, 05, 06, FA), so
    /// certificate recovery tries each whose modulus length fits.
    pub fn candidates<'s>(
        &'s self,
        rid: &'s [u8],
        index: u8,
    ) -> impl Iterator<Item = &'s CaPublicKey> + 's {
        self.keys
            .iter()
            .filter(move |k| k.rid.as_slice() == rid && k.index == index)
    }

    pub fn keys(&self) -> &[CaPublicKey] {
        &self.keys
    }

    /// Lines of the key file that were refused (wrong checksum, bad hex…).
    pub fn rejected(&self) -> &[RejectedKey] {
        &self.rejected
    }

    /// Parses the tab-separated key list: scheme, exponent, index, RID,
    /// modulus, and optionally key bits and SHA-1 checksum. Never panics.
    pub fn parse(text: &str) -> Self {
        let mut store = CaKeyStore::default();
        for (n, line) in text.lines().enumerate() {
            let line_no = n.saturating_add(1);
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            match parse_line(line) {
                Ok(key) => store.keys.push(key),
                Err((rid, index, why)) => store.rejected.push(RejectedKey {
                    line: line_no,
                    rid,
                    index,
                    why,
                }),
            }
        }
        store
    }
}

type LineError = (Option<[u8; 5]>, Option<u8>, &'static str);

fn parse_line(line: &str) -> Result<CaPublicKey, LineError> {
    let mut fields = line.split('\t');
    let _scheme = fields.next();
    let exponent = fields.next().ok_or((None, None, "no exponent"))?;
    let index = fields.next().ok_or((None, None, "no index"))?;
    let rid = fields.next().ok_or((None, None, "no RID"))?;
    let modulus = fields.next().ok_or((None, None, "no modulus"))?;
    let _bits = fields.next();
    let checksum = fields.next().map(str::trim).filter(|s| !s.is_empty());

    let rid: [u8; 5] = hex::decode(rid.trim())
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or((None, None, "RID is not 5 bytes of hex"))?;
    let index = match hex::decode(index.trim()).ok().as_deref() {
        Some([i]) => *i,
        _ => return Err((Some(rid), None, "index is not one byte of hex")),
    };
    let err = |why| (Some(rid), Some(index), why);
    let modulus = hex::decode(modulus.trim()).map_err(|_| err("modulus is not hex"))?;
    let exponent = hex::decode(exponent.trim()).map_err(|_| err("exponent is not hex"))?;
    if modulus.first().is_none_or(|&b| b == 0) {
        return Err(err("modulus is empty or has a leading zero byte"));
    }
    if !matches!(exponent.as_slice(), [3] | [1, 0, 1]) {
        return Err(err("exponent is neither 3 nor 65537"));
    }
    let mut key = CaPublicKey::new(rid, index, modulus, exponent);
    if let Some(expected) = checksum {
        let expected = hex::decode(expected).map_err(|_| err("checksum is not hex"))?;
        if expected.as_slice() != key.checksum_value().as_slice() {
            return Err(err("SHA-1 checksum does not match the key"));
        }
        key.checksum = Checksum::Verified;
    }
    let (class, expiry) = classify(&rid, index);
    key.class = class;
    key.expiry = expiry;
    Ok(key)
}

const VISA: [u8; 5] = [0xA0, 0x00, 0x00, 0x00, 0x03];
const MASTERCARD: [u8; 5] = [0xA0, 0x00, 0x00, 0x00, 0x04];
/// Mastercard's test RID, used by its test tools and test cards only.
const MASTERCARD_TEST: [u8; 5] = [0xB0, 0x12, 0x34, 0x56, 0x78];
/// The old Europay RID; the listed keys are the Europay test keys.
const EUROPAY: [u8; 5] = [0xA0, 0x00, 0x00, 0x00, 0x10];
const AMEX: [u8; 5] = [0xA0, 0x00, 0x00, 0x00, 0x25];

/// Test or live, and the published expiry, by what the schemes say.
///
/// Sources and confidence:
/// - Visa: the VSDC CA key tables name 07 (1152-bit, expires 31 Dec 2017),
///   08 (1408-bit) and 09 (1984-bit) as production keys and 92, 94, 95 as
///   test keys; 99 (1024-bit), 96, 97, 98, 90 (512-bit) and 50–58 appear in
///   Visa's test tool sets (ADVT, qVSDC test keys). 01, 03, 05, 06 are
///   retired production keys. 10, 20 and F3: unknown, left unclassified.
///   Visa gives 08 "an anticipated lifetime to at least 31 Dec 2024", which
///   is not an expiry date, so it stays `None`.
/// - Mastercard: 00–06 are production keys (00–02 long retired); EF, F0,
///   F1, F3, F5–FF are the test keys of its terminal test environments
///   (PayPass TTAL). The whole RID B012345678 is a test RID. 09, 22 and 52:
///   unknown.
/// - Europay (A000000010): FB–FF mirror the Mastercard test keys; 00 unknown.
/// - American Express: 0E, 0F, 10 are production keys; 96–99 and C1–C3 are
///   test keys, and A1 signs the public "EPAY TEST CARD" session. The
///   others (01–04, 52, 60–68) are unknown to us.
/// - UnionPay, JCB, Discover, LINK, ABI, Multibanco, APCA: no public split
///   found, so unclassified. UnionPay 09 signs the public UnionPay test card
///   used in our vectors, which suggests but does not prove it is a test key.
fn classify(rid: &[u8; 5], index: u8) -> (KeyClass, Option<[u8; 3]>) {
    use KeyClass::{Live, Test, Unclassified};
    match (*rid, index) {
        (VISA, 0x07) => (Live, Some([0x17, 0x12, 0x31])),
        (VISA, 0x01 | 0x03 | 0x05 | 0x06 | 0x08 | 0x09) => (Live, None),
        (VISA, 0x50..=0x58 | 0x90 | 0x92 | 0x94..=0x99) => (Test, None),
        (MASTERCARD, 0x00..=0x06) => (Live, None),
        (MASTERCARD, 0xEF | 0xF0 | 0xF1 | 0xF3 | 0xF5..=0xFF) => (Test, None),
        (MASTERCARD_TEST, _) => (Test, None),
        (EUROPAY, 0xFB..=0xFF) => (Test, None),
        (AMEX, 0x0E..=0x10) => (Live, None),
        (AMEX, 0x96..=0x99 | 0xA1 | 0xC1..=0xC3) => (Test, None),
        _ => (Unclassified, None),
    }
}

/// One revoked issuer certificate: RID, CA key index and the certificate
/// serial number (EMV Book 2 §5.3 step 10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RevokedCertificate {
    pub rid: [u8; 5],
    pub ca_index: u8,
    pub serial: [u8; 3],
}

/// Issuer certificates the acquirer has revoked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RevocationList {
    entries: Vec<RevokedCertificate>,
}

impl RevocationList {
    /// An empty list.
    pub fn new() -> Self {
        RevocationList::default()
    }

    pub fn from_entries(entries: Vec<RevokedCertificate>) -> Self {
        RevocationList { entries }
    }

    pub fn push(&mut self, entry: RevokedCertificate) {
        self.entries.push(entry);
    }

    pub fn contains(&self, rid: &[u8; 5], ca_index: u8, serial: &[u8; 3]) -> bool {
        self.entries
            .iter()
            .any(|e| &e.rid == rid && e.ca_index == ca_index && &e.serial == serial)
    }

    pub fn entries(&self) -> &[RevokedCertificate] {
        &self.entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_file_parses_and_drops_bad_checksums() {
        let all = CaKeyStore::all();
        // 144 lines. Seven carry exponent 2, which EMV does not allow (Book 2
        // §11.2: 3 or 65537); three of those (Mastercard FB/FC/FD) also have
        // a checksum that matches no key. Every other line is kept.
        assert_eq!(all.keys().len(), 137);
        assert_eq!(all.rejected().len(), 7);
        assert!(all
            .rejected()
            .iter()
            .all(|r| matches!(r.rid, Some(MASTERCARD | EUROPAY))
                && matches!(r.index, Some(0xFB..=0xFD))));
        let verified = all
            .keys()
            .iter()
            .filter(|k| k.checksum == Checksum::Verified)
            .count();
        assert_eq!(verified, 127);
    }

    #[test]
    fn test_and_live_are_disjoint_and_classified() {
        let live = CaKeyStore::live();
        let test = CaKeyStore::test();
        assert!(live.find(&VISA, 0x09).is_some());
        assert!(test.find(&VISA, 0x09).is_none());
        assert!(test.find(&VISA, 0x92).is_some());
        assert!(test.find(&MASTERCARD, 0xEF).is_some());
        assert!(live.find(&MASTERCARD, 0xEF).is_none());
        assert!(live.keys().iter().all(|k| k.class == KeyClass::Live));
        assert!(test.keys().iter().all(|k| k.class == KeyClass::Test));
        assert_eq!(
            live.find(&VISA, 0x07).and_then(|k| k.expiry),
            Some([0x17, 0x12, 0x31])
        );
    }

    #[test]
    fn duplicates_are_all_candidates() {
        let all = CaKeyStore::all();
        let lens: Vec<usize> = all
            .candidates(&MASTERCARD, 0x06)
            .map(|k| k.modulus.len())
            .collect();
        assert_eq!(lens, vec![248, 256]);
    }

    #[test]
    fn tampered_line_is_rejected_not_trusted() {
        let good = "VISA\t03\t92\tA000000003\t996AF56F569187D09293C14810450ED8EE3357397B18A2458EFAA92DA3B6DF6514EC060195318FD43BE9B8F0CC669E3F844057CBDDF8BDA191BB64473BC8DC9A730DB8F6B4EDE3924186FFD9B8C7735789C23A36BA0B8AF65372EB57EA5D89E7D14E9C7B6B557460F10885DA16AC923F15AF3758F0F03EBD3C5C2C949CBA306DB44E6A2C076C5F67E281D7EF56785DC4D75945E491F01918800A9E2DC66F60080566CE0DAF8D17EAD46AD8E30A247C9F\t1408\t429C954A3859CEF91295F663C963E582ED6EB253";
        let store = CaKeyStore::parse(good);
        assert_eq!(store.keys().len(), 1);
        assert_eq!(store.keys()[0].checksum, Checksum::Verified);
        let tampered = good.replacen("996AF5", "996AF6", 1);
        let store = CaKeyStore::parse(&tampered);
        assert!(store.keys().is_empty());
        assert_eq!(
            store.rejected()[0].why,
            "SHA-1 checksum does not match the key"
        );
        for garbage in [
            "",
            "x",
            "VISA\t03",
            "VISA\t03\tZZ\tA000000003\t00",
            "\t\t\t\t\t\t\t\t",
        ] {
            let _ = CaKeyStore::parse(garbage);
        }
    }

    #[test]
    fn revocation_list_matches_exactly() {
        let mut list = RevocationList::new();
        list.push(RevokedCertificate {
            rid: MASTERCARD,
            ca_index: 0xEF,
            serial: [0, 0, 1],
        });
        assert!(list.contains(&MASTERCARD, 0xEF, &[0, 0, 1]));
        assert!(!list.contains(&MASTERCARD, 0xEF, &[0, 0, 2]));
        assert!(!list.contains(&MASTERCARD, 0xF1, &[0, 0, 1]));
    }
}
