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
        bail!(ApiError { status: self.status, detail })
    }
}

/// A 4xx or 5xx answer.
#[derive(Debug)]
pub struct ApiError {
    pub status: u16,
    pub detail: String,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the API answered {}: {}", self.status, self.detail)
    }
}

impl std::error::Error for ApiError {}

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
