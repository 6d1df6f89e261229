//! `BreachedPasswords`: the k-anonymity range API of Have I Been Pwned (`RangeApi`), and the
//! in-memory twin (`KnownBreaches`; empty, it is the setting switched off).
//!
//! The range API is asked for the first 5 hex digits of the password's SHA-1 and answers with
//! every suffix it knows under that prefix (`SUFFIX:COUNT` a line), so neither the password nor
//! its hash leaves the service. `Add-Padding: true` makes every answer 800 to 1,000 lines,
//! padded with made-up suffixes of count 0, so that the size of an answer tells an observer
//! nothing about the prefix; a count of 0 is never a hit. The service answers in tens of
//! milliseconds; a call gets `timeout` (2 s in production) in all, then counts as failed.

use crate::domain::Password;
use crate::ports::BreachedPasswords;
use anyhow::{bail, Context};
use async_trait::async_trait;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use sha1::{Digest, Sha1};
use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// How long a range query may take, connection included: registration waits for it.
pub const RANGE_TIMEOUT: Duration = Duration::from_secs(2);

/// A padded answer is about 30 KB; anything far larger is not the range API.
const MAX_ANSWER_BYTES: usize = 1 << 20;

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>;

/// The range API at `base` (`https://api.pwnedpasswords.com` in production; a local fake in
/// tests). The HTTPS client (rustls, the system's roots, as the AWS SDK's) is made on the
/// first query: functions that never check a new password never make it.
pub struct RangeApi {
    base: String,
    timeout: Duration,
    client: OnceLock<anyhow::Result<HttpsClient>>,
}

impl RangeApi {
    pub fn new(base: &str, timeout: Duration) -> Self {
        Self { base: base.trim_end_matches('/').to_owned(), timeout, client: OnceLock::new() }
    }

    fn client(&self) -> anyhow::Result<&HttpsClient> {
        self.client
            .get_or_init(|| {
                let provider = rustls::crypto::aws_lc_rs::default_provider();
                let connector = hyper_rustls::HttpsConnectorBuilder::new()
                    .with_provider_and_native_roots(provider)
                    .context("the system's TLS roots")?
                    .https_or_http()
                    .enable_http1()
                    .build();
                Ok(Client::builder(TokioExecutor::new()).build(connector))
            })
            .as_ref()
            .map_err(|e| anyhow::anyhow!("breached-password client: {e:#}"))
    }

    async fn range(&self, prefix: &str) -> anyhow::Result<String> {
        let request = http::Request::get(format!("{}/range/{prefix}", self.base))
            .header("Add-Padding", "true")
            .header(http::header::USER_AGENT, "learners-account-service")
            .body(Empty::new())
            .context("range request")?;
        let response = self.client()?.request(request).await.context("range request")?;
        if !response.status().is_success() {
            bail!("the range API answered {}", response.status());
        }
        let body = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
            .collect()
            .await
            .map_err(|e| anyhow::anyhow!("range answer: {e}"))?
            .to_bytes();
        String::from_utf8(body.to_vec()).context("range answer is not UTF-8")
    }
}

/// The 40 upper-case hex digits of the SHA-1 of a password, split after the first 5.
fn sha1_hex(password: &Password) -> (String, String) {
    let digest = Sha1::digest(password.as_str().as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02X}")).collect();
    let (prefix, suffix) = hex.split_at(5);
    (prefix.to_owned(), suffix.to_owned())
}

/// Whether `answer` (lines of `SUFFIX:COUNT`) lists `suffix` with a count above 0. Suffixes
/// compare without regard to case; padding lines (count 0) and malformed lines are no hit.
fn listed(answer: &str, suffix: &str) -> bool {
    answer.lines().any(|line| match line.trim().split_once(':') {
        Some((listed, count)) => {
            listed.eq_ignore_ascii_case(suffix) && count.trim().parse::<u64>().is_ok_and(|count| count > 0)
        }
        None => false,
    })
}

#[async_trait]
impl BreachedPasswords for RangeApi {
    async fn is_breached(&self, password: &Password) -> anyhow::Result<bool> {
        let (prefix, suffix) = sha1_hex(password);
        let answer =
            tokio::time::timeout(self.timeout, self.range(&prefix)).await.context("the range API timed out")??;
        Ok(listed(&answer, &suffix))
    }
}

/// The in-memory twin: the passwords it was told are breached (by SHA-1, as the corpus keeps
/// them). Empty, it finds nothing: the setting switched off (`make dev`, tests by default).
#[derive(Default)]
pub struct KnownBreaches {
    hashes: Mutex<HashSet<String>>,
}

impl KnownBreaches {
    pub fn new() -> Self {
        Self::default()
    }

    /// Marks a password breached (as typed; it is taken in NFKC like every password).
    pub fn add(&self, password: &str) {
        let (prefix, suffix) = sha1_hex(&Password::unchecked(password));
        self.hashes.lock().unwrap_or_else(|e| e.into_inner()).insert(prefix + &suffix);
    }
}

#[async_trait]
impl BreachedPasswords for KnownBreaches {
    async fn is_breached(&self, password: &Password) -> anyhow::Result<bool> {
        let (prefix, suffix) = sha1_hex(password);
        Ok(self.hashes.lock().unwrap_or_else(|e| e.into_inner()).contains(&(prefix + &suffix)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_split_after_five_hex_digits() {
        // SHA-1("password") = 5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8
        let (prefix, suffix) = sha1_hex(&Password::unchecked("password"));
        assert_eq!(prefix, "5BAA6");
        assert_eq!(suffix, "1E4C9B93F3F0682250B6CF8331B7EE68FD8");
    }

    #[test]
    fn a_suffix_counts_in_any_case_and_padding_never_does() {
        let suffix = "1E4C9B93F3F0682250B6CF8331B7EE68FD8";
        assert!(listed(
            "0018A45C4D1DEF81644B54AB7F969B88D65:1\r\n1e4c9b93f3f0682250b6cf8331b7ee68fd8:9545824\r\n",
            suffix
        ));
        assert!(!listed("1E4C9B93F3F0682250B6CF8331B7EE68FD8:0\r\n", suffix), "padding (count 0)");
        assert!(!listed("1E4C9B93F3F0682250B6CF8331B7EE68FD9:3\n", suffix), "another suffix");
        assert!(!listed("1E4C9B93F3F0682250B6CF8331B7EE68FD8\nnonsense\n:\n", suffix), "malformed lines");
        assert!(!listed("", suffix));
    }
}
