//! OpenID Connect helpers: the moto KMS key that signs on the AWS backend, applications
//! registered as an operator registers them, and a learner's browser walking through an
//! authorization (the authorization URL, the site's sign-in page, back to the application).

use crate::{TestApp, ADMIN_TOKEN};
use learners::adapters::aws::KmsSigner;
use serde_json::{json, Value};
use std::collections::HashMap;
use tokio::sync::OnceCell;

static KEY: OnceCell<String> = OnceCell::const_new();

/// A KMS client on moto.
pub async fn moto_kms() -> aws_sdk_kms::Client {
    let credentials = aws_sdk_kms::config::Credentials::new("test", "test", None, None, "emulator");
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(crate::moto::url())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(credentials)
        .load()
        .await;
    aws_sdk_kms::Client::new(&sdk)
}

/// A new RSA_2048 signing key on moto.
pub async fn moto_signing_key(kms: &aws_sdk_kms::Client) -> String {
    use aws_sdk_kms::types::{KeySpec, KeyUsageType};
    let made = kms
        .create_key()
        .key_spec(KeySpec::Rsa2048)
        .key_usage(KeyUsageType::SignVerify)
        .send()
        .await
        .expect("a KMS key on moto");
    made.key_metadata.expect("key metadata").key_id
}

/// The signer of the moto backend: one KMS key per test process (making one costs moto an RSA
/// key generation).
pub async fn moto_signer() -> KmsSigner {
    let kms = moto_kms().await;
    let key = KEY.get_or_init(|| async { moto_signing_key(&moto_kms().await).await }).await;
    KmsSigner::new(kms, key, &[])
}

/// An application as registered: its id, its secret (confidential ones) and redirect URI.
#[derive(Clone, Debug)]
pub struct Rp {
    pub client_id: String,
    pub client_secret: Option<String>,
    pub redirect_uri: String,
}

/// The query parameters of a URL (or of a `Location`).
pub fn query_of(url: &str) -> HashMap<String, String> {
    let query = url.split_once('?').map(|(_, q)| q).unwrap_or_default();
    url::form_urlencoded::parse(query.as_bytes()).into_owned().collect()
}

pub fn location(response: &reqwest::Response) -> String {
    response.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

impl TestApp {
    pub async fn admin_post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client.post(self.url(path)).bearer_auth(ADMIN_TOKEN).json(body).send().await.expect("POST")
    }

    /// Registers an application with this redirect URI (and a post-logout URI beside it).
    pub async fn register_rp(&self, redirect_uri: &str, public: bool) -> Rp {
        let response = self
            .admin_post_json(
                "/admin/v1/clients",
                &json!({
                    "name": "Test LMS", "redirect_uris": [redirect_uri],
                    "post_logout_redirect_uris": [format!("{redirect_uri}/signed-out")], "public": public,
                }),
            )
            .await;
        assert_eq!(response.status(), 201, "registering an application");
        let body: Value = response.json().await.expect("the application");
        Rp {
            client_id: body["client_id"].as_str().expect("a client_id").to_owned(),
            client_secret: body["client_secret"].as_str().map(str::to_owned),
            redirect_uri: redirect_uri.to_owned(),
        }
    }

    /// A learner's browser at `authorize_url` (this gateway's): not signed in, it is sent to
    /// the sign-in page, fills it in as a person does (the form and its hidden `next`), and is
    /// sent back to the authorization. Returns the session cookie and the authorization's
    /// final answer (a redirect to the application).
    pub async fn sign_in_to_authorize(
        &self,
        authorize_url: &str,
        email: &str,
        password: &str,
    ) -> (String, reqwest::Response) {
        let first = self.client.get(authorize_url).send().await.expect("the authorization URL");
        assert_eq!(first.status(), 303, "not signed in: on to the sign-in page");
        let login = location(&first);
        assert!(login.starts_with("/login?next="), "{login}");
        let page = self.client.get(self.url(&login)).header("accept", "text/html").send().await.expect("sign-in page");
        assert_eq!(page.status(), 200);
        let html = page.text().await.expect("the page");
        let next = hidden_value(&html, "next").expect("the sign-in form carries the authorization on");
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("next", &next)
            .append_pair("email", email)
            .append_pair("password", password)
            .finish();
        let signed_in = self
            .client
            .post(self.url("/api/v1/sessions"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("origin", &self.app.config.site_url)
            .body(form)
            .send()
            .await
            .expect("signing in");
        assert_eq!(signed_in.status(), 303, "signed in");
        let back = location(&signed_in);
        assert!(back.starts_with("/oauth2/authorize?"), "back to the authorization: {back}");
        let cookie = crate::cookie_pair(&signed_in).expect("a session cookie");
        let answer = self.client.get(self.url(&back)).header("cookie", &cookie).send().await.expect("authorization");
        (cookie, answer)
    }
}

/// The value of a hidden input, as the page escapes it.
fn hidden_value(html: &str, name: &str) -> Option<String> {
    let marker = format!(r#"name="{name}" value=""#);
    let start = html.find(&marker)? + marker.len();
    let end = start + html[start..].find('"')?;
    Some(unescape(&html[start..end]))
}

/// An attribute value as the browser reads it: numeric (`&#38;`, `&#x27;`) and the usual named
/// character references decoded.
fn unescape(escaped: &str) -> String {
    let mut out = String::new();
    let mut rest = escaped;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let Some(end) = tail.find(';') else {
            out.push_str(tail);
            return out;
        };
        let entity = &tail[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            "lt" => Some('<'),
            "gt" => Some('>'),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|dec| dec.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &tail[end + 1..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}
