//! Activation by emailed link, and asking for a new link.

use crate::domain::{Email, Token, TokenPurpose, TokenRecord, UserStatus};
use crate::flows::registration::{activation_mail_slot, send_activation};
use crate::ports::TokenUse;
use crate::App;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    Activated,
    AlreadyActive,
    Expired,
    Invalid,
}

#[derive(Debug, thiserror::Error)]
pub enum ActivationError {
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

pub async fn activate(app: &App, raw_token: &str) -> Result<Activation, ActivationError> {
    let Some(token) = Token::parse(raw_token) else {
        return Ok(Activation::Invalid);
    };
    let outcome = match app.store.consume_activation_token(&token.hash(), app.clock.now()).await? {
        TokenUse::Consumed(record) => {
            tracing::info!(user_id = %record.user_id, "account activated");
            Activation::Activated
        }
        TokenUse::AlreadyUsed(record) => match app.store.user_by_id(&record.user_id).await? {
            Some(user) if user.status == UserStatus::Active => Activation::AlreadyActive,
            _ => Activation::Invalid,
        },
        TokenUse::Expired(_) => Activation::Expired,
        TokenUse::Unknown => Activation::Invalid,
    };
    Ok(outcome)
}

/// Mails a fresh link if the address belongs to an account waiting for activation, at most once
/// per resend interval. Says nothing about what it found: the caller always answers the same.
pub async fn resend(app: &App, raw_email: &str) -> Result<(), ActivationError> {
    let Ok(email) = Email::parse(raw_email) else {
        return Ok(());
    };
    let Some(user) = app.store.user_by_email_key(&email.key()).await? else {
        return Ok(());
    };
    if user.status != UserStatus::PendingActivation {
        return Ok(());
    }
    let now = app.clock.now();
    if !app.store.take_quota(&activation_mail_slot(&user.id), now, app.config.resend_interval_seconds, 1).await? {
        tracing::info!(user_id = %user.id, "activation mail not resent: asked again too soon");
        return Ok(());
    }
    let (token, record) = TokenRecord::mint(TokenPurpose::Activation, &user, now, app.config.activation_ttl_seconds);
    app.store.put_token(&record).await?;
    send_activation(app, &user, &token).await;
    tracing::info!(user_id = %user.id, "activation mail resent");
    Ok(())
}
