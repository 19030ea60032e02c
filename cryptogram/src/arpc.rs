//! Issuer authentication: the ARPC the issuer returns in tag 91 and the
//! card checks (EMV 4.4 Book 2 8.2 and A1.2).

use subtle::ConstantTimeEq;
use zeroize::Zeroize;

use crate::cvn::{ArpcMethod, Cvn};
use crate::derive::{derive_icc_master_key_for, session_key};
use crate::error::CryptoError;
use crate::key::Key16;
use crate::mac::{mac_alg3, tdes_encrypt, Padding};

/// Longest proprietary authentication data ARPC method 2 allows.
const MAX_PROP_AUTH_DATA: usize = 8;

/// ARPC method 1, EMV Book 2 8.2.1: ARPC = TDES(key)[ARQC XOR
/// (ARC ‖ 00 00 00 00 00 00)].
///
/// `key` is the one [`arpc_key`] names for the CVN.
pub fn arpc_method1(session_key: &Key16, arqc: [u8; 8], arc: [u8; 2]) -> [u8; 8] {
    let [c0, c1] = arc;
    let [a0, a1, a2, a3, a4, a5, a6, a7] = arqc;
    tdes_encrypt(session_key, [a0 ^ c0, a1 ^ c1, a2, a3, a4, a5, a6, a7])
}

/// ARPC method 2, EMV Book 2 8.2.2: the leftmost four bytes of MAC
/// algorithm 3 (padding method 2) over ARQC ‖ CSU ‖ proprietary
/// authentication data.
///
/// EMV allows at most 8 bytes of proprietary data; this function MACs
/// whatever it is given, and [`issuer_authentication_data`] enforces the
/// limit.
pub fn arpc_method2(
    session_key: &Key16,
    arqc: [u8; 8],
    csu: [u8; 4],
    prop_auth_data: &[u8],
) -> [u8; 4] {
    let mut data = Vec::with_capacity(12usize.saturating_add(prop_auth_data.len()));
    data.extend_from_slice(&arqc);
    data.extend_from_slice(&csu);
    data.extend_from_slice(prop_auth_data);
    let [a, b, c, d, ..] = mac_alg3(session_key, &data, Padding::Method2);
    [a, b, c, d]
}

/// The key the card verifies the ARPC with: the AC session key for Visa
/// CVN 18, the ICC master key for Visa CVN 10 and for Mastercard CVN 16/17
/// (M/Chip 4 computes the ARPC under MK_AC, not under the proprietary
/// session key; pyemv `MasterCardCVN16._derive_sk_arpc_none`, checked
/// against an HSM in `tests/test_cvn_hsm.py`).
pub fn arpc_key(cvn: Cvn, icc_mk: &Key16, atc: [u8; 2], un: [u8; 4]) -> Key16 {
    match cvn {
        Cvn::Visa18 => session_key(cvn, icc_mk, atc, un),
        Cvn::Visa10 | Cvn::Mastercard16 | Cvn::Mastercard17 => *icc_mk,
    }
}

/// An ARPC of either method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arpc {
    /// Method 1: eight bytes.
    Method1([u8; 8]),
    /// Method 2: four bytes.
    Method2([u8; 4]),
}

/// What the issuer tells the card besides proving who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IssuerResponse {
    /// ARPC method 1: the Authorisation Response Code (for Mastercard often
    /// `00 10`/`00 12`, for Visa CVN 10 the ASCII response code, `30 30`).
    Arc([u8; 2]),
    /// ARPC method 2: the Card Status Update and up to 8 bytes of
    /// proprietary authentication data.
    Csu {
        /// Card Status Update (Visa: byte 2 bit 8 set = approved).
        csu: [u8; 4],
        /// Proprietary authentication data, 0 to 8 bytes.
        prop_auth_data: Vec<u8>,
    },
}

impl IssuerResponse {
    fn method(&self) -> ArpcMethod {
        match self {
            IssuerResponse::Arc(_) => ArpcMethod::Method1,
            IssuerResponse::Csu { .. } => ArpcMethod::Method2,
        }
    }
}

/// The value of tag 91 (Issuer Authentication Data) for `cvn`: method 1:
/// ARPC(8) ‖ ARC(2); method 2: ARPC(4) ‖ CSU(4) ‖ proprietary data (0-8).
///
/// Fails if the ARPC or the response is of the other method than the CVN
/// uses, or the proprietary data is longer than 8 bytes.
pub fn issuer_authentication_data(
    cvn: Cvn,
    arpc: &Arpc,
    response: &IssuerResponse,
) -> Result<Vec<u8>, CryptoError> {
    match (cvn.arpc_method(), arpc, response) {
        (ArpcMethod::Method1, Arpc::Method1(arpc), IssuerResponse::Arc(arc)) => {
            let mut out = Vec::with_capacity(10);
            out.extend_from_slice(arpc);
            out.extend_from_slice(arc);
            Ok(out)
        }
        (
            ArpcMethod::Method2,
            Arpc::Method2(arpc),
            IssuerResponse::Csu {
                csu,
                prop_auth_data,
            },
        ) => {
            if prop_auth_data.len() > MAX_PROP_AUTH_DATA {
                return Err(CryptoError::PropAuthDataTooLong(prop_auth_data.len()));
            }
            let mut out = Vec::with_capacity(16);
            out.extend_from_slice(arpc);
            out.extend_from_slice(csu);
            out.extend_from_slice(prop_auth_data);
            Ok(out)
        }
        _ => Err(CryptoError::ArpcMethodMismatch { cvn }),
    }
}

/// Splits a tag 91 value into ARPC and issuer response for `cvn`: exactly
/// 10 bytes for method 1, 8 to 16 bytes for method 2.
pub fn parse_issuer_authentication_data(
    cvn: Cvn,
    data: &[u8],
) -> Result<(Arpc, IssuerResponse), CryptoError> {
    let bad = || CryptoError::BadIssuerAuthData {
        cvn,
        len: data.len(),
    };
    match cvn.arpc_method() {
        ArpcMethod::Method1 => match *data {
            [a0, a1, a2, a3, a4, a5, a6, a7, r0, r1] => Ok((
                Arpc::Method1([a0, a1, a2, a3, a4, a5, a6, a7]),
                IssuerResponse::Arc([r0, r1]),
            )),
            _ => Err(bad()),
        },
        ArpcMethod::Method2 => match data {
            [a0, a1, a2, a3, c0, c1, c2, c3, prop @ ..] if prop.len() <= MAX_PROP_AUTH_DATA => {
                Ok((
                    Arpc::Method2([*a0, *a1, *a2, *a3]),
                    IssuerResponse::Csu {
                        csu: [*c0, *c1, *c2, *c3],
                        prop_auth_data: prop.to_vec(),
                    },
                ))
            }
            _ => Err(bad()),
        },
    }
}

/// Issuer side: the tag 91 value answering `arqc` with `response`, using
/// the key and method the card's CVN expects.
#[allow(clippy::too_many_arguments)]
pub fn generate_arpc(
    cvn: Cvn,
    imk_ac: &Key16,
    pan_digits: &str,
    psn: u8,
    atc: [u8; 2],
    un: [u8; 4],
    arqc: [u8; 8],
    response: &IssuerResponse,
) -> Result<Vec<u8>, CryptoError> {
    if response.method() != cvn.arpc_method() {
        return Err(CryptoError::ArpcMethodMismatch { cvn });
    }
    let mut mk = derive_icc_master_key_for(cvn, imk_ac, pan_digits, psn)?;
    let mut key = arpc_key(cvn, &mk, atc, un);
    let arpc = match response {
        IssuerResponse::Arc(arc) => Arpc::Method1(arpc_method1(&key, arqc, *arc)),
        IssuerResponse::Csu {
            csu,
            prop_auth_data,
        } => Arpc::Method2(arpc_method2(&key, arqc, *csu, prop_auth_data)),
    };
    mk.zeroize();
    key.zeroize();
    issuer_authentication_data(cvn, &arpc, response)
}

/// Card side: whether the tag 91 value `issuer_auth_data` proves that the
/// issuer saw `arqc`. Returns the issuer response when it does, `None` when
/// the ARPC is wrong (compared in constant time); a value of the wrong
/// shape is an error.
#[allow(clippy::too_many_arguments)]
pub fn verify_arpc(
    cvn: Cvn,
    imk_ac: &Key16,
    pan_digits: &str,
    psn: u8,
    atc: [u8; 2],
    un: [u8; 4],
    arqc: [u8; 8],
    issuer_auth_data: &[u8],
) -> Result<Option<IssuerResponse>, CryptoError> {
    // Recompute the whole tag 91 value from the response it carries and
    // compare it with what arrived: this checks the ARPC and, for method 2,
    // that the CSU was not altered after the MAC.
    let (_, response) = parse_issuer_authentication_data(cvn, issuer_auth_data)?;
    let expected = generate_arpc(cvn, imk_ac, pan_digits, psn, atc, un, arqc, &response)?;
    let ok: bool = expected.as_slice().ct_eq(issuer_auth_data).into();
    Ok(ok.then_some(response))
}
