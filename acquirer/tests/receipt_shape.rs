//! Answers and configurations stored before receipts carried the
//! acquirer's figures still parse: a repeated request replays its stored
//! answer, and a terminal row keeps its configuration until re-signed.

// Helpers outside #[test] fns are test code too; clippy.toml only covers the fns.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use acquirer::terminal::PaymentResponse;
use acquirer::trust::TerminalConfig;

#[test]
fn an_answer_stored_without_figures_replays_with_zero_figures() {
    let old = r#"{"payment_id":"pay_1","tsc":1,"status":"approved","approved":true,"response_code":"00","reason":"","auth_code":null,"issuer_authentication_data":null,"masked_pan":"476173******0119","risk_score":0,"risk_rules":[]}"#;
    let r: PaymentResponse = serde_json::from_str(old).unwrap();
    assert_eq!((r.figures.fee_bps, r.figures.fee_minor), (0, 0));
    assert!(r.figures.business_date.is_empty());
    // Round trip of a new one: the figures are top-level fields.
    let v = serde_json::to_value(&r).unwrap();
    assert!(
        v.get("fee_minor").is_some() && v.get("figures").is_none(),
        "{v}"
    );
    // Tampered twin: a figure of the wrong type is refused, not zeroed.
    let bad = old.replace(r#""risk_rules":[]"#, r#""risk_rules":[],"fee_minor":"19""#);
    assert!(serde_json::from_str::<PaymentResponse>(&bad).is_err());
}

#[test]
fn a_configuration_signed_before_receipts_parses_with_empty_terms() {
    let old = r#"{"terminal_id":"T1","merchant_id":"mer_1","merchant_name":"Demo Grocery","mcc":"5411","currency":978,"max_amount_minor":1000000,"offline_limit_minor":5000,"acquirer_key_id":"k1","acquirer_public_key":"04","issued_ms":1}"#;
    let c: TerminalConfig = serde_json::from_str(old).unwrap();
    assert_eq!((c.fee_bps, c.settlement_delay_days), (0, 0));
    assert!(c.acquirer_name.is_empty() && c.settlement_account_masked.is_empty());
}
