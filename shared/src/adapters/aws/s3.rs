//! The uploads' bucket (`Uploads`): pre-signed `PUT`s by the SDK's presigner, pre-signed form
//! `POST`s by a POST policy signed here (SigV4, as S3's "browser-based uploads" describe it:
//! the SDK has no presigner for them), objects read back as a stream and deleted.

use super::LazyClient;
use crate::ports::{ObjectStream, SignedUpload, Uploads};
use anyhow::Context;
use async_trait::async_trait;
use aws_sdk_s3::config::ProvideCredentials;
use aws_sdk_s3::presigning::PresigningConfig;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::time::Duration;

pub struct S3Uploads {
    client: LazyClient<aws_sdk_s3::Client>,
    sdk: aws_config::SdkConfig,
    bucket: String,
}

/// A client for the bucket: path-style on an emulator's endpoint (its bucket names are no
/// host names), and checksums only where S3 requires them (a pre-signed `PUT` must not carry
/// one computed over an empty body).
fn make_client(sdk: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(sdk)
        .force_path_style(sdk.endpoint_url().is_some())
        .request_checksum_calculation(aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

impl S3Uploads {
    pub fn lazy(sdk: &aws_config::SdkConfig, bucket: &str) -> Self {
        Self { client: LazyClient::new(sdk, make_client), sdk: sdk.clone(), bucket: bucket.to_owned() }
    }

    pub fn new(sdk: &aws_config::SdkConfig, bucket: &str) -> Self {
        Self { client: LazyClient::ready(make_client(sdk)), sdk: sdk.clone(), bucket: bucket.to_owned() }
    }

    /// The keys of the objects under `prefix` (at most 1,000): the local gateway on the AWS
    /// adapters (`make dev-moto`) looks for new uploads with it, standing in for S3's event
    /// notification. Not a port method: no function lists the bucket.
    pub async fn keys_under(&self, prefix: &str) -> anyhow::Result<Vec<String>> {
        let listed = self
            .client()
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .send()
            .await
            .context("S3 ListObjectsV2 (uploads)")?;
        Ok(listed.contents().iter().filter_map(|object| object.key().map(str::to_owned)).collect())
    }

    fn client(&self) -> &aws_sdk_s3::Client {
        self.client.get()
    }

    /// Where a form posts: the bucket's own host in AWS, the emulator's path otherwise.
    fn post_url(&self) -> String {
        match self.sdk.endpoint_url() {
            Some(endpoint) => format!("{}/{}", endpoint.trim_end_matches('/'), self.bucket),
            None => {
                let region = self.sdk.region().map_or("us-east-1", |r| r.as_ref());
                format!("https://{}.s3.{region}.amazonaws.com/", self.bucket)
            }
        }
    }

    /// Creates the bucket (an emulator's; in AWS the template makes it).
    pub async fn create_bucket(&self) -> anyhow::Result<()> {
        let result = self.client().create_bucket().bucket(&self.bucket).send().await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_bucket_already_owned_by_you()) => Ok(()),
            Err(e) => Err(e).with_context(|| format!("S3 CreateBucket {}", self.bucket)),
        }
    }
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap_or_else(|_| unreachable!("any key length"));
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

#[async_trait]
impl Uploads for S3Uploads {
    async fn presign_put(&self, key: &str, valid_for: Duration) -> anyhow::Result<SignedUpload> {
        let config = PresigningConfig::expires_in(valid_for).context("presigning configuration")?;
        let presigned = self
            .client()
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("text/csv")
            .presigned(config)
            .await
            .context("S3 PutObject (pre-signed)")?;
        Ok(SignedUpload {
            method: "PUT",
            url: presigned.uri().to_owned(),
            headers: presigned.headers().map(|(k, v)| (k.to_owned(), v.to_owned())).collect(),
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
        let provider = self.sdk.credentials_provider().context("no AWS credentials to sign an upload with")?;
        let credentials = provider.provide_credentials().await.context("reading AWS credentials")?;
        let region = self.sdk.region().map_or_else(|| "us-east-1".to_owned(), |r| r.as_ref().to_owned());
        let now = time::OffsetDateTime::now_utc();
        let date = now.format(time::macros::format_description!("[year][month][day]"))?;
        let amz_date = now.format(time::macros::format_description!("[year][month][day]T[hour][minute][second]Z"))?;
        let expiration = (now + valid_for).format(&time::format_description::well_known::Rfc3339)?;
        let credential = format!("{}/{date}/{region}/s3/aws4_request", credentials.access_key_id());
        let mut fields: Vec<(String, String)> = vec![
            ("key".into(), key.into()),
            ("success_action_redirect".into(), redirect.into()),
            ("x-amz-algorithm".into(), "AWS4-HMAC-SHA256".into()),
            ("x-amz-credential".into(), credential),
            ("x-amz-date".into(), amz_date),
        ];
        if let Some(token) = credentials.session_token() {
            fields.push(("x-amz-security-token".into(), token.into()));
        }
        let mut conditions =
            vec![serde_json::json!({"bucket": self.bucket}), serde_json::json!(["content-length-range", 1, max_bytes])];
        conditions.extend(fields.iter().map(|(name, value)| serde_json::json!({ name: value })));
        let policy = serde_json::json!({"expiration": expiration, "conditions": conditions});
        let policy = base64::engine::general_purpose::STANDARD.encode(serde_json::to_vec(&policy)?);
        let signing_key = [region.as_str(), "s3", "aws4_request"]
            .iter()
            .fold(hmac(format!("AWS4{}", credentials.secret_access_key()).as_bytes(), date.as_bytes()), |key, part| {
                hmac(&key, part.as_bytes())
            });
        let signature: String = hmac(&signing_key, policy.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
        fields.push(("policy".into(), policy));
        fields.push(("x-amz-signature".into(), signature));
        Ok(SignedUpload { method: "POST", url: self.post_url(), headers: Vec::new(), fields })
    }

    async fn open(&self, key: &str) -> anyhow::Result<Option<ObjectStream>> {
        let result = self.client().get_object().bucket(&self.bucket).key(key).send().await;
        let output = match result {
            Ok(output) => output,
            Err(e) if e.as_service_error().is_some_and(|e| e.is_no_such_key()) => return Ok(None),
            Err(e) => return Err(e).context("S3 GetObject"),
        };
        let stream = futures::stream::unfold(output.body, |mut body| async move {
            match body.try_next().await {
                Ok(Some(bytes)) => Some((Ok(bytes), body)),
                Ok(None) => None,
                Err(e) => Some((Err(anyhow::Error::from(e).context("reading the S3 object")), body)),
            }
        });
        Ok(Some(Box::pin(stream)))
    }

    async fn delete(&self, key: &str) -> anyhow::Result<()> {
        self.client().delete_object().bucket(&self.bucket).key(key).send().await.context("S3 DeleteObject")?;
        Ok(())
    }
}

/// No bucket configured (`LEARNERS_UPLOAD_BUCKET` unset): every upload fails, saying so.
pub struct NoUploads;

#[async_trait]
impl Uploads for NoUploads {
    async fn presign_put(&self, _: &str, _: Duration) -> anyhow::Result<SignedUpload> {
        anyhow::bail!("LEARNERS_UPLOAD_BUCKET is not set: no file can be uploaded")
    }

    async fn presign_post(&self, _: &str, _: &str, _: u64, _: Duration) -> anyhow::Result<SignedUpload> {
        anyhow::bail!("LEARNERS_UPLOAD_BUCKET is not set: no file can be uploaded")
    }

    async fn open(&self, _: &str) -> anyhow::Result<Option<ObjectStream>> {
        anyhow::bail!("LEARNERS_UPLOAD_BUCKET is not set: no file can be read")
    }

    async fn delete(&self, _: &str) -> anyhow::Result<()> {
        anyhow::bail!("LEARNERS_UPLOAD_BUCKET is not set: no file can be deleted")
    }
}
