//! An operator's actions on one learner (issue 26): disable and enable the account, send a
//! reset link, resend the activation link, sign out everywhere. The console card, the admin API
//! and `learnerctl` all come here; `docs/security.md` ("An operator acts on one learner") has
//! who could abuse them and how that is met.
//!
//! Each is audited (done, no_change, or refused), and refused (audited, nothing done) on an
//! account the operator may not change (`Actor::may_change`: the console never acts on an
//! account with the operator role, the operator's own included; the admin API may). Each sends
//! one mail or none, and the two that mail on the operator's word share one cap per account
//! (`OPERATOR_MAILS_PER_HOUR`), taken here so that the operator is told when it is spent; the
//! learner's own caps (what strangers can spend by naming the address) are not touched.

use crate::domain::{Email, User, UserStatus};
use crate::flows::admin::{audit, SupportError};
use crate::flows::outbox::{send_later, MailRequest};
use crate::App;

/// At most this many mails an hour to one account on operators' word ("Send a reset link" and
/// "Resend the activation link" together): support asked again and again, or a script looping
/// over the API, cannot bomb a mailbox.
pub const OPERATOR_MAILS_PER_HOUR: u32 = 3;

pub const DISABLE: &str = "disable";
pub const ENABLE: &str = "enable";
pub const SEND_RESET_LINK: &str = "send_reset_link";
pub const RESEND_ACTIVATION: &str = "resend_activation";
pub const SIGN_OUT_EVERYWHERE: &str = "sign_out_everywhere";

/// The account of `raw_email`, if the operator may act on it (else refused, audited). An
/// account on its way out is not found: nothing is left to act on.
async fn target(app: &App, operator: &str, action: &str, raw_email: &str) -> Result<User, SupportError> {
    let email = Email::parse(raw_email)?;
    let user = app.store.user_by_email_key(&email.key()).await?.ok_or(SupportError::NotFound)?;
    if user.status == UserStatus::RemovalRequested {
        return Err(SupportError::NotFound);
    }
    if !crate::domain::Actor::from_record(operator).may_change(&user) {
        audit(app, operator, action, &user, "refused: operator account").await?;
        return Err(SupportError::OperatorAccount);
    }
    Ok(user)
}

/// Reads the account again after a write lost a race (another change came in between).
async fn again(app: &App, user: &User) -> Result<User, SupportError> {
    let user = app.store.user_by_id(&user.id).await?.ok_or(SupportError::NotFound)?;
    if user.status == UserStatus::RemovalRequested {
        return Err(SupportError::NotFound);
    }
    Ok(user)
}

/// "Disable account": it cannot sign in, every session, known browser, link and grant of it
/// ends (the epoch is raised in the same write), and it gets no mail but the notice of this,
/// until enabled. Its status stays what it was. Idempotent: a disabled account is `no_change`
/// (and not mailed again).
pub async fn disable(app: &App, operator: &str, raw_email: &str) -> Result<(), SupportError> {
    let mut user = target(app, operator, DISABLE, raw_email).await?;
    for _ in 0..3 {
        if user.is_disabled() {
            return audit(app, operator, DISABLE, &user, "no_change").await.map_err(SupportError::from);
        }
        if app.store.set_disabled(&user.id, user.auth_epoch, Some(app.clock.now())).await? {
            audit(app, operator, DISABLE, &user, "done, learner notified").await?;
            let notice = MailRequest::AccountDisabled { user_id: user.id.to_string(), auth_epoch: user.auth_epoch + 1 };
            send_later(app, &notice).await?;
            return Ok(());
        }
        user = again(app, &user).await?;
    }
    Err(anyhow::anyhow!("the account kept changing while it was disabled").into())
}

/// "Enable account": sign-in works again, with the same password and status; what the
/// disabling ended stays ended. Idempotent. Not mailed (the learner finds out by signing in;
/// one mail fewer for an address that may not be the learner's any more).
pub async fn enable(app: &App, operator: &str, raw_email: &str) -> Result<(), SupportError> {
    let mut user = target(app, operator, ENABLE, raw_email).await?;
    for _ in 0..3 {
        if !user.is_disabled() {
            return audit(app, operator, ENABLE, &user, "no_change").await.map_err(SupportError::from);
        }
        if app.store.set_disabled(&user.id, user.auth_epoch, None).await? {
            return audit(app, operator, ENABLE, &user, "done").await.map_err(SupportError::from);
        }
        user = again(app, &user).await?;
    }
    Err(anyhow::anyhow!("the account kept changing while it was enabled").into())
}

/// Takes one of the account's operator mails for this hour: refused (audited) when spent.
async fn operator_mail(app: &App, operator: &str, action: &str, user: &User) -> Result<(), SupportError> {
    let key = format!("operator-mail#{}", user.id);
    if app.store.take_quota(&key, app.clock.now(), 3600, OPERATOR_MAILS_PER_HOUR).await? {
        return Ok(());
    }
    audit(app, operator, action, user, "refused: too many mails this hour").await?;
    Err(SupportError::TooManyMails)
}

/// Refused (audited) for a disabled account: it gets no mail but the disabling's notice.
async fn not_disabled(app: &App, operator: &str, action: &str, user: &User) -> Result<(), SupportError> {
    if !user.is_disabled() {
        return Ok(());
    }
    audit(app, operator, action, user, "refused: account disabled").await?;
    Err(SupportError::Disabled)
}

/// "Send a reset link": the recovery mail, as if the learner asked (the mail worker mints the
/// link, to the address on the account). One mail, within the operator cap.
pub async fn send_reset_link(app: &App, operator: &str, raw_email: &str) -> Result<(), SupportError> {
    let user = target(app, operator, SEND_RESET_LINK, raw_email).await?;
    not_disabled(app, operator, SEND_RESET_LINK, &user).await?;
    operator_mail(app, operator, SEND_RESET_LINK, &user).await?;
    send_later(app, &MailRequest::ResetLinkByOperator { user_id: user.id.to_string() }).await?;
    audit(app, operator, SEND_RESET_LINK, &user, "done").await.map_err(SupportError::from)
}

/// "Resend the activation link": a fresh link to a pending account (every older one ends).
/// Refused for an account that is not pending. One mail, within the operator cap.
pub async fn resend_activation(app: &App, operator: &str, raw_email: &str) -> Result<(), SupportError> {
    let user = target(app, operator, RESEND_ACTIVATION, raw_email).await?;
    if user.status != UserStatus::PendingActivation {
        audit(app, operator, RESEND_ACTIVATION, &user, "refused: not pending").await?;
        return Err(SupportError::NotPending);
    }
    not_disabled(app, operator, RESEND_ACTIVATION, &user).await?;
    operator_mail(app, operator, RESEND_ACTIVATION, &user).await?;
    send_later(app, &MailRequest::ActivationLinkByOperator { user_id: user.id.to_string() }).await?;
    audit(app, operator, RESEND_ACTIVATION, &user, "done").await.map_err(SupportError::from)
}

/// "Sign out everywhere": every session, known browser, emailed link and grant of the account
/// ends (the epoch is raised), and nothing else changes. No mail.
pub async fn sign_out_everywhere(app: &App, operator: &str, raw_email: &str) -> Result<(), SupportError> {
    let mut user = target(app, operator, SIGN_OUT_EVERYWHERE, raw_email).await?;
    for _ in 0..3 {
        if app.store.raise_auth_epoch(&user.id, user.auth_epoch, None).await? {
            return audit(app, operator, SIGN_OUT_EVERYWHERE, &user, "done").await.map_err(SupportError::from);
        }
        user = again(app, &user).await?;
    }
    Err(anyhow::anyhow!("the account kept changing while it was signed out").into())
}
