//! Property tests: nothing a terminal sends can make the verifier panic,
//! and nothing but the genuine signed evidence is accepted.

// Test helpers outside #[test] fns panic on purpose: a broken fixture is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use attestation::*;
use proptest::prelude::*;
use ring::rand::SystemRandom;
use std::sync::OnceLock;

const NOW: u64 = 1_763_870_400_000;

struct World {
    key: SoftwareDeviceKey,
    terminal: TerminalState,
    challenge: Challenge,
    verifier: Verifier,
}

fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(|| {
        let rng = SystemRandom::new();
        let key = SoftwareDeviceKey::generate(&rng).unwrap();
        let terminal = TerminalState {
            terminal_id: "T-1".into(),
            public_key: key.public_key(),
            key_kind: KeyKind::Software,
            last_counter: 5,
            config_sha256: "c".repeat(64),
            blocked: false,
        };
        let policy = Policy {
            allowed_binaries: vec!["a".repeat(64)],
            max_clock_skew_ms: 300_000,
            challenge_ttl_ms: 120_000,
            token_ttl_ms: 900_000,
            allow_debugger: false,
            allow_emulator: false,
            allow_rooted: false,
        };
        World {
            challenge: Challenge::new(&rng, NOW).unwrap(),
            key,
            terminal,
            verifier: Verifier::new(policy, b"k"),
        }
    })
}

fn any_str() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,80}",
        "[0-9a-f]{0,80}",
        Just(String::new()),
        "\\PC{200,300}",
    ]
}

prop_compose! {
    fn any_evidence()(
        strs in proptest::collection::vec(any_str(), 8),
        flags in any::<(bool, bool, bool)>(),
        clock_ms in any::<u64>(),
        counter in any::<u64>(),
        tpm in any::<bool>(),
        signs in proptest::collection::vec(any_str(), 0..20),
    ) -> Evidence {
        Evidence {
            terminal_id: strs[0].clone(),
            nonce: strs[1].clone(),
            app_binary_sha256: strs[2].clone(),
            app_version: strs[3].clone(),
            os: strs[4].clone(),
            os_version: strs[5].clone(),
            reader: strs[6].clone(),
            debugger_attached: flags.0,
            emulator: flags.1,
            rooted: flags.2,
            clock_ms,
            config_sha256: strs[7].clone(),
            counter,
            key_kind: if tpm { KeyKind::Tpm } else { KeyKind::Software },
            platform_signs: signs,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Arbitrary evidence with an arbitrary signature string: never a panic,
    /// never accepted.
    #[test]
    fn verify_never_panics_on_arbitrary_evidence(
        e in any_evidence(),
        sig in any_str(),
        used in any::<bool>(),
        now in any::<u64>(),
    ) {
        let w = world();
        let se = SignedEvidence { evidence: e, signature: sig };
        let r = w.verifier.verify(&se, &w.terminal, &w.challenge, used, now);
        prop_assert!(r.is_err());
    }

    /// Arbitrary evidence genuinely signed by the enrolled key: never a
    /// panic, and accepted only if every rule holds.
    #[test]
    fn verify_never_panics_on_signed_arbitrary_evidence(
        e in any_evidence(),
        now in any::<u64>(),
    ) {
        let w = world();
        let se = sign_evidence(&w.key, e.clone()).unwrap();
        if let Ok(v) = w.verifier.verify(&se, &w.terminal, &w.challenge, false, now) {
            prop_assert_eq!(&e.nonce, &w.challenge.nonce_hex());
            prop_assert!(v.counter > w.terminal.last_counter);
        }
        // The same evidence through JSON gives the same answer.
        let wire = serde_json::to_vec(&se).unwrap();
        let back: SignedEvidence = serde_json::from_slice(&wire).unwrap();
        prop_assert_eq!(
            w.verifier.verify(&back, &w.terminal, &w.challenge, false, now),
            w.verifier.verify(&se, &w.terminal, &w.challenge, false, now)
        );
    }

    #[test]
    fn check_token_never_panics(token in any_str(), id in any_str(), now in any::<u64>()) {
        let w = world();
        prop_assert!(w.verifier.check_token(&token, &id, now).is_err());
    }

    #[test]
    fn evidence_json_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = serde_json::from_slice::<SignedEvidence>(&bytes);
    }

    #[test]
    fn unseal_never_panics_and_never_accepts_junk(
        bytes in proptest::collection::vec(any::<u8>(), 0..300),
        kek in any::<[u8; 32]>(),
    ) {
        prop_assert!(SoftwareDeviceKey::unseal(&bytes, &kek).is_err());
    }

    #[test]
    fn request_signature_never_panics(
        pk in proptest::collection::vec(any::<u8>(), 0..80),
        msg in proptest::collection::vec(any::<u8>(), 0..80),
        sig in proptest::collection::vec(any::<u8>(), 0..80),
    ) {
        let _ = verify_request_signature(&pk, &msg, &sig);
    }
}
