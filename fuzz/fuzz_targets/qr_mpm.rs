#![no_main]
//! The EMVCo merchant-presented parser on arbitrary text: must never panic.
//! Each input is also tried with a correct CRC appended, so the fuzzer
//! explores the structure rules behind the checksum; whatever parses must
//! re-encode to the same payment.

use libfuzzer_sys::fuzz_target;
use pos::qr::{crc::crc16_ccitt_false, mpm, parse_any};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = mpm::parse(text);
    let _ = parse_any(text);

    let mut framed = format!("{text}6304");
    let crc = crc16_ccitt_false(framed.as_bytes());
    framed.push_str(&format!("{crc:04X}"));
    if let Ok(parsed) = mpm::parse(&framed) {
        let _ = parsed.to_string();
        if let Ok(again) = parsed.payload.encode() {
            let reread = mpm::parse(&again).map(|p| p.payload);
            assert_eq!(reread.as_ref(), Ok(&parsed.payload));
        }
    }
});
