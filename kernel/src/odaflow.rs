//! The kernel's side of ODA: gathering what the card sent into the inputs
//! of `oda`, and turning `oda`'s errors into reasons for the outcome.

use crate::carddata::CardData;
use crate::oda::{CaKeyStore, RevocationList};
use crate::tags::t;

/// Everything ODA needs from the card, collected after the records.
#[derive(Debug, Clone)]
pub struct Input {
    pub rid: [u8; 5],
    pub ca_index: u8,
    pub issuer_cert: Vec<u8>,
    pub issuer_remainder: Vec<u8>,
    pub issuer_exponent: Vec<u8>,
    pub icc_cert: Vec<u8>,
    pub icc_remainder: Vec<u8>,
    pub icc_exponent: Vec<u8>,
    pub pan_cn: Vec<u8>,
    pub static_data: Vec<u8>,
    pub date: [u8; 3],
}

impl Input {
    pub fn collect(
        rid: &[u8],
        card: &CardData,
        static_data: Vec<u8>,
        date: [u8; 3],
    ) -> Result<Input, String> {
        let need = |tag, what: &str| {
            card.get(tag)
                .map(<[u8]>::to_vec)
                .ok_or_else(|| format!("{what} missing"))
        };
        let rid = <[u8; 5]>::try_from(rid).map_err(|_| "RID is not 5 bytes".to_string())?;
        let ca_index = need(t::CA_INDEX, "CA public key index (8F)")?
            .first()
            .copied()
            .ok_or("CA public key index (8F) is empty")?;
        let pan_cn = match card.get(t::PAN) {
            Some(p) => p.to_vec(),
            None => track2_pan_cn(card.get(t::TRACK2).ok_or("PAN (5A) missing")?),
        };
        Ok(Input {
            rid,
            ca_index,
            issuer_cert: need(t::ISSUER_CERT, "issuer public key certificate (90)")?,
            issuer_remainder: card
                .get(t::ISSUER_REMAINDER)
                .map(<[u8]>::to_vec)
                .unwrap_or_default(),
            issuer_exponent: need(t::ISSUER_EXP, "issuer public key exponent (9F32)")?,
            icc_cert: need(t::ICC_CERT, "ICC public key certificate (9F46)")?,
            icc_remainder: card
                .get(t::ICC_REMAINDER)
                .map(<[u8]>::to_vec)
                .unwrap_or_default(),
            icc_exponent: need(t::ICC_EXP, "ICC public key exponent (9F47)")?,
            pan_cn,
            static_data,
            date,
        })
    }
}

/// The PAN digits of track 2 equivalent data as cn (F-padded).
fn track2_pan_cn(track2: &[u8]) -> Vec<u8> {
    let hexed = hex::encode_upper(track2);
    let mut digits: String = hexed.chars().take_while(|c| *c != 'D').collect();
    if digits.len() % 2 == 1 {
        digits.push('F');
    }
    hex::decode(digits).unwrap_or_default()
}

/// Whether the terminal holds the CA key the card names.
pub fn ca_key_known(store: &CaKeyStore, card: &CardData) -> bool {
    let rid = card.get(t::DF_NAME).and_then(|d| d.get(..5));
    let index = card.get(t::CA_INDEX).and_then(|i| i.first().copied());
    match (rid, index) {
        (Some(rid), Some(index)) => store.find(rid, index).is_some(),
        _ => false,
    }
}

pub use crate::oda::IccPublicKey as IccKey;

fn as_oda(input: &Input) -> crate::oda::OdaInput<'_> {
    crate::oda::OdaInput {
        rid: input.rid,
        ca_index: input.ca_index,
        issuer_cert: &input.issuer_cert,
        issuer_remainder: &input.issuer_remainder,
        issuer_exponent: &input.issuer_exponent,
        icc_cert: &input.icc_cert,
        icc_remainder: &input.icc_remainder,
        icc_exponent: &input.icc_exponent,
        pan_cn: &input.pan_cn,
        static_data: &input.static_data,
        transaction_date: input.date,
    }
}

/// Recovers the issuer key then the ICC key, checking both certificates.
pub fn recover_icc_key(
    store: &CaKeyStore,
    revocations: &RevocationList,
    input: &Input,
) -> Result<IccKey, String> {
    crate::oda::recover_icc_key(store, revocations, &as_oda(input)).map_err(|e| e.to_string())
}

/// DDA and fDDA: checks a format-05 SDAD over the terminal's dynamic data.
pub fn verify_dynamic(key: &IccKey, sdad: &[u8], terminal_dynamic: &[u8]) -> Result<(), String> {
    crate::oda::verify_dynamic(key, sdad, terminal_dynamic)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// CDA: checks the SDAD of a GENERATE AC answer and returns the
/// Application Cryptogram it carries.
pub fn verify_cda(
    key: &IccKey,
    sdad: &[u8],
    un: [u8; 4],
    pdol_data: &[u8],
    cdol1_data: &[u8],
    response_tlvs: &[u8],
    cid: u8,
) -> Result<[u8; 8], String> {
    let input = crate::oda::CdaInput {
        un,
        pdol_data,
        cdol1_data,
        cdol2_data: &[],
        response_tlvs_without_sdad: response_tlvs,
        cid,
        ac: None,
    };
    let data = crate::oda::verify_cda(key, sdad, &input).map_err(|e| e.to_string())?;
    data.ac
        .ok_or_else(|| "the signed data carries no Application Cryptogram".to_string())
}
