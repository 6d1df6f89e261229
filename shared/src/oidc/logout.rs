//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): an application sends the
//! learner here with the ID token it holds (`id_token_hint`); the site session ends, and the
//! browser goes to a `post_logout_redirect_uri` the application registered (with `state`).
//!
//! The hint is required: without it, any site could sign learners out with a link (logout
//! CSRF), and the specification then asks for a confirmation page we do not have. An expired
//! hint is fine (the session usually outlives the ID token); a hint about another account than
//! the signed-in one ends nothing.

use crate::domain::oidc::ClientId;
use crate::domain::SessionRecord;
use crate::App;

#[derive(Debug, Default)]
pub struct LogoutParams {
    pub id_token_hint: Option<String>,
    pub post_logout_redirect_uri: Option<String>,
    pub state: Option<String>,
    pub client_id: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum LogoutError {
    #[error("the id_token_hint is missing, or not an ID token this site issued")]
    InvalidHint,
    #[error("the post_logout_redirect_uri is not registered for the application")]
    UnregisteredRedirectUri,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// What a logout did.
#[derive(Debug, PartialEq, Eq)]
pub struct LoggedOut {
    /// Where the application asked the browser to go (with its `state`).
    pub redirect: Option<String>,
    /// The site session ended (its cookie is to be cleared).
    pub ended: bool,
}

/// Ends the session (if it is the hinted account's); the redirect to make, if any.
pub async fn logout(
    app: &App,
    params: &LogoutParams,
    session: Option<&SessionRecord>,
) -> Result<LoggedOut, LogoutError> {
    let hint = params.id_token_hint.as_deref().ok_or(LogoutError::InvalidHint)?;
    let keys = app.signer.public_keys().await?;
    let claims = super::jws::verify(hint, &keys).ok_or(LogoutError::InvalidHint)?;
    if claims["iss"].as_str() != Some(super::issuer(app).as_str()) {
        return Err(LogoutError::InvalidHint);
    }
    let audience = claims["aud"].as_str().and_then(ClientId::parse).ok_or(LogoutError::InvalidHint)?;
    if params.client_id.as_deref().is_some_and(|id| id != audience.as_str()) {
        return Err(LogoutError::InvalidHint);
    }
    let client = app.oidc.client(&audience).await?.ok_or(LogoutError::InvalidHint)?;
    let redirect = match params.post_logout_redirect_uri.as_deref() {
        Some(raw) => {
            let uri = client.registered_post_logout(raw).ok_or(LogoutError::UnregisteredRedirectUri)?;
            let state: Vec<(&str, &str)> = params.state.as_deref().map(|s| ("state", s)).into_iter().collect();
            Some(uri.with_query(&state))
        }
        None => None,
    };
    let session = session.filter(|s| claims["sub"].as_str() == Some(s.user_id.as_str()));
    if let Some(session) = session {
        crate::flows::signin::sign_out(app, session).await?;
        tracing::info!(client_id = %client.id, "signed out by the application");
    }
    Ok(LoggedOut { redirect, ended: session.is_some() })
}
