//! "Change my email": a signed-in learner asks (with the current password, or a code of their
//! second factor), the mail worker mails a link to the new address (24 h, single use), and the
//! link's button moves the account to it; the old address is then told, with "This was not me"
//! (7 days), which brings it back, ends every session and mails a reset link.
//!
//! Who could abuse it, and how (docs/security.md, "Changing the email"):
//! - A session thief moves the account to their own mailbox, then resets the password: the
//!   request needs the current password (or a second factor), counted on the learner's own
//!   confirmation counter; and the old address gets "This was not me", bound to no epoch (a
//!   reset by the thief does not void it), which restores it and ends every session.
//! - Enumeration: the page answers the same whether the new address has an account or not;
//!   the worker decides (a link to a free address, a notice to the owner of a taken one).
//! - Mail bombing a stranger: at most `REQUESTS_PER_DAY` requests an account a day, and the
//!   owner of a taken address within the daily cap of mails to one address.
//! - Link replay: each link is spent in the same write as the change; a confirmation link
//!   also dies with the account's epoch (a reset, "This was not me") and with any other change.
//! - Mail scanners: opening a link (GET) spends nothing; only the button's post does.
//! - Cross-site posts: the handler takes posts from the site's own pages only.

use crate::domain::{Email, Token, TokenPurpose, TokenRecord, User};
use crate::flows::account::audit_own;
use crate::flows::outbox::{send_later, MailRequest};
use crate::flows::second_factor::verify_own_code;
use crate::flows::signin::verify_own_password;
use crate::ports::{EmailChange, EmailChanged};
use crate::App;

/// Requests an account may make in a day (each may mail a stranger's address).
pub const REQUESTS_PER_DAY: u32 = 5;
/// The audit actions.
pub const CHANGE_EMAIL: &str = "change_email";
pub const REVERT_EMAIL_CHANGE: &str = "revert_email_change";
pub const REQUEST_EMAIL_CHANGE: &str = "request_email_change";

const DAY_SECONDS: i64 = 86_400;

#[derive(Debug, thiserror::Error)]
pub enum EmailChangeError {
    #[error("{0}")]
    InvalidEmail(String),
    #[error("this is the account's address already")]
    SameAddress,
    /// Neither a password nor a code was given.
    #[error("no password or code")]
    NoProof,
    #[error("the password is not right")]
    InvalidPassword,
    #[error("the code is not right")]
    InvalidCode,
    #[error("too many requests today")]
    TooManyRequests,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// What the form carried.
pub struct ChangeRequest<'a> {
    pub new_email: &'a str,
    /// The current password, or empty.
    pub password: &'a str,
    /// A code of the second factor (an authenticator's or a recovery code), or empty.
    pub code: &'a str,
}

/// Does the account's confirmation take a code (an authenticator or recovery codes)?
pub async fn takes_code(app: &App, user: &User) -> anyhow::Result<bool> {
    let factors = app.factors.second_factors(&user.id).await?;
    Ok(factors.totp.is_some() || !factors.recovery_codes.is_empty())
}

/// A signed-in learner asks to move their account to `new_email`. Every proof given must be
/// right (a password, a code, or both), and at least one is needed; each failure counts on the
/// learner's own confirmation counter. The answer is the new address whether or not it has an
/// account: the mail worker decides what to send (`MailRequest::EmailChangeRequested`).
pub async fn request_change(app: &App, user: &User, form: &ChangeRequest<'_>) -> Result<Email, EmailChangeError> {
    let new_email = Email::parse(form.new_email).map_err(|e| EmailChangeError::InvalidEmail(e.to_string()))?;
    if new_email.as_ref() == user.email.as_ref() {
        return Err(EmailChangeError::SameAddress);
    }
    let (password, code) = (form.password, form.code.trim());
    if password.is_empty() && code.is_empty() {
        return Err(EmailChangeError::NoProof);
    }
    if !password.is_empty() && !verify_own_password(app, user, password).await? {
        return Err(EmailChangeError::InvalidPassword);
    }
    if !code.is_empty() && (!takes_code(app, user).await? || verify_own_code(app, user, code).await?.is_none()) {
        return Err(EmailChangeError::InvalidCode);
    }
    let now = app.clock.now();
    if !app.store.take_quota(&format!("email-change#{}", user.id), now, DAY_SECONDS, REQUESTS_PER_DAY).await? {
        tracing::info!(user_id = %user.id, "email change refused: the daily limit is reached");
        audit_own(app, user, REQUEST_EMAIL_CHANGE, "refused: daily limit").await?;
        return Err(EmailChangeError::TooManyRequests);
    }
    let request = MailRequest::EmailChangeRequested { user_id: user.id.to_string(), new_email: new_email.to_string() };
    send_later(app, &request).await?;
    audit_own(app, user, REQUEST_EMAIL_CHANGE, "requested").await?;
    tracing::info!(user_id = %user.id, "email change requested");
    Ok(new_email)
}

/// An emailed link of this flow that may still be used, and its account as read.
pub struct UsableLink {
    pub token: Token,
    pub record: TokenRecord,
    /// The address the link is about (the new one of a change, the old one of a revert).
    pub address: Email,
    pub user: User,
}

/// The link `raw_token` if it is a `purpose` link that may still be used: known, unused,
/// unexpired, about an address, its account active; a confirmation link also in the account's
/// current epoch. A revert link is not bound to the epoch: a password reset by whoever took the
/// account must not void it. Reading it spends nothing.
pub async fn usable_link(app: &App, raw_token: &str, purpose: TokenPurpose) -> anyhow::Result<Option<UsableLink>> {
    let Some(token) = Token::parse(raw_token) else {
        return Ok(None);
    };
    let Some(record) = app.store.token(&token.hash()).await? else {
        return Ok(None);
    };
    if record.purpose != purpose || record.used_at.is_some() || record.is_expired(app.clock.now()) {
        return Ok(None);
    }
    let Some(address) = record.address.clone() else {
        return Ok(None);
    };
    let Some(user) = app.store.user_by_id(&record.user_id).await? else {
        return Ok(None);
    };
    let epoch_holds = purpose == TokenPurpose::EmailRevert || user.auth_epoch == record.auth_epoch;
    if !user.may_sign_in() || !epoch_holds {
        return Ok(None);
    }
    Ok(Some(UsableLink { token, record, address, user }))
}

/// What pressing a link's button came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkOutcome {
    /// The account's address is now `Email` (the new one, or the old one again).
    Done(Email),
    /// Another account holds the address: nothing changed, the link still works.
    Taken(Email),
    /// Unknown, used, expired, or void: nothing changed.
    Invalid,
}

/// "Confirm my new email": moves the account to the link's address, spending the link in the
/// same write. The old address is then mailed a notice with "This was not me".
pub async fn confirm_change(app: &App, raw_token: &str) -> anyhow::Result<LinkOutcome> {
    let Some((link, changed)) = spend(app, raw_token, TokenPurpose::EmailChange, false).await? else {
        return Ok(LinkOutcome::Invalid);
    };
    let user = &link.user;
    match changed {
        EmailChanged::Changed => {
            audit_own(app, user, CHANGE_EMAIL, "done").await?;
            let notice =
                MailRequest::EmailChangeConfirmed { user_id: user.id.to_string(), old_email: user.email.to_string() };
            send_later(app, &notice).await?;
            tracing::info!(user_id = %user.id, "email changed");
            Ok(LinkOutcome::Done(link.address))
        }
        EmailChanged::Taken => {
            audit_own(app, user, CHANGE_EMAIL, "refused: address taken").await?;
            Ok(LinkOutcome::Taken(link.address))
        }
        EmailChanged::Stale => Ok(LinkOutcome::Invalid),
    }
}

/// "This was not me": brings the account back to the link's (old) address, ends every session,
/// device and link of the account (its epoch rises), and mails a reset link to that address.
pub async fn revert_change(app: &App, raw_token: &str) -> anyhow::Result<LinkOutcome> {
    let Some((link, changed)) = spend(app, raw_token, TokenPurpose::EmailRevert, true).await? else {
        return Ok(LinkOutcome::Invalid);
    };
    let user = &link.user;
    match changed {
        EmailChanged::Changed => {
            audit_own(app, user, REVERT_EMAIL_CHANGE, "done, every session ended").await?;
            send_later(app, &MailRequest::PasswordReset { email: link.address.to_string() }).await?;
            tracing::warn!(user_id = %user.id, "email change reverted by the old address: every session ended");
            Ok(LinkOutcome::Done(link.address))
        }
        EmailChanged::Taken => {
            audit_own(app, user, REVERT_EMAIL_CHANGE, "refused: address taken").await?;
            Ok(LinkOutcome::Taken(link.address))
        }
        EmailChanged::Stale => Ok(LinkOutcome::Invalid),
    }
}

/// Reads the link and its account and applies the change, spending the link; read again when
/// the account changed in between (a sign-out everywhere, another change): the link decides.
async fn spend(
    app: &App,
    raw_token: &str,
    purpose: TokenPurpose,
    end_sessions: bool,
) -> anyhow::Result<Option<(UsableLink, EmailChanged)>> {
    for _ in 0..3 {
        let Some(link) = usable_link(app, raw_token, purpose).await? else {
            return Ok(None);
        };
        let hash = link.token.hash();
        let change = EmailChange {
            user: &link.user,
            new_email: &link.address,
            token: Some(&hash),
            end_sessions,
            now: app.clock.now(),
        };
        let changed = app.store.change_email(&change).await?;
        if changed != EmailChanged::Stale {
            return Ok(Some((link, changed)));
        }
    }
    Ok(None)
}
