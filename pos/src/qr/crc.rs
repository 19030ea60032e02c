//! CRC-16/CCITT-FALSE, the checksum in ID 63 of an EMVCo merchant-presented
//! payload.

/// CRC-16/CCITT-FALSE: polynomial 0x1021, initial value 0xFFFF, no
/// reflection, no final XOR. "123456789" gives 0x29B1.
pub fn crc16_ccitt_false(data: &[u8]) -> u16 {
    let mut crc: u16 = 0xFFFF;
    for &byte in data {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_value() {
        // The catalogue's check value for CRC-16/CCITT-FALSE (a.k.a. IBM-3740).
        assert_eq!(crc16_ccitt_false(b"123456789"), 0x29B1);
        assert_ne!(crc16_ccitt_false(b"123456780"), 0x29B1);
        assert_eq!(crc16_ccitt_false(b""), 0xFFFF);
    }
}
