//! "Forgot my password": a request answered at once and mailed from a queue worker (so the
//! answer's timing cannot tell whether the address has an account), and the confirmation that
//! sets the new password with the emailed single-use link.

use crate::domain::{Email, FieldErrors, Token, TokenPurpose, TokenRecord, User, UserStatus};
use crate::flows::outbox::{send_later, MailRequest};
use crate::App;

#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    #[error("the reset link is unknown, used, expired or outdated")]
    InvalidToken,
    #[error("the new password is refused")]
    WeakPassword(FieldErrors),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Takes a reset request. Whatever the address, the caller answers the same: an unparseable
/// one is dropped here, any other goes on the queue.
pub async fn request_reset(app: &App, raw_email: &str) -> anyhow::Result<()> {
    let Ok(email) = Email::parse(raw_email) else {
        return Ok(());
    };
    send_later(app, &MailRequest::PasswordReset { email: email.to_string() }).await
}

/// A reset link that may still be used: known, a reset token (or an invitation, which is one
/// with a longer life: the same page sets the password), unused, unexpired, and made in the
/// user's current epoch (no password change since), its account not disabled. Reading it uses
/// nothing.
pub async fn usable_reset_token(app: &App, raw_token: &str) -> Result<(TokenRecord, User), RecoveryError> {
    let token = Token::parse(raw_token).ok_or(RecoveryError::InvalidToken)?;
    let record = app.store.token(&token.hash()).await?.ok_or(RecoveryError::InvalidToken)?;
    let purpose_fits = matches!(record.purpose, TokenPurpose::PasswordReset | TokenPurpose::Invitation);
    if !purpose_fits || record.used_at.is_some() || record.is_expired(app.clock.now()) {
        return Err(RecoveryError::InvalidToken);
    }
    let user = app.store.user_by_id(&record.user_id).await?.ok_or(RecoveryError::InvalidToken)?;
    if user.auth_epoch != record.auth_epoch || user.status == UserStatus::RemovalRequested || user.is_disabled() {
        return Err(RecoveryError::InvalidToken);
    }
    Ok((record, user))
}

/// Sets the new password with a reset link. A refused password leaves the link usable.
/// Success ends every session, every other reset link and the lockout, activates a pending
/// account, and mails a notice; it does not sign the learner in.
pub async fn reset_password(app: &App, raw_token: &str, new_password: &str) -> Result<(), RecoveryError> {
    let (record, user) = usable_reset_token(app, raw_token).await?;
    let password = app
        .acceptable_password(&user, new_password)
        .await?
        .map_err(|e| RecoveryError::WeakPassword(FieldErrors::from([("password".to_owned(), e.to_string())])))?;
    let hash = app.passwords.hash(&password).await?;
    if !app.store.complete_password_reset(&record, &hash, app.clock.now()).await? {
        // Another confirmation of the same link (or a password change) got there first.
        return Err(RecoveryError::InvalidToken);
    }
    app.attempts.clear(&app.counter_key(&user.email)?).await?;
    send_later(app, &MailRequest::PasswordChanged { user_id: user.id.to_string(), by_operator: false }).await?;
    tracing::info!(user_id = %user.id, "password reset");
    app.metrics.count(crate::metrics::Metric::PasswordResets);
    Ok(())
}
