//! The terminal's identity on disk: a device key sealed under a key
//! encryption key, the signed configuration the acquirer issued, and the
//! attestation evidence counter.
//!
//! The key encryption key is a file readable only by its owner: a stand-in
//! for the platform keystore (Android Keystore, a TPM) that a device build
//! would use. Everything else is derived from it, so whoever holds that
//! file holds the terminal.

use super::SyncError;
use attestation::SoftwareDeviceKey;
use ring::rand::{SecureRandom, SystemRandom};
use serde::Deserialize;
use serde_json::Value;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

const KEK_FILE: &str = "device.kek";
const KEY_FILE: &str = "device.key";
const CONFIG_FILE: &str = "terminal.json";
const COUNTER_FILE: &str = "evidence.counter";

/// The fields of the acquirer's signed configuration the terminal uses.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TerminalConfig {
    pub terminal_id: String,
    pub merchant_id: String,
    pub merchant_name: String,
    pub mcc: String,
    /// ISO 4217 numeric.
    pub currency: u16,
    pub max_amount_minor: u64,
    /// Largest single payment that may be accepted offline.
    pub offline_limit_minor: u64,
    /// The rest of the merchant's offline rules; absent from
    /// configurations signed before they existed (then the terminal's own
    /// caps apply, see [`crate::queue::OfflineLimits::from_config`]).
    #[serde(default)]
    pub offline_max_count: Option<u64>,
    #[serde(default)]
    pub offline_max_total_minor: Option<u64>,
    #[serde(default)]
    pub offline_max_per_card: Option<u64>,
    #[serde(default)]
    pub offline_max_age_ms: Option<u64>,
    pub acquirer_public_key: String,
    /// What receipts print; absent from configurations signed before
    /// receipts existed (then empty or 0).
    #[serde(default)]
    pub acquirer_name: String,
    /// The merchant's fee rate in basis points (150 = 1.50 %).
    #[serde(default)]
    pub fee_bps: u32,
    /// Fixed fee per approved purchase, minor units.
    #[serde(default)]
    pub fee_fixed_minor: u64,
    /// The settlement account, all but the last four characters masked.
    #[serde(default)]
    pub settlement_account_masked: String,
    /// Days from a payment's business date to its settlement.
    #[serde(default)]
    pub settlement_delay_days: u32,
    /// `YYYY-MM-DD`: when the merchant's information is next due for its
    /// regular review; empty in configurations signed before the review
    /// existed (then no reminder is shown).
    #[serde(default)]
    pub info_review_due: String,
}

/// An enrolled terminal. Not `Clone`: one key, one owner.
pub struct Identity {
    dir: PathBuf,
    key: SoftwareDeviceKey,
    kek: Zeroizing<[u8; 32]>,
    config: TerminalConfig,
    config_json: String,
}

fn local(what: &str, e: impl std::fmt::Display) -> SyncError {
    SyncError::Local(format!("{what}: {e}"))
}

/// Writes `bytes` to `path` durably: a temporary file, fsync, rename.
fn write_durably(path: &Path, bytes: &[u8]) -> Result<(), SyncError> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(&tmp)
        .map_err(|e| local(&tmp.display().to_string(), e))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| local(&tmp.display().to_string(), e))?;
    std::fs::rename(&tmp, path).map_err(|e| local(&path.display().to_string(), e))?;
    if let Some(parent) = path.parent() {
        // The rename is durable only once the directory is.
        if let Ok(d) = std::fs::File::open(parent) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// Checks the acquirer's signature over the exact configuration bytes.
pub(super) fn verify_config(signed: &Value) -> Result<(String, TerminalConfig), SyncError> {
    let field = |k: &str| {
        signed
            .get(k)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| SyncError::Protocol(format!("signed_config without {k}")))
    };
    let config_json = field("config_json")?;
    let sig = hex::decode(field("signature")?)
        .map_err(|e| SyncError::Protocol(format!("signed_config signature: {e}")))?;
    let config: TerminalConfig = serde_json::from_str(&config_json)
        .map_err(|e| SyncError::Protocol(format!("config_json: {e}")))?;
    let pk = hex::decode(&config.acquirer_public_key)
        .map_err(|e| SyncError::Protocol(format!("acquirer_public_key: {e}")))?;
    ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_ASN1, pk)
        .verify(config_json.as_bytes(), &sig)
        .map_err(|_| SyncError::Protocol("signed_config signature does not verify".into()))?;
    Ok((config_json, config))
}

impl Identity {
    pub(super) fn new_key() -> Result<SoftwareDeviceKey, SyncError> {
        SoftwareDeviceKey::generate(&SystemRandom::new()).map_err(|e| local("device key", e))
    }

    /// Whether `dir` holds an enrolled terminal.
    pub fn exists(dir: &Path) -> bool {
        dir.join(CONFIG_FILE).exists()
    }

    /// Seals a freshly enrolled key and stores the signed configuration.
    pub(super) fn create(
        dir: &Path,
        key: SoftwareDeviceKey,
        signed_config: Value,
    ) -> Result<Identity, SyncError> {
        let (config_json, config) = verify_config(&signed_config)?;
        std::fs::create_dir_all(dir).map_err(|e| local(&dir.display().to_string(), e))?;
        let mut kek = Zeroizing::new([0u8; 32]);
        SystemRandom::new()
            .fill(kek.as_mut())
            .map_err(|_| local("key encryption key", "no system random source"))?;
        write_durably(&dir.join(KEK_FILE), kek.as_ref())?;
        let sealed = key
            .seal(&kek)
            .map_err(|e| local("sealing the device key", e))?;
        write_durably(&dir.join(KEY_FILE), &sealed)?;
        let stored = serde_json::json!({ "signed_config": signed_config });
        write_durably(
            &dir.join(CONFIG_FILE),
            &serde_json::to_vec_pretty(&stored).map_err(|e| local("terminal.json", e))?,
        )?;
        Ok(Identity {
            dir: dir.to_path_buf(),
            key,
            kek,
            config,
            config_json,
        })
    }

    /// Opens the identity stored in `dir`.
    pub fn open(dir: &Path) -> Result<Identity, SyncError> {
        let read = |name: &str| {
            let p = dir.join(name);
            std::fs::read(&p).map_err(|e| local(&p.display().to_string(), e))
        };
        let kek_bytes = Zeroizing::new(read(KEK_FILE)?);
        let kek: [u8; 32] = kek_bytes
            .as_slice()
            .try_into()
            .map_err(|_| local(KEK_FILE, "not 32 bytes"))?;
        let kek = Zeroizing::new(kek);
        let key = SoftwareDeviceKey::unseal(&read(KEY_FILE)?, &kek)
            .map_err(|e| local("unsealing the device key", e))?;
        let stored: Value =
            serde_json::from_slice(&read(CONFIG_FILE)?).map_err(|e| local(CONFIG_FILE, e))?;
        let signed = stored
            .get("signed_config")
            .ok_or_else(|| local(CONFIG_FILE, "no signed_config"))?;
        let (config_json, config) = verify_config(signed)?;
        Ok(Identity {
            dir: dir.to_path_buf(),
            key,
            kek,
            config,
            config_json,
        })
    }

    /// Replaces the stored configuration with a newer one the acquirer
    /// signed (after an MCC or fee change). It must verify and name the
    /// same terminal; the old one stays on disk if anything fails.
    pub(super) fn replace_config(&mut self, signed_config: Value) -> Result<(), SyncError> {
        let (config_json, config) = verify_config(&signed_config)?;
        if config.terminal_id != self.config.terminal_id
            || config.acquirer_public_key != self.config.acquirer_public_key
        {
            return Err(SyncError::Protocol(
                "the new configuration names another terminal or acquirer key".into(),
            ));
        }
        let stored = serde_json::json!({ "signed_config": signed_config });
        write_durably(
            &self.dir.join(CONFIG_FILE),
            &serde_json::to_vec_pretty(&stored).map_err(|e| local("terminal.json", e))?,
        )?;
        self.config = config;
        self.config_json = config_json;
        Ok(())
    }

    pub fn terminal_id(&self) -> &str {
        &self.config.terminal_id
    }

    pub fn config(&self) -> &TerminalConfig {
        &self.config
    }

    /// The exact configuration bytes the acquirer signed.
    pub fn config_json(&self) -> &str {
        &self.config_json
    }

    pub(super) fn key(&self) -> &SoftwareDeviceKey {
        &self.key
    }

    /// The queue's AES-256-GCM key, derived from the key encryption key so
    /// that it never sits on disk itself.
    pub fn queue_key(&self) -> Result<Zeroizing<[u8; 32]>, SyncError> {
        let salt = ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, b"softpos-queue/1");
        let prk = salt.extract(self.kek.as_ref());
        let info = [self.config.terminal_id.as_bytes()];
        let mut out = Zeroizing::new([0u8; 32]);
        prk.expand(&info, ring::hkdf::HKDF_SHA256)
            .and_then(|okm| okm.fill(out.as_mut()))
            .map_err(|_| local("queue key", "HKDF failed"))?;
        Ok(out)
    }

    /// The next attestation evidence counter, stored before it is used.
    pub(super) fn next_evidence_counter(&self) -> Result<u64, SyncError> {
        let path = self.dir.join(COUNTER_FILE);
        let last = std::fs::read_to_string(&path)
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or(0);
        let next = last.saturating_add(1);
        write_durably(&path, next.to_string().as_bytes())?;
        Ok(next)
    }
}
