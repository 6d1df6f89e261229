//! The signer of `make dev` and the tests: an RSA key made in the process, never written
//! anywhere. Every restart makes a new key (so tokens signed before a restart no longer
//! verify, which a development server can live with); in AWS the key lives in KMS instead.

use crate::domain::oidc::PublicJwk;
use crate::ports::Signer;
use async_trait::async_trait;
use rsa::pkcs1v15::SigningKey;
use rsa::signature::{SignatureEncoding, Signer as _};
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use std::sync::OnceLock;

pub struct LocalSigner {
    /// Made on first use: making a 2048-bit key costs tens of milliseconds, which every
    /// in-memory app (hundreds in the tests) would pay at start even if it never signs.
    key: OnceLock<(SigningKey<sha2::Sha256>, PublicJwk)>,
}

impl Default for LocalSigner {
    fn default() -> Self {
        Self::new()
    }
}

impl LocalSigner {
    pub fn new() -> Self {
        Self { key: OnceLock::new() }
    }

    fn key(&self) -> anyhow::Result<&(SigningKey<sha2::Sha256>, PublicJwk)> {
        if let Some(key) = self.key.get() {
            return Ok(key);
        }
        let private = RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048)?;
        let public = private.to_public_key();
        let jwk = PublicJwk::new(public.n().to_bytes_be(), public.e().to_bytes_be());
        // Two first uses at once may both make a key; one wins and the other is dropped.
        Ok(self.key.get_or_init(|| (SigningKey::<sha2::Sha256>::new(private), jwk)))
    }
}

#[async_trait]
impl Signer for LocalSigner {
    async fn signing_key(&self) -> anyhow::Result<PublicJwk> {
        Ok(self.key()?.1.clone())
    }

    async fn sign_rs256(&self, message: &[u8]) -> anyhow::Result<Vec<u8>> {
        Ok(self.key()?.0.sign(message).to_vec())
    }

    async fn public_keys(&self) -> anyhow::Result<Vec<PublicJwk>> {
        Ok(vec![self.key()?.1.clone()])
    }
}
