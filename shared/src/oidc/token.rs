//! The token endpoint (OIDC Core §3.1.3; RFC 6749 §4.1.3, §6). A code is single-use, lives 60
//! seconds and is bound to its application, redirect URI and PKCE challenge. A code presented
//! twice, or a refresh token used twice, means someone holds a copy: the whole family (every
//! token that authorization gave) is revoked (RFC 6749 §4.1.2, RFC 9700 §4.14).
//!
//! Client authentication: `client_secret_basic`, `client_secret_post`, or `none` for public
//! clients (which proved PKCE instead). Failed authentications are counted per application in
//! the sign-in counter, and lock it out as failed sign-ins lock an account.

use crate::domain::oidc::{
    at_hash, ClientId, CodeRecord, CodeUse, GrantToken, OidcClient, Scope, ACCESS_TOKEN_TTL_SECONDS,
    FAMILY_REVOCATION_TTL_SECONDS, REFRESH_TOKEN_TTL_SECONDS,
};
use crate::domain::{Reservation, Timestamp, Token, User};
use crate::ports::GrantTokenKind;
use crate::App;
use serde_json::{json, Value};

/// The parameters of a token request, and how the client authenticated.
#[derive(Debug, Default)]
pub struct TokenRequest {
    pub grant_type: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    pub refresh_token: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    /// The caller's address, as API Gateway saw it: failures count per application and address.
    pub source_ip: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("invalid_request: {0}")]
    InvalidRequest(&'static str),
    #[error("invalid_client")]
    InvalidClient,
    #[error("invalid_grant: {0}")]
    InvalidGrant(&'static str),
    #[error("unsupported_grant_type")]
    UnsupportedGrantType,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// What a successful request gives the application.
pub struct Issued {
    pub access_token: Token,
    pub expires_in: i64,
    pub id_token: String,
    pub refresh_token: Option<Token>,
    pub scope: String,
}

pub async fn exchange(app: &App, request: &TokenRequest) -> Result<Issued, TokenError> {
    match request.grant_type.as_deref() {
        Some("authorization_code") => {
            let client = authenticate(app, request).await?;
            exchange_code(app, &client, request).await
        }
        Some("refresh_token") => {
            let client = authenticate(app, request).await?;
            refresh(app, &client, request).await
        }
        None => Err(TokenError::InvalidRequest("grant_type is required.")),
        Some(_) => Err(TokenError::UnsupportedGrantType),
    }
}

/// The counter of an application's failed authentications from one address. Per address: the
/// client id is public (it is in every authorization URL), so a counter of the application
/// alone would let anyone lock the LMS out of its own token endpoint with a few wrong secrets.
fn counter_key(id: &ClientId, source_ip: Option<&str>) -> String {
    use sha2::{Digest, Sha256};
    let ip: String =
        Sha256::digest(source_ip.unwrap_or_default().as_bytes()).iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("oidc-client-{id}-{ip}")
}

async fn authenticate(app: &App, request: &TokenRequest) -> Result<OidcClient, TokenError> {
    let id = request.client_id.as_deref().and_then(ClientId::parse).ok_or(TokenError::InvalidClient)?;
    let client = app.oidc.client(&id).await?.ok_or(TokenError::InvalidClient)?;
    let Some(stored) = &client.secret_hash else {
        // A public client: no secret to send (it proves PKCE on the code instead).
        return match request.client_secret {
            None => Ok(client),
            Some(_) => Err(TokenError::InvalidClient),
        };
    };
    let key = counter_key(&client.id, request.source_ip.as_deref());
    let now = app.clock.now();
    let policy = app.site().lockout;
    if let Reservation::Refused { .. } = app.attempts.reserve(&key, now, policy).await? {
        tracing::warn!(client_id = %client.id, "client authentication refused: too many failures");
        return Err(TokenError::InvalidClient);
    }
    let presented = request.client_secret.as_deref().and_then(Token::parse).map(|secret| secret.hash());
    if presented.as_ref() == Some(stored) {
        app.attempts.clear(&key).await?;
        Ok(client)
    } else {
        tracing::warn!(client_id = %client.id, "client authentication failed");
        app.attempts.record_failure(&key, now, policy).await?;
        Err(TokenError::InvalidClient)
    }
}

/// The learner the tokens are about, if the account still may be signed in to: it exists,
/// is active, and has not signed out everywhere or changed its password since.
async fn live_user(app: &App, grant_user: &crate::domain::UserId, epoch: u64) -> Result<User, TokenError> {
    match app.store.user_by_id(grant_user).await? {
        Some(user) if user.may_sign_in() && user.auth_epoch == epoch => Ok(user),
        _ => Err(TokenError::InvalidGrant("The account can no longer be signed in to.")),
    }
}

async fn revoke(app: &App, family: &str, now: Timestamp) -> anyhow::Result<()> {
    app.oidc.revoke_family(family, now.plus_seconds(FAMILY_REVOCATION_TTL_SECONDS)).await
}

async fn exchange_code(app: &App, client: &OidcClient, request: &TokenRequest) -> Result<Issued, TokenError> {
    let code = request.code.as_deref().ok_or(TokenError::InvalidRequest("code is required."))?;
    let invalid = TokenError::InvalidGrant("The code is invalid, expired or used.");
    let Some(code) = Token::parse(code) else {
        return Err(invalid);
    };
    let now = app.clock.now();
    let code = match app.oidc.consume_code(&code.hash(), now).await? {
        CodeUse::Consumed(code) => code,
        CodeUse::AlreadyUsed(code) => {
            // A replay: whoever has the code may have had the tokens too.
            tracing::warn!(client_id = %code.client_id, "a used code was presented again: its tokens are revoked");
            revoke(app, &code.family, now).await?;
            return Err(invalid);
        }
        CodeUse::Unknown => return Err(invalid),
    };
    if code.client_id != client.id || code.is_expired(now) {
        return Err(invalid);
    }
    if request.redirect_uri.as_deref() != Some(code.redirect_uri.as_str()) {
        return Err(TokenError::InvalidGrant("redirect_uri is not the one of the authorization."));
    }
    match (&code.code_challenge, request.code_verifier.as_deref()) {
        (Some(challenge), Some(verifier)) if challenge.verifies(verifier) => {}
        (None, None) => {}
        // RFC 9700 §4.8.2: a verifier without a challenge is refused too (PKCE downgrade).
        _ => return Err(TokenError::InvalidGrant("The PKCE code_verifier does not match.")),
    }
    let user = live_user(app, &code.user_id, code.auth_epoch).await?;
    issue(app, client, &user, &code_grant(&code), code.nonce.as_deref(), now, None).await
}

/// What a code's tokens inherit from it.
fn code_grant(code: &CodeRecord) -> GrantToken {
    GrantToken {
        hash: code.hash.clone(),
        family: code.family.clone(),
        client_id: code.client_id.clone(),
        user_id: code.user_id.clone(),
        scope: code.scope.clone(),
        auth_time: code.auth_time,
        methods: code.methods.clone(),
        auth_epoch: code.auth_epoch,
        created_at: code.created_at,
        expires_at: code.expires_at,
        used_at: None,
    }
}

async fn refresh(app: &App, client: &OidcClient, request: &TokenRequest) -> Result<Issued, TokenError> {
    let raw = request.refresh_token.as_deref().ok_or(TokenError::InvalidRequest("refresh_token is required."))?;
    let invalid = TokenError::InvalidGrant("The refresh token is invalid, expired or revoked.");
    let Some(presented) = Token::parse(raw) else {
        return Err(invalid);
    };
    let now = app.clock.now();
    let Some(old) = app.oidc.grant_token(GrantTokenKind::Refresh, &presented.hash()).await? else {
        return Err(invalid);
    };
    if old.client_id != client.id || old.is_expired(now) || app.oidc.family_revoked(&old.family, now).await? {
        return Err(invalid);
    }
    if old.used_at.is_some() {
        tracing::warn!(client_id = %old.client_id, "a used refresh token was presented again: its family is revoked");
        revoke(app, &old.family, now).await?;
        return Err(invalid);
    }
    let user = live_user(app, &old.user_id, old.auth_epoch).await?;
    issue(app, client, &user, &old, None, now, Some(&old.hash)).await
}

/// Mints the access token, the ID token and (for `offline_access`) a refresh token, all of
/// `grant`'s family. `rotating` is the refresh token this replaces: marked used in the same
/// atomic write that stores its successor, so that of two uses at once one is a replay.
async fn issue(
    app: &App,
    client: &OidcClient,
    user: &User,
    grant: &GrantToken,
    nonce: Option<&str>,
    now: Timestamp,
    rotating: Option<&crate::domain::TokenHash>,
) -> Result<Issued, TokenError> {
    let scope = Scope::parse(&grant.scope);
    let mint = |ttl: i64| {
        let token = Token::generate();
        let record = GrantToken {
            hash: token.hash(),
            created_at: now,
            expires_at: now.plus_seconds(ttl),
            used_at: None,
            ..grant.clone()
        };
        (token, record)
    };
    let refresh_token = if scope.offline_access {
        let (token, record) = mint(REFRESH_TOKEN_TTL_SECONDS);
        match rotating {
            Some(used) => {
                if !app.oidc.rotate_refresh_token(used, &record, now).await? {
                    tracing::warn!(client_id = %client.id, "a refresh token was used twice at once: its family is revoked");
                    revoke(app, &grant.family, now).await?;
                    return Err(TokenError::InvalidGrant("The refresh token is invalid, expired or revoked."));
                }
            }
            None => app.oidc.put_token(GrantTokenKind::Refresh, &record).await?,
        }
        Some(token)
    } else {
        None
    };
    let (access_token, access) = mint(ACCESS_TOKEN_TTL_SECONDS);
    app.oidc.put_token(GrantTokenKind::Access, &access).await?;
    let mut claims = super::user_claims(user, &scope);
    claims.insert("iss".into(), json!(super::issuer(app)));
    claims.insert("aud".into(), json!(client.id.as_str()));
    claims.insert("iat".into(), json!(now.unix()));
    claims.insert("exp".into(), json!(now.plus_seconds(ACCESS_TOKEN_TTL_SECONDS).unix()));
    claims.insert("auth_time".into(), json!(grant.auth_time.unix()));
    // RFC 8176: how the learner signed in (`pwd`, `otp`, `hwk`, `user`, `mfa`).
    claims.insert("amr".into(), json!(crate::domain::amr_values(&grant.methods)));
    claims.insert("at_hash".into(), json!(at_hash(access_token.as_str())));
    if let Some(nonce) = nonce {
        claims.insert("nonce".into(), json!(nonce));
    }
    let id_token = super::jws::sign(app.signer.as_ref(), &Value::Object(claims)).await?;
    tracing::info!(user_id = %user.id, client_id = %client.id, refresh = refresh_token.is_some(), "tokens issued");
    Ok(Issued { access_token, expires_in: ACCESS_TOKEN_TTL_SECONDS, id_token, refresh_token, scope: scope.to_string() })
}
