//! The admin API, from the operator's side: SigV4-signed with the operator's AWS credentials
//! against a deployed stack, or with the bearer token against the local gateway.

use anyhow::{bail, Context};
use aws_credential_types::provider::ProvideCredentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use std::time::SystemTime;

pub enum Auth {
    Bearer(String),
    /// AWS credentials from the usual chain (environment, profile, SSO, instance role...).
    SigV4 {
        credentials: aws_credential_types::Credentials,
        region: String,
    },
}

pub struct Api {
    base: String,
    auth: Auth,
    client: reqwest::Client,
}

/// An answer of the API.
pub struct Answer {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    /// A header's value, when it is there and is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> anyhow::Result<serde_json::Value> {
        serde_json::from_slice(&self.body).context("the API answered something that is not JSON")
    }

    /// Ok for 2xx; otherwise the API's own error message.
    pub fn ok(self) -> anyhow::Result<Self> {
        if (200..300).contains(&self.status) {
            return Ok(self);
        }
        let detail = serde_json::from_slice::<serde_json::Value>(&self.body)
            .ok()
            .and_then(|v| {
                let error = &v["error"];
                let mut text = format!("{}: {}", error["code"].as_str()?, error["message"].as_str()?);
                if let Some(fields) = error["fields"].as_object() {
                    for (field, why) in fields {
                        text.push_str(&format!("\n  {field}: {}", why.as_str().unwrap_or_default()));
                    }
                }
                Some(text)
            })
            .unwrap_or_else(|| String::from_utf8_lossy(&self.body).chars().take(500).collect());
        bail!(ApiError { by: "the API", status: self.status, detail })
    }
}

/// A 4xx or 5xx answer, of the API or of the uploads' bucket.
#[derive(Debug)]
pub struct ApiError {
    /// Who answered: "the API", or "the uploads' bucket" (S3, or `make dev`'s stand-in).
    pub by: &'static str,
    pub status: u16,
    pub detail: String,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} answered {}: {}", self.by, self.status, self.detail)
    }
}

impl std::error::Error for ApiError {}

/// The service refused what was sent, in a job's answer rather than a request's (a file the
/// job could not read): exit 1, as for `ApiError`.
#[derive(Debug)]
pub struct Refused(pub String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

impl Api {
    /// With `token`, bearer auth (the local gateway); without, SigV4 with the AWS credentials
    /// and region of the environment (a deployed stack's IAM-authorised routes).
    pub async fn connect(base: &str, token: Option<String>) -> anyhow::Result<Self> {
        let base = base.trim_end_matches('/').to_owned();
        if !base.starts_with("http://") && !base.starts_with("https://") {
            let why = format!("the API URL must start with https:// (or http:// for the local gateway), got {base:?}");
            return Err(crate::commands::UsageError(why).into());
        }
        let auth = match token {
            Some(token) => Auth::Bearer(token),
            None => {
                let config = aws_config::load_from_env().await;
                let region = config
                    .region()
                    .map(|r| r.to_string())
                    .context("no AWS region: set AWS_REGION (or use --token for the local gateway)")?;
                let provider = config.credentials_provider().context("no AWS credentials provider")?;
                let credentials = provider
                    .provide_credentials()
                    .await
                    .context("no AWS credentials: configure them, or use --token for the local gateway")?;
                Auth::SigV4 { credentials, region }
            }
        };
        let client = reqwest::Client::builder().build().context("building the HTTP client")?;
        Ok(Self { base, auth, client })
    }

    pub async fn send(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> anyhow::Result<Answer> {
        self.send_with(method, path, content_type, &[], body).await
    }

    /// `send`, with more headers (signed with the rest).
    pub async fn send_with(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> anyhow::Result<Answer> {
        let url = format!("{}{path}", self.base);
        let mut request = http::Request::builder().method(method).uri(&url);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let mut request = request.body(body).context("building the request")?;
        match &self.auth {
            Auth::Bearer(token) => {
                let value = http::HeaderValue::from_str(&format!("Bearer {token}"))
                    .context("the token is not a valid header value")?;
                request.headers_mut().insert(http::header::AUTHORIZATION, value);
            }
            Auth::SigV4 { credentials, region } => sign_request(&mut request, credentials, region)?,
        }
        let request = reqwest::Request::try_from(request.map(reqwest::Body::from)).context("preparing the request")?;
        let response = self.client.execute(request).await.with_context(|| format!("calling {url}"))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await.context("reading the answer")?.to_vec();
        Ok(Answer { status, headers, body })
    }
}

impl Api {
    /// Sends `file` (`size` bytes) by a signed upload request the API handed out: its method,
    /// URL and headers as given, nothing added (the signature is in the URL: no token, no
    /// SigV4), the body read from disk as it goes out (never whole in memory) with its length
    /// declared (S3 refuses a signed `PUT` sent in chunks). `sent` is told the bytes as they go.
    pub async fn upload_file(
        &self,
        method: &str,
        url: &str,
        headers: &[(String, String)],
        file: std::fs::File,
        size: u64,
        sent: impl Fn(u64) + Send + Sync + 'static,
    ) -> anyhow::Result<()> {
        let method = reqwest::Method::from_bytes(method.as_bytes()).context("the API gave an unknown upload method")?;
        let mut request = self.client.request(method, url).header(http::header::CONTENT_LENGTH, size);
        for (name, value) in headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let response = request
            .body(file_body(file, sent))
            .send()
            .await
            .with_context(|| format!("sending the file to {}", url.split('?').next().unwrap_or_default()))?;
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(());
        }
        let body = response.bytes().await.unwrap_or_default();
        bail!(ApiError { by: "the uploads' bucket", status, detail: s3_error(&body) })
    }
}

/// S3's error answer (`<Error><Code>..</Code><Message>..</Message></Error>`) in one line.
fn s3_error(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let element = |name: &str| {
        let start = text.find(&format!("<{name}>"))? + name.len() + 2;
        let end = text[start..].find(&format!("</{name}>"))? + start;
        Some(text[start..end].trim().to_owned())
    };
    match (element("Code"), element("Message")) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code,
        _ => text.chars().take(500).collect(),
    }
}

/// How much of the file is read at a time.
const PIECE: usize = 1024 * 1024;

/// A request body that reads `file` a piece at a time, on the blocking threads, as the
/// connection takes it.
fn file_body(file: std::fs::File, sent: impl Fn(u64) + Send + Sync + 'static) -> reqwest::Body {
    use std::io::Read;
    let sent = std::sync::Arc::new(sent);
    let pieces = futures::stream::unfold((Some(file), 0u64), move |(file, so_far)| {
        let sent = sent.clone();
        async move {
            let mut file = file?;
            let read = tokio::task::spawn_blocking(move || {
                let mut piece = vec![0; PIECE];
                let n = file.read(&mut piece)?;
                piece.truncate(n);
                Ok::<_, std::io::Error>((file, piece))
            })
            .await
            .map_err(std::io::Error::other)
            .and_then(|read| read);
            match read {
                Ok((_, piece)) if piece.is_empty() => None,
                Ok((file, piece)) => {
                    let so_far = so_far + piece.len() as u64;
                    sent(so_far);
                    Some((Ok(http_body::Frame::data(bytes::Bytes::from(piece))), (Some(file), so_far)))
                }
                Err(error) => Some((Err(error), (None, so_far))),
            }
        }
    });
    reqwest::Body::wrap(http_body_util::StreamBody::new(pieces))
}

/// Signs for API Gateway (`execute-api`), body included.
pub fn sign_request(
    request: &mut http::Request<Vec<u8>>,
    credentials: &aws_credential_types::Credentials,
    region: &str,
) -> anyhow::Result<()> {
    let identity = credentials.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("execute-api")
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .context("SigV4 signing parameters")?
        .into();
    let headers: Vec<(&str, &str)> =
        request.headers().iter().filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?))).collect();
    let uri = request.uri().to_string();
    let signable =
        SignableRequest::new(request.method().as_str(), &uri, headers.into_iter(), SignableBody::Bytes(request.body()))
            .context("the request cannot be signed")?;
    let (instructions, _signature) = sign(signable, &params).context("SigV4 signing")?.into_parts();
    instructions.apply_to_request_http1x(request);
    Ok(())
}
