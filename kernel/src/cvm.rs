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

/// Kernel 3: the card says in its CTQ what it did or wants; the reader
/// says in its TTQ what it can do.
pub fn kernel3(
    cvm_required: bool,
    ttq: [u8; 4],
    ctq: Option<[u8; 2]>,
    online: bool,
) -> CvmDecision {
    let online_pin_supported = ttq[0] & 0x04 != 0;
    let signature_supported = ttq[0] & 0x02 != 0;
    let cdcvm_supported = ttq[2] & 0x40 != 0;
    if let Some(ctq) = ctq {
        // CTQ byte 2 b8: consumer device CVM performed.
        if ctq[1] & 0x80 != 0 && cdcvm_supported {
            return CvmDecision::Selected(Cvm::Cdcvm);
        }
        if !cvm_required && ctq[0] & 0xC0 == 0 {
            return CvmDecision::Selected(Cvm::NoCvm);
        }
        // CTQ byte 1 b8: online PIN required; b7: signature required.
        if ctq[0] & 0x80 != 0 && online_pin_supported && online {
            return CvmDecision::Selected(Cvm::OnlinePin);
        }
        if ctq[0] & 0x40 != 0 && signature_supported {
            return CvmDecision::Selected(Cvm::Signature);
        }
        if !cvm_required {
            return CvmDecision::Selected(Cvm::NoCvm);
        }
        if ctq[0] & 0xC0 != 0 {
            return CvmDecision::Failed("the card asks for a CVM the reader cannot perform".into());
        }
    }
    if !cvm_required {
        return CvmDecision::Selected(Cvm::NoCvm);
    }
    // The reader needs a CVM and the card expressed no wish: online PIN
    // when going online, else signature (Book C-3 §5.7).
    if online_pin_supported && online {
        return CvmDecision::Selected(Cvm::OnlinePin);
    }
    if signature_supported {
        return CvmDecision::Selected(Cvm::Signature);
    }
    CvmDecision::Failed("the amount needs cardholder verification and none is available".into())
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
    pub terminal_type: u8,
}

/// Kernel 2's choice, with the CVM Results (9F34) it writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kernel2Selection {
    pub cvm: Cvm,
    pub results: [u8; 3],
    pub failed: bool,
    pub online_pin: bool,
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
                results: [0x01, 0x00, RESULT_SUCCESSFUL],
                failed: false,
                online_pin: false,
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
        // Card supports CVM but sent no usable list: ICC data missing.
        return Kernel2Selection {
            cvm: Cvm::NoCvm,
            results: [NO_CVM_PERFORMED, 0x00, RESULT_FAILED],
            failed: true,
            online_pin: false,
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
            0x06 => i.amount < x,
            0x07 => i.amount > x,
            0x08 => i.amount < y,
            0x09 => i.amount > y,
            _ => false,
        };
        if !applies {
            continue;
        }
        if method == 0x00 {
            return failed([code, condition, RESULT_FAILED]);
        }
        if supported {
            return match method {
                0x1F => no_cvm([code, condition, RESULT_SUCCESSFUL]),
                0x1E => Kernel2Selection {
                    cvm: Cvm::Signature,
                    results: [code, condition, RESULT_UNKNOWN],
                    failed: false,
                    online_pin: false,
                },
                _ => Kernel2Selection {
                    cvm: Cvm::OnlinePin,
                    results: [code, condition, RESULT_UNKNOWN],
                    failed: false,
                    online_pin: true,
                },
            };
        }
        if !next_if_unsuccessful {
            return failed([code, condition, RESULT_FAILED]);
        }
    }
    failed([NO_CVM_PERFORMED, 0x00, RESULT_FAILED])
}

fn no_cvm(results: [u8; 3]) -> Kernel2Selection {
    Kernel2Selection {
        cvm: Cvm::NoCvm,
        results,
        failed: false,
        online_pin: false,
    }
}

fn failed(results: [u8; 3]) -> Kernel2Selection {
    Kernel2Selection {
        cvm: Cvm::NoCvm,
        results,
        failed: true,
        online_pin: false,
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
        let ttq = [0x36, 0x40, 0x40, 0x00];
        assert_eq!(
            kernel3(true, ttq, Some([0x00, 0x80]), true),
            CvmDecision::Selected(Cvm::Cdcvm)
        );
        assert_eq!(
            kernel3(false, ttq, Some([0x00, 0x00]), true),
            CvmDecision::Selected(Cvm::NoCvm)
        );
        assert_eq!(
            kernel3(true, ttq, Some([0x80, 0x00]), true),
            CvmDecision::Selected(Cvm::OnlinePin)
        );
        assert_eq!(
            kernel3(true, ttq, Some([0x40, 0x00]), true),
            CvmDecision::Selected(Cvm::Signature)
        );
        // CVM needed, card silent: online PIN when online, else signature.
        assert_eq!(
            kernel3(true, ttq, Some([0x00, 0x00]), true),
            CvmDecision::Selected(Cvm::OnlinePin)
        );
        assert_eq!(
            kernel3(true, ttq, Some([0x00, 0x00]), false),
            CvmDecision::Selected(Cvm::Signature)
        );
        // Signature asked, reader without signature and offline.
        assert!(matches!(
            kernel3(true, [0x04, 0x40, 0, 0], Some([0x40, 0]), false),
            CvmDecision::Failed(_)
        ));
        assert!(matches!(
            kernel3(true, [0, 0x40, 0, 0], None, true),
            CvmDecision::Failed(_)
        ));
    }
}
