//! The mail worker's part of each `MailRequest`: read the account the request names, decide
//! what it gets (if anything), mint the link it needs, render the mail and send it. Mail always
//! goes to the address stored on the account, never to the form of it a request typed.
//! Err: the queue message comes back later.

use super::{deliver, messages, send_with_retries, MailRequest};
use crate::domain::{Email, FullName, Timestamp, Token, TokenPurpose, TokenRecord, User, UserId, UserStatus};
use crate::metrics::Metric;
use crate::App;

pub async fn dispatch(app: &App, request: &MailRequest) -> anyhow::Result<()> {
    match request {
        MailRequest::PasswordReset { email } => reset_link(app, email).await,
        MailRequest::Registration { email, user_id } => registration(app, email, user_id).await,
        MailRequest::ActivationLink { email } => new_activation_link(app, email).await,
        MailRequest::Lockout { email, failures, until } => {
            lockout(app, email, *failures, Timestamp::from_unix(*until)).await
        }
        MailRequest::PasswordChanged { user_id, by_operator } => password_changed(app, user_id, *by_operator).await,
        MailRequest::RemovalRequested { user_id, email, name } => removal_requested(app, user_id, email, name).await,
    }
}

/// "Forgot my password": if the address has an account, a reset link to the address stored on
/// it, at most `reset_mails_per_hour` an hour.
async fn reset_link(app: &App, raw_email: &str) -> anyhow::Result<()> {
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
    let message = messages::password_reset(&app.config, &user, &link);
    if !deliver(app, &user, &message, "password_reset").await {
        anyhow::bail!("the reset mail could not be delivered");
    }
    app.store.take_quota(&quota, now, 3600, app.config.reset_mails_per_hour).await?;
    tracing::info!(user_id = %user.id, "reset link mailed");
    Ok(())
}

/// A registration: the account it created gets its activation link (once: a redelivered
/// message finds the slot taken); if the address belonged to someone else, that owner gets a
/// notice, at most once per resend interval (so the form cannot be used to flood a mailbox).
async fn registration(app: &App, raw_email: &str, user_id: &str) -> anyhow::Result<()> {
    let Ok(email) = Email::parse(raw_email) else {
        return Ok(());
    };
    // An account on its way out gets no more mail: its owner asked for it to go.
    let Some(owner) =
        app.store.user_by_email_key(&email.key()).await?.filter(|u| u.status != UserStatus::RemovalRequested)
    else {
        return Ok(());
    };
    let now = app.clock.now();
    if owner.id.as_str() == user_id {
        if owner.status != UserStatus::PendingActivation {
            return Ok(());
        }
        // The registration mail counts as the first of "one per interval" per account.
        if !app.store.take_quota(&activation_mail_slot(&owner.id), now, app.config.resend_interval_seconds, 1).await? {
            return Ok(());
        }
        let (token, record) =
            TokenRecord::mint(TokenPurpose::Activation, &owner, now, app.config.activation_ttl_seconds);
        app.store.put_token(&record).await?;
        send_activation(app, &owner, &token).await;
        tracing::info!(user_id = %owner.id, "activation mail sent");
        return Ok(());
    }
    let slot = format!("registration-notice#{}", owner.id);
    if app.store.take_quota(&slot, now, app.config.resend_interval_seconds, 1).await? {
        let notice = messages::registration_attempt_notice(&app.config, &owner);
        deliver(app, &owner, &notice, "registration_notice").await;
    }
    tracing::info!(user_id = %owner.id, "registration attempt with an already registered email");
    Ok(())
}

fn activation_mail_slot(user_id: &UserId) -> String {
    format!("activation-mail#{user_id}")
}

/// Mails an activation link for `token` to the address stored on `user`.
async fn send_activation(app: &App, user: &User, token: &Token) {
    let link = format!("{}/activate/{}", app.config.site_url, token.as_str());
    let message = messages::activation(&app.config, user, &link);
    deliver(app, user, &message, "activation").await;
}

/// "Send me a new activation link": a fresh link if the address belongs to an account waiting
/// for activation, at most once per resend interval; it ends every older link.
async fn new_activation_link(app: &App, raw_email: &str) -> anyhow::Result<()> {
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

/// A sign-in lock: tells the owner, if the address has an account.
async fn lockout(app: &App, raw_email: &str, failures: u32, until: Timestamp) -> anyhow::Result<()> {
    let Ok(email) = Email::parse(raw_email) else {
        return Ok(());
    };
    let Some(user) = app.store.user_by_email_key(&email.key()).await? else {
        return Ok(());
    };
    let message = messages::lockout(&app.config, &user, failures, until);
    if !deliver(app, &user, &message, "lockout").await {
        anyhow::bail!("the lock notice could not be delivered");
    }
    Ok(())
}

/// A password change: NIST SP 800-63B-4 wants every recovery notified.
async fn password_changed(app: &App, user_id: &str, by_operator: bool) -> anyhow::Result<()> {
    let Some(user) = UserId::parse(user_id) else {
        return Ok(());
    };
    let Some(user) = app.store.user_by_id(&user).await? else {
        return Ok(());
    };
    let notice = messages::password_changed(&app.config, &user, by_operator);
    if !deliver(app, &user, &notice, "password_changed").await {
        anyhow::bail!("the password notice could not be delivered");
    }
    Ok(())
}

/// A removal request: the confirmation, unless the account (still there) refuses mail.
async fn removal_requested(app: &App, user_id: &str, email: &str, name: &str) -> anyhow::Result<()> {
    let (Ok(email), Ok(name)) = (Email::parse(email), FullName::parse(name)) else {
        return Ok(());
    };
    if let Some(id) = UserId::parse(user_id) {
        if app.store.user_by_id(&id).await?.is_some_and(|user| !user.mailable()) {
            app.metrics.count(Metric::MailsSuppressed);
            return Ok(());
        }
    }
    let confirmation = messages::removal_requested(&app.config, &email, &name);
    if !send_with_retries(app, &confirmation, "removal_requested").await {
        anyhow::bail!("the removal confirmation could not be delivered");
    }
    Ok(())
}
