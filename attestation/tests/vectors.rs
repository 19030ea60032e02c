//! Known-answer tests against public ECDSA vectors, plus the exact layout
//! of the request signing bytes.

// Test helpers outside #[test] fns panic on purpose: a broken fixture is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use attestation::{request_signing_bytes, verify_request_signature, FailureCode};

struct Vector {
    msg: String,
    public_key: Vec<u8>,
    r: Vec<u8>,
    s: Vec<u8>,
}

fn load() -> Vec<Vector> {
    let text = include_str!("../vectors/ecdsa_p256_sha256.txt");
    let mut out = Vec::new();
    let (mut msg, mut qx, mut qy, mut r) = (None, None, None, None);
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((k, v)) = line.split_once(" = ") else {
            continue;
        };
        match k {
            "Msg" => msg = Some(v.to_string()),
            "Qx" => qx = Some(hex::decode(v).unwrap()),
            "Qy" => qy = Some(hex::decode(v).unwrap()),
            "R" => r = Some(hex::decode(v).unwrap()),
            "S" => {
                let mut public_key = vec![0x04];
                public_key.extend(qx.take().unwrap());
                public_key.extend(qy.take().unwrap());
                out.push(Vector {
                    msg: msg.take().unwrap(),
                    public_key,
                    r: r.take().unwrap(),
                    s: hex::decode(v).unwrap(),
                });
            }
            _ => panic!("unknown key {k}"),
        }
    }
    out
}

fn der_integer(x: &[u8]) -> Vec<u8> {
    let start = x.iter().position(|&b| b != 0).unwrap_or(x.len() - 1);
    let mut v = x[start..].to_vec();
    if v[0] & 0x80 != 0 {
        v.insert(0, 0);
    }
    let mut out = vec![0x02, u8::try_from(v.len()).unwrap()];
    out.extend(v);
    out
}

fn der_signature(r: &[u8], s: &[u8]) -> Vec<u8> {
    let mut body = der_integer(r);
    body.extend(der_integer(s));
    let mut out = vec![0x30, u8::try_from(body.len()).unwrap()];
    out.extend(body);
    out
}

#[test]
fn public_ecdsa_vectors_verify_and_their_tampered_twins_fail() {
    let vectors = load();
    assert_eq!(vectors.len(), 3);
    for v in &vectors {
        let sig = der_signature(&v.r, &v.s);
        let fixed: Vec<u8> = v.r.iter().chain(&v.s).copied().collect();
        assert_eq!(attestation::ecdsa_p256_der_from_fixed(&fixed).unwrap(), sig);
        verify_request_signature(&v.public_key, v.msg.as_bytes(), &sig)
            .unwrap_or_else(|f| panic!("vector {:?}: {f}", v.msg));

        let mut msg = v.msg.clone().into_bytes();
        msg[0] ^= 0x01;
        let f = verify_request_signature(&v.public_key, &msg, &sig).unwrap_err();
        assert_eq!(f.code, FailureCode::BadSignature);

        let mut r = v.r.clone();
        r[31] ^= 0x01;
        assert!(verify_request_signature(
            &v.public_key,
            v.msg.as_bytes(),
            &der_signature(&r, &v.s)
        )
        .is_err());
        let mut s = v.s.clone();
        s[0] ^= 0x80;
        assert!(verify_request_signature(
            &v.public_key,
            v.msg.as_bytes(),
            &der_signature(&v.r, &s)
        )
        .is_err());

        let mut pk = v.public_key.clone();
        pk[64] ^= 0x01;
        assert!(verify_request_signature(&pk, v.msg.as_bytes(), &sig).is_err());
        // The raw r||s form is not DER and must not be accepted.
        let raw: Vec<u8> = v.r.iter().chain(&v.s).copied().collect();
        assert!(verify_request_signature(&v.public_key, v.msg.as_bytes(), &raw).is_err());
    }
}

#[test]
fn request_signing_bytes_layout_is_fixed() {
    let got = request_signing_bytes("POST", "/v1/authorize?x=1", b"{}", 1_700_000_000_123, "n-1");
    // SHA-256 of "{}".
    let body = "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
    let want = format!(
        "softpos-request-v1\n4:POST\n17:/v1/authorize?x=1\n13:1700000000123\n3:n-1\n64:{body}\n"
    );
    assert_eq!(String::from_utf8(got).unwrap(), want);
}

#[test]
fn request_signing_bytes_separate_every_field() {
    let base = request_signing_bytes("POST", "/a", b"x", 1, "n");
    for other in [
        request_signing_bytes("GET", "/a", b"x", 1, "n"),
        request_signing_bytes("POST", "/b", b"x", 1, "n"),
        request_signing_bytes("POST", "/a", b"y", 1, "n"),
        request_signing_bytes("POST", "/a", b"x", 2, "n"),
        request_signing_bytes("POST", "/a", b"x", 1, "m"),
        // Moving a boundary between fields must change the bytes.
        request_signing_bytes("POS", "T/a", b"x", 1, "n"),
    ] {
        assert_ne!(base, other);
    }
}
