//! The bulk passwords' sealer in AWS: a symmetric KMS key (`LEARNERS_BULK_PASSWORD_KMS_KEY_ID`)
//! wraps one data key per job (`GenerateDataKey`, by the intakes) and unwraps it (`Decrypt`, by
//! the bulk worker alone: the key policy says so). The job is the KMS encryption context, so a
//! wrapped key opens only for its job; the row is the associated data of each secret
//! (`adapters::sealing`).

use super::LazyClient;
use crate::adapters::sealing::{seal_under, Envelope, DATA_KEY_LEN};
use crate::ports::Sealer;
use anyhow::Context;
use async_trait::async_trait;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;
use std::collections::HashMap;
use std::sync::Mutex;

/// What the encryption context says the key is for (KMS logs it in CloudTrail with the job).
const PURPOSE: &str = "learners-bulk-password";

/// Data keys unwrapped and kept by one process (a worker opens a job's rows batch after
/// batch): at most this many, then forgotten all at once.
const CACHED_KEYS: usize = 16;

/// A data key unwrapped, by its job and wrapped form.
type Unwrapped = HashMap<(String, Vec<u8>), Vec<u8>>;

pub struct KmsSealer {
    client: LazyClient<aws_sdk_kms::Client>,
    key_id: String,
    unwrapped: Mutex<Unwrapped>,
}

impl KmsSealer {
    pub fn lazy(sdk: &aws_config::SdkConfig, key_id: &str) -> Self {
        Self::with(LazyClient::new(sdk, aws_sdk_kms::Client::new), key_id)
    }

    pub fn new(client: aws_sdk_kms::Client, key_id: &str) -> Self {
        Self::with(LazyClient::ready(client), key_id)
    }

    fn with(client: LazyClient<aws_sdk_kms::Client>, key_id: &str) -> Self {
        Self { client, key_id: key_id.to_owned(), unwrapped: Mutex::default() }
    }

    async fn unwrap_key(&self, scope: &str, wrapped: &[u8]) -> anyhow::Result<Vec<u8>> {
        let cache_key = (scope.to_owned(), wrapped.to_vec());
        if let Some(key) = self.unwrapped.lock().ok().and_then(|c| c.get(&cache_key).cloned()) {
            return Ok(key);
        }
        let output = self
            .client
            .get()
            .decrypt()
            .key_id(&self.key_id)
            .ciphertext_blob(Blob::new(wrapped))
            .encryption_context("purpose", PURPOSE)
            .encryption_context("job", scope)
            .send()
            .await
            .with_context(|| format!("unwrapping the data key of job {scope} with KMS"))?;
        let key = output.plaintext.context("KMS returned no data key")?.into_inner();
        anyhow::ensure!(key.len() == DATA_KEY_LEN, "KMS returned a data key of {} bytes", key.len());
        if let Ok(mut cache) = self.unwrapped.lock() {
            if cache.len() >= CACHED_KEYS {
                cache.clear();
            }
            cache.insert(cache_key, key.clone());
        }
        Ok(key)
    }
}

#[async_trait]
impl Sealer for KmsSealer {
    async fn seal(&self, scope: &str, secrets: &[(u64, String)]) -> anyhow::Result<Vec<String>> {
        if secrets.is_empty() {
            return Ok(Vec::new());
        }
        let output = self
            .client
            .get()
            .generate_data_key()
            .key_id(&self.key_id)
            .key_spec(DataKeySpec::Aes256)
            .encryption_context("purpose", PURPOSE)
            .encryption_context("job", scope)
            .send()
            .await
            .with_context(|| format!("making a data key for job {scope} with KMS"))?;
        let data_key = output.plaintext.context("KMS returned no data key")?.into_inner();
        let wrapped = output.ciphertext_blob.context("KMS returned no wrapped data key")?.into_inner();
        seal_under(&data_key, &wrapped, scope, secrets)
    }

    async fn open(&self, scope: &str, number: u64, sealed: &str) -> anyhow::Result<String> {
        let envelope = Envelope::parse(sealed)?;
        let data_key = self.unwrap_key(scope, &envelope.wrapped).await?;
        envelope.open(&data_key, scope, number)
    }
}

/// Where no key is configured (every function but the bulk intakes and worker): sealing and
/// opening fail, naming the variable.
pub struct NoSealer;

#[async_trait]
impl Sealer for NoSealer {
    async fn seal(&self, _scope: &str, _secrets: &[(u64, String)]) -> anyhow::Result<Vec<String>> {
        anyhow::bail!("LEARNERS_BULK_PASSWORD_KMS_KEY_ID is not set: no bulk password can be kept")
    }

    async fn open(&self, _scope: &str, _number: u64, _sealed: &str) -> anyhow::Result<String> {
        anyhow::bail!("LEARNERS_BULK_PASSWORD_KMS_KEY_ID is not set: no kept bulk password can be read")
    }
}
