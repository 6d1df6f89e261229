//! Mail an operator's action causes (`flows::operator_actions`) and a bulk upload's invitations.
//! The operator's caps were taken by the flow, in the request (so the operator is told when
//! one is spent); these never use the learner's own caps, and send nothing to an account that
//! is disabled (but the notice of the disabling), being removed, or refusing mail.

use super::{deliver, messages, send_activation, send_with_retries, DAY_SECONDS};
use crate::domain::{TokenPurpose, TokenRecord, User, UserId, UserSource, UserStatus};
use crate::metrics::Metric;
use crate::App;

/// How long an invitation's link works (issue 26: 7 days, as an admin-initiated action token
/// lives longer than a learner's own reset link).
pub const INVITATION_TTL_SECONDS: i64 = 7 * DAY_SECONDS;

async fn account(app: &App, user_id: &str) -> anyhow::Result<Option<User>> {
    let Some(id) = UserId::parse(user_id) else {
        return Ok(None);
    };
    Ok(app.store.user_by_id(&id).await?.filter(|u| u.status != UserStatus::RemovalRequested))
}

/// The notice of a disabling, once, while the account is still disabled in the epoch the
/// disabling raised it to (enabled again, or disabled again since: that one's own notice).
pub(super) async fn disabled(app: &App, user_id: &str, auth_epoch: u64) -> anyhow::Result<()> {
    let Some(user) = account(app, user_id).await? else {
        return Ok(());
    };
    if !user.is_disabled() || user.auth_epoch != auth_epoch {
        tracing::info!(user_id = %user.id, "disabling notice not sent: the account changed since");
        return Ok(());
    }
    if !user.mailable() {
        app.metrics.count(Metric::MailsSuppressed);
        return Ok(());
    }
    let once = format!("disabled-notice#{}#{auth_epoch}", user.id);
    let now = app.clock.now();
    if app.store.quota_used(&once, now).await? > 0 {
        return Ok(());
    }
    let notice = messages::account_disabled(&app.config, &user);
    // The one mail a disabled account gets: sent past `deliver`'s silence.
    if !send_with_retries(app, &notice, "account_disabled").await {
        anyhow::bail!("the disabling notice could not be delivered");
    }
    app.store.take_quota(&once, now, DAY_SECONDS, 1).await?;
    Ok(())
}

/// "Send a reset link": a reset link to the address on the account, as the learner's own.
pub(super) async fn reset_link(app: &App, user_id: &str) -> anyhow::Result<()> {
    let Some(user) = account(app, user_id).await? else {
        return Ok(());
    };
    if super::super::silenced(app, &user, "password_reset_by_operator") {
        return Ok(());
    }
    let now = app.clock.now();
    let (token, record) = TokenRecord::mint(TokenPurpose::PasswordReset, &user, now, app.config.reset_ttl_seconds);
    app.store.put_token(&record).await?;
    let link = format!("{}/password-reset/{}", app.config.site_url, token.as_str());
    let message = messages::password_reset_by_operator(&app.config, &user, &link);
    if !deliver(app, &user, &message, "password_reset_by_operator").await {
        anyhow::bail!("the reset mail could not be delivered");
    }
    tracing::info!(user_id = %user.id, "reset link mailed at an operator's request");
    Ok(())
}

/// "Resend the activation link": a fresh link to a pending account, minted in the next epoch
/// (every older link ends), as the learner's own resend does.
pub(super) async fn activation_link(app: &App, user_id: &str) -> anyhow::Result<()> {
    let Some(user) = account(app, user_id).await? else {
        return Ok(());
    };
    if user.status != UserStatus::PendingActivation || super::super::silenced(app, &user, "activation") {
        return Ok(());
    }
    let now = app.clock.now();
    let next = User { auth_epoch: user.auth_epoch + 1, ..user };
    let (token, record) = TokenRecord::mint(TokenPurpose::Activation, &next, now, app.config.activation_ttl_seconds);
    if !app.store.replace_activation_token(&record).await? {
        tracing::info!(user_id = %next.id, "activation mail not resent: the account changed meanwhile");
        return Ok(());
    }
    send_activation(app, &next, &token).await;
    tracing::info!(user_id = %next.id, "activation link resent at an operator's request");
    Ok(())
}

/// A bulk upload's invitation: a link to choose a password (`TokenPurpose::Invitation`, the
/// reset page's form), once per account (a redelivered message mails nothing more), spent
/// only when a password is posted with it.
pub(super) async fn invitation(app: &App, user_id: &str, job_id: &str) -> anyhow::Result<()> {
    let Some(user) = account(app, user_id).await? else {
        return Ok(());
    };
    if user.source != UserSource::Bulk || super::super::silenced(app, &user, "invitation") {
        return Ok(());
    }
    let once = format!("invitation#{}", user.id);
    let now = app.clock.now();
    if app.store.quota_used(&once, now).await? > 0 {
        tracing::info!(user_id = %user.id, "invitation not sent again");
        return Ok(());
    }
    let (token, record) = TokenRecord::mint(TokenPurpose::Invitation, &user, now, INVITATION_TTL_SECONDS);
    app.store.put_token(&record).await?;
    let link = format!("{}/password-reset/{}", app.config.site_url, token.as_str());
    let message = messages::invitation(&app.config, &user, &link, INVITATION_TTL_SECONDS);
    if !deliver(app, &user, &message, "invitation").await {
        anyhow::bail!("the invitation could not be delivered");
    }
    app.store.take_quota(&once, now, INVITATION_TTL_SECONDS, 1).await?;
    tracing::info!(user_id = %user.id, job_id, "invitation mailed");
    Ok(())
}
