//! Known-answer vectors from public sources (named in each file's header),
//! each with tampered twins that must fail.
// Test helpers outside #[test] functions panic on malformed vector files
// on purpose: that is a broken test, not a runtime path.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use cryptogram::{
    ac_input, arpc_key, arpc_method1, arpc_method2, derive_icc_master_key,
    derive_icc_master_key_for, derive_icc_master_key_option_b, generate_ac, generate_arpc,
    issuer_authentication_data, mac_alg3, parse_issuer_authentication_data, session_key, verify_ac,
    verify_arpc, Arpc, ArpcMethod, CryptoError, Cvn, IssuerResponse, Key16, Padding, SecretKey,
};

/// One vector line: `name=value` fields separated by spaces.
struct Vector {
    line: usize,
    fields: HashMap<String, String>,
}

impl Vector {
    fn str(&self, name: &str) -> &str {
        self.fields
            .get(name)
            .unwrap_or_else(|| panic!("line {}: no field {name}", self.line))
    }
    fn has(&self, name: &str) -> bool {
        self.fields.contains_key(name)
    }
    fn bytes(&self, name: &str) -> Vec<u8> {
        hex::decode(self.str(name))
            .unwrap_or_else(|e| panic!("line {}: field {name}: {e}", self.line))
    }
    fn array<const N: usize>(&self, name: &str) -> [u8; N] {
        self.bytes(name)
            .try_into()
            .unwrap_or_else(|_| panic!("line {}: field {name} is not {N} bytes", self.line))
    }
    fn key(&self, name: &str) -> Key16 {
        self.array(name)
    }
    fn psn(&self) -> u8 {
        u8::from_str_radix(self.str("psn"), 16).unwrap()
    }
    fn cvn(&self) -> Cvn {
        self.str("cvn").parse().unwrap()
    }
    /// Tag values, for `ac_input`.
    fn tags(&self) -> HashMap<u32, Vec<u8>> {
        self.fields
            .keys()
            .filter_map(|k| {
                let tag = u32::from_str_radix(k, 16).ok()?;
                Some((tag, self.bytes(k)))
            })
            .collect()
    }
}

fn parse(text: &str) -> Vec<Vector> {
    let vectors: Vec<Vector> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(|(i, l)| Vector {
            line: i + 1,
            fields: l
                .split_whitespace()
                .map(|f| {
                    let (k, v) = f.split_once('=').expect("field without =");
                    (k.to_string(), v.to_string())
                })
                .collect(),
        })
        .collect();
    assert!(!vectors.is_empty(), "vector file has no vectors");
    vectors
}

/// First two bytes of the key check value, as HSMs print it.
fn kcv2(key: &Key16) -> [u8; 2] {
    let [a, b, _] = SecretKey::new(*key).check_value();
    [a, b]
}

fn flip(bytes: &[u8], index: usize) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out[index] ^= 0x01;
    out
}

fn padding(v: &Vector) -> Padding {
    match v.str("padding") {
        "1" => Padding::Method1,
        "2" => Padding::Method2,
        other => panic!("line {}: padding {other}", v.line),
    }
}

#[test]
fn mac_alg3_known_answers_and_tampered_twins() {
    let vectors = parse(include_str!("../vectors/mac_alg3.txt"));
    for v in &vectors {
        let key = v.key("key");
        let data = v.bytes("data");
        let expected: [u8; 8] = v.array("mac");
        let pad = padding(v);
        assert_eq!(mac_alg3(&key, &data, pad), expected, "line {}", v.line);

        let other_pad = match pad {
            Padding::Method1 => Padding::Method2,
            Padding::Method2 => Padding::Method1,
        };
        assert_ne!(
            mac_alg3(&key, &data, other_pad),
            expected,
            "line {}",
            v.line
        );
        for i in 0..data.len() {
            assert_ne!(
                mac_alg3(&key, &flip(&data, i), pad),
                expected,
                "line {} byte {i}",
                v.line
            );
        }
        // A trailing zero byte is invisible to padding method 1 only when it
        // completes a block; otherwise every length change must show.
        let mut longer = data.clone();
        longer.push(0x80);
        assert_ne!(mac_alg3(&key, &longer, pad), expected, "line {}", v.line);
        // Flip a non-parity bit of each key half.
        for i in [0, 8] {
            let mut k = key;
            k[i] ^= 0x02;
            assert_ne!(mac_alg3(&k, &data, pad), expected, "line {}", v.line);
        }
    }
}

#[test]
fn icc_master_key_known_answers_and_tampered_twins() {
    let vectors = parse(include_str!("../vectors/icc_master_key.txt"));
    for v in &vectors {
        let imk = v.key("imk");
        let pan = v.str("pan");
        let option_b = v.has("option") && v.str("option") == "B";
        let derive = |imk: &Key16, pan: &str, psn: u8| {
            if option_b {
                derive_icc_master_key_option_b(imk, pan, psn).unwrap()
            } else {
                derive_icc_master_key(imk, pan, psn).unwrap()
            }
        };
        let mk = derive(&imk, pan, v.psn());
        // Visa CVN 18 takes option B, the others option A.
        assert_eq!(
            derive_icc_master_key_for(Cvn::Visa18, &imk, pan, v.psn()).unwrap() == mk,
            option_b || pan.len() <= 16
        );
        assert_eq!(
            derive_icc_master_key_for(Cvn::Mastercard16, &imk, pan, v.psn()).unwrap() == mk,
            !option_b || pan.len() <= 16
        );
        let check = |mk: &Key16| {
            if v.has("mk") {
                *mk == v.key("mk")
            } else {
                kcv2(mk) == v.array::<2>("kcv")
            }
        };
        assert!(check(&mk), "line {}", v.line);

        let mut last_digit_changed = pan.to_string();
        let last = last_digit_changed.pop().unwrap();
        last_digit_changed.push(if last == '9' { '0' } else { '9' });
        let tampered = derive(&imk, &last_digit_changed, v.psn());
        assert!(!check(&tampered), "line {}", v.line);
        let tampered = derive(&imk, pan, v.psn() ^ 0x01);
        assert!(!check(&tampered), "line {}", v.line);
        let mut imk2 = imk;
        imk2[15] ^= 0x02;
        let tampered = derive(&imk2, pan, v.psn());
        assert!(!check(&tampered), "line {}", v.line);
    }
}

#[test]
fn derived_keys_have_odd_parity() {
    let imk = [0x01u8; 16];
    let mk = derive_icc_master_key(&imk, "5413330089020011", 0x00).unwrap();
    for cvn in Cvn::ALL {
        let sk = session_key(cvn, &mk, [0, 1], [1, 2, 3, 4]);
        for b in mk.iter().chain(sk.iter()) {
            assert_eq!(b.count_ones() % 2, 1, "{cvn}");
        }
    }
}

#[test]
fn session_key_known_answers_and_tampered_twins() {
    let vectors = parse(include_str!("../vectors/session_key.txt"));
    for v in &vectors {
        let cvn = v.cvn();
        let mk = if v.has("mk") {
            v.key("mk")
        } else {
            derive_icc_master_key(&v.key("imk"), v.str("pan"), v.psn()).unwrap()
        };
        let atc: [u8; 2] = v.array("atc");
        let un: [u8; 4] = v.array("un");
        let check = |sk: &Key16| {
            if v.has("sk") {
                *sk == v.key("sk")
            } else {
                kcv2(sk) == v.array::<2>("kcv")
            }
        };
        assert!(check(&session_key(cvn, &mk, atc, un)), "line {}", v.line);

        let other_atc = [atc[0], atc[1] ^ 0x01];
        assert!(
            !check(&session_key(cvn, &mk, other_atc, un)),
            "line {}",
            v.line
        );
        if matches!(cvn, Cvn::Mastercard16 | Cvn::Mastercard17) {
            let other_un = [un[0], un[1], un[2], un[3] ^ 0x01];
            assert!(
                !check(&session_key(cvn, &mk, atc, other_un)),
                "line {}",
                v.line
            );
        }
        // The other family's derivation gives another key.
        let other = match cvn {
            Cvn::Visa18 => Cvn::Mastercard16,
            _ => Cvn::Visa18,
        };
        if un != [0; 4] {
            assert!(!check(&session_key(other, &mk, atc, un)), "line {}", v.line);
        }
    }
}

#[test]
fn arpc_known_answers_and_tampered_twins() {
    let vectors = parse(include_str!("../vectors/arpc.txt"));
    for v in &vectors {
        let key = v.key("key");
        let arqc: [u8; 8] = v.array("arqc");
        let arpc = v.bytes("arpc");
        let mut arqc2 = arqc;
        arqc2[7] ^= 0x01;
        match v.str("method") {
            "1" => {
                let arc: [u8; 2] = v.array("arc");
                assert_eq!(
                    arpc_method1(&key, arqc, arc).to_vec(),
                    arpc,
                    "line {}",
                    v.line
                );
                assert_ne!(arpc_method1(&key, arqc2, arc).to_vec(), arpc);
                assert_ne!(
                    arpc_method1(&key, arqc, [arc[0], arc[1] ^ 1]).to_vec(),
                    arpc
                );
            }
            "2" => {
                let csu: [u8; 4] = v.array("csu");
                let prop = if v.has("prop") {
                    v.bytes("prop")
                } else {
                    Vec::new()
                };
                assert_eq!(
                    arpc_method2(&key, arqc, csu, &prop).to_vec(),
                    arpc,
                    "line {}",
                    v.line
                );
                assert_ne!(arpc_method2(&key, arqc2, csu, &prop).to_vec(), arpc);
                assert_ne!(
                    arpc_method2(&key, arqc, [csu[0] ^ 0x80, csu[1], csu[2], csu[3]], &prop)
                        .to_vec(),
                    arpc
                );
                let mut prop2 = prop.clone();
                prop2.push(0);
                assert_ne!(arpc_method2(&key, arqc, csu, &prop2).to_vec(), arpc);
            }
            other => panic!("method {other}"),
        }
    }
}

#[test]
fn ac_input_known_answers_and_tampered_twins() {
    let vectors = parse(include_str!("../vectors/ac_input.txt"));
    for v in &vectors {
        let cvn = v.cvn();
        let tags = v.tags();
        let get = |t: u32| tags.get(&t).cloned();
        assert_eq!(
            ac_input(cvn, &get).unwrap(),
            v.bytes("input"),
            "line {}",
            v.line
        );
        // The other CVNs read the same data differently.
        for other in Cvn::ALL.into_iter().filter(|c| *c != cvn) {
            if let Ok(input) = ac_input(other, &get) {
                assert_ne!(input, v.bytes("input"), "line {} as {other}", v.line);
            }
        }
        // Every tag is required.
        for tag in tags.keys() {
            let mut fewer = tags.clone();
            fewer.remove(tag);
            let get = |t: u32| fewer.get(&t).cloned();
            assert_eq!(
                ac_input(cvn, &get),
                Err(CryptoError::MissingTag(*tag)),
                "line {}",
                v.line
            );
        }
    }
}

#[test]
fn cryptogram_known_answers_and_tampered_twins() {
    let vectors = parse(include_str!("../vectors/cryptogram.txt"));
    for v in &vectors {
        let cvn = v.cvn();
        assert_eq!(
            Cvn::from_iad(&v.bytes("9F10")),
            Some(cvn),
            "line {}",
            v.line
        );
        let imk = v.key("imk");
        let pan = v.str("pan");
        let psn = v.psn();
        let atc: [u8; 2] = v.array("9F36");
        let un: [u8; 4] = v.array("9F37");
        let tags = v.tags();
        let get = |t: u32| tags.get(&t).cloned();
        let input = ac_input(cvn, &get).unwrap();
        let ac: [u8; 8] = v.array("ac");

        assert_eq!(
            generate_ac(cvn, &imk, pan, psn, atc, un, &input).unwrap(),
            ac,
            "line {}",
            v.line
        );
        assert!(verify_ac(cvn, &imk, pan, psn, atc, un, &input, ac).unwrap());

        // Tampered twins: a wrong AC bit, a different card, another CVN.
        for i in 0..8 {
            let mut bad = ac;
            bad[i] ^= 0x01;
            assert!(!verify_ac(cvn, &imk, pan, psn, atc, un, &input, bad).unwrap());
        }
        assert!(!verify_ac(cvn, &imk, pan, 0x01, atc, un, &input, ac).unwrap());
        assert!(!verify_ac(cvn, &imk, "1234567890123457", psn, atc, un, &input, ac).unwrap());
        // An issuer that reads the card as another CVN rebuilds another
        // input (Mastercard 16 and 17 differ only there) and fails.
        for other in Cvn::ALL.into_iter().filter(|c| *c != cvn) {
            if let Ok(other_input) = ac_input(other, &get) {
                assert!(
                    !verify_ac(other, &imk, pan, psn, atc, un, &other_input, ac).unwrap(),
                    "line {} verified as {other}",
                    v.line
                );
            }
        }
        // Any changed input byte fails.
        for i in 0..input.len() {
            assert!(
                !verify_ac(cvn, &imk, pan, psn, atc, un, &flip(&input, i), ac).unwrap(),
                "line {} byte {i}",
                v.line
            );
        }

        // Issuer side, then card side.
        let arqc = ac;
        let arpc = v.bytes("arpc");
        let response = if v.has("arc") {
            IssuerResponse::Arc(v.array("arc"))
        } else {
            IssuerResponse::Csu {
                csu: v.array("csu"),
                prop_auth_data: Vec::new(),
            }
        };
        let tag91 = generate_arpc(cvn, &imk, pan, psn, atc, un, arqc, &response).unwrap();
        let mut expected91 = arpc.clone();
        match &response {
            IssuerResponse::Arc(arc) => expected91.extend_from_slice(arc),
            IssuerResponse::Csu { csu, .. } => expected91.extend_from_slice(csu),
        }
        assert_eq!(tag91, expected91, "line {}", v.line);
        // The ARPC primitive with arpc_key agrees.
        let mk = derive_icc_master_key(&imk, pan, psn).unwrap();
        let key = arpc_key(cvn, &mk, atc, un);
        match (&response, cvn.arpc_method()) {
            (IssuerResponse::Arc(arc), ArpcMethod::Method1) => {
                assert_eq!(arpc_method1(&key, arqc, *arc).to_vec(), arpc)
            }
            (IssuerResponse::Csu { csu, .. }, ArpcMethod::Method2) => {
                assert_eq!(arpc_method2(&key, arqc, *csu, &[]).to_vec(), arpc)
            }
            _ => panic!("line {}: response does not fit {cvn}", v.line),
        }
        assert_eq!(
            verify_arpc(cvn, &imk, pan, psn, atc, un, arqc, &tag91).unwrap(),
            Some(response.clone())
        );
        for i in 0..tag91.len() {
            assert_eq!(
                verify_arpc(cvn, &imk, pan, psn, atc, un, arqc, &flip(&tag91, i)).unwrap(),
                None,
                "line {} byte {i}",
                v.line
            );
        }
        let mut other_arqc = arqc;
        other_arqc[0] ^= 0x01;
        assert_eq!(
            verify_arpc(cvn, &imk, pan, psn, atc, un, other_arqc, &tag91).unwrap(),
            None
        );
        assert!(matches!(
            verify_arpc(
                cvn,
                &imk,
                pan,
                psn,
                atc,
                un,
                arqc,
                &tag91[..tag91.len() - 1]
            ),
            Err(CryptoError::BadIssuerAuthData { .. })
        ));
    }
}

#[test]
fn pboc_published_example() {
    let vectors = parse(include_str!("../vectors/pboc.txt"));
    for v in &vectors {
        let mk = derive_icc_master_key(&v.key("imk"), v.str("pan"), v.psn()).unwrap();
        // One block under MAC algorithm 3 with no padding is TDES itself.
        let tdes = |block: [u8; 8]| mac_alg3(&mk, &block, Padding::Method1);
        let [a0, a1]: [u8; 2] = v.array("atc");
        let left = tdes([0, 0, 0, 0, 0, 0, a0, a1]);
        let right = tdes([0, 0, 0, 0, 0, 0, !a0, !a1]);
        let mut sk = [0u8; 16];
        sk[..8].copy_from_slice(&left);
        sk[8..].copy_from_slice(&right);

        let input = v.bytes("input");
        let arqc: [u8; 8] = v.array("arqc");
        assert_eq!(mac_alg3(&sk, &input, Padding::Method2), arqc);
        let arc: [u8; 2] = v.array("arc");
        assert_eq!(arpc_method1(&sk, arqc, arc), v.array::<8>("arpc"));

        // Tampered twins: the PSN and the first PAN digit take part.
        let mk2 = derive_icc_master_key(&v.key("imk"), v.str("pan"), 0x02).unwrap();
        assert_ne!(mk, mk2);
        let pan: String = std::iter::once('7')
            .chain(v.str("pan").chars().skip(1))
            .collect();
        let mk3 = derive_icc_master_key(&v.key("imk"), &pan, v.psn()).unwrap();
        assert_ne!(mk, mk3);
        assert_ne!(mac_alg3(&sk, &flip(&input, 36), Padding::Method2), arqc);
    }
}

#[test]
fn issuer_authentication_data_shapes() {
    let arpc8 = Arpc::Method1([1, 2, 3, 4, 5, 6, 7, 8]);
    let arpc4 = Arpc::Method2([1, 2, 3, 4]);
    let arc = IssuerResponse::Arc([0x30, 0x30]);
    let csu = |n: usize| IssuerResponse::Csu {
        csu: [0, 0x80, 0, 0],
        prop_auth_data: vec![0xAB; n],
    };
    for cvn in [Cvn::Visa10, Cvn::Mastercard16, Cvn::Mastercard17] {
        let data = issuer_authentication_data(cvn, &arpc8, &arc).unwrap();
        assert_eq!(data, [1, 2, 3, 4, 5, 6, 7, 8, 0x30, 0x30]);
        assert_eq!(
            parse_issuer_authentication_data(cvn, &data).unwrap(),
            (arpc8, arc.clone())
        );
        assert!(issuer_authentication_data(cvn, &arpc4, &csu(0)).is_err());
        assert!(issuer_authentication_data(cvn, &arpc8, &csu(0)).is_err());
        assert!(parse_issuer_authentication_data(cvn, &data[..9]).is_err());
        assert!(parse_issuer_authentication_data(cvn, &[data.clone(), vec![0]].concat()).is_err());
    }
    for n in 0..=8 {
        let data = issuer_authentication_data(Cvn::Visa18, &arpc4, &csu(n)).unwrap();
        assert_eq!(data.len(), 8 + n);
        assert_eq!(
            parse_issuer_authentication_data(Cvn::Visa18, &data).unwrap(),
            (arpc4, csu(n))
        );
    }
    assert_eq!(
        issuer_authentication_data(Cvn::Visa18, &arpc4, &csu(9)),
        Err(CryptoError::PropAuthDataTooLong(9))
    );
    assert!(issuer_authentication_data(Cvn::Visa18, &arpc8, &arc).is_err());
    assert!(parse_issuer_authentication_data(Cvn::Visa18, &[0; 7]).is_err());
    assert!(parse_issuer_authentication_data(Cvn::Visa18, &[0; 17]).is_err());
    assert!(parse_issuer_authentication_data(Cvn::Visa18, &[]).is_err());
}

#[test]
fn generate_arpc_refuses_the_wrong_method() {
    let imk = [0x11; 16];
    assert_eq!(
        generate_arpc(
            Cvn::Visa18,
            &imk,
            "4761739001010010",
            0x01,
            [0, 1],
            [0; 4],
            [0; 8],
            &IssuerResponse::Arc([0x30, 0x30])
        ),
        Err(CryptoError::ArpcMethodMismatch { cvn: Cvn::Visa18 })
    );
    assert!(generate_arpc(
        Cvn::Mastercard16,
        &imk,
        "5413330089020011",
        0x01,
        [0, 1],
        [0; 4],
        [0; 8],
        &IssuerResponse::Csu {
            csu: [0; 4],
            prop_auth_data: vec![]
        }
    )
    .is_err());
}
