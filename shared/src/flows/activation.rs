//! Activation by emailed link, and asking for a new link.

use crate::domain::{Email, Token, TokenPurpose, UserStatus};
use crate::flows::outbox::{send_later, MailRequest};
use crate::metrics::Metric;
use crate::ports::TokenUse;
use crate::App;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// The link works: its page offers the button (`inspect` only).
    Usable,
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

/// What a link would do, spending nothing: what the page the link opens shows (mail scanners
/// open links; only the button on that page activates, Kratos #3971).
pub async fn inspect(app: &App, raw_token: &str) -> Result<Activation, ActivationError> {
    let Some(token) = Token::parse(raw_token) else {
        return Ok(Activation::Invalid);
    };
    let Some(record) = app.store.token(&token.hash()).await?.filter(|t| t.purpose == TokenPurpose::Activation) else {
        return Ok(Activation::Invalid);
    };
    let user = app.store.user_by_id(&record.user_id).await?;
    Ok(match user {
        Some(user) if user.status == UserStatus::Active => Activation::AlreadyActive,
        Some(user) if user.status != UserStatus::PendingActivation || user.auth_epoch != record.auth_epoch => {
            Activation::Invalid
        }
        Some(_) if record.used_at.is_some() => Activation::Invalid,
        Some(_) if record.is_expired(app.clock.now()) => Activation::Expired,
        Some(_) => Activation::Usable,
        None => Activation::Invalid,
    })
}

pub async fn activate(app: &App, raw_token: &str) -> Result<Activation, ActivationError> {
    let Some(token) = Token::parse(raw_token) else {
        return Ok(Activation::Invalid);
    };
    let outcome = match app.store.consume_activation_token(&token.hash(), app.clock.now()).await? {
        TokenUse::Consumed(record) => {
            tracing::info!(user_id = %record.user_id, "account activated");
            app.metrics.count(Metric::Activations);
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

/// Asks for a fresh link. The request itself only goes on the mail queue (the same call
/// whatever the address); the mail worker (`mail::dispatch`) decides. The caller always answers the
/// same.
pub async fn resend(app: &App, raw_email: &str) -> Result<(), ActivationError> {
    let Ok(email) = Email::parse(raw_email) else {
        return Ok(());
    };
    send_later(app, &MailRequest::ActivationLink { email: email.to_string() }).await?;
    Ok(())
}
