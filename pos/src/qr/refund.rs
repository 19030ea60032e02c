//! Refunds and voids of paid QR orders with the acquirer
//! (`POST /v1/qr/refunds`, `POST /v1/qr/cancel`), as use cases over the
//! [`Acquirer`] trait like the sale flows.
//!
//! A refund carries its own sequence number from the terminal's counter,
//! the acquirer's idempotency key: a refund whose answer was lost is sent
//! again with the very same body and is answered with the stored refund,
//! so it can never move money twice. The acquirer keeps an order's refunds
//! within its amount; the terminal checks too, so an obvious mistake never
//! leaves it. A void is the acquirer's cancel of a paid order: it reverses
//! it while it is unsettled and not partly refunded, and is refused
//! otherwise (refund it instead).

use super::flow::{Acquirer, Order, QrFlowError};
use crate::sync::SyncError;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The acquirer's answer to a QR refund (`QrRefund` in openapi.yaml).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QrRefund {
    pub refund_id: String,
    pub refund_seq: u32,
    pub order_id: String,
    pub out_trade_no: String,
    /// The payment refunded.
    pub payment_id: String,
    pub amount_minor: u64,
    pub currency: u16,
    /// All refunds of the payment so far, this one included.
    pub refunded_total_minor: i64,
    #[serde(default)]
    pub wallet: Option<String>,
    #[serde(default)]
    pub masked_code: Option<String>,
    pub status: String,
}

/// How many times a request whose answer is lost is sent (the same body).
const ATTEMPTS: u32 = 3;

/// Sends `body` to `path`, again while the answer is lost. A request that
/// never left (connection refused at the first try) is reported as
/// offline: nothing happened.
fn send_idempotent(acq: &mut dyn Acquirer, path: &str, body: &Value) -> Result<Value, QrFlowError> {
    let mut maybe_sent = false;
    let mut last = String::new();
    for _ in 0..ATTEMPTS {
        match acq.call("POST", path, body) {
            Ok(v) => return Ok(v),
            Err(SyncError::Unreachable(why)) if !maybe_sent => {
                return Err(QrFlowError::Offline(why))
            }
            Err(SyncError::Unreachable(why)) | Err(SyncError::NoAnswer(why)) => {
                maybe_sent = true;
                last = why;
            }
            Err(SyncError::Refused { code, message, .. }) => {
                return Err(QrFlowError::Refused { code, message })
            }
            Err(SyncError::Protocol(why)) | Err(SyncError::Local(why)) => {
                return Err(QrFlowError::Protocol(why))
            }
        }
    }
    Err(QrFlowError::Protocol(format!(
        "{path}: no answer after {ATTEMPTS} sends (sending it again with the same sequence number is safe): {last}"
    )))
}

/// Refunds `amount_minor` of the paid order the terminal sold under
/// `order_seq`, as refund `refund_seq`. The same `refund_seq` again gets
/// the same refund back, never a second one.
pub fn refund(
    acq: &mut dyn Acquirer,
    refund_seq: u32,
    order_seq: u32,
    amount_minor: u64,
) -> Result<QrRefund, QrFlowError> {
    if amount_minor == 0 {
        return Err(QrFlowError::Refused {
            code: "invalid_amount".into(),
            message: "a refund must be at least 1 minor unit".into(),
        });
    }
    let body = json!({ "refund_seq": refund_seq, "seq": order_seq, "amount_minor": amount_minor });
    let v = send_idempotent(acq, "/v1/qr/refunds", &body)?;
    let r: QrRefund = serde_json::from_value(v)
        .map_err(|e| QrFlowError::Protocol(format!("/v1/qr/refunds: {e}")))?;
    // An answer for another refund would be recorded against the wrong
    // sale: refused rather than trusted.
    if r.refund_seq != refund_seq || r.amount_minor != amount_minor || r.status != "approved" {
        return Err(QrFlowError::Protocol(format!(
            "/v1/qr/refunds answered refund {} of {} ({}) for refund {refund_seq} of {amount_minor}",
            r.refund_seq, r.amount_minor, r.status
        )));
    }
    Ok(r)
}

/// Voids the paid order sold under `order_seq` (the acquirer's cancel,
/// which reverses a paid, unsettled, unrefunded order). Repeating it is
/// harmless: a reversed order stays reversed.
pub fn void(acq: &mut dyn Acquirer, order_seq: u32) -> Result<Order, QrFlowError> {
    let body = json!({ "seq": order_seq, "reason": "merchant" });
    let v = send_idempotent(acq, "/v1/qr/cancel", &body)?;
    serde_json::from_value(v).map_err(|e| QrFlowError::Protocol(format!("/v1/qr/cancel: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    struct Script {
        answers: VecDeque<Result<Value, SyncError>>,
        sent: Vec<Value>,
    }

    impl Acquirer for Script {
        fn call(&mut self, _: &str, _: &str, body: &Value) -> Result<Value, SyncError> {
            self.sent.push(body.clone());
            self.answers
                .pop_front()
                .unwrap_or_else(|| Err(SyncError::NoAnswer("none scripted".into())))
        }
    }

    fn answer(seq: u32, amount: u64) -> Value {
        json!({ "refund_id": "ref_1", "refund_seq": seq, "order_id": "Q1", "out_trade_no": "T1-0000000007",
            "payment_id": "pay_1", "amount_minor": amount, "currency": 978, "refunded_total_minor": amount,
            "wallet": "alipay", "masked_code": "2812********0000", "status": "approved" })
    }

    #[test]
    fn a_lost_answer_is_resent_unchanged() {
        let mut acq = Script {
            answers: vec![Err(SyncError::NoAnswer("reset".into())), Ok(answer(9, 200))].into(),
            sent: Vec::new(),
        };
        let r = refund(&mut acq, 9, 7, 200).unwrap();
        assert_eq!((r.refund_seq, r.amount_minor), (9, 200));
        assert_eq!(acq.sent.len(), 2);
        assert_eq!(acq.sent[0], acq.sent[1]);
        assert_eq!(acq.sent[0]["seq"], 7);
    }

    #[test]
    fn an_answer_for_another_refund_is_refused() {
        for wrong in [answer(8, 200), answer(9, 300)] {
            let mut acq = Script {
                answers: vec![Ok(wrong)].into(),
                sent: Vec::new(),
            };
            assert!(matches!(
                refund(&mut acq, 9, 7, 200),
                Err(QrFlowError::Protocol(_))
            ));
        }
    }

    #[test]
    fn offline_and_zero_are_refused_without_moving_money() {
        let mut acq = Script {
            answers: vec![Err(SyncError::Unreachable("refused".into()))].into(),
            sent: Vec::new(),
        };
        assert!(matches!(
            refund(&mut acq, 9, 7, 200),
            Err(QrFlowError::Offline(_))
        ));
        assert_eq!(acq.sent.len(), 1);
        assert!(matches!(
            refund(&mut acq, 10, 7, 0),
            Err(QrFlowError::Refused { .. })
        ));
        assert_eq!(acq.sent.len(), 1, "a zero refund never leaves");
    }

    #[test]
    fn answers_lost_every_time_end_in_an_error_not_a_guess() {
        let mut acq = Script {
            answers: VecDeque::new(),
            sent: Vec::new(),
        };
        let e = refund(&mut acq, 9, 7, 200).unwrap_err();
        assert!(e.to_string().contains("same sequence number"), "{e}");
        assert_eq!(acq.sent.len(), ATTEMPTS as usize);
    }
}
