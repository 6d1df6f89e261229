//! Applications (relying parties), registered by operators: a name, redirect URIs (https; http
//! only on loopback), post-logout redirect URIs, confidential (a secret, shown once and stored
//! as its hash) or public (PKCE instead). Every change is audited, under the application's id.

use crate::domain::oidc::{ClientId, OidcClient, RedirectUri};
use crate::domain::{AuditEntry, FieldErrors, Token};
use crate::App;

/// At most this many redirect URIs of each kind.
pub const MAX_URIS: usize = 10;
pub const MAX_NAME_LENGTH: usize = 100;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("the application is not valid")]
    Invalid(FieldErrors),
    #[error("no such application")]
    NotFound,
    #[error("a public application has no secret")]
    PublicClient,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// An application as an operator describes it.
#[derive(Debug, Default)]
pub struct NewClient {
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub public: bool,
}

fn uris(field: &str, raw: &[String], required: bool, errors: &mut FieldErrors) -> Vec<RedirectUri> {
    if raw.len() > MAX_URIS || (required && raw.is_empty()) {
        errors.insert(field.to_owned(), format!("Give from {} to {MAX_URIS} URIs.", u8::from(required)));
        return Vec::new();
    }
    let mut parsed = Vec::new();
    for uri in raw {
        match RedirectUri::parse(uri) {
            Ok(uri) => parsed.push(uri),
            Err(e) => {
                errors.insert(field.to_owned(), format!("{:?}: {e}.", uri.chars().take(100).collect::<String>()));
            }
        }
    }
    parsed
}

/// Registers an application; the secret (confidential ones) is returned this once.
pub async fn register(app: &App, operator: &str, new: &NewClient) -> Result<(OidcClient, Option<Token>), ClientError> {
    let mut errors = FieldErrors::new();
    let name = new.name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_LENGTH || name.chars().any(char::is_control) {
        errors.insert("name".into(), format!("From 1 to {MAX_NAME_LENGTH} characters, no control characters."));
    }
    let redirect_uris = uris("redirect_uris", &new.redirect_uris, true, &mut errors);
    let post_logout_redirect_uris =
        uris("post_logout_redirect_uris", &new.post_logout_redirect_uris, false, &mut errors);
    if !errors.is_empty() {
        return Err(ClientError::Invalid(errors));
    }
    let secret = (!new.public).then(Token::generate);
    let now = app.clock.now();
    let client = OidcClient {
        id: ClientId::generate(),
        name: name.to_owned(),
        secret_hash: secret.as_ref().map(Token::hash),
        redirect_uris,
        post_logout_redirect_uris,
        created_at: now,
    };
    app.oidc.create_client(&client).await?;
    audit(app, operator, "oidc_client_register", &client.id).await?;
    tracing::info!(client_id = %client.id, public = new.public, "application registered");
    Ok((client, secret))
}

pub async fn list(app: &App) -> Result<Vec<OidcClient>, ClientError> {
    Ok(app.oidc.clients().await?)
}

fn parse_id(raw: &str) -> Result<ClientId, ClientError> {
    ClientId::parse(raw).ok_or(ClientError::NotFound)
}

pub async fn remove(app: &App, operator: &str, raw_id: &str) -> Result<(), ClientError> {
    let id = parse_id(raw_id)?;
    if !app.oidc.delete_client(&id).await? {
        return Err(ClientError::NotFound);
    }
    audit(app, operator, "oidc_client_delete", &id).await?;
    Ok(())
}

/// A new secret for a confidential application; the old one stops working at once.
pub async fn rotate_secret(app: &App, operator: &str, raw_id: &str) -> Result<Token, ClientError> {
    let id = parse_id(raw_id)?;
    let client = app.oidc.client(&id).await?.ok_or(ClientError::NotFound)?;
    if client.is_public() {
        return Err(ClientError::PublicClient);
    }
    let secret = Token::generate();
    if !app.oidc.set_client_secret(&id, &secret.hash()).await? {
        return Err(ClientError::NotFound);
    }
    audit(app, operator, "oidc_client_rotate_secret", &id).await?;
    Ok(secret)
}

async fn audit(app: &App, operator: &str, action: &str, id: &ClientId) -> anyhow::Result<()> {
    app.audit.record(&AuditEntry::new(app.clock.now(), operator, action, &id.audit_subject(), "done")).await
}
