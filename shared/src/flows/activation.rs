//! Activation by emailed link, and asking for a new link.

use crate::domain::{Email, Token, TokenPurpose, TokenRecord, User, UserStatus};
use crate::flows::outbox::{send_later, MailRequest};
use crate::flows::registration::{activation_mail_slot, send_activation};
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
/// whatever the address); the worker (`mail_new_link`) decides. The caller always answers the
/// same.
pub async fn resend(app: &App, raw_email: &str) -> Result<(), ActivationError> {
    let Ok(email) = Email::parse(raw_email) else {
        return Ok(());
    };
    send_later(app, &MailRequest::ActivationLink { email: email.to_string() }).await?;
    Ok(())
}

/// The mail worker's part: a fresh link if the address belongs to an account waiting for
/// activation, at most once per resend interval; it ends every older link.
pub(crate) async fn mail_new_link(app: &App, raw_email: &str) -> anyhow::Result<()> {
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
    // The new link is minted in the next epoch: storing it ends every older link.
    let next = User { auth_epoch: user.auth_epoch + 1, ..user };
    let (token, record) = TokenRecord::mint(TokenPurpose::Activation, &next, now, app.config.activation_ttl_seconds);
    if !app.store.replace_activation_token(&record).await? {
        tracing::info!(user_id = %next.id, "activation mail not resent: the account changed meanwhile");
        return Ok(());
    }
    send_activation(app, &next, &token).await;
    tracing::info!(user_id = %next.id, "activation mail resent; older links end");
    Ok(())
}
