//! Activation by emailed link, and asking for a new link.
//!
//! A link is bound to the registration that sent it: its token is of the account's epoch, which
//! every later registration of the address raises (`flows::registration` has the threat model:
//! pre-registered addresses). Activating asks for that registration's password, so a mailbox
//! owner can only activate a registration whose password they know: the password of a
//! registration nobody proved never signs in to an account the owner activated. A wrong
//! password counts on the account's own confirmation counter (`flows::signin::verify_own_password`:
//! the link holder gets as many guesses as sign-in allows, and strangers' failed sign-ins do not
//! block it); while that counter is locked, nothing activates.

use crate::domain::{Email, Token, TokenPurpose, TokenRecord, User, UserStatus};
use crate::flows::outbox::{send_later, MailRequest};
use crate::flows::registration::source_key;
use crate::flows::signin::verify_own_password;
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
    /// The link works, but the password typed is not the one of the registration that sent it
    /// (or the account's sign-in is locked): nothing changed.
    WrongPassword,
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
    Ok(user.map_or(Activation::Invalid, |user| usability(app, &user, &record)))
}

/// Activates with the link's token and the password of the registration that sent it.
pub async fn activate(app: &App, raw_token: &str, password: &str) -> Result<Activation, ActivationError> {
    let Some(token) = Token::parse(raw_token) else {
        return Ok(Activation::Invalid);
    };
    let Some(record) = app.store.token(&token.hash()).await?.filter(|t| t.purpose == TokenPurpose::Activation) else {
        return Ok(Activation::Invalid);
    };
    let Some(user) = app.store.user_by_id(&record.user_id).await? else {
        return Ok(Activation::Invalid);
    };
    match usability(app, &user, &record) {
        Activation::Usable => {}
        other => return Ok(other),
    }
    // The hash verified is the one of the token's epoch: consuming below requires the account
    // to be in that epoch still, and every change of password raises it.
    if !verify_own_password(app, &user, password).await? {
        tracing::info!(user_id = %user.id, "activation refused: not the registration's password");
        return Ok(Activation::WrongPassword);
    }
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

/// What a link of `record` for `user` would do now, spending nothing.
fn usability(app: &App, user: &User, record: &TokenRecord) -> Activation {
    if user.status == UserStatus::Active {
        Activation::AlreadyActive
    } else if user.status != UserStatus::PendingActivation
        || user.is_disabled()
        || user.auth_epoch != record.auth_epoch
        || record.used_at.is_some()
    {
        Activation::Invalid
    } else if record.is_expired(app.clock.now()) {
        Activation::Expired
    } else {
        Activation::Usable
    }
}

/// Asks for a fresh link. The request itself only goes on the mail queue (the same call
/// whatever the address); the mail worker (`mail::dispatch`) decides. The caller always answers the
/// same.
pub async fn resend(app: &App, raw_email: &str) -> Result<(), ActivationError> {
    resend_from(app, raw_email, None).await
}

/// `resend`, from the source `ip` (as the gateway saw it) if known: its keyed hash rides on the
/// mail request, for the per-source daily cap.
pub async fn resend_from(app: &App, raw_email: &str, ip: Option<&str>) -> Result<(), ActivationError> {
    let Ok(email) = Email::parse(raw_email) else {
        return Ok(());
    };
    let request = MailRequest::ActivationLink { email: email.to_string(), source: source_key(app, ip) };
    send_later(app, &request).await?;
    Ok(())
}
