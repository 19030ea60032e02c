//! The virtual card: raw command APDUs in, raw response APDUs out, exactly
//! what a contactless reader exchanges with a card.

use crate::crypto::{self, Cvn};
use crate::pki::{self, Certificate, RsaPrivateKey};
use crate::profile::{Kind, Profile};
use crate::CardSimError;
use kernel::apdu::CommandApdu;
use kernel::dol::{self, DolEntry};
use kernel::oda::CaPublicKey;
use std::collections::HashMap;

/// The card has left the field: the reader gets no answer at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("card removed from the field")]
pub struct CardRemoved;

const PPSE: &[u8] = b"2PAY.SYS.DDF01";

// Cryptogram Information Data (Book 3 table 15).
const CID_AAC: u8 = 0x00;
const CID_TC: u8 = 0x40;
const CID_ARQC: u8 = 0x80;

mod sw {
    pub const OK: u16 = 0x9000;
    pub const WRONG_LENGTH: u16 = 0x6700;
    pub const CONDITIONS: u16 = 0x6985;
    pub const NOT_FOUND: u16 = 0x6A82;
    pub const RECORD_NOT_FOUND: u16 = 0x6A83;
    pub const WRONG_P1P2: u16 = 0x6A86;
    pub const DATA_NOT_FOUND: u16 = 0x6A88;
    pub const INS: u16 = 0x6D00;
    pub const CLA: u16 = 0x6E00;
    pub const INTERNAL: u16 = 0x6F00;
}

/// Where the card is in a tap. Each state holds only what is known there.
#[derive(Debug, Clone)]
enum State {
    Idle,
    PpseSelected,
    AppSelected,
    /// After GPO: the data the terminal sent (needed again for CDA) and
    /// whether GENERATE AC may still come.
    Processing {
        pdol_data: Vec<u8>,
        ac_pending: bool,
    },
}

/// A contactless EMV card built from a [`Profile`].
///
/// Certificates are made when the card is created, because the ICC
/// certificate signs the card's own records. The ATC survives
/// [`VirtualCard::reset`], as on a real card.
pub struct VirtualCard {
    profile: Profile,
    icc_key: RsaPrivateKey,
    ca_public: CaPublicKey,
    aip: [u8; 2],
    afl: Vec<u8>,
    /// (SFI, record number) → the record as sent (template 70 included).
    records: Vec<((u8, u8), Vec<u8>)>,
    atc: u16,
    state: State,
    commands_this_tap: u32,
    ins_this_tap: HashMap<u8, u32>,
    removed: bool,
    pending: Vec<u8>,
    last_delay_ms: u32,
}

impl std::fmt::Debug for VirtualCard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VirtualCard")
            .field("profile", &self.profile.name)
            .field("atc", &self.atc)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// Appends a primitive or constructed object; values here are our own and short.
fn put(out: &mut Vec<u8>, tag: u32, value: &[u8]) {
    let tag_bytes = tag.to_be_bytes();
    let start = tag_bytes.iter().position(|&b| b != 0).unwrap_or(3);
    out.extend_from_slice(tag_bytes.get(start..).unwrap_or(&[]));
    let [hi, lo] = u16::try_from(value.len()).unwrap_or(u16::MAX).to_be_bytes();
    match (hi, lo) {
        (0, 0..=0x7F) => out.push(lo),
        (0, _) => out.extend_from_slice(&[0x81, lo]),
        _ => out.extend_from_slice(&[0x82, hi, lo]),
    }
    out.extend_from_slice(value);
}

fn tlv(tag: u32, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + 5);
    put(&mut out, tag, value);
    out
}

/// Splits DOL-related data by its DOL into tag → value.
fn split_dol(entries: &[DolEntry], data: &[u8]) -> Option<HashMap<u32, Vec<u8>>> {
    let mut map = HashMap::new();
    let mut rest = data;
    for e in entries {
        if rest.len() < e.len {
            return None;
        }
        let (v, r) = rest.split_at(e.len);
        map.insert(e.tag.value(), v.to_vec());
        rest = r;
    }
    rest.is_empty().then_some(map)
}

/// n12 amount (9F02) to minor units; `None` when not BCD.
fn amount_minor(bcd: &[u8]) -> Option<u64> {
    bcd.iter().try_fold(0u64, |acc, &b| {
        let (hi, lo) = (b >> 4, b & 0x0F);
        (hi <= 9 && lo <= 9).then(|| acc * 100 + u64::from(hi) * 10 + u64::from(lo))
    })
}

/// cn encoding of digits padded with F to `len` bytes.
fn cn(digits: &str, len: usize) -> Vec<u8> {
    let mut nibbles: Vec<u8> = digits
        .bytes()
        .map(|b| b.wrapping_sub(b'0') & 0x0F)
        .collect();
    nibbles.resize(len * 2, 0x0F);
    nibbles
        .chunks_exact(2)
        .map(|p| match p {
            [hi, lo] => (hi << 4) | lo,
            _ => 0xFF,
        })
        .collect()
}

/// Track 2 equivalent data (57): PAN, separator D, expiry YYMM, service
/// code 201 (international, chip), discretionary data, F-padded.
fn track2(p: &Profile) -> Vec<u8> {
    let mut t2 = format!(
        "{}D{:02X}{:02X}2010000000000000",
        p.pan.expose_digits(),
        p.expiry[0],
        p.expiry[1]
    );
    if t2.len() % 2 == 1 {
        t2.push('F');
    }
    hex::decode(t2).unwrap_or_default()
}

/// Deterministic "random" bytes: a virtual card must be reproducible, so
/// its unpredictable numbers derive from what it has seen.
fn det_bytes<const N: usize>(label: &[u8], parts: &[&[u8]]) -> [u8; N] {
    let mut all: Vec<&[u8]> = vec![label];
    all.extend_from_slice(parts);
    let h = pki::sha1(&all);
    let mut out = [0u8; N];
    for (o, b) in out.iter_mut().zip(h.iter()) {
        *o = *b;
    }
    out
}

/// Issuer Application Data for a CVN, with the AC type in the CVR.
/// Layouts follow `cryptogram::Cvn::from_iad`, so the IAD names the CVN.
fn issuer_application_data(cvn: Cvn, cid: u8) -> Vec<u8> {
    // CVR byte: bits 8-7 second GENERATE AC (10 = not requested), bits 6-5
    // first GENERATE AC (00 AAC, 01 TC, 10 ARQC).
    let ac_bits = match cid {
        CID_ARQC => 0xA0,
        CID_TC => 0x90,
        _ => 0x80,
    };
    match cvn {
        Cvn::Visa10 => vec![0x06, 0x01, 0x0A, 0x03, ac_bits, 0x00, 0x00],
        Cvn::Visa18 => {
            // VIS format 0/1/3 with a 15-byte issuer discretionary part: 23 bytes.
            let mut v = vec![0x06, 0x01, 0x12, 0x03, ac_bits, 0x00, 0x00, 0x0F];
            v.resize(23, 0x00);
            v
        }
        Cvn::Mastercard16 | Cvn::Mastercard17 => {
            // DKI, CVN, CVR (6), DAC/IDN (2), counters (8): 18 bytes.
            let mut v = vec![0x01, cvn.number(), ac_bits, 0x00, 0x00, 0x00, 0x00, 0x00];
            v.resize(18, 0x00);
            v
        }
    }
}

impl VirtualCard {
    /// Personalises a card: loads its keys, writes its records and signs its
    /// certificates over them.
    pub fn new(profile: &Profile) -> Result<VirtualCard, CardSimError> {
        let p = profile;
        let ca = RsaPrivateKey::from_toml_str(&p.keys.ca)?;
        let issuer = RsaPrivateKey::from_toml_str(&p.keys.issuer)?;
        let icc_key = RsaPrivateKey::from_toml_str(&p.keys.icc)?;
        let ca_public = ca.ca_public_key().ok_or_else(|| {
            CardSimError::Profile("keys.ca: the CA key file has no rid/index".into())
        })?;

        let mut aip = p.aip;
        if p.kind == Kind::Mastercard && p.behaviour.cdcvm {
            // AIP byte 1 bit 2: on-device cardholder verification supported (Kernel 2).
            aip[0] |= 0x02;
        }
        let digits = p.pan.expose_digits();

        // SFI 1 record 1: the static data the ICC certificate signs.
        let mut r1 = Vec::new();
        if p.kind == Kind::Mastercard {
            put(&mut r1, 0x57, &track2(p));
        }
        put(&mut r1, 0x5A, &cn(digits, digits.len().div_ceil(2)));
        put(&mut r1, 0x5F24, &p.expiry);
        put(&mut r1, 0x5F25, &p.effective);
        put(&mut r1, 0x5F28, &p.issuer_country);
        // qVSDC cards give the PSN in the GPO answer; Book 3 forbids sending
        // a primitive object twice, so the record leaves it out.
        if !p.kind.is_qvsdc() {
            put(&mut r1, 0x5F34, &[p.psn]);
        }
        put(&mut r1, 0x9F07, &[0xFF, 0x00]);
        put(&mut r1, 0x9F42, &p.application_currency);
        put(&mut r1, 0x9F0D, &p.iac_default);
        put(&mut r1, 0x9F0E, &p.iac_denial);
        put(&mut r1, 0x9F0F, &p.iac_online);
        if !p.cdol1.is_empty() {
            put(&mut r1, 0x8C, &p.cdol1);
        }
        if let Some(list) = Self::cvm_list(p) {
            put(&mut r1, 0x8E, &list);
        }
        put(&mut r1, 0x9F4A, &[0x82]);

        let static_data: Vec<u8> = r1.iter().copied().chain(aip).collect();
        let serial = |what: &[u8]| det_bytes::<3>(what, &[p.name.as_bytes()]);
        let issuer_id: [u8; 4] = cn(digits.get(..6).unwrap_or(digits), 4)
            .try_into()
            .map_err(|_| CardSimError::Profile("pan: too short".into()))?;
        let issuer_cert =
            pki::issuer_certificate(&ca, &issuer, issuer_id, [0x12, 0x30], serial(b"issuer"))?;
        // An expired certificate says January 2020, before any test date we use.
        let icc_expiry = if p.behaviour.expired_certificate {
            [0x01, 0x20]
        } else {
            [p.expiry[1], p.expiry[0]]
        };
        let pan_cn: [u8; 10] = cn(digits, 10)
            .try_into()
            .map_err(|_| CardSimError::Profile("pan: too long".into()))?;
        let icc_cert = pki::icc_certificate(
            &issuer,
            &icc_key,
            pan_cn,
            icc_expiry,
            serial(b"icc"),
            &static_data,
        )?;

        let r2 = Self::cert_record(0x8F, &[ca_public.index], 0x90, 0x92, 0x9F32, &issuer_cert);
        let r3 = Self::cert_record(0, &[], 0x9F46, 0x9F48, 0x9F47, &icc_cert);
        let records = vec![
            ((1, 1), tlv(0x70, &r1)),
            ((2, 1), tlv(0x70, &r2)),
            ((2, 2), tlv(0x70, &r3)),
        ];
        // SFI 1 record 1 is the one ODA record; SFI 2 holds the certificates.
        let afl = vec![0x08, 0x01, 0x01, 0x01, 0x10, 0x01, 0x02, 0x00];

        Ok(VirtualCard {
            profile: profile.clone(),
            icc_key,
            ca_public,
            aip,
            afl,
            records,
            atc: p.initial_atc,
            state: State::Idle,
            commands_this_tap: 0,
            ins_this_tap: HashMap::new(),
            removed: false,
            pending: Vec::new(),
            last_delay_ms: 0,
        })
    }

    fn cert_record(
        index_tag: u32,
        index: &[u8],
        cert_tag: u32,
        rem_tag: u32,
        exp_tag: u32,
        cert: &Certificate,
    ) -> Vec<u8> {
        let mut r = Vec::new();
        if index_tag != 0 {
            put(&mut r, index_tag, index);
        }
        put(&mut r, cert_tag, &cert.certificate);
        if !cert.remainder.is_empty() {
            put(&mut r, rem_tag, &cert.remainder);
        }
        put(&mut r, exp_tag, &cert.exponent);
        r
    }

    /// The CVM list the card carries: the profile's, or for M/Chip one made
    /// from the behaviours.
    fn cvm_list(p: &Profile) -> Option<Vec<u8>> {
        if let Some(list) = &p.cvm_list {
            return Some(list.clone());
        }
        if p.kind != Kind::Mastercard {
            return None;
        }
        // Amounts X and Y zero, then rules: 42 03 enciphered online PIN,
        // 1E 03 signature, 1F 03 no CVM, each "if terminal supports the CVM".
        let mut list = vec![0u8; 8];
        let b = &p.behaviour;
        if b.online_pin || !b.signature {
            list.extend_from_slice(&[0x42, 0x03]);
        }
        if b.signature || !b.online_pin {
            list.extend_from_slice(&[0x1E, 0x03]);
        }
        list.extend_from_slice(&[0x1F, 0x03]);
        Some(list)
    }

    /// The test CA public key that signed this card's issuer certificate.
    pub fn ca_public_key(&self) -> CaPublicKey {
        self.ca_public.clone()
    }

    /// Current application transaction counter.
    pub fn atc(&self) -> u16 {
        self.atc
    }

    /// The profile the card was made from.
    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// AIP as the card sends it (profile AIP plus behaviour bits).
    pub fn aip(&self) -> [u8; 2] {
        self.aip
    }

    /// How long the card took over its last answer, in milliseconds. Slow
    /// cards report the time instead of sleeping, so tests stay fast.
    pub fn delay_ms(&self) -> u32 {
        self.last_delay_ms
    }

    /// A new tap: the card re-enters the field, forgets the selection and
    /// the transaction, keeps its ATC.
    pub fn reset(&mut self) {
        self.state = State::Idle;
        self.commands_this_tap = 0;
        self.ins_this_tap.clear();
        self.removed = false;
        self.pending.clear();
        self.last_delay_ms = 0;
    }

    /// One exchange: a raw command APDU in, the raw response (data and
    /// status word) out, or nothing when the card has left the field.
    pub fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, CardRemoved> {
        if self.removed {
            return Err(CardRemoved);
        }
        if let Some(limit) = self.profile.behaviour.remove_after {
            if self.commands_this_tap >= limit {
                self.removed = true;
                return Err(CardRemoved);
            }
        }
        self.commands_this_tap = self.commands_this_tap.saturating_add(1);

        let (mut data, status, base_ms) = self.answer(command);
        let slow = self.profile.behaviour.slow_ms;
        self.last_delay_ms = base_ms.saturating_add(slow);

        let ins = command.get(1).copied();
        if !data.is_empty() && ins.is_some() && ins == self.profile.behaviour.malformed_tlv_on {
            // Keep every length field, drop the tail: the TLV now claims more
            // bytes than it has.
            data.truncate(data.len().saturating_sub(3));
        }
        if self.profile.behaviour.chained && !data.is_empty() && ins != Some(0xC0) {
            self.pending = data;
            return Ok(self.next_chunk_status());
        }
        data.extend_from_slice(&status.to_be_bytes());
        Ok(data)
    }

    /// `61xx` for what is waiting to be fetched (`6100` means 256 or more).
    fn next_chunk_status(&self) -> Vec<u8> {
        vec![0x61, u8::try_from(self.pending.len()).unwrap_or(0)]
    }

    /// Works out the answer: data, status word and how long it took.
    fn answer(&mut self, raw: &[u8]) -> (Vec<u8>, u16, u32) {
        let Ok(cmd) = CommandApdu::parse(raw) else {
            return (Vec::new(), sw::WRONG_LENGTH, 2);
        };
        let seen = self.ins_this_tap.entry(cmd.ins).or_insert(0);
        *seen = seen.saturating_add(1);
        if let Some(w) = self.profile.behaviour.wrong_sw {
            if w.ins == cmd.ins && w.nth == *seen {
                return (Vec::new(), w.sw, 5);
            }
        }
        if cmd.cla != 0x00 && cmd.cla != 0x80 {
            return (Vec::new(), sw::CLA, 2);
        }
        let (data, status, ms) = match cmd.ins {
            0xA4 => self.select(&cmd),
            0xA8 => self.get_processing_options(&cmd),
            0xB2 => self.read_record(&cmd),
            0xAE => self.generate_ac(&cmd),
            0xCA => self.get_data(&cmd),
            0xC0 => return self.get_response(&cmd),
            _ => (Vec::new(), sw::INS, 2),
        };
        // A command that fails leaves nothing to fetch.
        self.pending.clear();
        if self.profile.behaviour.wrong_le && matches!(cmd.ins, 0xB2 | 0xCA) && status == sw::OK {
            // ISO 7816-4 case 2: a card that insists on the exact Le says
            // 6Cxx with the right one; the terminal resends.
            if let Ok(exact) = u8::try_from(data.len()) {
                if cmd.le != Some(exact) {
                    return (Vec::new(), u16::from_be_bytes([0x6C, exact]), 3);
                }
            }
        }
        (data, status, ms)
    }

    fn get_response(&mut self, cmd: &CommandApdu) -> (Vec<u8>, u16, u32) {
        if self.pending.is_empty() {
            return (Vec::new(), sw::CONDITIONS, 2);
        }
        let want = match cmd.le {
            Some(0) | None => 256,
            Some(n) => usize::from(n),
        };
        let take = want.min(self.pending.len());
        let chunk: Vec<u8> = self.pending.drain(..take).collect();
        let status = if self.pending.is_empty() {
            sw::OK
        } else {
            u16::from_be_bytes([0x61, u8::try_from(self.pending.len()).unwrap_or(0)])
        };
        (chunk, status, 3)
    }

    fn select(&mut self, cmd: &CommandApdu) -> (Vec<u8>, u16, u32) {
        if cmd.p1 != 0x04 {
            return (Vec::new(), sw::WRONG_P1P2, 2);
        }
        // P2 bit 2 = next occurrence: this card holds one application only.
        let next = cmd.p2 & 0x02 != 0;
        let p = &self.profile;
        if cmd.data == PPSE && !next {
            let mut entry = Vec::new();
            put(&mut entry, 0x4F, &p.aid);
            put(&mut entry, 0x50, p.label.as_bytes());
            put(&mut entry, 0x87, &[0x01]);
            put(&mut entry, 0x9F2A, &[p.kind.kernel_id()]);
            let fci = tlv(
                0x6F,
                &[tlv(0x84, PPSE), tlv(0xA5, &tlv(0xBF0C, &tlv(0x61, &entry)))].concat(),
            );
            self.state = State::PpseSelected;
            return (fci, sw::OK, 6);
        }
        let partial_match = cmd.data.len() >= 5 && p.aid.starts_with(&cmd.data);
        if !partial_match || next {
            return (Vec::new(), sw::NOT_FOUND, 4);
        }
        let mut prop = Vec::new();
        put(&mut prop, 0x50, p.label.as_bytes());
        put(&mut prop, 0x87, &[0x01]);
        if let Some(pdol) = &p.pdol {
            put(&mut prop, 0x9F38, pdol);
        }
        put(&mut prop, 0x5F2D, b"en");
        let fci = tlv(0x6F, &[tlv(0x84, &p.aid), tlv(0xA5, &prop)].concat());
        self.state = State::AppSelected;
        (fci, sw::OK, 8)
    }

    fn pdol_entries(&self) -> Vec<DolEntry> {
        self.profile
            .pdol
            .as_deref()
            .and_then(|d| dol::parse(d).ok())
            .unwrap_or_default()
    }

    fn get_processing_options(&mut self, cmd: &CommandApdu) -> (Vec<u8>, u16, u32) {
        if !matches!(self.state, State::AppSelected) {
            return (Vec::new(), sw::CONDITIONS, 3);
        }
        let Ok((obj, rest)) = kernel::tlv::parse_one(&cmd.data) else {
            return (Vec::new(), sw::WRONG_LENGTH, 3);
        };
        if obj.tag.value() != 0x83 || !rest.is_empty() {
            return (Vec::new(), sw::WRONG_LENGTH, 3);
        }
        let entries = self.pdol_entries();
        let Some(terminal) = split_dol(&entries, obj.value) else {
            return (Vec::new(), sw::WRONG_LENGTH, 3);
        };
        let Some(next_atc) = self.atc.checked_add(1) else {
            // An exhausted ATC blocks the application, as on a real card.
            return (Vec::new(), sw::CONDITIONS, 3);
        };
        self.atc = next_atc;
        let pdol_data = obj.value.to_vec();
        if self.profile.kind.is_qvsdc() {
            self.state = State::Processing {
                pdol_data,
                ac_pending: false,
            };
            match self.qvsdc_gpo(&terminal) {
                Ok((data, ms)) => (data, sw::OK, ms),
                Err(status) => (Vec::new(), status, 20),
            }
        } else {
            self.state = State::Processing {
                pdol_data,
                ac_pending: true,
            };
            let body = [tlv(0x82, &self.aip), tlv(0x94, &self.afl)].concat();
            (tlv(0x77, &body), sw::OK, 15)
        }
    }

    /// Terminal data for the AC: what the DOL carried, zeros for the rest,
    /// as a card does when its DOL does not ask for a tag.
    fn terminal_value(terminal: &HashMap<u32, Vec<u8>>, tag: u32) -> Option<Vec<u8>> {
        if let Some(v) = terminal.get(&tag) {
            return Some(v.clone());
        }
        let len = match tag {
            0x9F02 | 0x9F03 => 6,
            0x95 => 5,
            0x9F37 => 4,
            0x9A => 3,
            0x9F1A | 0x5F2A => 2,
            0x9C => 1,
            _ => return None,
        };
        Some(vec![0; len])
    }

    fn cryptogram(&self, terminal: &HashMap<u32, Vec<u8>>, iad: &[u8]) -> Result<[u8; 8], u16> {
        let p = &self.profile;
        let atc = self.atc.to_be_bytes();
        let aip = self.aip;
        let get = |tag: u32| -> Option<Vec<u8>> {
            match tag {
                0x82 => Some(aip.to_vec()),
                0x9F36 => Some(atc.to_vec()),
                0x9F10 => Some(iad.to_vec()),
                _ => Self::terminal_value(terminal, tag),
            }
        };
        let input = crypto::ac_input(p.cvn, &get).map_err(|_| sw::INTERNAL)?;
        let un: [u8; 4] = Self::terminal_value(terminal, 0x9F37)
            .and_then(|v| v.try_into().ok())
            .unwrap_or([0; 4]);
        crypto::generate_ac(
            p.cvn,
            &p.imk_ac,
            p.pan.expose_digits(),
            p.psn,
            atc,
            un,
            &input,
        )
        .map_err(|_| sw::INTERNAL)
    }

    /// qVSDC (Kernel 3) and qUICS (Kernel 7): the card decides and answers
    /// with the cryptogram in the GPO response (format 2).
    fn qvsdc_gpo(&self, terminal: &HashMap<u32, Vec<u8>>) -> Result<(Vec<u8>, u32), u16> {
        let p = &self.profile;
        let b = &p.behaviour;
        let ttq = terminal.get(&0x9F66).cloned().unwrap_or_else(|| vec![0; 4]);
        let ttq_bit = |byte: usize, mask: u8| ttq.get(byte).is_some_and(|v| v & mask != 0);
        let online_required = ttq_bit(1, 0x80);
        let offline_only_reader = ttq_bit(0, 0x08);
        let amount = Self::terminal_value(terminal, 0x9F02)
            .and_then(|v| amount_minor(&v))
            .unwrap_or(u64::MAX);
        let within_limit = b.offline_limit.is_none_or(|l| amount <= l);
        let cid = if b.decline {
            CID_AAC
        } else if b.offline_approval && !online_required && within_limit {
            CID_TC
        } else if offline_only_reader {
            CID_AAC
        } else {
            CID_ARQC
        };

        let mut ctq = p.ctq;
        if b.online_pin {
            ctq[0] |= 0x80;
        }
        if b.signature {
            ctq[0] |= 0x40;
        }
        if b.cdcvm && ttq_bit(2, 0x40) {
            ctq[1] |= 0x80;
        }

        let iad = issuer_application_data(p.cvn, cid);
        let ac = self.cryptogram(terminal, &iad)?;
        let atc = self.atc.to_be_bytes();

        let mut body = Vec::new();
        put(&mut body, 0x82, &self.aip);
        put(&mut body, 0x94, &self.afl);
        put(&mut body, 0x57, &track2(p));
        put(&mut body, 0x5F34, &[p.psn]);
        put(&mut body, 0x9F10, &iad);
        put(&mut body, 0x9F26, &ac);
        put(&mut body, 0x9F27, &[cid]);
        put(&mut body, 0x9F36, &atc);
        put(&mut body, 0x9F6C, &ctq);

        // fDDA (Book C-3): for an offline approval, and for an online one
        // when the reader asks (TTQ byte 1 bit 1), if the AIP says DDA.
        let fdda =
            self.aip[0] & 0x20 != 0 && (cid == CID_TC || (cid == CID_ARQC && ttq_bit(0, 0x01)));
        let mut ms = 40;
        if fdda {
            let un = Self::terminal_value(terminal, 0x9F37).unwrap_or_default();
            let card_un: [u8; 4] = det_bytes(b"card-un", &[&atc, &un]);
            // Card authentication related data: fDDA version 01, card UN, CTQ.
            let mut cad = vec![0x01];
            cad.extend_from_slice(&card_un);
            cad.extend_from_slice(&ctq);
            let amount = Self::terminal_value(terminal, 0x9F02).unwrap_or_default();
            let currency = Self::terminal_value(terminal, 0x5F2A).unwrap_or_default();
            let terminal_dynamic = [un.as_slice(), &amount, &currency, &cad].concat();
            // The ICC dynamic number of fDDA is the ATC.
            let dyn_data = pki::dda_dynamic_data(&atc).map_err(|_| sw::INTERNAL)?;
            let sdad = pki::sign_dynamic(&self.icc_key, &dyn_data, &terminal_dynamic)
                .map_err(|_| sw::INTERNAL)?;
            put(&mut body, 0x9F69, &cad);
            put(&mut body, 0x9F4B, &sdad);
            ms += 80;
        }
        Ok((tlv(0x77, &body), ms))
    }

    fn read_record(&mut self, cmd: &CommandApdu) -> (Vec<u8>, u16, u32) {
        if matches!(self.state, State::Idle | State::PpseSelected) {
            return (Vec::new(), sw::CONDITIONS, 3);
        }
        if cmd.p2 & 0x07 != 0x04 || cmd.p1 == 0 {
            return (Vec::new(), sw::WRONG_P1P2, 3);
        }
        let key = (cmd.p2 >> 3, cmd.p1);
        match self.records.iter().find(|(k, _)| *k == key) {
            Some((_, r)) => (r.clone(), sw::OK, 10),
            None => (Vec::new(), sw::RECORD_NOT_FOUND, 5),
        }
    }

    fn generate_ac(&mut self, cmd: &CommandApdu) -> (Vec<u8>, u16, u32) {
        let State::Processing {
            pdol_data,
            ac_pending: true,
        } = &self.state
        else {
            return (Vec::new(), sw::CONDITIONS, 3);
        };
        let pdol_data = pdol_data.clone();
        let requested = cmd.p1 & 0xC0;
        if requested == 0xC0 {
            return (Vec::new(), sw::WRONG_P1P2, 3);
        }
        let p = &self.profile;
        let Some(terminal) = kernel::dol::parse(&p.cdol1)
            .ok()
            .and_then(|e| split_dol(&e, &cmd.data))
        else {
            return (Vec::new(), sw::WRONG_LENGTH, 3);
        };
        let b = &p.behaviour;
        let amount = Self::terminal_value(&terminal, 0x9F02)
            .and_then(|v| amount_minor(&v))
            .unwrap_or(u64::MAX);
        let within_limit = b.offline_limit.is_none_or(|l| amount <= l);
        // The card may only lower what the terminal asked for (Book 3 §9.3).
        let cid = match requested {
            0x00 => CID_AAC,
            _ if b.decline => CID_AAC,
            0x40 if b.offline_approval && within_limit => CID_TC,
            _ => CID_ARQC,
        };
        let iad = issuer_application_data(p.cvn, cid);
        let ac = match self.cryptogram(&terminal, &iad) {
            Ok(ac) => ac,
            Err(status) => return (Vec::new(), status, 20),
        };
        let atc = self.atc.to_be_bytes();
        self.state = State::Processing {
            pdol_data: pdol_data.clone(),
            ac_pending: false,
        };

        let cid_tlv = tlv(0x9F27, &[cid]);
        let atc_tlv = tlv(0x9F36, &atc);
        let iad_tlv = tlv(0x9F10, &iad);
        let cda = cmd.p1 & 0x10 != 0 && self.aip[0] & 0x01 != 0 && cid != CID_AAC;
        if !cda {
            let body = [cid_tlv, atc_tlv, tlv(0x9F26, &ac), iad_tlv].concat();
            return (tlv(0x77, &body), sw::OK, 40);
        }
        // CDA (Book 2 §6.6.1): the transaction data hash covers the PDOL
        // data, the CDOL1 data and every object of this response but the
        // SDAD, in the order sent.
        let tx_hash = pki::sha1(&[&pdol_data, &cmd.data, &cid_tlv, &atc_tlv, &iad_tlv]);
        let un = Self::terminal_value(&terminal, 0x9F37).unwrap_or_default();
        let idn: [u8; 8] = det_bytes(b"icc-dynamic-number", &[&atc, &un]);
        let sdad = pki::cda_dynamic_data(&idn, cid, ac, tx_hash)
            .and_then(|dd| pki::sign_dynamic(&self.icc_key, &dd, &un));
        let Ok(sdad) = sdad else {
            return (Vec::new(), sw::INTERNAL, 20);
        };
        let body = [cid_tlv, atc_tlv, tlv(0x9F4B, &sdad), iad_tlv].concat();
        (tlv(0x77, &body), sw::OK, 120)
    }

    fn get_data(&mut self, cmd: &CommandApdu) -> (Vec<u8>, u16, u32) {
        let tag = u16::from_be_bytes([cmd.p1, cmd.p2]);
        let out = match tag {
            0x9F36 => tlv(0x9F36, &self.atc.to_be_bytes()),
            0x9F13 => tlv(0x9F13, &[0x00, 0x00]),
            0x9F17 => tlv(0x9F17, &[0x03]),
            _ => return (Vec::new(), sw::DATA_NOT_FOUND, 3),
        };
        (out, sw::OK, 4)
    }
}
