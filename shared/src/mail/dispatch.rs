//! The mail worker's part of each `MailRequest`: read the account the request names, decide
//! what it gets (if anything), mint the link it needs, render the mail and send it. Mail always
//! goes to the address stored on the account, never to the form of it a request typed.
//! Err: the queue message comes back later.
//!
//! Mail that anyone can cause by naming an address (a registration's activation link or notice,
//! "send me a new activation link") is capped here, where it is decided, so that the answers to
//! those requests stay one answer: at most `mails_per_address_per_day` a day to one account's
//! address (`LEARNERS_MAILS_PER_ADDRESS_PER_DAY`, 3 by default), at most
//! `mails_per_source_per_day` a day asked for from one source (an HMAC of the requester's IP,
//! `LEARNERS_MAILS_PER_SOURCE_PER_DAY`), and new links at most once per resend interval.

use super::{deliver, deliver_asked_for, messages, send_with_retries, MailRequest, NewRegistration};
use crate::domain::{
    Email, FullName, PasswordHash, Timestamp, Token, TokenPurpose, TokenRecord, User, UserId, UserSource, UserStatus,
    Username,
};
use crate::metrics::Metric;
use crate::ports::Reregistration;
use crate::App;

mod email_change;
mod operator;

pub async fn dispatch(app: &App, request: &MailRequest) -> anyhow::Result<()> {
    match request {
        MailRequest::PasswordReset { email } => reset_link(app, email).await,
        MailRequest::Registration { email, user_id, source, registration: new } => {
            registration(app, email, user_id, source.as_deref(), new.as_ref()).await
        }
        MailRequest::ActivationLink { email, source } => new_activation_link(app, email, source.as_deref()).await,
        MailRequest::Lockout { email, failures, until } => {
            lockout(app, email, *failures, Timestamp::from_unix(*until)).await
        }
        MailRequest::PasswordChanged { user_id, by_operator } => password_changed(app, user_id, *by_operator).await,
        MailRequest::RemovalRequested { user_id, email, name } => removal_requested(app, user_id, email, name).await,
        MailRequest::PasswordChangedByYou { user_id } => password_changed_by_you(app, user_id).await,
        MailRequest::SecondFactorsRemoved { user_id } => second_factors_removed(app, user_id).await,
        MailRequest::EmailChangedByOperator { user_id, old_email, auth_epoch } => {
            email_changed_by_operator(app, user_id, old_email, *auth_epoch).await
        }
        MailRequest::EmailChangeRequested { user_id, new_email } => {
            email_change::requested(app, user_id, new_email).await
        }
        MailRequest::EmailChangeConfirmed { user_id, old_email } => {
            email_change::confirmed(app, user_id, old_email).await
        }
        MailRequest::AccountDisabled { user_id, auth_epoch } => operator::disabled(app, user_id, *auth_epoch).await,
        MailRequest::ResetLinkByOperator { user_id } => operator::reset_link(app, user_id).await,
        MailRequest::ActivationLinkByOperator { user_id } => operator::activation_link(app, user_id).await,
        MailRequest::Invitation { user_id, job_id } => operator::invitation(app, user_id, job_id).await,
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
    if user.status == UserStatus::RemovalRequested || super::silenced(app, &user, "password_reset") {
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
    let (token, record) = TokenRecord::mint(TokenPurpose::PasswordReset, &user, now, app.site().reset_ttl_seconds);
    app.store.put_token(&record).await?;
    let link = format!("{}/password-reset/{}", app.config.site_url, token.as_str());
    let message = messages::password_reset(&app.site(), &user, &link);
    if !deliver_asked_for(app, &user, &message, "password_reset").await {
        anyhow::bail!("the reset mail could not be delivered");
    }
    app.store.take_quota(&quota, now, 3600, app.config.reset_mails_per_hour).await?;
    tracing::info!(user_id = %user.id, "reset link mailed");
    Ok(())
}

/// A registration: the account it created gets its activation link; an address with a pending
/// self-registration gets this registration in its place (`flows::registration`, rule 1), and a
/// link for it. A link goes once per registration (a redelivered message finds the registration's
/// slot taken), within the daily caps; a later registration gets its own link at once, since it
/// ended the links of the earlier ones. If the address belonged to someone else (an active
/// account), that owner gets a notice, at most once per resend interval and within the caps.
async fn registration(
    app: &App,
    raw_email: &str,
    user_id: &str,
    source: Option<&str>,
    new: Option<&NewRegistration>,
) -> anyhow::Result<()> {
    let Ok(email) = Email::parse(raw_email) else {
        return Ok(());
    };
    // An account on its way out gets no more mail: its owner asked for it to go.
    let Some(mut owner) =
        app.store.user_by_email_key(&email.key()).await?.filter(|u| u.status != UserStatus::RemovalRequested)
    else {
        return Ok(());
    };
    // A disabled account is neither replaced nor mailed (its owner was told once, by the
    // disabling's notice).
    if super::silenced(app, &owner, "registration") {
        return Ok(());
    }
    let now = app.clock.now();
    let replaceable = owner.status == UserStatus::PendingActivation && owner.source == UserSource::SelfService;
    if owner.id.as_str() != user_id && replaceable {
        let Some(new) = new else {
            // A message queued before registrations carried themselves: nothing to replace with.
            return Ok(());
        };
        match replace(app, &owner, new).await? {
            Some(next) => owner = next,
            None => return Ok(()),
        }
    }
    if owner.id.as_str() == user_id || replaceable {
        if owner.status != UserStatus::PendingActivation {
            return Ok(());
        }
        // One mail per registration: each one is an epoch of the account.
        let once = format!("registration-mail#{}#{}", owner.id, owner.auth_epoch);
        if !app.store.take_quota(&once, now, app.site().activation_ttl_seconds, 1).await? {
            return Ok(());
        }
        if !within_daily_caps(app, &owner, source).await? {
            return Ok(());
        }
        // The registration mail counts as the first of "one per interval" for new links.
        app.store.take_quota(&activation_mail_slot(&owner.id), now, app.site().resend_interval_seconds, 1).await?;
        let (token, record) =
            TokenRecord::mint(TokenPurpose::Activation, &owner, now, app.site().activation_ttl_seconds);
        app.store.put_token(&record).await?;
        send_activation(app, &owner, &token).await;
        tracing::info!(user_id = %owner.id, "activation mail sent");
        return Ok(());
    }
    let slot = format!("registration-notice#{}", owner.id);
    if app.store.take_quota(&slot, now, app.site().resend_interval_seconds, 1).await?
        && within_daily_caps(app, &owner, source).await?
    {
        let notice = messages::registration_attempt_notice(&app.site(), &owner);
        deliver(app, &owner, &notice, "registration_notice").await;
    }
    tracing::info!(user_id = %owner.id, "registration attempt with an already registered email");
    Ok(())
}

/// A day, the window of the daily mail caps.
pub(super) const DAY_SECONDS: i64 = 86_400;

/// Takes one mail from `user`'s daily cap and from the daily cap of `source` (the requester's
/// keyed hash), if both have one left: false (and logged) when either is spent. Taken before
/// sending, so that concurrent workers never send more than the cap.
async fn within_daily_caps(app: &App, user: &User, source: Option<&str>) -> anyhow::Result<bool> {
    let now = app.clock.now();
    let per_source = app.config.mails_per_source_per_day;
    let source = source.filter(|_| per_source > 0).map(|s| format!("mail-source#{s}"));
    // Looked at first, so that a source past its cap does not spend the address's mails.
    if let Some(source) = &source {
        if app.store.quota_used(source, now).await? >= per_source {
            tracing::info!(user_id = %user.id, "mail not sent: the daily limit for its source is reached");
            app.metrics.count(Metric::MailsSuppressed);
            return Ok(false);
        }
    }
    let address = format!("address-mail#{}", user.id);
    if !app.store.take_quota(&address, now, DAY_SECONDS, app.config.mails_per_address_per_day).await? {
        tracing::info!(user_id = %user.id, "mail not sent: the daily limit for its address is reached");
        app.metrics.count(Metric::MailsSuppressed);
        return Ok(false);
    }
    if let Some(source) = &source {
        if !app.store.take_quota(source, now, DAY_SECONDS, per_source).await? {
            tracing::info!(user_id = %user.id, "mail not sent: the daily limit for its source is reached");
            app.metrics.count(Metric::MailsSuppressed);
            return Ok(false);
        }
    }
    Ok(true)
}

/// Replaces `owner`'s pending registration with `new`, unless it holds it already (a redelivered
/// message: the password hash, salted, is this registration's own). The account as it is now,
/// or None when the replacement did not apply (the username was claimed meanwhile, or the
/// account changed: activated, or replaced by another registration first).
async fn replace(app: &App, owner: &User, new: &NewRegistration) -> anyhow::Result<Option<User>> {
    if owner.password_hash.as_ref().is_some_and(|h| h.as_str() == new.password_hash) {
        return Ok(Some(owner.clone()));
    }
    // The request validated these; a message is input too.
    let (Ok(username), Ok(name)) = (Username::parse(&new.username), FullName::parse(&new.name)) else {
        tracing::warn!("a registration message with invalid fields: nothing replaced");
        return Ok(None);
    };
    if !new.password_hash.starts_with("$argon2") {
        tracing::warn!("a registration message without a password hash: nothing replaced");
        return Ok(None);
    }
    let next = User {
        username,
        name,
        password_hash: Some(PasswordHash::from_phc(new.password_hash.clone())),
        terms_accepted_at: Some(Timestamp::from_unix(new.terms_accepted_at)),
        terms_version: new.terms_version.clone(),
        auth_epoch: owner.auth_epoch + 1,
        ..owner.clone()
    };
    match app.store.replace_registration(owner, &next).await? {
        Reregistration::Replaced => {
            tracing::info!(user_id = %next.id, "a pending registration was replaced; its links end");
            Ok(Some(next))
        }
        Reregistration::UsernameTaken => {
            tracing::info!(user_id = %owner.id, "registration not replaced: its username was claimed meanwhile");
            Ok(None)
        }
        Reregistration::Changed => {
            tracing::info!(user_id = %owner.id, "registration not replaced: the account changed meanwhile");
            Ok(None)
        }
    }
}

fn activation_mail_slot(user_id: &UserId) -> String {
    format!("activation-mail#{user_id}")
}

/// Mails an activation link for `token` to the address stored on `user`.
pub(super) async fn send_activation(app: &App, user: &User, token: &Token) {
    let link = format!("{}/activate/{}", app.config.site_url, token.as_str());
    let message = messages::activation(&app.site(), user, &link);
    deliver(app, user, &message, "activation").await;
}

/// "Send me a new activation link": a fresh link if the address belongs to an account waiting
/// for activation, at most once per resend interval and within the daily caps; it ends every
/// older link (it is of the same registration: the password it asks for is unchanged).
async fn new_activation_link(app: &App, raw_email: &str, source: Option<&str>) -> anyhow::Result<()> {
    let Ok(email) = Email::parse(raw_email) else {
        return Ok(());
    };
    let Some(user) = app.store.user_by_email_key(&email.key()).await? else {
        return Ok(());
    };
    if user.status != UserStatus::PendingActivation || super::silenced(app, &user, "activation") {
        return Ok(());
    }
    let now = app.clock.now();
    if !app.store.take_quota(&activation_mail_slot(&user.id), now, app.site().resend_interval_seconds, 1).await? {
        tracing::info!(user_id = %user.id, "activation mail not resent: asked again too soon");
        return Ok(());
    }
    if !within_daily_caps(app, &user, source).await? {
        return Ok(());
    }
    // The new link is minted in the next epoch: storing it ends every older link.
    let next = User { auth_epoch: user.auth_epoch + 1, ..user };
    let (token, record) = TokenRecord::mint(TokenPurpose::Activation, &next, now, app.site().activation_ttl_seconds);
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
    let message = messages::lockout(&app.site(), &user, failures, until);
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
    let notice = messages::password_changed(&app.site(), &user, by_operator);
    if !deliver(app, &user, &notice, "password_changed").await {
        anyhow::bail!("the password notice could not be delivered");
    }
    Ok(())
}

/// The learner changed their password while signed in: the owner is told, at the address the
/// account has now (a session thief who changed it gets no further notice).
async fn password_changed_by_you(app: &App, user_id: &str) -> anyhow::Result<()> {
    let Some(user) = UserId::parse(user_id) else {
        return Ok(());
    };
    let Some(user) = app.store.user_by_id(&user).await? else {
        return Ok(());
    };
    let notice = messages::password_changed_by_you(&app.site(), &user);
    if !deliver(app, &user, &notice, "password_changed_by_you").await {
        anyhow::bail!("the password notice could not be delivered");
    }
    Ok(())
}

/// An operator removed the account's second factors: the owner is told (as of every change to
/// how the account is proven).
async fn second_factors_removed(app: &App, user_id: &str) -> anyhow::Result<()> {
    let Some(user) = UserId::parse(user_id) else {
        return Ok(());
    };
    let Some(user) = app.store.user_by_id(&user).await? else {
        return Ok(());
    };
    let notice = messages::second_factors_removed(&app.site(), &user);
    if !deliver(app, &user, &notice, "second_factors_removed").await {
        anyhow::bail!("the second factor notice could not be delivered");
    }
    Ok(())
}

/// An operator moved the account to another address (`flows::admin_email`). A pending account
/// gets a fresh activation link at its new address, minted in the epoch after the change's: a
/// redelivered message (or a later change) finds the epoch moved on and mails nothing more. An
/// active one: a notice to the new address and to the old one (unless the old one refused mail),
/// each once, spent after SES took it (a failure brings the message back for the one not sent).
async fn email_changed_by_operator(app: &App, user_id: &str, old_email: &str, auth_epoch: u64) -> anyhow::Result<()> {
    let (Some(id), Ok(old)) = (UserId::parse(user_id), Email::parse(old_email)) else {
        return Ok(());
    };
    let Some(user) = app.store.user_by_id(&id).await? else {
        return Ok(());
    };
    if super::silenced(app, &user, "email_changed_by_operator") {
        return Ok(());
    }
    let now = app.clock.now();
    match user.status {
        UserStatus::RemovalRequested => Ok(()),
        UserStatus::PendingActivation => {
            if user.auth_epoch != auth_epoch {
                tracing::info!(user_id = %user.id, "activation link not mailed: the account changed since");
                return Ok(());
            }
            let next = User { auth_epoch: auth_epoch + 1, ..user };
            let (token, record) =
                TokenRecord::mint(TokenPurpose::Activation, &next, now, app.site().activation_ttl_seconds);
            if !app.store.replace_activation_token(&record).await? {
                tracing::info!(user_id = %next.id, "activation link not mailed: the account changed meanwhile");
                return Ok(());
            }
            send_activation(app, &next, &token).await;
            tracing::info!(user_id = %next.id, "activation link mailed to the address an operator set");
            Ok(())
        }
        UserStatus::Active => {
            let mut unsent = 0;
            let same_mailbox = old.key() == user.email.key();
            for (to, own) in [(&user.email, true), (&old, false)] {
                if !own && same_mailbox {
                    continue;
                }
                let which = if own { "new" } else { "old" };
                let once = format!("operator-email-notice#{}#{auth_epoch}#{which}", user.id);
                if app.store.quota_used(&once, now).await? > 0 {
                    continue;
                }
                let notice = messages::email_changed_by_operator(&app.site(), &user, &old, to);
                let sent = if own {
                    deliver(app, &user, &notice, "email_changed_by_operator").await
                } else if user.mail_refused.as_ref().is_some_and(|r| r.address == old.as_ref()) {
                    app.metrics.count(Metric::MailsSuppressed);
                    true
                } else {
                    send_with_retries(app, &notice, "email_changed_by_operator").await
                };
                if sent {
                    app.store.take_quota(&once, now, DAY_SECONDS * 7, 1).await?;
                } else {
                    unsent += 1;
                }
            }
            if unsent > 0 {
                anyhow::bail!("{unsent} notice(s) of an operator's address change could not be delivered");
            }
            tracing::info!(user_id = %user.id, "address change by an operator: both addresses told");
            Ok(())
        }
    }
}

/// A removal request: the confirmation, unless the account (still there) refuses mail.
async fn removal_requested(app: &App, user_id: &str, email: &str, name: &str) -> anyhow::Result<()> {
    let (Ok(email), Ok(name)) = (Email::parse(email), FullName::parse(name)) else {
        return Ok(());
    };
    if let Some(id) = UserId::parse(user_id) {
        if app.store.user_by_id(&id).await?.is_some_and(|user| !user.mailable() || user.is_disabled()) {
            app.metrics.count(Metric::MailsSuppressed);
            return Ok(());
        }
    }
    let confirmation = messages::removal_requested(&app.site(), &email, &name);
    if !send_with_retries(app, &confirmation, "removal_requested").await {
        anyhow::bail!("the removal confirmation could not be delivered");
    }
    Ok(())
}
