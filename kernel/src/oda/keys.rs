//! CA public keys.

/// One certification authority public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaPublicKey {
    pub rid: [u8; 5],
    pub index: u8,
    pub modulus: Vec<u8>,
    pub exponent: Vec<u8>,
    /// YYMMDD as BCD; `None` when unknown.
    pub expiry: Option<[u8; 3]>,
}

/// The CA keys a terminal trusts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaKeyStore {
    keys: Vec<CaPublicKey>,
}

impl CaKeyStore {
    pub fn from_keys(keys: Vec<CaPublicKey>) -> Self {
        CaKeyStore { keys }
    }

    pub fn find(&self, rid: &[u8], index: u8) -> Option<&CaPublicKey> {
        self.keys.iter().find(|k| k.rid == rid && k.index == index)
    }

    pub fn keys(&self) -> &[CaPublicKey] {
        &self.keys
    }
}
