//! "Forgot my password": a request answered at once and mailed from a queue worker (so the
//! answer's timing cannot tell whether the address has an account), and the confirmation that
//! sets the new password with the emailed single-use link.

use crate::domain::{Email, FieldErrors, Token, TokenPurpose, TokenRecord, User, UserId, UserStatus};
use crate::flows::outbox::{send_later, MailRequest};
use crate::{mail, App};

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

/// The worker's part: if the address has an account, mail a reset link to the address stored on
/// it (never the typed form), at most `reset_mails_per_hour` an hour. Err: try again later.
pub async fn send_reset_link(app: &App, raw_email: &str) -> anyhow::Result<()> {
    let Ok(email) = Email::parse(raw_email) else {
        return Ok(());
    };
    let Some(user) = app.store.user_by_email_key(&email.key()).await? else {
        return Ok(());
    };
    if user.status == UserStatus::RemovalRequested {
        return Ok(());
    }
    let now = app.clock.now();
    // The hourly quota counts mails sent, not attempts: checked here, spent after SES took the
    // mail, so throttling and retries never use it up (two workers racing may send one more).
    let quota = format!("reset-mail#{}", user.id);
    if app.store.quota_used(&quota, now).await? >= app.config.reset_mails_per_hour {
        tracing::info!(user_id = %user.id, "reset mail not sent: hourly limit reached");
        return Ok(());
    }
    let (token, record) = TokenRecord::mint(TokenPurpose::PasswordReset, &user, now, app.config.reset_ttl_seconds);
    app.store.put_token(&record).await?;
    let link = format!("{}/password-reset/{}", app.config.site_url, token.as_str());
    let message = mail::password_reset(&app.config, &user, &link);
    if !mail::deliver(app, &user, &message, "password_reset").await {
        anyhow::bail!("the reset mail could not be delivered");
    }
    app.store.take_quota(&quota, now, 3600, app.config.reset_mails_per_hour).await?;
    tracing::info!(user_id = %user.id, "reset link mailed");
    Ok(())
}

/// A reset link that may still be used: known, a reset token, unused, unexpired, and made in
/// the user's current epoch (no password change since). Reading it uses nothing.
pub async fn usable_reset_token(app: &App, raw_token: &str) -> Result<(TokenRecord, User), RecoveryError> {
    let token = Token::parse(raw_token).ok_or(RecoveryError::InvalidToken)?;
    let record = app.store.token(&token.hash()).await?.ok_or(RecoveryError::InvalidToken)?;
    if record.purpose != TokenPurpose::PasswordReset || record.used_at.is_some() || record.is_expired(app.clock.now()) {
        return Err(RecoveryError::InvalidToken);
    }
    let user = app.store.user_by_id(&record.user_id).await?.ok_or(RecoveryError::InvalidToken)?;
    if user.auth_epoch != record.auth_epoch || user.status == UserStatus::RemovalRequested {
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
        .password_policy()
        .check(new_password, &[user.username.as_ref(), user.email.local_part(), user.name.as_ref()])
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

/// The worker's part of a password change: NIST SP 800-63B-4 wants every recovery notified.
pub(crate) async fn mail_password_changed(app: &App, user_id: &str, by_operator: bool) -> anyhow::Result<()> {
    let Some(user) = UserId::parse(user_id) else {
        return Ok(());
    };
    let Some(user) = app.store.user_by_id(&user).await? else {
        return Ok(());
    };
    let notice = mail::password_changed(&app.config, &user, by_operator);
    if !mail::deliver(app, &user, &notice, "password_changed").await {
        anyhow::bail!("the password notice could not be delivered");
    }
    Ok(())
}
