//! OpenID Connect: the applications (relying parties) operators register, and what the
//! provider keeps of an authorization (codes, access and refresh tokens).
//!
//! Rules from RFC 9700 (OAuth 2.0 security best practice): a redirect URI is matched exactly,
//! as registered (no prefix or pattern matching: those let a code leak to an open redirector on
//! the client's site); it is https, or plain http on the loopback interface only (a native app
//! or a developer's laptop). PKCE's `S256` only: `plain` protects nothing against an attacker
//! who sees the authorization request. Every secret (client secret, code, access and refresh
//! token) is a `Token`: only its SHA-256 is stored.

use super::{AuthMethod, Timestamp, TokenHash, UserId};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};
use std::fmt;

/// A code lives a minute (RFC 6749 §4.1.2 recommends at most ten).
pub const CODE_TTL_SECONDS: i64 = 60;
/// Access tokens (and ID tokens) live ten minutes.
pub const ACCESS_TOKEN_TTL_SECONDS: i64 = 600;
/// A refresh token lives 30 days unless used (each use replaces it).
pub const REFRESH_TOKEN_TTL_SECONDS: i64 = 30 * 86_400;
/// A revoked family is remembered as long as any of its tokens could be presented.
pub const FAMILY_REVOCATION_TTL_SECONDS: i64 = REFRESH_TOKEN_TTL_SECONDS;

/// A registered application's id: a UUIDv7, so that audit entries (kept per subject id) can
/// name it like an account.
#[derive(Clone, PartialEq, Eq, Hash, Debug, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct ClientId(String);

impl ClientId {
    pub fn generate() -> Self {
        Self(uuid::Uuid::now_v7().to_string())
    }

    pub fn parse(value: &str) -> Option<Self> {
        uuid::Uuid::parse_str(value).ok().filter(|id| id.to_string() == value).map(|id| Self(id.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id as an audit subject (both are UUIDs).
    pub fn audit_subject(&self) -> UserId {
        UserId::parse(&self.0).unwrap_or_else(UserId::generate)
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedirectUriError {
    #[error("not an absolute URL")]
    NotAUrl,
    #[error("must be https (plain http only on 127.0.0.1, [::1] or localhost)")]
    NotHttps,
    #[error("must not have a fragment or user information")]
    FragmentOrUserinfo,
    #[error("longer than 2000 characters")]
    TooLong,
}

/// A redirect URI as registered. Compared exactly, character for character.
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize)]
#[serde(transparent)]
pub struct RedirectUri(String);

impl RedirectUri {
    pub fn parse(value: &str) -> Result<Self, RedirectUriError> {
        if value.len() > 2000 {
            return Err(RedirectUriError::TooLong);
        }
        let url = url::Url::parse(value).map_err(|_| RedirectUriError::NotAUrl)?;
        if url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
            return Err(RedirectUriError::FragmentOrUserinfo);
        }
        let loopback = matches!(url.host_str(), Some("127.0.0.1" | "[::1]" | "localhost"));
        match url.scheme() {
            "https" if url.host_str().is_some() => Ok(Self(value.to_owned())),
            "http" if loopback => Ok(Self(value.to_owned())),
            _ => Err(RedirectUriError::NotHttps),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// This URI with `pairs` added to its query (what the client reads back).
    pub fn with_query(&self, pairs: &[(&str, &str)]) -> String {
        match url::Url::parse(&self.0) {
            Ok(mut url) => {
                url.query_pairs_mut().extend_pairs(pairs);
                url.to_string()
            }
            Err(_) => self.0.clone(),
        }
    }
}

/// The scopes the provider knows; others in a request are ignored (OIDC Core §3.1.2.1).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scope {
    pub openid: bool,
    pub profile: bool,
    pub email: bool,
    pub offline_access: bool,
}

impl Scope {
    pub const SUPPORTED: [&'static str; 4] = ["openid", "profile", "email", "offline_access"];

    pub fn parse(raw: &str) -> Self {
        let mut scope = Self::default();
        for part in raw.split(' ') {
            match part {
                "openid" => scope.openid = true,
                "profile" => scope.profile = true,
                "email" => scope.email = true,
                "offline_access" => scope.offline_access = true,
                _ => {}
            }
        }
        scope
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<&str> = [self.openid, self.profile, self.email, self.offline_access]
            .iter()
            .zip(Self::SUPPORTED)
            .filter(|(on, _)| **on)
            .map(|(_, name)| name)
            .collect();
        f.write_str(&parts.join(" "))
    }
}

/// A PKCE `S256` code challenge: BASE64URL(SHA-256(verifier)), 43 characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeChallenge(String);

impl CodeChallenge {
    pub fn parse(value: &str) -> Option<Self> {
        let decoded = URL_SAFE_NO_PAD.decode(value).ok()?;
        (decoded.len() == 32 && value.len() == 43).then(|| Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The challenge of a verifier (what a client sends; tests use it).
    pub fn of(verifier: &str) -> Self {
        Self(URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())))
    }

    /// Does `verifier` (RFC 7636 §4.1: 43-128 unreserved characters) belong to this challenge?
    pub fn verifies(&self, verifier: &str) -> bool {
        let well_formed = (43..=128).contains(&verifier.len())
            && verifier.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
        well_formed && Self::of(verifier) == *self
    }
}

/// An application registered by an operator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OidcClient {
    pub id: ClientId,
    pub name: String,
    /// The hash of the client secret; None for a public client (PKCE instead).
    pub secret_hash: Option<TokenHash>,
    pub redirect_uris: Vec<RedirectUri>,
    pub post_logout_redirect_uris: Vec<RedirectUri>,
    pub created_at: Timestamp,
}

impl OidcClient {
    pub fn is_public(&self) -> bool {
        self.secret_hash.is_none()
    }

    pub fn registered_redirect(&self, raw: &str) -> Option<&RedirectUri> {
        self.redirect_uris.iter().find(|uri| uri.as_str() == raw)
    }

    pub fn registered_post_logout(&self, raw: &str) -> Option<&RedirectUri> {
        self.post_logout_redirect_uris.iter().find(|uri| uri.as_str() == raw)
    }
}

/// An authorization code as stored (by its hash), with everything the exchange checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeRecord {
    pub hash: TokenHash,
    /// The grant this code starts: every token issued from it carries the id, so that a
    /// replayed code (or refresh token) revokes them all at once.
    pub family: String,
    pub client_id: ClientId,
    pub user_id: UserId,
    pub redirect_uri: RedirectUri,
    pub scope: String,
    pub nonce: Option<String>,
    pub code_challenge: Option<CodeChallenge>,
    /// When the learner last typed their password in the session that authorized.
    pub auth_time: Timestamp,
    /// How the session that authorized was signed in to (the ID token's `amr`).
    pub methods: Vec<AuthMethod>,
    pub auth_epoch: u64,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub used_at: Option<Timestamp>,
}

impl CodeRecord {
    pub fn is_expired(&self, now: Timestamp) -> bool {
        now > self.expires_at
    }
}

/// What consuming a code found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeUse {
    /// This call used the code.
    Consumed(CodeRecord),
    /// The code had been used before: a replay.
    AlreadyUsed(CodeRecord),
    Unknown,
}

/// An access or refresh token as stored (by its hash).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrantToken {
    pub hash: TokenHash,
    pub family: String,
    pub client_id: ClientId,
    pub user_id: UserId,
    pub scope: String,
    pub auth_time: Timestamp,
    /// The authorization's sign-in methods (`CodeRecord::methods`), for every ID token of it.
    pub methods: Vec<AuthMethod>,
    /// The user's `auth_epoch` at the authorization: signing out everywhere, a password change
    /// or a deletion (all raise it, or remove the user) end the token.
    pub auth_epoch: u64,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    /// Refresh tokens only: when it was exchanged for the next one.
    pub used_at: Option<Timestamp>,
}

impl GrantToken {
    pub fn is_expired(&self, now: Timestamp) -> bool {
        now > self.expires_at
    }
}

/// A public key of the signer, as a JWK (RFC 7517), RSA only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicJwk {
    /// The key's RFC 7638 thumbprint: stable for a key, whichever signer holds it.
    pub kid: String,
    /// The modulus and exponent, big-endian bytes.
    pub n: Vec<u8>,
    pub e: Vec<u8>,
}

impl PublicJwk {
    pub fn new(n: Vec<u8>, e: Vec<u8>) -> Self {
        let (n_b64, e_b64) = (URL_SAFE_NO_PAD.encode(&n), URL_SAFE_NO_PAD.encode(&e));
        // RFC 7638: the required members, sorted, no whitespace.
        let canonical = format!(r#"{{"e":"{e_b64}","kty":"RSA","n":"{n_b64}"}}"#);
        let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()));
        Self { kid, n, e }
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.kid,
            "n": URL_SAFE_NO_PAD.encode(&self.n), "e": URL_SAFE_NO_PAD.encode(&self.e),
        })
    }
}

/// `at_hash` (OIDC Core §3.1.3.6): the left half of SHA-256 of the access token, base64url.
pub fn at_hash(access_token: &str) -> String {
    let digest = Sha256::digest(access_token.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_are_https_or_loopback_http() {
        for good in [
            "https://lms.example.org/auth/complete/oidc/",
            "http://127.0.0.1:8000/cb",
            "http://localhost/cb",
            "http://[::1]:9/cb",
            "https://lms.example.org/cb?x=1",
        ] {
            assert!(RedirectUri::parse(good).is_ok(), "{good}");
        }
        assert_eq!(RedirectUri::parse("http://lms.example.org/cb"), Err(RedirectUriError::NotHttps));
        assert_eq!(RedirectUri::parse("http://127.0.0.1.evil.example/cb"), Err(RedirectUriError::NotHttps));
        assert_eq!(RedirectUri::parse("javascript:alert(1)"), Err(RedirectUriError::NotHttps));
        assert_eq!(RedirectUri::parse("/relative"), Err(RedirectUriError::NotAUrl));
        assert_eq!(RedirectUri::parse("https://a.example/cb#x"), Err(RedirectUriError::FragmentOrUserinfo));
        assert_eq!(RedirectUri::parse("https://u:p@a.example/cb"), Err(RedirectUriError::FragmentOrUserinfo));
    }

    #[test]
    fn redirect_uris_match_exactly() {
        let client = OidcClient {
            id: ClientId::generate(),
            name: "LMS".into(),
            secret_hash: None,
            redirect_uris: vec![RedirectUri::parse("https://lms.example.org/cb").unwrap()],
            post_logout_redirect_uris: vec![],
            created_at: Timestamp::from_unix(0),
        };
        assert!(client.registered_redirect("https://lms.example.org/cb").is_some());
        for other in ["https://lms.example.org/cb/", "https://lms.example.org/cb?x", "https://LMS.example.org/cb"] {
            assert!(client.registered_redirect(other).is_none(), "{other}");
        }
    }

    #[test]
    fn a_redirect_keeps_its_own_query_and_adds_ours() {
        let uri = RedirectUri::parse("https://lms.example.org/cb?next=a").unwrap();
        assert_eq!(
            uri.with_query(&[("code", "x y"), ("state", "s")]),
            "https://lms.example.org/cb?next=a&code=x+y&state=s"
        );
    }

    #[test]
    fn pkce_s256_verifies_only_its_verifier() {
        // RFC 7636 Appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = CodeChallenge::parse("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM").unwrap();
        assert!(challenge.verifies(verifier));
        assert!(!challenge.verifies("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXK"));
        assert!(!challenge.verifies("short"));
        assert!(CodeChallenge::parse(verifier).is_some(), "any 32 bytes in base64url parse");
        assert!(CodeChallenge::parse("plain-is-not-a-challenge").is_none());
    }

    #[test]
    fn scopes_keep_what_is_known() {
        let scope = Scope::parse("openid email unknown offline_access");
        assert!(scope.openid && scope.email && scope.offline_access && !scope.profile);
        assert_eq!(scope.to_string(), "openid email offline_access");
        assert!(!Scope::parse("profile").openid);
    }

    #[test]
    fn client_ids_are_canonical_uuids() {
        let id = ClientId::generate();
        assert_eq!(ClientId::parse(id.as_str()), Some(id.clone()));
        assert_eq!(ClientId::parse(&id.as_str().to_uppercase()), None);
        assert_eq!(ClientId::parse("lms"), None);
        assert_eq!(id.audit_subject().as_str(), id.as_str());
    }

    #[test]
    fn at_hash_is_the_left_half_of_sha256() {
        // Computed apart: base64url(sha256(token)[:16]) with Python's hashlib.
        assert_eq!(at_hash("jHkWEdUXMU1BwAsC4vtUsZwnNz2TUGQRoShP3UjzkGM"), "3tT28-Hq-rwTYCLrTYiWCA");
    }

    #[test]
    fn a_jwk_kid_is_its_rfc7638_thumbprint() {
        // RFC 7638 §3.1's example key.
        let n = URL_SAFE_NO_PAD.decode("0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw").unwrap();
        let jwk = PublicJwk::new(n, vec![1, 0, 1]);
        assert_eq!(jwk.kid, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    }
}
