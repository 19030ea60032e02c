//! Helpers shared by the card tests: a hand-driven terminal side.
#![allow(dead_code)]

use cardsim::VirtualCard;
use kernel::apdu::CommandApdu;
use kernel::tlv::{self, Tag};

pub const DATE: [u8; 3] = [0x26, 0x11, 0x23];
pub const UN: [u8; 4] = [0xA1, 0xB2, 0xC3, 0xD4];
pub const CURRENCY: [u8; 2] = [0x08, 0x40];
/// qVSDC, contact chip, online PIN, signature; CDCVM supported; ODA for online.
pub const TTQ_ONLINE_ODA: [u8; 4] = [0x37, 0x00, 0x40, 0x00];
/// Same, without "ODA for online authorisations supported".
pub const TTQ_ONLINE: [u8; 4] = [0x36, 0x00, 0x40, 0x00];
/// Same as TTQ_ONLINE_ODA with "online cryptogram required".
pub const TTQ_ONLINE_REQUIRED: [u8; 4] = [0x37, 0x80, 0x40, 0x00];

#[derive(Debug)]
pub struct Resp {
    pub data: Vec<u8>,
    pub sw: u16,
}

impl Resp {
    pub fn get(&self, tag: u32) -> Option<Vec<u8>> {
        find(&self.data, tag)
    }
    pub fn must(&self, tag: u32) -> Vec<u8> {
        self.get(tag)
            .unwrap_or_else(|| panic!("tag {tag:X} missing in {}", hex::encode_upper(&self.data)))
    }
}

pub fn find(data: &[u8], tag: u32) -> Option<Vec<u8>> {
    tlv::find(data, Tag::new(tag).unwrap())
        .unwrap()
        .map(|t| t.value.to_vec())
}

pub fn send(card: &mut VirtualCard, cmd: &CommandApdu) -> Resp {
    let raw = card
        .transmit(&cmd.to_bytes())
        .expect("card still in the field");
    assert!(raw.len() >= 2, "response without status word");
    let (data, sw) = raw.split_at(raw.len() - 2);
    Resp {
        data: data.to_vec(),
        sw: u16::from_be_bytes([sw[0], sw[1]]),
    }
}

pub fn amount_bcd(minor: u64) -> [u8; 6] {
    let digits = format!("{minor:012}");
    let mut out = [0u8; 6];
    for (i, pair) in digits.as_bytes().chunks(2).enumerate() {
        out[i] = ((pair[0] - b'0') << 4) | (pair[1] - b'0');
    }
    out
}

/// Terminal values for the tags a DOL may ask, as a tiny terminal knows them.
pub fn terminal_value(tag: u32, ttq: [u8; 4], amount: u64) -> Vec<u8> {
    match tag {
        0x9F66 => ttq.to_vec(),
        0x9F02 => amount_bcd(amount).to_vec(),
        0x9F03 => vec![0; 6],
        0x9F1A => CURRENCY.to_vec(),
        0x95 => vec![0; 5],
        0x5F2A => CURRENCY.to_vec(),
        0x9A => DATE.to_vec(),
        0x9C => vec![0],
        0x9F37 => UN.to_vec(),
        0x9F35 => vec![0x22],
        0x9F34 => vec![0x1F, 0x03, 0x02],
        _ => Vec::new(),
    }
}

/// Builds DOL data, padding or truncating like a terminal.
pub fn dol_data(dol: &[u8], ttq: [u8; 4], amount: u64) -> Vec<u8> {
    let mut out = Vec::new();
    for e in kernel::dol::parse(dol).unwrap() {
        let mut v = terminal_value(e.tag.value(), ttq, amount);
        v.resize(e.len, 0);
        out.extend_from_slice(&v);
    }
    out
}

/// What a hand-driven transaction saw.
pub struct Flow {
    pub ppse: Resp,
    pub fci: Resp,
    pub pdol_data: Vec<u8>,
    pub gpo: Resp,
    /// (SFI, record bytes as received) in AFL order.
    pub records: Vec<(u8, Vec<u8>)>,
    /// Records the AFL marks for ODA.
    pub oda_records: Vec<(u8, Vec<u8>)>,
}

impl Flow {
    pub fn record_tag(&self, tag: u32) -> Option<Vec<u8>> {
        self.records.iter().find_map(|(_, r)| find(r, tag))
    }
}

/// PPSE, SELECT, GPO, then every record of the AFL.
pub fn run_to_records(card: &mut VirtualCard, ttq: [u8; 4], amount: u64) -> Flow {
    let ppse = send(card, &CommandApdu::select(b"2PAY.SYS.DDF01"));
    assert_eq!(ppse.sw, 0x9000);
    let aid = ppse.must(0x4F);
    let fci = send(card, &CommandApdu::select(&aid));
    assert_eq!(fci.sw, 0x9000);
    let pdol_data = fci
        .get(0x9F38)
        .map(|pdol| dol_data(&pdol, ttq, amount))
        .unwrap_or_default();
    let gpo = send(card, &CommandApdu::gpo(&pdol_data));
    assert_eq!(gpo.sw, 0x9000, "GPO: {gpo:?}");
    let afl = gpo.must(0x94);
    let mut records = Vec::new();
    let mut oda_records = Vec::new();
    for entry in afl.chunks(4) {
        let (sfi, first, last, oda) = (entry[0] >> 3, entry[1], entry[2], entry[3]);
        for rec in first..=last {
            let r = send(card, &CommandApdu::read_record(sfi, rec));
            assert_eq!(r.sw, 0x9000, "record {sfi}/{rec}");
            if rec - first < oda {
                oda_records.push((sfi, r.data.clone()));
            }
            records.push((sfi, r.data));
        }
    }
    Flow {
        ppse,
        fci,
        pdol_data,
        gpo,
        records,
        oda_records,
    }
}

/// Recomputes an application cryptogram with the cryptogram crate from the
/// profile's `imk_ac`, taking terminal data from `terminal` and card data
/// (AIP, ATC, IAD) as the card returned them.
pub fn recompute_ac(
    profile: &cardsim::Profile,
    terminal: &dyn Fn(u32) -> Option<Vec<u8>>,
    aip: &[u8],
    atc: &[u8],
    iad: &[u8],
) -> [u8; 8] {
    let get = |tag: u32| match tag {
        0x82 => Some(aip.to_vec()),
        0x9F36 => Some(atc.to_vec()),
        0x9F10 => Some(iad.to_vec()),
        t => terminal(t),
    };
    let input = cryptogram::ac_input(profile.cvn, &get).unwrap();
    let un: [u8; 4] = terminal(0x9F37).unwrap().try_into().unwrap();
    cryptogram::generate_ac(
        profile.cvn,
        &profile.imk_ac,
        profile.pan.expose_digits(),
        profile.psn,
        atc.try_into().unwrap(),
        un,
        &input,
    )
    .unwrap()
}
