#![no_main]
//! BER-TLV parsing, DOL parsing and APDU parsing of arbitrary bytes: must
//! never panic, and whatever parses must re-encode to the same bytes.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((tlv, _)) = kernel::tlv::parse_one(data) {
        if tlv.raw.len() < 0x80 + 2 || tlv.raw.get(1) != Some(&0x81) {
            if let Ok(enc) = kernel::tlv::encode_to_vec(tlv.tag, tlv.value) {
                // Minimal encodings round-trip exactly.
                if enc.len() == tlv.raw.len() {
                    assert_eq!(enc, tlv.raw);
                }
            }
        }
    }
    let _ = kernel::tlv::parse_all(data);
    let _ = kernel::dol::parse(data);
    let _ = kernel::apdu::CommandApdu::parse(data);
    let _ = kernel::tags::render_value(kernel::tags::t::LABEL, data);
});
