//! Envelope sealing, shared by the `Sealer` adapters: each `seal` call (a job's rows) makes one
//! data key, wrapped by a key that never leaves its keeper (a KMS key in AWS, a key made at
//! start locally), and encrypts every secret under it with AES-256-GCM, the scope and number
//! as associated data: a sealed secret moved to another row or job does not open. One key
//! request per job, not one per row (a file of 100,000 rows would be 100,000 KMS calls inside
//! one request's time).
//!
//! The sealed text carries its wrapped data key: `v1.<wrapped key>.<nonce and ciphertext>`
//! (base64url, no padding).

use crate::ports::Sealer;
use anyhow::{anyhow, ensure, Context};
use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};

const VERSION: &str = "v1";

/// A data key's length (AES-256).
pub(crate) const DATA_KEY_LEN: usize = 32;

fn aead_key(bytes: &[u8]) -> anyhow::Result<LessSafeKey> {
    let key = UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| anyhow!("a data key of the wrong length"))?;
    Ok(LessSafeKey::new(key))
}

/// `nonce || ciphertext || tag` of `plaintext` under `key`, with a fresh random nonce.
fn encrypt(key: &LessSafeKey, aad: &[u8], plaintext: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut nonce = [0u8; NONCE_LEN];
    SystemRandom::new().fill(&mut nonce).map_err(|_| anyhow!("no randomness for a nonce"))?;
    let mut buffer = plaintext.to_vec();
    key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), &mut buffer)
        .map_err(|_| anyhow!("sealing failed"))?;
    Ok([nonce.as_slice(), &buffer].concat())
}

/// The plaintext of `encrypt`'s output, or an error when the key, the associated data or a byte
/// differs.
fn decrypt(key: &LessSafeKey, aad: &[u8], sealed: &[u8]) -> anyhow::Result<Vec<u8>> {
    ensure!(sealed.len() >= NONCE_LEN + AES_256_GCM.tag_len(), "the sealed text is too short");
    let (nonce, body) = sealed.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| anyhow!("a bad nonce"))?;
    let mut buffer = body.to_vec();
    let plaintext = key
        .open_in_place(nonce, Aad::from(aad), &mut buffer)
        .map_err(|_| anyhow!("the sealed text does not open here (another key, scope or number, or altered)"))?;
    Ok(plaintext.to_vec())
}

fn associated_data(scope: &str, number: u64) -> Vec<u8> {
    format!("{scope}\u{0}{number}").into_bytes()
}

/// Seals `secrets` under `data_key`, each text carrying `wrapped` (the data key as its keeper
/// wrapped it).
pub(crate) fn seal_under(
    data_key: &[u8],
    wrapped: &[u8],
    scope: &str,
    secrets: &[(u64, String)],
) -> anyhow::Result<Vec<String>> {
    let key = aead_key(data_key)?;
    let wrapped = URL_SAFE_NO_PAD.encode(wrapped);
    secrets
        .iter()
        .map(|(number, secret)| {
            let body = encrypt(&key, &associated_data(scope, *number), secret.as_bytes())?;
            Ok(format!("{VERSION}.{wrapped}.{}", URL_SAFE_NO_PAD.encode(body)))
        })
        .collect()
}

/// A sealed text's wrapped data key and body.
pub(crate) struct Envelope {
    pub wrapped: Vec<u8>,
    body: Vec<u8>,
}

impl Envelope {
    pub fn parse(sealed: &str) -> anyhow::Result<Self> {
        let mut parts = sealed.split('.');
        let (Some(VERSION), Some(wrapped), Some(body), None) = (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            anyhow::bail!("not a sealed text of this service");
        };
        Ok(Self {
            wrapped: URL_SAFE_NO_PAD.decode(wrapped).context("the wrapped key is not base64url")?,
            body: URL_SAFE_NO_PAD.decode(body).context("the sealed body is not base64url")?,
        })
    }

    /// The secret, under the data key the keeper unwrapped.
    pub fn open(&self, data_key: &[u8], scope: &str, number: u64) -> anyhow::Result<String> {
        let plaintext = decrypt(&aead_key(data_key)?, &associated_data(scope, number), &self.body)?;
        String::from_utf8(plaintext).context("a sealed secret that is not UTF-8")
    }
}

/// A fresh random data key.
pub(crate) fn data_key() -> anyhow::Result<[u8; DATA_KEY_LEN]> {
    let mut key = [0u8; DATA_KEY_LEN];
    SystemRandom::new().fill(&mut key).map_err(|_| anyhow!("no randomness for a data key"))?;
    Ok(key)
}

/// The sealer of `make dev` and the tests: the wrapping key is made at start and never written
/// anywhere (a restart forgets it, and the secrets sealed before no longer open: a development
/// server can live with that). In AWS the wrapping key is a KMS key (`KmsSealer`).
pub struct LocalSealer {
    key: LessSafeKey,
}

impl LocalSealer {
    pub fn new() -> anyhow::Result<Self> {
        Ok(Self { key: aead_key(&data_key()?)? })
    }

    fn wrapping_aad(scope: &str) -> Vec<u8> {
        format!("data key\u{0}{scope}").into_bytes()
    }
}

#[async_trait]
impl Sealer for LocalSealer {
    async fn seal(&self, scope: &str, secrets: &[(u64, String)]) -> anyhow::Result<Vec<String>> {
        let data_key = data_key()?;
        let wrapped = encrypt(&self.key, &Self::wrapping_aad(scope), &data_key)?;
        seal_under(&data_key, &wrapped, scope, secrets)
    }

    async fn open(&self, scope: &str, number: u64, sealed: &str) -> anyhow::Result<String> {
        let envelope = Envelope::parse(sealed)?;
        let data_key = decrypt(&self.key, &Self::wrapping_aad(scope), &envelope.wrapped)
            .context("the data key was wrapped for another scope or by another key")?;
        envelope.open(&data_key, scope, number)
    }
}
