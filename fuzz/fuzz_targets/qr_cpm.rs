#![no_main]
//! The EMVCo consumer-presented parser and the customer-code recogniser on
//! arbitrary bytes (as decoded TLV, as text, and as base64 of the bytes):
//! must never panic, and what parses keeps exactly the bytes it was given.

use base64::Engine;
use libfuzzer_sys::fuzz_target;
use pos::qr::{cpm, CustomerCode};

fuzz_target!(|data: &[u8]| {
    if let Ok(code) = cpm::parse_tlv(data.to_vec()) {
        assert_eq!(code.expose_tlv(), data);
        let _ = code.to_string();
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = CustomerCode::parse(text);
    }
    let text = base64::engine::general_purpose::STANDARD.encode(data);
    if let Ok(code) = CustomerCode::parse(&text) {
        let _ = code.to_string();
    }
});
