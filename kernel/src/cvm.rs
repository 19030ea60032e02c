//! Cardholder verification: Kernel 3's CTQ/TTQ rules (Book C-3 §5.7) and
//! the CVM list processing of Book 3 §10.5 used by Kernel 2.

use crate::outcome::Cvm;

/// What CVM processing concluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CvmDecision {
    Selected(Cvm),
    /// No acceptable CVM: the transaction cannot go on.
    Failed(String),
}

/// Kernel 3's CVM (Book C-3 §5.7.1): the card says in its CTQ what it did
/// or wants, the reader says in its TTQ what it can do. Runs after ODA, so
/// `online` is the path the transaction takes. `card_auth_data` (9F69)
/// carries the CTQ as the card signed it for fDDA.
pub fn kernel3(
    cvm_required: bool,
    ttq: [u8; 4],
    ctq: Option<[u8; 2]>,
    online: bool,
    card_auth_data: Option<&[u8]>,
) -> CvmDecision {
    let online_pin_supported = ttq[0] & 0x04 != 0;
    let signature_supported = ttq[0] & 0x02 != 0;
    let Some(ctq) = ctq else {
        if !cvm_required {
            return CvmDecision::Selected(Cvm::NoCvm);
        }
        // §5.7.1.2: no CTQ: signature first, then online PIN when online.
        if signature_supported {
            return CvmDecision::Selected(Cvm::Signature);
        }
        if online_pin_supported && online {
            return CvmDecision::Selected(Cvm::OnlinePin);
        }
        return CvmDecision::Failed(
            "the amount needs cardholder verification and none is available".into(),
        );
    };
    // CTQ byte 1 b8: online PIN required (the caller sends it online).
    if ctq[0] & 0x80 != 0 && online_pin_supported {
        return CvmDecision::Selected(Cvm::OnlinePin);
    }
    // CTQ byte 2 b8: consumer device CVM performed. The CTQ itself is not
    // signed, so it must match the copy in 9F69 when there is one, and
    // without one it is trusted only for an online authorisation.
    if ctq[1] & 0x80 != 0 {
        return match card_auth_data.and_then(|c| c.get(5..7)) {
            Some(signed) if signed == ctq => CvmDecision::Selected(Cvm::Cdcvm),
            Some(_) => {
                CvmDecision::Failed("the CTQ does not match the copy the card signed (9F69)".into())
            }
            None if online => CvmDecision::Selected(Cvm::Cdcvm),
            None => CvmDecision::Failed(
                "consumer device CVM claimed offline without signed card data".into(),
            ),
        };
    }
    if ctq[0] & 0x40 != 0 && signature_supported {
        return CvmDecision::Selected(Cvm::Signature);
    }
    if cvm_required {
        return CvmDecision::Failed(
            "the amount needs cardholder verification and the card asks for none the reader can do"
                .into(),
        );
    }
    CvmDecision::Selected(Cvm::NoCvm)
}

/// Inputs of Kernel 2's CVM selection.
pub struct Kernel2Cvm<'a> {
    pub aip: [u8; 2],
    pub cvm_list: Option<&'a [u8]>,
    pub amount: u64,
    pub amount_other: u64,
    pub tx_type: u8,
    /// CVM Capability byte (DF8118 or DF8119), laid out as Terminal
    /// Capabilities byte 2.
    pub capability: u8,
    pub cvm_limit_exceeded: bool,
    pub on_device_cvm_supported: bool,
    /// Application Currency Code (9F42) equals the transaction's: the
    /// amount conditions (06–09) apply only then.
    pub app_currency_matches: bool,
    pub terminal_type: u8,
}

/// Kernel 2's choice, with the CVM Results (9F34) it writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kernel2Selection {
    pub cvm: Cvm,
    pub results: [u8; 3],
    pub failed: bool,
    pub online_pin: bool,
    /// A rule named a CVM this terminal does not know (TVR byte 3 b7).
    pub unrecognised: bool,
    /// The card supports CVM but sent no CVM list (TVR byte 1 b6).
    pub icc_data_missing: bool,
}

const NO_CVM_PERFORMED: u8 = 0x3F;
const RESULT_UNKNOWN: u8 = 0x00;
const RESULT_FAILED: u8 = 0x01;
const RESULT_SUCCESSFUL: u8 = 0x02;

/// Book C-2 §7.5 with the CVM list rules of Book 3 §10.5.
pub fn kernel2(i: Kernel2Cvm<'_>) -> Kernel2Selection {
    // On-device cardholder verification (AIP byte 1 b2).
    if i.aip[0] & 0x02 != 0 && i.on_device_cvm_supported {
        return if i.cvm_limit_exceeded {
            Kernel2Selection {
                cvm: Cvm::Cdcvm,
                ..no_cvm([0x01, 0x00, RESULT_SUCCESSFUL])
            }
        } else {
            no_cvm([NO_CVM_PERFORMED, 0x00, RESULT_SUCCESSFUL])
        };
    }
    // CVM not supported by the card (AIP byte 1 b5).
    if i.aip[0] & 0x10 == 0 {
        return no_cvm([NO_CVM_PERFORMED, 0x00, RESULT_UNKNOWN]);
    }
    let Some(list) = i.cvm_list.filter(|l| l.len() >= 10) else {
        // C-2 cvm.8: card supports CVM but sent no usable list: ICC data
        // missing, no CVM performed.
        return Kernel2Selection {
            icc_data_missing: true,
            ..no_cvm([NO_CVM_PERFORMED, 0x00, RESULT_UNKNOWN])
        };
    };
    let (amounts, rules) = list.split_at(8);
    let x = u64::from(u32::from_be_bytes([
        amounts.first().copied().unwrap_or(0),
        amounts.get(1).copied().unwrap_or(0),
        amounts.get(2).copied().unwrap_or(0),
        amounts.get(3).copied().unwrap_or(0),
    ]));
    let y = u64::from(u32::from_be_bytes([
        amounts.get(4).copied().unwrap_or(0),
        amounts.get(5).copied().unwrap_or(0),
        amounts.get(6).copied().unwrap_or(0),
        amounts.get(7).copied().unwrap_or(0),
    ]));
    let unattended = matches!(i.terminal_type & 0x0F, 4..=6);
    let cash = matches!(i.tx_type, 0x01 | 0x17);
    let cashback = i.tx_type == 0x09;
    let mut unrecognised = false;
    for rule in rules.chunks(2) {
        let (Some(&code), Some(&condition)) = (rule.first(), rule.get(1)) else {
            break;
        };
        let method = code & 0x3F;
        let next_if_unsuccessful = code & 0x40 != 0;
        let supported = match method {
            0x1F => i.capability & 0x08 != 0,
            0x1E => i.capability & 0x20 != 0,
            0x02 => i.capability & 0x40 != 0,
            _ => false,
        };
        let applies = match condition {
            0x00 => true,
            0x01 => unattended && cash,
            0x02 => !(cash || cashback),
            0x03 => supported,
            0x04 => cash && !unattended,
            0x05 => cashback,
            0x06 => i.app_currency_matches && i.amount < x,
            0x07 => i.app_currency_matches && i.amount > x,
            0x08 => i.app_currency_matches && i.amount < y,
            0x09 => i.app_currency_matches && i.amount > y,
            _ => false,
        };
        if !applies {
            continue;
        }
        if method == 0x00 {
            return failed([code, condition, RESULT_FAILED]);
        }
        // Book 3 §10.5: a method EMV does not define for this terminal.
        if !matches!(method, 0x01..=0x05 | 0x1E | 0x1F) {
            unrecognised = true;
        }
        if supported {
            return match method {
                0x1F => no_cvm([code, condition, RESULT_SUCCESSFUL]),
                0x1E => Kernel2Selection {
                    cvm: Cvm::Signature,
                    ..no_cvm([code, condition, RESULT_UNKNOWN])
                },
                _ => Kernel2Selection {
                    cvm: Cvm::OnlinePin,
                    online_pin: true,
                    ..no_cvm([code, condition, RESULT_UNKNOWN])
                },
            };
        }
        if !next_if_unsuccessful {
            return Kernel2Selection {
                unrecognised,
                ..failed([code, condition, RESULT_FAILED])
            };
        }
    }
    Kernel2Selection {
        unrecognised,
        ..failed([NO_CVM_PERFORMED, 0x00, RESULT_FAILED])
    }
}

fn no_cvm(results: [u8; 3]) -> Kernel2Selection {
    Kernel2Selection {
        cvm: Cvm::NoCvm,
        results,
        failed: false,
        online_pin: false,
        unrecognised: false,
        icc_data_missing: false,
    }
}

fn failed(results: [u8; 3]) -> Kernel2Selection {
    Kernel2Selection {
        failed: true,
        ..no_cvm(results)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k2(list: &str, amount: u64, capability: u8) -> Kernel2Selection {
        let list = hex::decode(list).unwrap();
        kernel2(Kernel2Cvm {
            aip: [0x19, 0x80],
            cvm_list: Some(&list),
            amount,
            amount_other: 0,
            tx_type: 0,
            capability,
            cvm_limit_exceeded: false,
            on_device_cvm_supported: true,
            app_currency_matches: true,
            terminal_type: 0x22,
        })
    }

    #[test]
    fn cvm_list_processing() {
        // Real list from a Mastercard test card: signature if supported,
        // else no CVM.
        let list = "00000000000000005E031F03";
        let s = k2(list, 100, 0x28);
        assert_eq!(s.cvm, Cvm::Signature);
        assert_eq!(s.results, [0x5E, 0x03, 0x00]);
        let s = k2(list, 100, 0x08);
        assert_eq!(s.cvm, Cvm::NoCvm);
        assert_eq!(s.results, [0x1F, 0x03, 0x02]);
        // Online PIN over X = 50.00, no CVM under.
        let list = "000013880000000042071F00";
        assert_eq!(k2(list, 6000, 0x48).cvm, Cvm::OnlinePin);
        assert_eq!(k2(list, 100, 0x48).cvm, Cvm::NoCvm);
        // Fail CVM rule.
        let f = k2("00000000000000000000", 100, 0x08);
        assert!(f.failed);
        // Nothing supported → failed.
        let f = k2("00000000000000000203", 100, 0x08);
        assert!(f.failed);
        assert_eq!(f.results, [0x3F, 0x00, 0x01]);
    }

    #[test]
    fn kernel3_rules() {
        use CvmDecision::*;
        let ttq = [0x36, 0x40, 0x40, 0x00];
        let signed_cdcvm = [0x01, 1, 2, 3, 4, 0x00, 0x80];
        assert_eq!(
            kernel3(true, ttq, Some([0x00, 0x80]), true, None),
            Selected(Cvm::Cdcvm)
        );
        assert_eq!(
            kernel3(true, ttq, Some([0x00, 0x80]), false, Some(&signed_cdcvm)),
            Selected(Cvm::Cdcvm)
        );
        // A CDCVM claim that the signed copy contradicts, or offline
        // without a signed copy, is refused.
        assert!(matches!(
            kernel3(
                true,
                ttq,
                Some([0x00, 0x80]),
                false,
                Some(&[1, 1, 2, 3, 4, 0, 0])
            ),
            Failed(_)
        ));
        assert!(matches!(
            kernel3(true, ttq, Some([0x00, 0x80]), false, None),
            Failed(_)
        ));
        assert_eq!(
            kernel3(false, ttq, Some([0x00, 0x00]), true, None),
            Selected(Cvm::NoCvm)
        );
        assert_eq!(
            kernel3(true, ttq, Some([0x80, 0x00]), true, None),
            Selected(Cvm::OnlinePin)
        );
        assert_eq!(
            kernel3(true, ttq, Some([0x40, 0x00]), true, None),
            Selected(Cvm::Signature)
        );
        // CVM needed and the card asks for nothing: decline.
        assert!(matches!(
            kernel3(true, ttq, Some([0x00, 0x00]), true, None),
            Failed(_)
        ));
        // No CTQ: signature first, then online PIN.
        assert_eq!(
            kernel3(true, ttq, None, true, None),
            Selected(Cvm::Signature)
        );
        assert_eq!(
            kernel3(true, [0x04, 0x40, 0, 0], None, true, None),
            Selected(Cvm::OnlinePin)
        );
        assert!(matches!(
            kernel3(true, [0, 0x40, 0, 0], None, true, None),
            Failed(_)
        ));
    }
}
