//! A simulated terminal and virtual card speaking the acquirer's protocol
//! over HTTP: what the end-to-end tests and the load generator drive. The
//! card computes real cryptograms with the `cryptogram` crate from a test
//! issuer master key, exactly as a virtual card would.

use crate::terminal::SignedConfig;
use attestation::{
    build_evidence, sign_evidence, Challenge, DeviceKey, EvidenceContext, KeyKind, PlatformFacts,
    SignedEvidence, SoftwareDeviceKey,
};
use cryptogram::{Cvn, Key16};
use kernel::tlv::{encode, Tag};
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("http: {0}")]
    Http(#[from] reqwest::Error),
    #[error("{0}")]
    Other(String),
}

/// An HTTP answer: status and JSON body (`null` if the body was not JSON).
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Answer {
    pub fn code(&self) -> &str {
        self.body.get("code").and_then(Value::as_str).unwrap_or("")
    }
}

/// A terminal with a software device key, enrolled with an acquirer.
pub struct SimTerminal {
    pub http: reqwest::Client,
    pub base: String,
    pub key: SoftwareDeviceKey,
    pub terminal_id: String,
    pub config: SignedConfig,
    pub token: Option<String>,
    pub counter: u64,
    /// SHA-256 this terminal reports for its app binary.
    pub binary_sha256: String,
}

/// A request ready to send, kept so a test can send it twice (replay) or
/// tamper with it.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub method: String,
    pub path: String,
    pub body: Vec<u8>,
    pub headers: Vec<(String, String)>,
}

pub fn now_ms() -> u64 {
    u64::try_from(crate::util::Clock::System.now_ms()).unwrap_or(0)
}

impl SimTerminal {
    /// Makes a device key and enrolls it with `activation_code`.
    pub async fn enroll(
        http: reqwest::Client,
        base: &str,
        activation_code: &str,
        binary_sha256: &str,
    ) -> Result<(SimTerminal, Answer), SimError> {
        let rng = ring::rand::SystemRandom::new();
        let key = SoftwareDeviceKey::generate(&rng).map_err(|e| SimError::Other(e.to_string()))?;
        let body = serde_json::json!({ "activation_code": activation_code,
            "public_key": hex::encode(key.public_key()), "key_kind": "software" });
        let ans = send_json(&http, "POST", &format!("{base}/v1/enroll"), &body, &[]).await?;
        if ans.status != 200 {
            return Err(SimError::Other(format!(
                "enroll failed: {} {}",
                ans.status, ans.body
            )));
        }
        let config: SignedConfig = serde_json::from_value(ans.body["signed_config"].clone())
            .map_err(|e| SimError::Other(e.to_string()))?;
        let terminal_id = config.config.terminal_id.clone();
        Ok((
            SimTerminal {
                http,
                base: base.to_string(),
                key,
                terminal_id,
                config,
                token: None,
                counter: 0,
                binary_sha256: binary_sha256.into(),
            },
            ans,
        ))
    }

    /// Signs a request now, with a fresh nonce.
    pub fn prepare(
        &self,
        method: &str,
        path: &str,
        body: &Value,
        with_token: bool,
    ) -> Result<Prepared, SimError> {
        let body = serde_json::to_vec(body).map_err(|e| SimError::Other(e.to_string()))?;
        self.prepare_raw(method, path, body, with_token, now_ms())
    }

    pub fn prepare_raw(
        &self,
        method: &str,
        path: &str,
        body: Vec<u8>,
        with_token: bool,
        ts: u64,
    ) -> Result<Prepared, SimError> {
        let nonce = hex::encode(crate::util::random_bytes::<16>());
        let sig = attestation::sign_request(&self.key, method, path, &body, ts, &nonce)
            .map_err(|e| SimError::Other(e.to_string()))?;
        let mut headers = vec![
            ("x-terminal-id".to_string(), self.terminal_id.clone()),
            ("x-timestamp-ms".to_string(), ts.to_string()),
            ("x-nonce".to_string(), nonce),
            ("x-signature".to_string(), hex::encode(sig)),
        ];
        if let (true, Some(t)) = (with_token, &self.token) {
            headers.push(("authorization".to_string(), format!("Bearer {t}")));
        }
        Ok(Prepared {
            method: method.into(),
            path: path.into(),
            body,
            headers,
        })
    }

    pub async fn send(&self, p: &Prepared) -> Result<Answer, SimError> {
        let method = reqwest::Method::from_bytes(p.method.as_bytes())
            .map_err(|e| SimError::Other(e.to_string()))?;
        let mut rb = self
            .http
            .request(method, format!("{}{}", self.base, p.path))
            .body(p.body.clone())
            .header("content-type", "application/json");
        for (k, v) in &p.headers {
            rb = rb.header(k, v);
        }
        answer(rb.send().await?).await
    }

    /// Signs and sends a terminal request.
    pub async fn call(&self, method: &str, path: &str, body: &Value) -> Result<Answer, SimError> {
        let p = self.prepare(method, path, body, true)?;
        self.send(&p).await
    }

    pub async fn challenge(&self) -> Result<Challenge, SimError> {
        let p = self.prepare(
            "POST",
            "/v1/attest/challenge",
            &serde_json::json!({}),
            false,
        )?;
        let a = self.send(&p).await?;
        serde_json::from_value(a.body.clone())
            .map_err(|_| SimError::Other(format!("challenge failed: {} {}", a.status, a.body)))
    }

    /// Evidence for `challenge` as this terminal would produce it.
    pub fn evidence(
        &mut self,
        challenge: &Challenge,
        clock_ms: u64,
    ) -> Result<SignedEvidence, SimError> {
        self.counter += 1;
        let ctx = EvidenceContext {
            terminal_id: self.terminal_id.clone(),
            app_version: "0.1.0-sim".into(),
            reader: "sim".into(),
            config_sha256: crate::trust::config_sha256(&self.config.config_json),
            key_kind: KeyKind::Software,
        };
        let facts = PlatformFacts {
            app_binary_sha256: self.binary_sha256.clone(),
            os: "linux".into(),
            os_version: "sim".into(),
            debugger_attached: false,
            emulator: false,
            rooted: false,
            signs: Vec::new(),
        };
        sign_evidence(
            &self.key,
            build_evidence(&ctx, &facts, challenge, clock_ms, self.counter),
        )
        .map_err(|e| SimError::Other(e.to_string()))
    }

    pub async fn submit_evidence(&mut self, se: &SignedEvidence) -> Result<Answer, SimError> {
        let body = serde_json::to_value(se).map_err(|e| SimError::Other(e.to_string()))?;
        let p = self.prepare("POST", "/v1/attest", &body, false)?;
        let a = self.send(&p).await?;
        if a.status == 200 {
            self.token = a
                .body
                .get("token")
                .and_then(Value::as_str)
                .map(str::to_string);
        }
        Ok(a)
    }

    /// Challenge, evidence, token.
    pub async fn attest(&mut self) -> Result<Answer, SimError> {
        let c = self.challenge().await?;
        let se = self.evidence(&c, now_ms())?;
        self.submit_evidence(&se).await
    }
}

pub async fn answer(r: reqwest::Response) -> Result<Answer, SimError> {
    let status = r.status().as_u16();
    let bytes = r.bytes().await?;
    Ok(Answer {
        status,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    })
}

/// Sends JSON with optional extra headers (the operator API).
pub async fn send_json(
    http: &reqwest::Client,
    method: &str,
    url: &str,
    body: &Value,
    headers: &[(&str, &str)],
) -> Result<Answer, SimError> {
    let method = reqwest::Method::from_bytes(method.as_bytes())
        .map_err(|e| SimError::Other(e.to_string()))?;
    let mut rb = http.request(method, url).json(body);
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    answer(rb.send().await?).await
}

/// A virtual contactless card with a test issuer master key.
pub struct SimCard {
    pub pan: String,
    pub psn: u8,
    pub cvn: Cvn,
    pub imk_ac: Key16,
    pub atc: u16,
}

fn tlv(out: &mut Vec<u8>, tag: u32, value: &[u8]) -> Result<(), SimError> {
    let t = Tag::new(tag).map_err(|e| SimError::Other(e.to_string()))?;
    encode(t, value, out).map_err(|e| SimError::Other(e.to_string()))
}

fn bcd(value: u64, n: usize) -> Vec<u8> {
    let mut out = vec![0u8; n];
    kernel::bcd::encode_u64(value, &mut out);
    out
}

/// A PAN with a valid Luhn digit: `prefix` then `body` digits then the check digit.
pub fn luhn_pan(prefix: &str, serial: u64, len: usize) -> String {
    let mut digits = format!(
        "{prefix}{serial:0width$}",
        width = len.saturating_sub(prefix.len()).saturating_sub(1)
    );
    digits.truncate(len.saturating_sub(1));
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 0 {
                let x = d * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                d
            }
        })
        .sum();
    let check = (10 - sum % 10) % 10;
    format!("{digits}{check}")
}

impl SimCard {
    pub fn new(pan: &str, cvn: Cvn, imk_ac: Key16) -> SimCard {
        SimCard {
            pan: pan.into(),
            psn: 1,
            cvn,
            imk_ac,
            atc: 0,
        }
    }

    fn iad(&self) -> Vec<u8> {
        match self.cvn {
            // Visa format 0: length 06, key index, CVN, CVR (03 + 3 bytes).
            Cvn::Visa10 | Cvn::Visa18 => {
                vec![0x06, 0x01, self.cvn.number(), 0x03, 0xA0, 0x00, 0x00]
            }
            // M/Chip: key index, CVN, CVR(6), DAC(2), counters(8).
            Cvn::Mastercard16 | Cvn::Mastercard17 => {
                let mut v = vec![
                    0x01,
                    self.cvn.number(),
                    0xA0,
                    0x00,
                    0x00,
                    0x00,
                    0x00,
                    0x00,
                    0x12,
                    0x34,
                ];
                v.extend_from_slice(&[0u8; 8]);
                v
            }
        }
    }

    /// Field 55 for a purchase: the card answers GENERATE AC with an ARQC
    /// (`offline` false) or a TC (`offline` true). Increments the ATC.
    pub fn icc_data(
        &mut self,
        amount_minor: u64,
        currency: u16,
        un: [u8; 4],
        offline: bool,
    ) -> Result<String, SimError> {
        self.atc = self.atc.wrapping_add(1);
        let atc = self.atc.to_be_bytes();
        let iad = self.iad();
        let mut data: std::collections::BTreeMap<u32, Vec<u8>> = std::collections::BTreeMap::new();
        data.insert(0x9F02, bcd(amount_minor, 6));
        data.insert(0x9F03, vec![0; 6]);
        data.insert(0x9F1A, vec![0x02, 0x76]);
        data.insert(0x95, vec![0; 5]);
        data.insert(0x5F2A, bcd(u64::from(currency), 2));
        data.insert(0x9A, vec![0x26, 0x11, 0x23]);
        data.insert(0x9C, vec![0x00]);
        data.insert(0x9F37, un.to_vec());
        data.insert(0x82, vec![0x19, 0x80]);
        data.insert(0x9F36, atc.to_vec());
        data.insert(0x9F10, iad);
        let input = cryptogram::ac_input(self.cvn, &|t| data.get(&t).cloned())
            .map_err(|e| SimError::Other(e.to_string()))?;
        let ac =
            cryptogram::generate_ac(self.cvn, &self.imk_ac, &self.pan, self.psn, atc, un, &input)
                .map_err(|e| SimError::Other(e.to_string()))?;
        let mut out = Vec::new();
        let pan = kernel::pan::Pan::parse(&self.pan).map_err(|e| SimError::Other(e.to_string()))?;
        tlv(&mut out, 0x5A, &pan.to_cn())?;
        tlv(&mut out, 0x5F34, &bcd(u64::from(self.psn), 1))?;
        tlv(&mut out, 0x9F27, &[if offline { 0x40 } else { 0x80 }])?;
        tlv(&mut out, 0x9F26, &ac)?;
        for (tag, v) in &data {
            tlv(&mut out, *tag, v)?;
        }
        Ok(hex::encode_upper(out))
    }
}
