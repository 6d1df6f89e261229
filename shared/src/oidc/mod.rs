//! The OpenID Connect provider: applications (relying parties) that operators register sign
//! learners in with this site's accounts, by the authorization code flow (OIDC Core 1.0, with
//! RFC 9700's rules: code flow only, exact redirect URIs, PKCE, rotated refresh tokens).
//!
//! One module per flow, each with its own error enum; they talk to ports only (`OidcStore`,
//! `Signer`, and the account ports), never to AWS or HTTP. The issuer is the site URL, so the
//! discovery document sits at `{site}/.well-known/openid-configuration`, where Open edX's
//! `OpenIdConnectAuth` (python-social-auth) looks for it under `OIDC_ENDPOINT`.

pub mod authorize;
pub mod clients;
pub mod jws;
pub mod logout;
pub mod token;
pub mod userinfo;

use crate::domain::oidc::Scope;
use crate::domain::User;
use crate::App;
use serde_json::{json, Map, Value};

pub const AUTHORIZE_PATH: &str = "/oauth2/authorize";
pub const TOKEN_PATH: &str = "/oauth2/token";
pub const USERINFO_PATH: &str = "/oauth2/userinfo";
pub const LOGOUT_PATH: &str = "/oauth2/logout";
pub const JWKS_PATH: &str = "/.well-known/jwks.json";
pub const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";

/// The claims the provider can put in an ID token or a userinfo answer.
pub const CLAIMS: [&str; 13] = [
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "amr",
    "nonce",
    "at_hash",
    "email",
    "email_verified",
    "preferred_username",
    "name",
];

/// The issuer identifier: the site's URL, exactly as the discovery document gives it.
pub fn issuer(app: &App) -> String {
    app.config.site_url.trim_end_matches('/').to_owned()
}

/// The discovery document (OIDC Discovery 1.0): every value is one the provider implements.
pub fn discovery(app: &App) -> Value {
    let iss = issuer(app);
    json!({
        "issuer": iss,
        "authorization_endpoint": format!("{iss}{AUTHORIZE_PATH}"),
        "token_endpoint": format!("{iss}{TOKEN_PATH}"),
        "userinfo_endpoint": format!("{iss}{USERINFO_PATH}"),
        "jwks_uri": format!("{iss}{JWKS_PATH}"),
        "end_session_endpoint": format!("{iss}{LOGOUT_PATH}"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": Scope::SUPPORTED,
        // python-social-auth sends the secret by HTTP Basic when this lists it.
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "claims_supported": CLAIMS,
        "code_challenge_methods_supported": ["S256"],
        "prompt_values_supported": ["none", "login"],
        "authorization_response_iss_parameter_supported": true,
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
    })
}

/// The claims about `user` that `scope` lets an application read: `sub` always, the address
/// with `email`, the username and full name with `profile`.
pub fn user_claims(user: &User, scope: &Scope) -> Map<String, Value> {
    let mut claims = Map::new();
    claims.insert("sub".into(), json!(user.id.as_str()));
    if scope.email {
        claims.insert("email".into(), json!(user.email.as_ref()));
        // An account signs in only once active, and activation proves the mailbox (a learner's
        // link, or an operator who vouches for the address, as Open edX's own activation does).
        claims.insert("email_verified".into(), json!(user.activated_at.is_some()));
    }
    if scope.profile {
        claims.insert("preferred_username".into(), json!(user.username.as_ref()));
        claims.insert("name".into(), json!(user.name.as_ref()));
    }
    claims
}

/// The origin of the application a sign-in returns to: when `next` is an authorization of a
/// registered application to one of its registered redirect URIs, that URI's origin (the
/// sign-in page lets its form's redirect chain end there); else none.
pub async fn returning_application_origin(app: &crate::App, next: Option<&str>) -> Option<String> {
    let query = next?.strip_prefix(AUTHORIZE_PATH)?.strip_prefix('?')?;
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    let param = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let id = crate::domain::oidc::ClientId::parse(param("client_id")?)?;
    let client = app.oidc.client(&id).await.ok()??;
    let uri = client.registered_redirect(param("redirect_uri")?)?;
    let origin = url::Url::parse(uri.as_str()).ok()?.origin();
    origin.is_tuple().then(|| origin.ascii_serialization())
}
