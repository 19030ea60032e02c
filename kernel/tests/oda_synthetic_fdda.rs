//! Visa fDDA end to end on a synthetic key chain (no public session carries
//! fDDA): vectors/oda/synthetic/synthetic-fdda.txt, made by gen_fdda.py in
//! the same directory. Each positive case has tampered twins.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use kernel::oda::{self, static_data, CaKeyStore, CaPublicKey, OdaError, OdaInput, RevocationList};

const VECTORS: &str = include_str!("../vectors/oda/synthetic/synthetic-fdda.txt");

struct V(Vec<(String, Vec<u8>)>);

impl V {
    fn load() -> V {
        V(VECTORS
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(|l| {
                let (k, v) = l.split_once('=').unwrap();
                (k.to_owned(), hex::decode(v.trim()).unwrap())
            })
            .collect())
    }

    fn get(&self, k: &str) -> &[u8] {
        &self.0.iter().find(|(key, _)| key == k).unwrap().1
    }

    fn arr<const N: usize>(&self, k: &str) -> [u8; N] {
        self.get(k).try_into().unwrap()
    }

    fn store(&self) -> CaKeyStore {
        CaKeyStore::from_keys(vec![CaPublicKey::new(
            self.arr("rid"),
            self.get("ca_index")[0],
            self.get("ca_modulus").to_vec(),
            self.get("ca_exponent").to_vec(),
        )])
    }

    fn static_data(&self) -> Vec<u8> {
        static_data::build(
            &[(1, self.get("record_sfi1"))],
            Some(self.get("sda_tag_list")),
            self.get("aip"),
        )
        .unwrap()
    }

    fn input<'a>(&'a self, static_data: &'a [u8]) -> OdaInput<'a> {
        OdaInput {
            rid: self.arr("rid"),
            ca_index: self.get("ca_index")[0],
            issuer_cert: self.get("issuer_cert"),
            issuer_remainder: self.get("issuer_remainder"),
            issuer_exponent: self.get("issuer_exponent"),
            icc_cert: self.get("icc_cert"),
            icc_remainder: self.get("icc_remainder"),
            icc_exponent: self.get("icc_exponent"),
            pan_cn: self.get("pan"),
            static_data,
            transaction_date: self.arr("transaction_date"),
        }
    }
}

fn flip(bytes: &[u8], at: usize) -> Vec<u8> {
    let mut v = bytes.to_vec();
    v[at] ^= 0x01;
    v
}

#[test]
fn fdda_version_01_and_00_verify() {
    let v = V::load();
    let sd = v.static_data();
    let icc = oda::recover_icc_key(&v.store(), &RevocationList::new(), &v.input(&sd)).unwrap();
    assert_eq!(icc.modulus().len(), 96);
    assert_eq!(icc.expiry_mmyy(), [0x12, 0x30]);

    let tdd = oda::fdda_terminal_data(
        v.arr("un"),
        v.arr("amount"),
        v.arr("currency"),
        Some(v.get("card_auth_related_data")),
    );
    let dynamic = oda::verify_dynamic(&icc, v.get("sdad_v01"), &tdd).unwrap();
    assert_eq!(dynamic.icc_dynamic_number, v.get("icc_dynamic_number"));

    let tdd00 = oda::fdda_terminal_data(v.arr("un"), v.arr("amount"), v.arr("currency"), None);
    assert!(oda::verify_dynamic(&icc, v.get("sdad_v00"), &tdd00).is_ok());
    // Each signature covers its own version's data only.
    assert_eq!(
        oda::verify_dynamic(&icc, v.get("sdad_v00"), &tdd),
        Err(OdaError::SignatureHashMismatch)
    );
}

#[test]
fn fdda_twins() {
    let v = V::load();
    let sd = v.static_data();
    let icc = oda::recover_icc_key(&v.store(), &RevocationList::new(), &v.input(&sd)).unwrap();
    let card_auth = v.get("card_auth_related_data");
    let check = |un: [u8; 4], amount: [u8; 6], currency: [u8; 2], car: &[u8]| {
        let tdd = oda::fdda_terminal_data(un, amount, currency, Some(car));
        oda::verify_dynamic(&icc, v.get("sdad_v01"), &tdd)
    };
    let (un, amount, currency) = (v.arr("un"), v.arr("amount"), v.arr("currency"));
    assert!(check(un, amount, currency, card_auth).is_ok());
    let mismatch = Err(OdaError::SignatureHashMismatch);
    assert_eq!(check([0, 0, 0, 0], amount, currency, card_auth), mismatch);
    assert_eq!(
        check(un, [0, 0, 0, 0, 0x12, 0x35], currency, card_auth),
        mismatch
    );
    assert_eq!(check(un, amount, [0x08, 0x40], card_auth), mismatch);
    assert_eq!(check(un, amount, currency, &flip(card_auth, 2)), mismatch);
    let tdd = oda::fdda_terminal_data(un, amount, currency, Some(card_auth));
    let r = oda::verify_dynamic(&icc, &flip(v.get("sdad_v01"), 40), &tdd);
    assert!(matches!(r, Err(OdaError::BadCertificate { .. })), "{r:?}");
}

#[test]
fn synthetic_chain_certificate_twins() {
    let v = V::load();
    let sd = v.static_data();
    let good = v.input(&sd);
    let store = v.store();
    let icc = |input: &OdaInput<'_>| oda::recover_icc_key(&store, &RevocationList::new(), input);
    assert!(icc(&good).is_ok());

    // The issuer key needs its remainder (92): 896-bit key, 1024-bit CA.
    let r = icc(&OdaInput {
        issuer_remainder: &[],
        ..good
    });
    assert_eq!(
        r,
        Err(OdaError::Missing("issuer public key remainder (92)"))
    );
    let rem = flip(good.issuer_remainder, 0);
    let r = icc(&OdaInput {
        issuer_remainder: &rem,
        ..good
    });
    assert_eq!(r, Err(OdaError::HashMismatch("issuer")));

    // The static data covers the AIP through the SDA tag list.
    let sd_other_aip = static_data::build(
        &[(1, v.get("record_sfi1"))],
        Some(v.get("sda_tag_list")),
        &[0x20, 0x01],
    )
    .unwrap();
    let r = icc(&OdaInput {
        static_data: &sd_other_aip,
        ..good
    });
    assert_eq!(r, Err(OdaError::HashMismatch("ICC")));

    let r = icc(&OdaInput {
        transaction_date: [0x31, 0x01, 0x01],
        ..good
    });
    assert_eq!(r, Err(OdaError::Expired("issuer")));

    // Book 2 §11.2: issuer and ICC exponents are 3 or 65537 only.
    for (issuer_exponent, icc_exponent) in [(&[5u8][..], &[3u8][..]), (&[3], &[1, 0, 0, 1])] {
        let r = icc(&OdaInput {
            issuer_exponent,
            icc_exponent,
            ..good
        });
        assert!(matches!(r, Err(OdaError::BadKey(_))), "{r:?}");
    }

    let pan = hex::decode("4761739001010011").unwrap();
    let r = icc(&OdaInput {
        pan_cn: &pan,
        ..good
    });
    assert_eq!(r, Err(OdaError::IccPanMismatch));
    let pan = hex::decode("4761749001010010").unwrap();
    let r = icc(&OdaInput {
        pan_cn: &pan,
        ..good
    });
    assert_eq!(r, Err(OdaError::PanMismatch));
}
