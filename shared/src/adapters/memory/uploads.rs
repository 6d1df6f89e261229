//! The embedded twin of `aws/s3.rs`: objects kept in memory, behind signed URLs that the local
//! gateway serves (`/_dev/uploads/...`), with S3's contract: a signed `PUT` (its URL carries an
//! expiry and an HMAC of the method, key and expiry under a key made at start) and a signed form
//! `POST` (its fields carry the key, a size limit (1 byte up to a maximum, as S3's
//! `content-length-range`), the page to go on to, the expiry and an HMAC
//! of them all), refused once expired or altered, as S3 refuses them.

use super::faults::WithFaults;
use crate::ports::{ObjectStream, SignedUpload, Uploads};
use async_trait::async_trait;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::{Mutex, RwLock};
use std::time::{Duration, SystemTime};

/// Where the gateway serves the uploads.
pub const UPLOAD_PATH: &str = "/_dev/uploads";

/// How much a stored object is handed out at a time (S3 streams in pieces too).
const PIECE: usize = 64 * 1024;

fn unix_now() -> u64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The embedded uploads as the service uses them: under the fault model.
pub type MemoryUploads = WithFaults<UploadObjects>;

pub struct UploadObjects {
    /// The gateway's own address (the URLs point at it).
    base_url: RwLock<String>,
    secret: [u8; 32],
    objects: Mutex<HashMap<String, Bytes>>,
}

/// Why the gateway refuses an upload (S3's answer is a 403 or a 400 with an XML body).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UploadRefused {
    #[error("the request is not signed for this object, or has expired")]
    Forbidden,
    /// Over the policy's size (S3: `EntityTooLarge`, a 400).
    #[error("Your proposed upload exceeds the maximum allowed size")]
    TooLarge,
    /// Under it: an empty file (S3: `EntityTooSmall`, a 400; the policy's range starts at 1).
    #[error("Your proposed upload is smaller than the minimum allowed size")]
    TooSmall,
}

impl MemoryUploads {
    pub fn new(base_url: &str) -> Self {
        let mut secret = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut secret);
        WithFaults::wrap(UploadObjects {
            base_url: RwLock::new(base_url.trim_end_matches('/').to_owned()),
            secret,
            objects: Mutex::default(),
        })
    }
}

impl UploadObjects {
    /// The URLs made from now on point at `base_url` (a gateway on a port chosen at start).
    pub fn serve_at(&self, base_url: &str) {
        *self.base_url.write().unwrap_or_else(|p| p.into_inner()) = base_url.trim_end_matches('/').to_owned();
    }

    fn base_url(&self) -> String {
        self.base_url.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn sign(&self, parts: &[&str]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.secret).unwrap_or_else(|_| unreachable!("any key length"));
        for part in parts {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part.as_bytes());
        }
        mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
    }

    fn check(&self, parts: &[&str], signature: &str, expires: &str) -> Result<(), UploadRefused> {
        let now = unix_now();
        let expected = self.sign(parts);
        let same = expected.len() == signature.len()
            && expected.bytes().zip(signature.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
        let live = expires.parse::<u64>().is_ok_and(|at| now <= at);
        if same && live {
            Ok(())
        } else {
            Err(UploadRefused::Forbidden)
        }
    }

    /// A `PUT` of `key` with the query string its signed URL carries.
    pub fn accept_put(&self, key: &str, query: &str, body: Bytes) -> Result<(), UploadRefused> {
        let query: HashMap<String, String> = serde_urlencoded::from_str(query).unwrap_or_default();
        let field = |name: &str| query.get(name).map(String::as_str).unwrap_or_default();
        let expires = field("expires");
        self.check(&["PUT", key, expires], field("signature"), expires)?;
        self.store(key, body);
        Ok(())
    }

    /// A form `POST`'s fields (the file's own excluded) and file: the key it stores and where
    /// the browser goes on to.
    pub fn accept_post(
        &self,
        fields: &HashMap<String, String>,
        file: Bytes,
    ) -> Result<(String, String), UploadRefused> {
        let field = |name: &str| fields.get(name).map(String::as_str).unwrap_or_default();
        let (key, expires, max, redirect) =
            (field("key"), field("expires"), field("max_bytes"), field("success_action_redirect"));
        self.check(&["POST", key, expires, max, redirect], field("signature"), expires)?;
        if max.parse::<u64>().map_or(true, |max| file.len() as u64 > max) {
            return Err(UploadRefused::TooLarge);
        }
        if file.is_empty() {
            return Err(UploadRefused::TooSmall);
        }
        self.store(key, file);
        Ok((key.to_owned(), redirect.to_owned()))
    }

    fn store(&self, key: &str, bytes: Bytes) {
        self.objects.lock().unwrap_or_else(|p| p.into_inner()).insert(key.to_owned(), bytes);
    }

    /// Every stored key (tests).
    pub fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.objects.lock().unwrap_or_else(|p| p.into_inner()).keys().cloned().collect();
        keys.sort();
        keys
    }
}

#[async_trait]
impl Uploads for UploadObjects {
    async fn presign_put(&self, key: &str, valid_for: Duration) -> anyhow::Result<SignedUpload> {
        let expires = (unix_now() + valid_for.as_secs()).to_string();
        let signature = self.sign(&["PUT", key, &expires]);
        let query = serde_urlencoded::to_string([("expires", expires.as_str()), ("signature", signature.as_str())])?;
        Ok(SignedUpload {
            method: "PUT",
            url: format!("{}{UPLOAD_PATH}/{key}?{query}", self.base_url()),
            headers: Vec::new(),
            fields: Vec::new(),
        })
    }

    async fn presign_post(
        &self,
        key: &str,
        redirect: &str,
        max_bytes: u64,
        valid_for: Duration,
    ) -> anyhow::Result<SignedUpload> {
        let (expires, max) = ((unix_now() + valid_for.as_secs()).to_string(), max_bytes.to_string());
        let signature = self.sign(&["POST", key, &expires, &max, redirect]);
        let fields = [
            ("key", key),
            ("expires", &expires),
            ("max_bytes", &max),
            ("success_action_redirect", redirect),
            ("signature", &signature),
        ];
        Ok(SignedUpload {
            method: "POST",
            url: format!("{}{UPLOAD_PATH}", self.base_url()),
            headers: Vec::new(),
            fields: fields.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect(),
        })
    }

    async fn open(&self, key: &str) -> anyhow::Result<Option<ObjectStream>> {
        let Some(bytes) = self.objects.lock().unwrap_or_else(|p| p.into_inner()).get(key).cloned() else {
            return Ok(None);
        };
        let pieces: Vec<anyhow::Result<Bytes>> =
            (0..bytes.len()).step_by(PIECE).map(|at| Ok(bytes.slice(at..(at + PIECE).min(bytes.len())))).collect();
        Ok(Some(Box::pin(futures::stream::iter(pieces))))
    }

    async fn delete(&self, key: &str) -> anyhow::Result<()> {
        self.objects.lock().unwrap_or_else(|p| p.into_inner()).remove(key);
        Ok(())
    }
}
