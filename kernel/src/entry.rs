//! Entry Point (EMV Book B): PPSE processing, the candidate list, and
//! pre-processing of each AID/kernel combination.

use crate::config::{AidConfig, TerminalConfig, TransactionInputs};
use crate::outcome::Reason;
use crate::tags::t;
use crate::tlv::{self, Tag, TlvIter};

/// The PPSE's DF name.
pub const PPSE: &[u8] = b"2PAY.SYS.DDF01";

/// Book B pre-processing indicators for one combination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Indicators {
    pub not_allowed: bool,
    pub floor_limit_exceeded: bool,
    pub cvm_limit_exceeded: bool,
    pub zero_amount: bool,
    /// TTQ after pre-processing (Book B §3.1.1.13).
    pub ttq: Option<[u8; 4]>,
}

/// One entry of the candidate list: what to select and which kernel runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub adf_name: Vec<u8>,
    pub kernel: u8,
    pub priority: u8,
    pub label: Option<String>,
    /// Index into `TerminalConfig::aids` of the matching configuration.
    pub aid_index: usize,
    pub indicators: Indicators,
}

/// The default kernel of a RID when the card names none (Book B Table 3-6).
fn default_kernel(adf_name: &[u8]) -> u8 {
    match adf_name.get(..5) {
        Some([0xA0, 0x00, 0x00, 0x00, 0x04]) => 2,
        Some([0xA0, 0x00, 0x00, 0x00, 0x03]) => 3,
        Some([0xA0, 0x00, 0x00, 0x00, 0x25]) => 4,
        Some([0xA0, 0x00, 0x00, 0x00, 0x65]) => 5,
        Some([0xA0, 0x00, 0x00, 0x01, 0x52]) => 6,
        Some([0xA0, 0x00, 0x00, 0x03, 0x33]) => 7,
        _ => 0,
    }
}

/// Pre-processing (Book B §3.1.1) of one configured AID for this amount.
pub fn preprocess(
    config: &TerminalConfig,
    aid: &AidConfig,
    inputs: &TransactionInputs,
) -> Indicators {
    let amount = inputs.amount.minor;
    let mut ind = Indicators {
        not_allowed: aid.transaction_limit.is_some_and(|l| amount >= l),
        floor_limit_exceeded: aid.floor_limit.is_some_and(|l| amount > l),
        cvm_limit_exceeded: aid.cvm_limit.is_some_and(|l| amount >= l),
        zero_amount: amount == 0,
        ttq: None,
    };
    if let Some(ttq) = config
        .tags
        .get(&t::TTQ)
        .and_then(|v| <[u8; 4]>::try_from(v.as_slice()).ok())
    {
        let mut ttq = ttq;
        // Byte 2: b8 online cryptogram required, b7 CVM required; reset
        // then set from the indicators.
        ttq[1] &= 0x3F;
        if ind.floor_limit_exceeded || ind.zero_amount {
            ttq[1] |= 0x80;
        }
        if ind.cvm_limit_exceeded {
            ttq[1] |= 0x40;
        }
        ind.ttq = Some(ttq);
    }
    ind
}

/// Builds the candidate list from the PPSE's FCI (Book B §3.3.2), in
/// selection order: by Application Priority Indicator, then card order.
pub fn candidates_from_ppse(
    fci: &[u8],
    config: &TerminalConfig,
    inputs: &TransactionInputs,
) -> Result<Vec<Candidate>, Reason> {
    tlv::parse_all(fci).map_err(|e| Reason::CardSentGarbage(format!("PPSE FCI: {e}")))?;
    let fci_tlv = tlv::find(fci, t::FCI)
        .ok()
        .flatten()
        .ok_or_else(|| Reason::CardBrokeRule("PPSE answer has no FCI template (6F)".into()))?;
    let issuer = tlv::find(fci_tlv.value, t::FCI_ISSUER)
        .ok()
        .flatten()
        .ok_or_else(|| Reason::CardBrokeRule("PPSE FCI has no BF0C directory".into()))?;
    let mut out: Vec<Candidate> = Vec::new();
    for entry in TlvIter::new(issuer.value) {
        let Ok(entry) = entry else { break };
        if entry.tag != t::APP_TEMPLATE {
            continue;
        }
        let mut adf: Option<&[u8]> = None;
        let mut kernel_id: Option<&[u8]> = None;
        let mut priority = 0u8;
        let mut label = None;
        for child in entry.children().flatten() {
            match child.tag {
                x if x == t::AID => adf = Some(child.value),
                x if x == t::KERNEL_ID => kernel_id = Some(child.value),
                x if x == t::PRIORITY => priority = child.value.first().map_or(0, |p| p & 0x0F),
                x if x == t::LABEL => {
                    label = Some(String::from_utf8_lossy(child.value).into_owned())
                }
                _ => {}
            }
        }
        // Book B: an entry without a valid ADF name is ignored.
        let Some(adf) = adf.filter(|a| (5..=16).contains(&a.len())) else {
            continue;
        };
        let requested = match kernel_id.and_then(|k| k.first()) {
            // b8-b7 = 00 or 01: an EMVCo-assigned kernel ID in b6-b1.
            Some(&k) if k >> 6 <= 1 && k & 0x3F != 0 => k & 0x3F,
            Some(_) => 0xFF,
            None => default_kernel(adf),
        };
        for (i, aid) in config.aids.iter().enumerate() {
            let name_matches = adf == aid.aid.as_slice()
                || (aid.partial && adf.len() > aid.aid.len() && adf.starts_with(&aid.aid));
            let kernel_matches =
                requested == aid.kernel || (requested == 0 && aid.kernel == default_kernel(adf));
            if !name_matches || !kernel_matches {
                continue;
            }
            let indicators = preprocess(config, aid, inputs);
            if indicators.not_allowed {
                continue;
            }
            out.push(Candidate {
                adf_name: adf.to_vec(),
                kernel: aid.kernel,
                priority,
                label: label.clone(),
                aid_index: i,
                indicators,
            });
        }
    }
    // Priority 1 is highest; 0 (none) sorts last. Stable sort keeps card
    // order for equal priorities.
    out.sort_by_key(|c| if c.priority == 0 { 16 } else { c.priority });
    Ok(out)
}

/// Whether every configured combination is barred by its transaction
/// limit: then Book B says Try Another Interface rather than End Application.
pub fn all_not_allowed(config: &TerminalConfig, inputs: &TransactionInputs) -> bool {
    !config.aids.is_empty()
        && config
            .aids
            .iter()
            .all(|a| preprocess(config, a, inputs).not_allowed)
}

/// What the kernel needs from a selected application's FCI.
pub struct AdfFci {
    pub pdol: Option<Vec<u8>>,
    pub label: Option<String>,
    pub df_name: Vec<u8>,
}

/// Checks the FCI of a selected application and returns its PDOL (if any)
/// and label. Book B §3.3.3: the DF name must be present.
pub fn parse_adf_fci(fci: &[u8]) -> Result<AdfFci, Reason> {
    tlv::parse_all(fci).map_err(|e| Reason::CardSentGarbage(format!("application FCI: {e}")))?;
    let template = tlv::find(fci, t::FCI)
        .ok()
        .flatten()
        .ok_or_else(|| Reason::CardBrokeRule("application FCI template (6F) missing".into()))?;
    let df = tlv::find(template.value, t::DF_NAME)
        .ok()
        .flatten()
        .ok_or_else(|| Reason::CardBrokeRule("DF name (84) missing from the FCI".into()))?;
    let pdol = tlv::find(template.value, t::PDOL)
        .ok()
        .flatten()
        .map(|p| p.value.to_vec());
    let label = tlv::find(template.value, t::LABEL)
        .ok()
        .flatten()
        .map(|l| String::from_utf8_lossy(l.value).into_owned());
    Ok(AdfFci {
        pdol,
        label,
        df_name: df.value.to_vec(),
    })
}

/// The tag of the Kernel Identifier, for traces.
pub const KERNEL_ID: Tag = t::KERNEL_ID;
