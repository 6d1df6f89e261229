//! The userinfo endpoint (OIDC Core §5.3): the claims of the access token's scope, while the
//! token is live: unexpired, its family not revoked, and its account still the one that
//! authorized (existing, active, in the same `auth_epoch`: signing out everywhere, a password
//! change and a deletion all end it).

use crate::domain::oidc::Scope;
use crate::domain::Token;
use crate::ports::GrantTokenKind;
use crate::App;
use serde_json::{Map, Value};

#[derive(Debug, thiserror::Error)]
pub enum UserinfoError {
    /// Unknown, expired, revoked, or its account gone: one answer (RFC 6750 `invalid_token`).
    #[error("invalid_token")]
    InvalidToken,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

pub async fn userinfo(app: &App, bearer: &str) -> Result<Map<String, Value>, UserinfoError> {
    let token = Token::parse(bearer).ok_or(UserinfoError::InvalidToken)?;
    let now = app.clock.now();
    let access =
        app.oidc.grant_token(GrantTokenKind::Access, &token.hash()).await?.ok_or(UserinfoError::InvalidToken)?;
    if access.is_expired(now) || app.oidc.family_revoked(&access.family, now).await? {
        return Err(UserinfoError::InvalidToken);
    }
    match app.store.user_by_id(&access.user_id).await? {
        Some(user) if user.may_sign_in() && user.auth_epoch == access.auth_epoch => {
            Ok(super::user_claims(&user, &Scope::parse(&access.scope)))
        }
        _ => Err(UserinfoError::InvalidToken),
    }
}
