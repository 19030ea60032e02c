//! RSA public-key recovery and the SHA-1 used by every EMV certificate.

use super::OdaError;
use num_bigint::BigUint;
use ring::digest;

/// RSA public operation `data^exponent mod modulus`, as EMV Book 2 §A2.1
/// "recovers" a certificate or signature. `data` must be exactly as long as
/// the modulus and smaller than it as a number; the result has the same
/// length, left-padded with zeros.
pub fn recover(modulus: &[u8], exponent: &[u8], data: &[u8]) -> Result<Vec<u8>, OdaError> {
    recover_as("RSA input", modulus, exponent, data)
}

pub(crate) fn recover_as(
    what: &'static str,
    modulus: &[u8],
    exponent: &[u8],
    data: &[u8],
) -> Result<Vec<u8>, OdaError> {
    if data.len() != modulus.len() {
        return Err(OdaError::WrongLength {
            what,
            expected: modulus.len(),
            actual: data.len(),
        });
    }
    let n = BigUint::from_bytes_be(modulus);
    let e = BigUint::from_bytes_be(exponent);
    if n.bits() < 2 || e.bits() == 0 {
        // Zero or one as a modulus would make modpow panic or be trivial;
        // a zero exponent recovers 1 whatever was signed.
        return Err(OdaError::BadKey("modulus or exponent is zero"));
    }
    let x = BigUint::from_bytes_be(data);
    if x >= n {
        return Err(OdaError::NotBelowModulus(what));
    }
    let out = modpow(&x, &e, &n).to_bytes_be();
    let pad = modulus
        .len()
        .checked_sub(out.len())
        .ok_or(OdaError::BadKey("result longer than the modulus"))?;
    let mut padded = vec![0u8; pad];
    padded.extend_from_slice(&out);
    Ok(padded)
}

// Big-integer arithmetic allocates as it grows, it cannot overflow, and the
// modulus was checked to be at least 2 above, so modpow cannot panic.
#[allow(clippy::arithmetic_side_effects)]
fn modpow(x: &BigUint, e: &BigUint, n: &BigUint) -> BigUint {
    x.modpow(e, n)
}

/// SHA-1 over the concatenation of `parts`.
pub(crate) fn sha1(parts: &[&[u8]]) -> [u8; 20] {
    let mut ctx = digest::Context::new(&digest::SHA1_FOR_LEGACY_USE_ONLY);
    for p in parts {
        ctx.update(p);
    }
    let mut out = [0u8; 20];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn textbook_rsa_known_answer() {
        // n = 3233 = 61 * 53, e = 17, d = 2753: m = 65 signs to
        // 65^2753 mod 3233 = 588.
        let n = [0x0C, 0xA1];
        let c = 588u16.to_be_bytes();
        assert_eq!(recover(&n, &[17], &c).unwrap(), vec![0x00, 65]);
    }

    #[test]
    fn rejects_wrong_length_and_too_large() {
        let n = [0x0C, 0xA1];
        assert!(matches!(
            recover(&n, &[3], &[1]),
            Err(OdaError::WrongLength {
                expected: 2,
                actual: 1,
                ..
            })
        ));
        assert!(matches!(
            recover(&n, &[3], &[0x0C, 0xA1]),
            Err(OdaError::NotBelowModulus(_))
        ));
        assert!(matches!(
            recover(&[0, 0], &[3], &[0, 0]),
            Err(OdaError::BadKey(_))
        ));
        assert!(matches!(
            recover(&n, &[0], &[0, 1]),
            Err(OdaError::BadKey(_))
        ));
        assert!(matches!(recover(&[], &[3], &[]), Err(OdaError::BadKey(_))));
    }

    #[test]
    fn sha1_known_answer() {
        // FIPS 180 "abc".
        assert_eq!(
            hex::encode_upper(sha1(&[b"a", b"bc"])),
            "A9993E364706816ABA3E25717850C26C9CD0D89D"
        );
    }
}
