//! Sign → verify round trips, and a tampered twin for every failure code.

// Test helpers outside #[test] fns panic on purpose: a broken fixture is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use attestation::*;
use ring::rand::SystemRandom;

const NOW: u64 = 1_763_870_400_000; // 2025-11-23T04:00:00Z
const MIN: u64 = 60_000;
const BIN: &str = "5f0c6a8e2b1d4c3a9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d";
const CFG: &str = "1111111111111111111111111111111111111111111111111111111111111111";

type Edit = Box<dyn Fn(&mut Evidence)>;

struct Fixture {
    key: SoftwareDeviceKey,
    terminal: TerminalState,
    challenge: Challenge,
    verifier: Verifier,
}

fn policy() -> Policy {
    Policy {
        allowed_binaries: vec![BIN.to_uppercase(), "ab".repeat(32)],
        max_clock_skew_ms: 5 * MIN,
        challenge_ttl_ms: 2 * MIN,
        token_ttl_ms: 15 * MIN,
        allow_debugger: false,
        allow_emulator: false,
        allow_rooted: false,
    }
}

fn fixture() -> Fixture {
    let rng = SystemRandom::new();
    let key = SoftwareDeviceKey::generate(&rng).unwrap();
    let terminal = TerminalState {
        terminal_id: "T-0001".into(),
        public_key: key.public_key(),
        key_kind: KeyKind::Software,
        last_counter: 41,
        config_sha256: CFG.into(),
        blocked: false,
    };
    let challenge = Challenge::new(&rng, NOW - 10_000).unwrap();
    Fixture {
        key,
        terminal,
        challenge,
        verifier: Verifier::new(policy(), b"0123456789abcdef0123456789abcdef"),
    }
}

fn facts() -> PlatformFacts {
    PlatformFacts {
        app_binary_sha256: BIN.into(),
        os: "linux/debian".into(),
        os_version: "12; kernel 6.1.0".into(),
        debugger_attached: false,
        emulator: false,
        rooted: false,
        signs: vec![],
    }
}

impl Fixture {
    fn evidence(&self) -> Evidence {
        let ctx = EvidenceContext {
            terminal_id: "T-0001".into(),
            app_version: "0.1.0".into(),
            reader: "ACS ACR1252U".into(),
            config_sha256: CFG.into(),
            key_kind: KeyKind::Software,
        };
        build_evidence(&ctx, &facts(), &self.challenge, NOW + 1_500, 42)
    }

    fn signed(&self, e: Evidence) -> SignedEvidence {
        sign_evidence(&self.key, e).unwrap()
    }

    fn verify(&self, se: &SignedEvidence) -> Result<Verdict, Failure> {
        self.verifier
            .verify(se, &self.terminal, &self.challenge, false, NOW)
    }

    /// Signs `e` after `edit`, verifies, and returns the failure.
    fn fail_with(&self, edit: impl FnOnce(&mut Evidence)) -> Failure {
        let mut e = self.evidence();
        edit(&mut e);
        self.verify(&self.signed(e)).unwrap_err()
    }
}

#[test]
fn round_trip_accepts_and_reports_measured_facts() {
    let fx = fixture();
    let se = fx.signed(fx.evidence());
    // Through JSON, as it travels.
    let wire = serde_json::to_string(&se).unwrap();
    let back: SignedEvidence = serde_json::from_str(&wire).unwrap();
    let v = fx.verify(&back).unwrap();
    assert_eq!(v.terminal_id, "T-0001");
    assert_eq!(v.counter, 42);
    assert_eq!(v.clock_skew_ms, 1_500);
    assert_eq!(v.app_binary_sha256, BIN);
    assert_eq!(v.reader, "ACS ACR1252U");
    assert_eq!(v.key_kind, KeyKind::Software);
    assert_eq!(v.verified_at_ms, NOW);
    assert_eq!(v.challenge_issued_at_ms, NOW - 10_000);
    assert!(!v.debugger_attached && !v.emulator && !v.rooted);
    // The verdict is what monitoring stores.
    let json = serde_json::to_value(&v).unwrap();
    assert_eq!(json["key_kind"], "software");
    assert_eq!(json["clock_skew_ms"], 1_500);
}

#[test]
fn wire_format_names_fields_as_agreed() {
    let fx = fixture();
    let se = fx.signed(fx.evidence());
    let j = serde_json::to_value(&se).unwrap();
    assert_eq!(j["evidence"]["nonce"], fx.challenge.nonce_hex());
    assert_eq!(j["evidence"]["key_kind"], "software");
    assert!(j["signature"].as_str().unwrap().starts_with("30"));
    let c = serde_json::to_value(&fx.challenge).unwrap();
    assert_eq!(c["nonce"], fx.challenge.nonce_hex());
    let c2: Challenge = serde_json::from_value(c).unwrap();
    assert_eq!(c2, fx.challenge);
    // An extra, unsigned field is refused rather than ignored.
    let mut j2 = j.clone();
    j2["evidence"]["merchant_id"] = "M-9".into();
    assert!(serde_json::from_value::<SignedEvidence>(j2).is_err());
}

#[test]
fn flipped_signature_byte_is_bad_signature() {
    let fx = fixture();
    let se = fx.signed(fx.evidence());
    let der = hex::decode(&se.signature).unwrap();
    for i in 0..der.len() {
        let mut t = der.clone();
        t[i] ^= 0x01;
        let mut bad = se.clone();
        bad.signature = hex::encode(t);
        assert_eq!(
            fx.verify(&bad).unwrap_err().code,
            FailureCode::BadSignature,
            "byte {i}"
        );
    }
    let mut not_hex = se.clone();
    not_hex.signature = "zz".into();
    assert_eq!(
        fx.verify(&not_hex).unwrap_err().code,
        FailureCode::BadSignature
    );
    let mut empty = se;
    empty.signature.clear();
    assert_eq!(
        fx.verify(&empty).unwrap_err().code,
        FailureCode::BadSignature
    );
}

#[test]
fn any_field_altered_after_signing_is_bad_signature() {
    let fx = fixture();
    let se = fx.signed(fx.evidence());
    let edits: Vec<(&str, Edit)> = vec![
        ("terminal_id", Box::new(|e| e.terminal_id.push('x'))),
        ("nonce", Box::new(|e| e.nonce = "00".repeat(32))),
        (
            "binary",
            Box::new(|e| e.app_binary_sha256 = "ab".repeat(32)),
        ),
        ("app_version", Box::new(|e| e.app_version = "0.1.1".into())),
        ("os", Box::new(|e| e.os = "android".into())),
        ("os_version", Box::new(|e| e.os_version.push('1'))),
        ("reader", Box::new(|e| e.reader.clear())),
        ("debugger", Box::new(|e| e.debugger_attached = true)),
        ("emulator", Box::new(|e| e.emulator = true)),
        ("rooted", Box::new(|e| e.rooted = true)),
        ("clock", Box::new(|e| e.clock_ms += 1)),
        ("config", Box::new(|e| e.config_sha256 = "2".repeat(64))),
        ("counter", Box::new(|e| e.counter += 1)),
        ("key_kind", Box::new(|e| e.key_kind = KeyKind::Tpm)),
        ("signs", Box::new(|e| e.platform_signs.push("x".into()))),
    ];
    for (name, edit) in edits {
        let mut t = se.clone();
        edit(&mut t.evidence);
        assert_ne!(t.evidence, se.evidence, "{name}");
        assert_eq!(
            fx.verify(&t).unwrap_err().code,
            FailureCode::BadSignature,
            "{name}"
        );
    }
}

#[test]
fn another_terminals_key_is_bad_signature() {
    let fx = fixture();
    let other = SoftwareDeviceKey::generate(&SystemRandom::new()).unwrap();
    let se = sign_evidence(&other, fx.evidence()).unwrap();
    assert_eq!(fx.verify(&se).unwrap_err().code, FailureCode::BadSignature);
    // A garbage enrolled key never verifies anything.
    let mut t = fx.terminal.clone();
    t.public_key = vec![0x04; 3];
    let good = fx.signed(fx.evidence());
    let f = fx
        .verifier
        .verify(&good, &t, &fx.challenge, false, NOW)
        .unwrap_err();
    assert_eq!(f.code, FailureCode::BadSignature);
}

#[test]
fn nonce_unknown_reused_and_expired() {
    let fx = fixture();
    let se = fx.signed(fx.evidence());

    let other = Challenge::new(&SystemRandom::new(), NOW - 10_000).unwrap();
    let f = fx
        .verifier
        .verify(&se, &fx.terminal, &other, false, NOW)
        .unwrap_err();
    assert_eq!(f.code, FailureCode::UnknownNonce);
    // Hex case is not significant.
    let mut e = fx.evidence();
    e.nonce = e.nonce.to_uppercase();
    assert!(fx.verify(&fx.signed(e)).is_ok());

    let f = fx
        .verifier
        .verify(&se, &fx.terminal, &fx.challenge, true, NOW)
        .unwrap_err();
    assert_eq!(f.code, FailureCode::NonceReused);
    assert!(f.message.contains("request a new challenge"));

    // Exactly at the TTL is still fine; one millisecond past is not.
    let at_ttl = fx.challenge.issued_at_ms + 2 * MIN;
    let mut e = fx.evidence();
    e.clock_ms = at_ttl;
    let se = fx.signed(e);
    assert!(fx
        .verifier
        .verify(&se, &fx.terminal, &fx.challenge, false, at_ttl)
        .is_ok());
    let mut e = fx.evidence();
    e.clock_ms = at_ttl + 1;
    let se = fx.signed(e);
    let f = fx
        .verifier
        .verify(&se, &fx.terminal, &fx.challenge, false, at_ttl + 1)
        .unwrap_err();
    assert_eq!(f.code, FailureCode::NonceExpired);
    assert!(f.message.contains("2 minutes"), "{}", f.message);
}

#[test]
fn counter_equal_or_lower_is_refused() {
    let fx = fixture();
    for c in [41, 40, 0] {
        let f = fx.fail_with(|e| e.counter = c);
        assert_eq!(f.code, FailureCode::CounterNotMonotonic, "counter {c}");
        assert!(
            f.message.contains(&format!("from 41 to {c}")),
            "{}",
            f.message
        );
    }
    // The twin: one above is accepted.
    let mut e = fx.evidence();
    e.counter = 42;
    assert!(fx.verify(&fx.signed(e)).is_ok());
}

#[test]
fn unknown_binary_is_refused_in_merchant_words() {
    let fx = fixture();
    let f = fx.fail_with(|e| e.app_binary_sha256 = "cd".repeat(32));
    assert_eq!(f.code, FailureCode::BinaryNotAllowed);
    assert!(
        f.message.starts_with("app build not recognised"),
        "{}",
        f.message
    );
    assert!(f.message.contains("\"0.1.0\""));
    let f = fx.fail_with(|e| e.app_binary_sha256.clear());
    assert_eq!(f.code, FailureCode::BinaryNotAllowed);
    // Case does not matter; the allow-list entry was given in upper case.
    let mut e = fx.evidence();
    e.app_binary_sha256 = BIN.to_uppercase();
    assert!(fx.verify(&fx.signed(e)).is_ok());
}

#[test]
fn clock_off_by_more_than_the_skew_names_the_minutes() {
    let fx = fixture();
    let f = fx.fail_with(|e| e.clock_ms = NOW + 9 * MIN + 5_000);
    assert_eq!(f.code, FailureCode::ClockSkew);
    assert!(
        f.message.starts_with("clock is 9 minutes off (ahead"),
        "{}",
        f.message
    );
    let f = fx.fail_with(|e| e.clock_ms = NOW - 3 * 86_400_000);
    assert_eq!(f.code, FailureCode::ClockSkew);
    assert!(
        f.message.starts_with("clock is 3 days off (behind"),
        "{}",
        f.message
    );
    let f = fx.fail_with(|e| e.clock_ms = 0);
    assert_eq!(f.code, FailureCode::ClockSkew);
    // Twins at the limit pass.
    for clock in [NOW + 5 * MIN, NOW - 5 * MIN] {
        let mut e = fx.evidence();
        e.clock_ms = clock;
        let v = fx.verify(&fx.signed(e)).unwrap();
        assert_eq!(v.clock_skew_ms.unsigned_abs(), 5 * MIN);
    }
}

#[test]
fn config_hash_mismatch() {
    let fx = fixture();
    let f = fx.fail_with(|e| e.config_sha256 = "2".repeat(64));
    assert_eq!(f.code, FailureCode::ConfigMismatch);
    assert!(f.message.contains("sync the configuration"));
}

#[test]
fn debugger_emulator_rooted_refused_unless_policy_allows() {
    let fx = fixture();
    let f = fx.fail_with(|e| {
        e.debugger_attached = true;
        e.platform_signs = vec!["tracer pid 4242".into()];
    });
    assert_eq!(f.code, FailureCode::Debugger);
    assert!(f.message.contains("tracer pid 4242"), "{}", f.message);
    assert_eq!(
        fx.fail_with(|e| e.emulator = true).code,
        FailureCode::Emulator
    );
    assert_eq!(fx.fail_with(|e| e.rooted = true).code, FailureCode::Rooted);

    let mut p = policy();
    p.allow_debugger = true;
    p.allow_emulator = true;
    p.allow_rooted = true;
    let lenient = Verifier::new(p, b"k");
    let mut e = fx.evidence();
    e.debugger_attached = true;
    e.emulator = true;
    e.rooted = true;
    let v = lenient
        .verify(&fx.signed(e), &fx.terminal, &fx.challenge, false, NOW)
        .unwrap();
    assert!(
        v.debugger_attached && v.emulator && v.rooted,
        "verdict records what was allowed"
    );
}

#[test]
fn blocked_terminal_is_refused_first() {
    let fx = fixture();
    let mut t = fx.terminal.clone();
    t.blocked = true;
    let se = fx.signed(fx.evidence());
    let f = fx
        .verifier
        .verify(&se, &t, &fx.challenge, false, NOW)
        .unwrap_err();
    assert_eq!(f.code, FailureCode::TerminalBlocked);
    assert!(f.message.contains("contact"));
}

#[test]
fn wrong_key_kind_and_wrong_terminal() {
    let fx = fixture();
    // Evidence claims a TPM key but the terminal enrolled a software one.
    let f = fx.fail_with(|e| e.key_kind = KeyKind::Tpm);
    assert_eq!(f.code, FailureCode::KeyKindMismatch);
    assert!(
        f.message.contains("tpm") && f.message.contains("software"),
        "{}",
        f.message
    );
    // And the other way round.
    let mut t = fx.terminal.clone();
    t.key_kind = KeyKind::Tpm;
    let se = fx.signed(fx.evidence());
    let f = fx
        .verifier
        .verify(&se, &t, &fx.challenge, false, NOW)
        .unwrap_err();
    assert_eq!(f.code, FailureCode::KeyKindMismatch);

    let f = fx.fail_with(|e| e.terminal_id = "T-0002".into());
    assert_eq!(f.code, FailureCode::TerminalMismatch);
}

#[test]
fn oversized_fields_are_malformed() {
    let fx = fixture();
    let f = fx.fail_with(|e| e.os_version = "x".repeat(MAX_FIELD_LEN + 1));
    assert_eq!(f.code, FailureCode::MalformedEvidence);
    let f = fx.fail_with(|e| e.counter = MAX_COUNTER + 1);
    assert_eq!(f.code, FailureCode::MalformedEvidence);
    let f = fx.fail_with(|e| e.platform_signs = vec!["s".into(); MAX_PLATFORM_SIGNS + 1]);
    assert_eq!(f.code, FailureCode::MalformedEvidence);
    let mut e = fx.evidence();
    e.os_version = "x".repeat(MAX_FIELD_LEN);
    assert!(fx.verify(&fx.signed(e)).is_ok());
}

#[test]
fn token_round_trip_expiry_and_forgery() {
    let fx = fixture();
    let v = fx.verify(&fx.signed(fx.evidence())).unwrap();
    let tok = fx.verifier.issue_token("T-0001", &v, NOW);
    assert_eq!(tok.expires_at_ms, NOW + 15 * MIN);
    let claims = fx
        .verifier
        .check_token(&tok.token, "T-0001", NOW + MIN)
        .unwrap();
    assert_eq!(claims.terminal_id, "T-0001");
    assert_eq!(claims.counter, 42);
    assert_eq!(claims.key_kind, KeyKind::Software);

    let f = fx
        .verifier
        .check_token(&tok.token, "T-0001", NOW + 15 * MIN)
        .unwrap_err();
    assert_eq!(f.code, FailureCode::TokenExpired);
    let f = fx
        .verifier
        .check_token(&tok.token, "T-0001", NOW + 20 * MIN)
        .unwrap_err();
    assert!(f.message.contains("5 minutes ago"), "{}", f.message);

    let f = fx
        .verifier
        .check_token(&tok.token, "T-0002", NOW)
        .unwrap_err();
    assert_eq!(f.code, FailureCode::TokenInvalid);

    // Same claims, different secret: forged.
    let other = Verifier::new(policy(), b"another secret entirely, 32 byte");
    let forged = other.issue_token("T-0001", &v, NOW);
    let f = fx
        .verifier
        .check_token(&forged.token, "T-0001", NOW)
        .unwrap_err();
    assert_eq!(f.code, FailureCode::TokenInvalid);

    // Every single-character change is refused.
    let bytes = tok.token.as_bytes();
    for i in 0..bytes.len() {
        let mut t = bytes.to_vec();
        t[i] = if t[i] == b'A' { b'B' } else { b'A' };
        let t = String::from_utf8(t).unwrap();
        assert!(
            fx.verifier.check_token(&t, "T-0001", NOW).is_err(),
            "pos {i}"
        );
    }

    // Forging a later expiry by editing the claims breaks the MAC.
    let (_, payload_and_tag) = tok.token.split_once('.').unwrap();
    let (_, tag) = payload_and_tag.split_once('.').unwrap();
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut claims_json: serde_json::Value = serde_json::from_slice(
        &b64.decode(payload_and_tag.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    claims_json["expires_at_ms"] = (NOW + 1_000 * MIN).into();
    let edited = format!(
        "v1.{}.{tag}",
        b64.encode(serde_json::to_vec(&claims_json).unwrap())
    );
    let f = fx
        .verifier
        .check_token(&edited, "T-0001", NOW + 20 * MIN)
        .unwrap_err();
    assert_eq!(f.code, FailureCode::TokenInvalid);

    let long = format!("{}{}", tok.token, "A".repeat(MAX_TOKEN_LEN));
    let f = fx.verifier.check_token(&long, "T-0001", NOW).unwrap_err();
    assert!(f.message.contains("too long"), "{}", f.message);
    for junk in [
        "",
        ".",
        "..",
        "v1..",
        "v2.a.b",
        &"a".repeat(MAX_TOKEN_LEN + 1),
    ] {
        let f = fx.verifier.check_token(junk, "T-0001", NOW).unwrap_err();
        assert_eq!(f.code, FailureCode::TokenInvalid, "{junk:?}");
    }
}

#[test]
fn request_signature_round_trip_and_tamper() {
    let fx = fixture();
    let body = br#"{"amount":{"minor":1250,"currency":"EUR"}}"#;
    let sig = sign_request(&fx.key, "POST", "/v1/authorize", body, NOW, "req-1").unwrap();
    let bytes = request_signing_bytes("POST", "/v1/authorize", body, NOW, "req-1");
    verify_request_signature(&fx.terminal.public_key, &bytes, &sig).unwrap();

    let tampered = request_signing_bytes("POST", "/v1/authorize", b"{}", NOW, "req-1");
    let f = verify_request_signature(&fx.terminal.public_key, &tampered, &sig).unwrap_err();
    assert_eq!(f.code, FailureCode::BadSignature);
    let replayed_later = request_signing_bytes("POST", "/v1/authorize", body, NOW + 1, "req-1");
    assert!(verify_request_signature(&fx.terminal.public_key, &replayed_later, &sig).is_err());
    // An evidence signature is not a request signature (domain separation).
    let se = fx.signed(fx.evidence());
    let ev_sig = hex::decode(&se.signature).unwrap();
    let ev_bytes = se.evidence.signing_bytes().unwrap();
    assert!(verify_request_signature(&fx.terminal.public_key, &ev_bytes, &ev_sig).is_ok());
    assert!(ev_bytes.starts_with(EVIDENCE_DOMAIN) && !ev_bytes.starts_with(REQUEST_DOMAIN));

    check_request_time(NOW + 30_000, NOW, MIN).unwrap();
    let f = check_request_time(NOW - 9 * MIN, NOW, MIN).unwrap_err();
    assert_eq!(f.code, FailureCode::RequestStale);
    assert!(
        f.message.contains("9 minutes off (behind)"),
        "{}",
        f.message
    );
}

#[test]
fn failure_serialises_with_snake_case_code() {
    let fx = fixture();
    let f = fx.fail_with(|e| e.config_sha256 = "2".repeat(64));
    let j = serde_json::to_value(&f).unwrap();
    assert_eq!(j["code"], "config_mismatch");
    assert_eq!(serde_json::from_value::<Failure>(j).unwrap(), f);
}

#[test]
fn collected_evidence_signs_and_verifies_against_its_own_binary() {
    let rng = SystemRandom::new();
    let key = SoftwareDeviceKey::generate(&rng).unwrap();
    let challenge = Challenge::new(&rng, NOW).unwrap();
    let ctx = EvidenceContext {
        terminal_id: "T-LIVE".into(),
        app_version: env!("CARGO_PKG_VERSION").into(),
        reader: "virtual".into(),
        config_sha256: CFG.into(),
        key_kind: key.kind(),
    };
    let e = collect_evidence(&ctx, &challenge, NOW, 1);
    assert_eq!(e.app_binary_sha256.len(), 64);
    let mut p = policy();
    p.allowed_binaries = vec![e.app_binary_sha256.clone()];
    // This machine may be a VM or run as root; the flags are the platform's
    // to report, and this test is about the plumbing.
    p.allow_debugger = true;
    p.allow_emulator = true;
    p.allow_rooted = true;
    let verifier = Verifier::new(p, b"secret");
    let terminal = TerminalState {
        terminal_id: "T-LIVE".into(),
        public_key: key.public_key(),
        key_kind: KeyKind::Software,
        last_counter: 0,
        config_sha256: CFG.into(),
        blocked: false,
    };
    let se = sign_evidence(&key, e).unwrap();
    let v = verifier
        .verify(&se, &terminal, &challenge, false, NOW)
        .unwrap();
    assert_eq!(v.counter, 1);
}

#[test]
fn shared_types_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Verifier>();
    check::<SoftwareDeviceKey>();
    check::<Box<dyn DeviceKey>>();
}
