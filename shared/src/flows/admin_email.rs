//! Operators fix an address: the account at one email moves to another (a misspelled address at
//! registration, or a mailbox the learner lost). One flow for the console, the admin API and
//! `learnerctl`; `docs/security.md` ("An operator changes a learner's address") has who could
//! abuse it and how.
//!
//! - A pending account: the change raises its epoch in the same write, so every activation link
//!   mailed to the old (wrong) address stops working at once; the mail worker then mints a fresh
//!   link for the new address. The old address is told nothing: nobody proved it was the
//!   learner's, and it may be a stranger's.
//! - An active account: both addresses get a notice ("an operator changed the address of your
//!   account from A to B"), so that an owner moved away by a talked-round operator learns of it
//!   at the address they still read. Its sessions and links end too: a reset link mailed to the
//!   old address must not outlive the move.
//! - Refused in the console for an account with the operator role (`Actor::may_change`): an
//!   operator's address is where their own sign-in and recovery go. The admin API (IAM) may.
//!
//! Every outcome is audited (`change_email`: `done, ...`, `taken: ...`, `no_change`, `refused:
//! ...`), without either address: the audit outlives the account (it is listed by user id after
//! a deletion), and no entry carries a learner's email (`docs/security.md`).

use crate::domain::{Actor, Email, EmailError, UserStatus, UserView};
use crate::flows::admin;
use crate::flows::outbox::{send_later, MailRequest};
use crate::ports::{EmailChange, EmailChanged};
use crate::App;

/// The audit action.
pub const CHANGE_EMAIL: &str = "change_email";

#[derive(Debug, thiserror::Error)]
pub enum EmailFixError {
    /// The account's current address, as typed, is not an address.
    #[error("not a valid email address: {0}")]
    InvalidEmail(EmailError),
    #[error("the new address is not a valid email address: {0}")]
    InvalidNewEmail(EmailError),
    #[error("no account has this email address")]
    NotFound,
    #[error("another account already uses the new address")]
    Taken,
    #[error("an account with the operator role is changed only through the admin API")]
    OperatorAccount,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// What the change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailFixed {
    /// A pending account: a fresh activation link goes to the new address.
    LinkMailed,
    /// An active account: both addresses are told.
    BothTold,
    /// The account already had exactly this address.
    NoChange,
}

/// Before the console's confirm step: would the change be refused? Ok(pending) names what it
/// will do. An operator's account is refused here (audited, as the change would be); a taken
/// address is only told (nothing was attempted yet; the change itself checks again).
pub async fn check_change(
    app: &App,
    operator: &str,
    raw_email: &str,
    raw_new_email: &str,
) -> Result<bool, EmailFixError> {
    let email = Email::parse(raw_email).map_err(EmailFixError::InvalidEmail)?;
    let new_email = Email::parse(raw_new_email).map_err(EmailFixError::InvalidNewEmail)?;
    let user = app.store.user_by_email_key(&email.key()).await?.ok_or(EmailFixError::NotFound)?;
    if !Actor::from_record(operator).may_change(&user) {
        admin::audit(app, operator, CHANGE_EMAIL, &user, "refused: operator account").await?;
        return Err(EmailFixError::OperatorAccount);
    }
    if user.status == UserStatus::RemovalRequested {
        return Err(EmailFixError::NotFound);
    }
    if app.store.user_by_email_key(&new_email.key()).await?.is_some_and(|other| other.id != user.id) {
        return Err(EmailFixError::Taken);
    }
    Ok(user.status == UserStatus::PendingActivation)
}

/// Moves the account at `raw_email` to `raw_new_email` (see the module doc). A change that
/// only alters the case moves no claim, only the spelling.
pub async fn change_email(
    app: &App,
    operator: &str,
    raw_email: &str,
    raw_new_email: &str,
) -> Result<EmailFixed, EmailFixError> {
    let email = Email::parse(raw_email).map_err(EmailFixError::InvalidEmail)?;
    let new_email = Email::parse(raw_new_email).map_err(EmailFixError::InvalidNewEmail)?;
    // Read again once when the account changed between the read and the write (a sign-in's
    // epoch, an activation): the change applies to the account as it is.
    for _ in 0..2 {
        let user = app.store.user_by_email_key(&email.key()).await?.ok_or(EmailFixError::NotFound)?;
        if !Actor::from_record(operator).may_change(&user) {
            admin::audit(app, operator, CHANGE_EMAIL, &user, "refused: operator account").await?;
            return Err(EmailFixError::OperatorAccount);
        }
        if user.status == UserStatus::RemovalRequested {
            admin::audit(app, operator, CHANGE_EMAIL, &user, "refused: account being removed").await?;
            return Err(EmailFixError::NotFound);
        }
        if user.email.as_ref() == new_email.as_ref() {
            admin::audit(app, operator, CHANGE_EMAIL, &user, "no_change").await?;
            return Ok(EmailFixed::NoChange);
        }
        let change =
            EmailChange { user: &user, new_email: &new_email, token: None, end_sessions: true, now: app.clock.now() };
        match app.store.change_email(&change).await? {
            EmailChanged::Changed => {
                let pending = user.status == UserStatus::PendingActivation;
                let told = if pending { "activation link mailed to the new address" } else { "both addresses told" };
                admin::audit(app, operator, CHANGE_EMAIL, &user, &format!("done, {told}")).await?;
                let request = MailRequest::EmailChangedByOperator {
                    user_id: user.id.to_string(),
                    old_email: user.email.to_string(),
                    auth_epoch: user.auth_epoch + 1,
                };
                send_later(app, &request).await?;
                return Ok(if pending { EmailFixed::LinkMailed } else { EmailFixed::BothTold });
            }
            EmailChanged::Taken => {
                admin::audit(app, operator, CHANGE_EMAIL, &user, "taken: another account uses the new address").await?;
                return Err(EmailFixError::Taken);
            }
            EmailChanged::Stale => continue,
        }
    }
    Err(anyhow::anyhow!("the account kept changing while its address was changed").into())
}

/// `change_email`, then the account as operators see it (at its new address).
pub async fn change_email_view(
    app: &App,
    operator: &str,
    raw_email: &str,
    raw_new_email: &str,
) -> Result<UserView, EmailFixError> {
    change_email(app, operator, raw_email, raw_new_email).await?;
    match crate::flows::admin::user_by_email(app, raw_new_email).await {
        Ok(view) => Ok(view),
        // Moved or removed in between: what the operator asked for was done.
        Err(crate::flows::admin::SupportError::NotFound) => Err(EmailFixError::NotFound),
        Err(other) => Err(anyhow::anyhow!("reading the account after its change: {other}").into()),
    }
}
