//! The acquirer's own keys: the ECDSA P-256 key that signs terminal
//! configurations, and the HMAC key that turns a PAN into a token. Both are
//! made on first start and kept in the store so that several acquirer
//! processes on one database agree (test deployments; production would hold
//! them in an HSM).

use crate::store::{col, Store};
use kernel::pan::{MaskedPan, Pan};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
use ring::{hmac, rand};
use sqlx::any::AnyRow;
use std::fmt;

pub struct AcquirerKeys {
    signing: EcdsaKeyPair,
    /// Short identifier of the signing key (first 8 bytes of SHA-256 of the
    /// public key, hex), so terminals can tell keys apart across rotations.
    pub key_id: String,
    pan_key: hmac::Key,
    /// Key for the short-lived tokens this acquirer issues.
    pub token_secret: Vec<u8>,
    rng: SystemRandom,
}

impl fmt::Debug for AcquirerKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AcquirerKeys({})", self.key_id)
    }
}

/// A card number reduced to what the acquirer may keep: a keyed hash for
/// matching, and masked digits for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PanRef {
    pub token: String,
    pub masked: MaskedPan,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("stored key is invalid: {0}")]
    Invalid(&'static str),
}

async fn secret(
    store: &Store,
    name: &str,
    make: impl FnOnce() -> Option<Vec<u8>>,
) -> Result<Vec<u8>, KeyError> {
    let get = || async {
        let row: Option<AnyRow> = sqlx::query("SELECT value_hex FROM secrets WHERE name = $1")
            .bind(name)
            .fetch_optional(&store.pool)
            .await?;
        match row {
            Some(r) => {
                let h: String = col(&r, "value_hex")?;
                hex::decode(h)
                    .map(Some)
                    .map_err(|_| KeyError::Invalid("not hex"))
            }
            None => Ok::<_, KeyError>(None),
        }
    };
    if let Some(v) = get().await? {
        return Ok(v);
    }
    let fresh = make().ok_or(KeyError::Invalid("could not generate"))?;
    // Another process may have raced us: insert-if-absent, then read back
    // whatever won.
    sqlx::query(
        "INSERT INTO secrets (name, value_hex) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
    )
    .bind(name)
    .bind(hex::encode(&fresh))
    .execute(&store.pool)
    .await?;
    get()
        .await?
        .ok_or(KeyError::Invalid("missing after insert"))
}

impl AcquirerKeys {
    pub async fn load_or_create(store: &Store) -> Result<AcquirerKeys, KeyError> {
        let rng = SystemRandom::new();
        let pkcs8 = secret(store, "acquirer_signing_pkcs8", || {
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
                .ok()
                .map(|d| d.as_ref().to_vec())
        })
        .await?;
        let signing = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &pkcs8, &rng)
            .map_err(|_| KeyError::Invalid("acquirer signing key"))?;
        let pan = secret(store, "pan_token_hmac", || {
            Some(crate::util::random_bytes::<32>().to_vec())
        })
        .await?;
        let token_secret = secret(store, "token_hmac", || {
            Some(crate::util::random_bytes::<32>().to_vec())
        })
        .await?;
        let digest = ring::digest::digest(&ring::digest::SHA256, signing.public_key().as_ref());
        let key_id = hex::encode(digest.as_ref().get(..8).unwrap_or_default());
        Ok(AcquirerKeys {
            signing,
            key_id,
            pan_key: hmac::Key::new(hmac::HMAC_SHA256, &pan),
            token_secret,
            rng,
        })
    }

    /// Uncompressed SEC1 public key of the configuration signing key.
    pub fn public_key(&self) -> &[u8] {
        self.signing.public_key().as_ref()
    }

    /// ECDSA P-256 / SHA-256 signature (ASN.1 DER).
    pub fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, ring::error::Unspecified> {
        self.signing
            .sign(&self.rng, msg)
            .map(|s| s.as_ref().to_vec())
    }

    pub fn pan_ref(&self, pan: &Pan) -> PanRef {
        let tag = hmac::sign(&self.pan_key, pan.expose_digits().as_bytes());
        PanRef {
            token: hex::encode(tag.as_ref()),
            masked: pan.masked(),
        }
    }

    pub fn rng(&self) -> &dyn rand::SecureRandom {
        &self.rng
    }
}
