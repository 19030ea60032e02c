//! Signed application data: static (SDA, format 03) and dynamic (DDA,
//! fDDA and CDA, format 05). EMV Book 2 §5.4, §6.5, §6.6; Book C-3 for
//! fDDA.

use super::cert::{IccPublicKey, IssuerPublicKey, Recovered};
use super::rsa::{recover_as, sha1};
use super::OdaError;
use crate::tlv::{Tag, TlvIter};

/// Checks Signed Static Application Data (tag 93) with a verified issuer
/// key and returns the Data Authentication Code (tag 9F45).
pub fn verify_ssad(
    issuer: &IssuerPublicKey,
    ssad: &[u8],
    static_data: &[u8],
) -> Result<[u8; 2], OdaError> {
    let bytes = recover_as(
        "signed static application data (93)",
        issuer.modulus(),
        issuer.exponent(),
        ssad,
    )?;
    let data = Recovered {
        what: "signed static application data",
        bytes: &bytes,
    };
    data.check_frame(0x03)?;
    data.check_hash(2, &[static_data], OdaError::SignatureHashMismatch)?;
    let dac = data.range(3, 5)?;
    dac.try_into()
        .map_err(|_| OdaError::BadSignature("no data authentication code"))
}

/// What the card signed dynamically, recovered from a verified SDAD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IccDynamicData {
    /// ICC Dynamic Number (tag 9F4C), 2 to 8 bytes.
    pub icc_dynamic_number: Vec<u8>,
    /// CDA only: Cryptogram Information Data the card signed.
    pub cid: Option<u8>,
    /// CDA only: the Application Cryptogram (tag 9F26) the card signed.
    pub ac: Option<[u8; 8]>,
    /// CDA only: the Transaction Data Hash Code the card signed.
    pub transaction_data_hash: Option<[u8; 20]>,
    /// The whole ICC Dynamic Data field.
    pub data: Vec<u8>,
}

/// Recovers a format-05 SDAD and checks its frame; returns the recovered
/// bytes and the ICC Dynamic Data field. The caller checks the hash.
fn recover_sdad(icc: &IccPublicKey, sdad: &[u8]) -> Result<(Vec<u8>, Vec<u8>), OdaError> {
    let bytes = recover_as(
        "signed dynamic application data (9F4B)",
        icc.modulus(),
        icc.exponent(),
        sdad,
    )?;
    let data = Recovered {
        what: "signed dynamic application data",
        bytes: &bytes,
    };
    data.check_frame(0x05)?;
    let len = usize::from(data.byte(3)?);
    let end = 4usize.saturating_add(len);
    if end > data.hash_at()? {
        return Err(OdaError::BadSignature(
            "ICC dynamic data length runs into the hash",
        ));
    }
    let dynamic = data.range(4, end)?.to_vec();
    Ok((bytes.clone(), dynamic))
}

fn dynamic_number(dynamic: &[u8]) -> Result<(Vec<u8>, &[u8]), OdaError> {
    let (&len, rest) = dynamic
        .split_first()
        .ok_or(OdaError::BadSignature("ICC dynamic data is empty"))?;
    let len = usize::from(len);
    if !(2..=8).contains(&len) {
        return Err(OdaError::BadSignature(
            "ICC dynamic number length is not 2 to 8",
        ));
    }
    let (number, rest) = rest
        .split_at_checked(len)
        .ok_or(OdaError::BadSignature("ICC dynamic number is cut short"))?;
    Ok((number.to_vec(), rest))
}

/// DDA and fDDA: checks Signed Dynamic Application Data (from INTERNAL
/// AUTHENTICATE, or tag 9F4B in a Visa GPO response) with a verified ICC
/// key. `terminal_dynamic_data` is the DDOL data as sent for DDA, or
/// [`fdda_terminal_data`] for fDDA.
pub fn verify_dynamic(
    icc: &IccPublicKey,
    sdad: &[u8],
    terminal_dynamic_data: &[u8],
) -> Result<IccDynamicData, OdaError> {
    let (bytes, dynamic) = recover_sdad(icc, sdad)?;
    let data = Recovered {
        what: "signed dynamic application data",
        bytes: &bytes,
    };
    data.check_hash(2, &[terminal_dynamic_data], OdaError::SignatureHashMismatch)?;
    let (number, _) = dynamic_number(&dynamic)?;
    Ok(IccDynamicData {
        icc_dynamic_number: number,
        cid: None,
        ac: None,
        transaction_data_hash: None,
        data: dynamic,
    })
}

/// The terminal dynamic data of Visa fDDA (Book C-3, Annex C): for fDDA
/// version 01, shown by the first byte of Card Authentication Related Data
/// (tag 9F69), it is Unpredictable Number (9F37) || Amount, Authorised
/// (9F02) || Transaction Currency Code (5F2A) || Card Authentication
/// Related Data (9F69). For version 00 (9F69 absent or first byte 00) it
/// is the Unpredictable Number alone.
pub fn fdda_terminal_data(
    un: [u8; 4],
    amount_authorised: [u8; 6],
    currency: [u8; 2],
    card_auth_related_data: Option<&[u8]>,
) -> Vec<u8> {
    let mut out = un.to_vec();
    if let Some(card_data @ [0x01, ..]) = card_auth_related_data {
        out.extend_from_slice(&amount_authorised);
        out.extend_from_slice(&currency);
        out.extend_from_slice(card_data);
    }
    out
}

/// What CDA needs besides the SDAD: the terminal's data as sent and the
/// card's GENERATE AC response.
#[derive(Debug, Clone, Copy)]
pub struct CdaInput<'a> {
    /// Unpredictable Number (9F37) as sent in the GENERATE AC.
    pub un: [u8; 4],
    /// Values of the PDOL data as sent in GET PROCESSING OPTIONS (without
    /// tag 83 and its length); empty when there was no PDOL.
    pub pdol_data: &'a [u8],
    /// CDOL1 data as sent in the first GENERATE AC.
    pub cdol1_data: &'a [u8],
    /// CDOL2 data as sent in a second GENERATE AC; empty for the first.
    pub cdol2_data: &'a [u8],
    /// The TLVs of the GENERATE AC response template (77) in the order the
    /// card sent them, without the SDAD (9F4B); see
    /// [`split_generate_ac_response`].
    pub response_tlvs_without_sdad: &'a [u8],
    /// Cryptogram Information Data (9F27) from the response.
    pub cid: u8,
    /// Application Cryptogram (9F26) if the response carried one in clear.
    pub ac: Option<[u8; 8]>,
}

/// Splits a GENERATE AC response template 77's value into the SDAD (9F4B)
/// and the other TLVs, raw and in order, as CDA hashes them.
pub fn split_generate_ac_response(template_value: &[u8]) -> Result<(Vec<u8>, Vec<u8>), OdaError> {
    let sdad_tag = Tag::new(0x9F4B).map_err(|_| OdaError::Missing("tag 9F4B"))?;
    let mut sdad = None;
    let mut others = Vec::new();
    for tlv in TlvIter::new(template_value) {
        let tlv =
            tlv.map_err(|_| OdaError::BadSignature("GENERATE AC response is not valid TLV"))?;
        if tlv.tag == sdad_tag {
            if sdad.is_some() {
                return Err(OdaError::BadSignature(
                    "two SDADs in the GENERATE AC response",
                ));
            }
            sdad = Some(tlv.value.to_vec());
        } else {
            others.extend_from_slice(tlv.raw);
        }
    }
    let sdad = sdad.ok_or(OdaError::Missing("signed dynamic application data (9F4B)"))?;
    Ok((sdad, others))
}

/// Combined DDA/AC generation (Book 2 §6.6.2): checks the SDAD with the
/// Unpredictable Number as terminal dynamic data, that the signed CID is
/// the one the card returned, that any clear AC is the signed one, and the
/// Transaction Data Hash Code over PDOL data || CDOL1 data || CDOL2 data ||
/// response TLVs.
pub fn verify_cda(
    icc: &IccPublicKey,
    sdad: &[u8],
    input: &CdaInput<'_>,
) -> Result<IccDynamicData, OdaError> {
    let (bytes, dynamic) = recover_sdad(icc, sdad)?;
    let (number, rest) = dynamic_number(&dynamic)?;
    let (&signed_cid, rest) = rest
        .split_first()
        .ok_or(OdaError::BadSignature("ICC dynamic data has no CID"))?;
    let (ac, rest) = rest
        .split_first_chunk::<8>()
        .ok_or(OdaError::BadSignature("ICC dynamic data has no cryptogram"))?;
    let tdhc = rest.first_chunk::<20>().ok_or(OdaError::BadSignature(
        "ICC dynamic data has no transaction data hash",
    ))?;
    if signed_cid != input.cid {
        return Err(OdaError::CidMismatch {
            signed: signed_cid,
            returned: input.cid,
        });
    }
    let data = Recovered {
        what: "signed dynamic application data",
        bytes: &bytes,
    };
    data.check_hash(2, &[&input.un], OdaError::SignatureHashMismatch)?;
    if input.ac.is_some_and(|clear| &clear != ac) {
        return Err(OdaError::AcMismatch);
    }
    let computed = sha1(&[
        input.pdol_data,
        input.cdol1_data,
        input.cdol2_data,
        input.response_tlvs_without_sdad,
    ]);
    if &computed != tdhc {
        return Err(OdaError::TransactionDataHashMismatch);
    }
    Ok(IccDynamicData {
        icc_dynamic_number: number,
        cid: Some(signed_cid),
        ac: Some(*ac),
        transaction_data_hash: Some(*tdhc),
        data: dynamic,
    })
}
