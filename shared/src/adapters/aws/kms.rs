//! The ID token signer in AWS: an asymmetric RSA_2048 KMS key (`SIGN_VERIFY`); the private key
//! never leaves KMS. `LEARNERS_OIDC_KMS_KEY_ID` is the key that signs; the keys in
//! `LEARNERS_OIDC_PREVIOUS_KMS_KEY_IDS` stay in the JWKS after a rotation until the tokens they
//! signed have expired (ten minutes), then the operator drops them.

use super::LazyClient;
use crate::domain::oidc::PublicJwk;
use crate::ports::Signer;
use anyhow::Context;
use async_trait::async_trait;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{MessageType, SigningAlgorithmSpec};
use rsa::pkcs8::DecodePublicKey;
use rsa::traits::PublicKeyParts;
use tokio::sync::OnceCell;

/// KMS signs a RAW message of at most this many bytes (an ID token is well under it).
const MAX_RAW_MESSAGE: usize = 4096;

pub struct KmsSigner {
    client: LazyClient<aws_sdk_kms::Client>,
    key_id: String,
    previous: Vec<String>,
    /// The signing key's public JWK, read once (its `kid` goes into every token).
    current: OnceCell<PublicJwk>,
}

impl KmsSigner {
    pub fn lazy(sdk: &aws_config::SdkConfig, key_id: &str, previous: &[String]) -> Self {
        Self::with(LazyClient::new(sdk, aws_sdk_kms::Client::new), key_id, previous)
    }

    pub fn new(client: aws_sdk_kms::Client, key_id: &str, previous: &[String]) -> Self {
        Self::with(LazyClient::ready(client), key_id, previous)
    }

    fn with(client: LazyClient<aws_sdk_kms::Client>, key_id: &str, previous: &[String]) -> Self {
        Self { client, key_id: key_id.to_owned(), previous: previous.to_vec(), current: OnceCell::new() }
    }

    async fn public_key(&self, key_id: &str) -> anyhow::Result<PublicJwk> {
        let output = self
            .client
            .get()
            .get_public_key()
            .key_id(key_id)
            .send()
            .await
            .with_context(|| format!("reading the public key of the KMS key {key_id}"))?;
        let der = output.public_key.with_context(|| format!("KMS key {key_id} returned no public key"))?;
        let key = rsa::RsaPublicKey::from_public_key_der(der.as_ref())
            .with_context(|| format!("KMS key {key_id} is not an RSA key"))?;
        Ok(PublicJwk::new(key.n().to_bytes_be(), key.e().to_bytes_be()))
    }
}

#[async_trait]
impl Signer for KmsSigner {
    async fn signing_key(&self) -> anyhow::Result<PublicJwk> {
        Ok(self.current.get_or_try_init(|| self.public_key(&self.key_id)).await?.clone())
    }

    async fn sign_rs256(&self, message: &[u8]) -> anyhow::Result<Vec<u8>> {
        anyhow::ensure!(message.len() <= MAX_RAW_MESSAGE, "a token of {} bytes is too long to sign", message.len());
        let output = self
            .client
            .get()
            .sign()
            .key_id(&self.key_id)
            .message(Blob::new(message))
            .message_type(MessageType::Raw)
            .signing_algorithm(SigningAlgorithmSpec::RsassaPkcs1V15Sha256)
            .send()
            .await
            .context("signing with KMS")?;
        let signature = output.signature.context("KMS returned no signature")?;
        Ok(signature.into_inner())
    }

    async fn public_keys(&self) -> anyhow::Result<Vec<PublicJwk>> {
        let mut keys = vec![self.signing_key().await?];
        for key_id in &self.previous {
            keys.push(self.public_key(key_id).await?);
        }
        Ok(keys)
    }
}

/// Where no KMS key is configured: every signature fails, naming the variable. A function
/// that signs nothing runs as before.
pub struct NoSigner;

#[async_trait]
impl Signer for NoSigner {
    async fn signing_key(&self) -> anyhow::Result<PublicJwk> {
        anyhow::bail!("LEARNERS_OIDC_KMS_KEY_ID is not set: no ID token can be signed")
    }

    async fn sign_rs256(&self, _message: &[u8]) -> anyhow::Result<Vec<u8>> {
        anyhow::bail!("LEARNERS_OIDC_KMS_KEY_ID is not set: no ID token can be signed")
    }

    async fn public_keys(&self) -> anyhow::Result<Vec<PublicJwk>> {
        anyhow::bail!("LEARNERS_OIDC_KMS_KEY_ID is not set: there is no public key to publish")
    }
}
