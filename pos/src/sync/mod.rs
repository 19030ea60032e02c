//! The terminal's side of the acquirer protocol (`acquirer/openapi.yaml`),
//! blocking: enrollment with an activation code, attestation, and signed
//! requests for authorizations, reversals and offline advices.
//!
//! The device key is made here, sealed on disk and never leaves this
//! module in clear. A failure to connect (nothing was sent) is told apart
//! from a failure after sending (the acquirer may have acted), because the
//! second needs a reversal and the first does not.

mod identity;
mod statement;

pub use identity::{Identity, TerminalConfig};
pub use statement::{
    parse_day, review_state, HistoryEntry, InfoConfirmation, Payout, ReviewState, SettlementBatch,
    Statement, StatementHistory, StatementLine, StatementTotals, REVIEW_REMINDER_DAYS,
};

use attestation::{build_evidence, sign_evidence, Challenge, EvidenceContext, KeyKind};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Duration;

/// What went wrong talking to the acquirer, by what the caller must do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
    /// No connection was made: the request was certainly not acted on.
    #[error("acquirer unreachable: {0}")]
    Unreachable(String),
    /// The request may have reached the acquirer but no answer came back.
    #[error("no answer from the acquirer: {0}")]
    NoAnswer(String),
    /// The acquirer answered with an error (`{ code, message }`).
    #[error("acquirer refused ({status} {code}): {message}")]
    Refused {
        status: u16,
        code: String,
        message: String,
    },
    /// The acquirer's answer did not have the documented shape.
    #[error("acquirer answered something unexpected: {0}")]
    Protocol(String),
    /// Our own storage or keys.
    #[error("terminal identity: {0}")]
    Local(String),
}

/// One purchase as the acquirer takes it (`PaymentRequest`). `icc_data`
/// holds the PAN: this type is only ever stored sealed.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentRequest {
    pub tsc: u32,
    pub mcc: String,
    pub amount_minor: u64,
    pub currency: u16,
    pub icc_data: String,
}

impl std::fmt::Debug for PaymentRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaymentRequest")
            .field("tsc", &self.tsc)
            .field("mcc", &self.mcc)
            .field("amount_minor", &self.amount_minor)
            .field("currency", &self.currency)
            .field("icc_data", &"<field 55 withheld>")
            .finish()
    }
}

/// The acquirer's answer to a purchase (`PaymentResponse`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentResponse {
    pub payment_id: String,
    pub tsc: u32,
    /// `approved`, `declined` or `rejected`.
    pub status: String,
    pub approved: bool,
    pub response_code: String,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub auth_code: Option<String>,
    #[serde(default)]
    pub issuer_authentication_data: Option<String>,
    #[serde(default)]
    pub masked_pan: String,
    /// The acquirer's figures for this payment (absent from an older
    /// acquirer's answers: then 0 and empty). Boxed: queue entries hold
    /// answers, and most of an answer is rarely read.
    #[serde(flatten, default)]
    pub figures: Box<Figures>,
}

/// The acquirer's own numbers for one payment, as its settlement counts
/// them: what receipts and daily totals print.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Figures {
    /// Fee rate, basis points.
    #[serde(default)]
    pub fee_bps: i64,
    /// 0 unless the payment counts toward settlement (approved).
    #[serde(default)]
    pub fee_minor: i64,
    /// What the merchant receives for it (negative for a refund).
    #[serde(default)]
    pub net_minor: i64,
    /// `YYYY-MM-DD` (UTC): the acquirer's business date.
    #[serde(default)]
    pub business_date: String,
    /// `YYYY-MM-DD`: expected settlement date.
    #[serde(default)]
    pub settlement_date: String,
}

/// The acquirer's answer to a void (or reversal).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelResponse {
    #[serde(default)]
    pub payment_id: String,
    /// `voided`, `reversed`, `not_found`, or the payment's status when it
    /// could not be cancelled.
    pub status: String,
    /// Whether no money moves for the payment any more.
    pub reversed: bool,
    #[serde(default)]
    pub message: String,
    #[serde(flatten, default)]
    pub figures: Figures,
}

/// A signed, attested session with one acquirer.
pub struct Client {
    base: String,
    agent: ureq::Agent,
    identity: Identity,
    token: Option<String>,
    binary_sha256: String,
    /// Guards the one configuration refresh inside [`Client::attest`].
    refreshed_for_attest: bool,
}

/// Milliseconds since 1970 by the system clock.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(3))
        .timeout(Duration::from_secs(15))
        .build()
}

fn transport_error(e: &ureq::Transport) -> SyncError {
    use ureq::ErrorKind;
    match e.kind() {
        ErrorKind::Dns | ErrorKind::ConnectionFailed | ErrorKind::InvalidUrl => {
            SyncError::Unreachable(e.to_string())
        }
        _ => SyncError::NoAnswer(e.to_string()),
    }
}

/// Sends and reads a JSON answer; HTTP errors become [`SyncError::Refused`].
fn exchange(req: ureq::Request, body: &[u8]) -> Result<Value, SyncError> {
    let resp = match req.set("content-type", "application/json").send_bytes(body) {
        Ok(r) => r,
        Err(ureq::Error::Status(status, r)) => {
            let v: Value = r.into_json().unwrap_or(Value::Null);
            let field = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            return Err(SyncError::Refused {
                status,
                code: field("code"),
                message: field("message"),
            });
        }
        Err(ureq::Error::Transport(t)) => return Err(transport_error(&t)),
    };
    resp.into_json()
        .map_err(|e| SyncError::NoAnswer(format!("answer body: {e}")))
}

/// SHA-256 (lower-case hex) of a hex-encoded public key.
pub fn key_fingerprint(public_key_hex: &str) -> Result<String, SyncError> {
    let pk = hex::decode(public_key_hex)
        .map_err(|e| SyncError::Protocol(format!("acquirer public key: {e}")))?;
    Ok(hex::encode(ring::digest::digest(
        &ring::digest::SHA256,
        &pk,
    )))
}

fn normalise_fingerprint(f: &str) -> Result<String, SyncError> {
    let clean: String = f
        .chars()
        .filter(|c| !c.is_whitespace() && *c != ':')
        .collect::<String>()
        .to_ascii_lowercase();
    if clean.len() != 64 || !clean.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(SyncError::Local(format!(
            "acquirer fingerprint {f:?}: expected the 64 hex digits of a SHA-256"
        )));
    }
    Ok(clean)
}

fn pin_mismatch(pin: &str, got: Option<&str>) -> SyncError {
    SyncError::Local(format!(
        "this acquirer's key ({}) is not the one on the activation letter ({pin}): \
         not enrolling; check the acquirer address, or call the acquirer",
        got.unwrap_or("none offered")
    ))
}

fn random_hex<const N: usize>() -> Result<String, SyncError> {
    use ring::rand::{SecureRandom, SystemRandom};
    let mut b = [0u8; N];
    SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| SyncError::Local("no system random source".into()))?;
    Ok(hex::encode(b))
}

impl Client {
    /// A client for `base` (`http://host:port`) with an enrolled identity.
    /// `binary_sha256` is what attestation reports for this app's binary.
    pub fn new(base: &str, identity: Identity, binary_sha256: &str) -> Client {
        Client {
            base: base.trim_end_matches('/').to_string(),
            agent: agent(),
            identity,
            token: None,
            binary_sha256: binary_sha256.to_string(),
            refreshed_for_attest: false,
        }
    }

    /// Makes a device key, enrolls it with a one-time activation code and
    /// stores the sealed key and the signed configuration in `dir`.
    pub fn enroll(
        base: &str,
        activation_code: &str,
        dir: &std::path::Path,
    ) -> Result<Identity, SyncError> {
        Client::enroll_pinned(base, activation_code, None, dir)
    }

    /// [`Client::enroll`], but only with the acquirer whose public key has
    /// SHA-256 `fingerprint` (hex; spaces and colons ignored). The key is
    /// checked before the one-time code is spent, and again in the signed
    /// configuration.
    pub fn enroll_pinned(
        base: &str,
        activation_code: &str,
        fingerprint: Option<&str>,
        dir: &std::path::Path,
    ) -> Result<Identity, SyncError> {
        let pin = fingerprint.map(normalise_fingerprint).transpose()?;
        if let Some(pin) = &pin {
            let url = format!("{}/v1/acquirer/keys", base.trim_end_matches('/'));
            let keys = match agent().get(&url).call() {
                Ok(r) => r
                    .into_json::<Value>()
                    .map_err(|e| SyncError::NoAnswer(format!("acquirer keys: {e}")))?,
                Err(ureq::Error::Status(status, _)) => {
                    return Err(SyncError::Refused {
                        status,
                        code: "keys".into(),
                        message: "the acquirer did not give its keys".into(),
                    })
                }
                Err(ureq::Error::Transport(t)) => return Err(transport_error(&t)),
            };
            let offered: Vec<String> = keys
                .get("keys")
                .and_then(Value::as_array)
                .map(|ks| {
                    ks.iter()
                        .filter_map(|k| k.get("public_key").and_then(Value::as_str))
                        .filter_map(|k| key_fingerprint(k).ok())
                        .collect()
                })
                .unwrap_or_default();
            if !offered.contains(pin) {
                return Err(pin_mismatch(pin, offered.first().map(String::as_str)));
            }
        }
        let key = Identity::new_key()?;
        let body = serde_json::json!({
            "activation_code": activation_code,
            "public_key": hex::encode(attestation::DeviceKey::public_key(&key)),
            "key_kind": "software",
        });
        let body = serde_json::to_vec(&body).map_err(|e| SyncError::Local(e.to_string()))?;
        let url = format!("{}/v1/enroll", base.trim_end_matches('/'));
        let v = exchange(agent().post(&url), &body)?;
        let signed = v
            .get("signed_config")
            .cloned()
            .ok_or_else(|| SyncError::Protocol("enroll answer without signed_config".into()))?;
        if let Some(pin) = &pin {
            let (_, config) = identity::verify_config(&signed)?;
            let signer = key_fingerprint(&config.acquirer_public_key)?;
            if &signer != pin {
                return Err(pin_mismatch(pin, Some(&signer)));
            }
        }
        Identity::create(dir, key, signed)
    }

    /// Talks to another address from now on, keeping the token (the
    /// acquirer moved, or a test put a faulty network in between).
    pub fn set_base(&mut self, base: &str) {
        self.base = base.trim_end_matches('/').to_string();
    }

    /// Longest wait for a whole exchange (15 s unless set).
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(3).min(timeout))
            .timeout(timeout)
            .build();
    }

    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// Whether an attestation token is held.
    pub fn is_attested(&self) -> bool {
        self.token.is_some()
    }

    fn send(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
        with_token: bool,
    ) -> Result<Value, SyncError> {
        let ts = now_ms();
        let nonce = random_hex::<16>()?;
        let sig = attestation::sign_request(self.identity.key(), method, path, body, ts, &nonce)
            .map_err(|e| SyncError::Local(e.to_string()))?;
        let mut req = self
            .agent
            .request(method, &format!("{}{path}", self.base))
            .set("x-terminal-id", self.identity.terminal_id())
            .set("x-timestamp-ms", &ts.to_string())
            .set("x-nonce", &nonce)
            .set("x-signature", &hex::encode(sig));
        if let (true, Some(t)) = (with_token, &self.token) {
            req = req.set("authorization", &format!("Bearer {t}"));
        }
        exchange(req, body)
    }

    /// Challenge, evidence, token. The evidence counter is persisted
    /// first, so a restarted terminal never repeats one.
    pub fn attest(&mut self) -> Result<(), SyncError> {
        let v = self.send("POST", "/v1/attest/challenge", b"{}", false)?;
        let challenge: Challenge = serde_json::from_value(v)
            .map_err(|e| SyncError::Protocol(format!("challenge: {e}")))?;
        let counter = self.identity.next_evidence_counter()?;
        let ctx = EvidenceContext {
            terminal_id: self.identity.terminal_id().to_string(),
            app_version: env!("CARGO_PKG_VERSION").into(),
            reader: "sim".into(),
            config_sha256: hex::encode(
                ring::digest::digest(
                    &ring::digest::SHA256,
                    self.identity.config_json().as_bytes(),
                )
                .as_ref(),
            ),
            key_kind: KeyKind::Software,
        };
        let facts = attestation::PlatformFacts {
            app_binary_sha256: self.binary_sha256.clone(),
            os: std::env::consts::OS.into(),
            os_version: "unknown".into(),
            debugger_attached: false,
            emulator: false,
            rooted: false,
            signs: Vec::new(),
        };
        let se = sign_evidence(
            self.identity.key(),
            build_evidence(&ctx, &facts, &challenge, now_ms(), counter),
        )
        .map_err(|e| SyncError::Local(e.to_string()))?;
        let body = serde_json::to_vec(&se).map_err(|e| SyncError::Local(e.to_string()))?;
        let v = match self.send("POST", "/v1/attest", &body, false) {
            // The acquirer re-signed our configuration (an MCC or fee
            // change): fetch it, then attest once more naming it.
            Err(SyncError::Refused { code, .. })
                if code == "config_mismatch" && !self.refreshed_for_attest =>
            {
                self.refreshed_for_attest = true;
                let changed = self.refresh_config();
                let again = changed.and_then(|_| self.attest());
                self.refreshed_for_attest = false;
                return again;
            }
            other => other?,
        };
        let token = v
            .get("token")
            .and_then(Value::as_str)
            .ok_or_else(|| SyncError::Protocol("attest answer without token".into()))?;
        self.token = Some(token.to_string());
        Ok(())
    }

    /// A signed, attested call; attests first when no token is held, and
    /// once more when the acquirer says the token is no longer good.
    pub fn call(&mut self, method: &str, path: &str, body: &Value) -> Result<Value, SyncError> {
        let bytes = serde_json::to_vec(body).map_err(|e| SyncError::Local(e.to_string()))?;
        if self.token.is_none() {
            self.attest()?;
        }
        match self.send(method, path, &bytes, true) {
            Err(SyncError::Refused { status: 401, .. }) => {
                self.token = None;
                self.attest()?;
                self.send(method, path, &bytes, true)
            }
            other => other,
        }
    }

    /// Online authorization; a repeated tsc gets the stored answer.
    pub fn authorize(&mut self, req: &PaymentRequest) -> Result<PaymentResponse, SyncError> {
        let body = serde_json::to_value(req).map_err(|e| SyncError::Local(e.to_string()))?;
        let v = self.call("POST", "/v1/authorizations", &body)?;
        serde_json::from_value(v).map_err(|e| SyncError::Protocol(format!("authorization: {e}")))
    }

    /// Reverses the authorization sent under `tsc`; idempotent.
    pub fn reverse(&mut self, tsc: u32, reason: &str) -> Result<Value, SyncError> {
        self.call(
            "POST",
            "/v1/reversals",
            &serde_json::json!({ "tsc": tsc, "reason": reason }),
        )
    }

    /// Fetches the configuration the acquirer signs for this terminal now
    /// and stores it if it differs; `true` when it changed. Signed but not
    /// attested: attestation itself needs the current configuration.
    pub fn refresh_config(&mut self) -> Result<bool, SyncError> {
        let v = self.send("GET", "/v1/terminal/config", b"{}", false)?;
        let new_json = v.get("config_json").and_then(Value::as_str).unwrap_or("");
        if new_json == self.identity.config_json() {
            return Ok(false);
        }
        self.identity.replace_config(v)?;
        Ok(true)
    }

    /// Refunds `amount_minor` of the approved payment `original_payment_id`
    /// under the refund's own `tsc` (its idempotency key).
    pub fn refund(
        &mut self,
        tsc: u32,
        original_payment_id: &str,
        amount_minor: u64,
    ) -> Result<PaymentResponse, SyncError> {
        let v = self.call(
            "POST",
            "/v1/refunds",
            &serde_json::json!({ "tsc": tsc, "original_payment_id": original_payment_id,
                "amount_minor": amount_minor }),
        )?;
        serde_json::from_value(v).map_err(|e| SyncError::Protocol(format!("refund: {e}")))
    }

    /// Voids an approved, unsettled payment; idempotent.
    pub fn void(&mut self, payment_id: &str) -> Result<CancelResponse, SyncError> {
        let v = self.call(
            "POST",
            "/v1/voids",
            &serde_json::json!({ "payment_id": payment_id }),
        )?;
        serde_json::from_value(v).map_err(|e| SyncError::Protocol(format!("void: {e}")))
    }

    /// Offline advices (1 to 100), answered in order.
    pub fn advices(&mut self, batch: &[PaymentRequest]) -> Result<Vec<PaymentResponse>, SyncError> {
        let v = self.call(
            "POST",
            "/v1/advices",
            &serde_json::json!({ "advices": batch }),
        )?;
        let results = v
            .get("results")
            .cloned()
            .ok_or_else(|| SyncError::Protocol("advices answer without results".into()))?;
        let results: Vec<PaymentResponse> = serde_json::from_value(results)
            .map_err(|e| SyncError::Protocol(format!("advices: {e}")))?;
        if results.len() != batch.len() {
            return Err(SyncError::Protocol(format!(
                "{} advices sent, {} results",
                batch.len(),
                results.len()
            )));
        }
        Ok(results)
    }
}
