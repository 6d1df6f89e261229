//! Operator support: look-up, manual activation, enforced password, unlock, and the audit log
//! every one of these actions writes to (who, what, on whom, when, with what outcome).
//!
//! Who acts decides what they may change (`Actor::may_change`): an operator in the console never
//! sets the password of, deletes, unlocks or activates an account with the operator role; the
//! IAM-authenticated admin API can. A refusal is audited and changes nothing.

pub use crate::domain::UserView;
use crate::domain::{Actor, AuditEntry, Email, FieldErrors, SessionRecord, Token, User, UserId, UserStatus};
use crate::flows::outbox::{send_later, MailRequest};
use crate::flows::signin::{device_counter_key, verify_own_password};
use crate::App;

#[derive(Debug, thiserror::Error)]
pub enum SupportError {
    #[error("not a valid email address: {0}")]
    InvalidEmail(#[from] crate::domain::EmailError),
    #[error("no account has this email address")]
    NotFound,
    #[error("the password is refused")]
    WeakPassword(FieldErrors),
    #[error("an operator cannot change their own role")]
    OwnRole,
    #[error("an account with the operator role is changed only through the admin API")]
    OperatorAccount,
    #[error("only an active account can be given the operator role")]
    NotActive,
    #[error("not a user id (a UUID)")]
    InvalidUserId,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

async fn find(app: &App, raw_email: &str) -> Result<User, SupportError> {
    let email = Email::parse(raw_email)?;
    app.store.user_by_email_key(&email.key()).await?.ok_or(SupportError::NotFound)
}

async fn audit(app: &App, operator: &str, action: &str, user: &User, outcome: &str) -> anyhow::Result<()> {
    let entry = AuditEntry::new(app.clock.now(), operator, action, &user.id, outcome);
    app.audit.record(&entry).await?;
    tracing::info!(operator, action, user_id = %user.id, outcome, "operator action");
    Ok(())
}

/// Refuses (audited) what `operator` may not do to `user`: see `Actor::may_change`.
async fn may_change(app: &App, operator: &str, action: &str, user: &User) -> Result<(), SupportError> {
    if Actor::from_record(operator).may_change(user) {
        return Ok(());
    }
    audit(app, operator, action, user, "refused: operator account").await?;
    Err(SupportError::OperatorAccount)
}

/// Before a deletion is asked for: refused (audited) for an account `operator` may not change.
/// An unknown address passes: the deletion job reports it. The deletion worker checks again, for
/// a role granted in between.
pub async fn may_delete(app: &App, operator: &str, raw_email: &str) -> Result<(), SupportError> {
    match find(app, raw_email).await {
        Ok(user) => may_change(app, operator, "delete", &user).await,
        Err(SupportError::NotFound | SupportError::InvalidEmail(_)) => Ok(()),
        Err(other) => Err(other),
    }
}

pub async fn user_by_email(app: &App, raw_email: &str) -> Result<UserView, SupportError> {
    let user = find(app, raw_email).await?;
    let lockout = app.attempts.state(&app.counter_key(&user.email)?, app.clock.now()).await?;
    let devices = known_devices(app, &user).await?;
    Ok(UserView::new(user, lockout, devices))
}

/// How many browsers the account knows, and their failed sign-ins added up.
async fn known_devices(app: &App, user: &User) -> anyhow::Result<(u32, u32)> {
    let now = app.clock.now();
    let devices = app.sessions.known_devices(&user.id, now).await?;
    let mut failures = 0;
    for device in &devices {
        failures += app.attempts.state(&device_counter_key(device), now).await?.failures;
    }
    Ok((devices.len() as u32, failures))
}

/// Activates an account whose activation mail got lost. Idempotent.
pub async fn activate(app: &App, operator: &str, raw_email: &str) -> Result<(), SupportError> {
    let user = find(app, raw_email).await?;
    may_change(app, operator, "activate", &user).await?;
    if user.status == UserStatus::Active {
        return audit(app, operator, "activate", &user, "no_change").await.map_err(SupportError::from);
    }
    if !app.store.activate_user(&user.id, app.clock.now()).await? {
        audit(app, operator, "activate", &user, "refused: account being removed").await?;
        return Err(SupportError::NotFound);
    }
    audit(app, operator, "activate", &user, "done").await.map_err(SupportError::from)
}

/// Sets a password chosen by an operator: the policy applies; every session and reset link
/// ends; the lockout is cleared; the learner is always told (a silent change would let whoever
/// set it sign in unnoticed). The password itself goes nowhere but into the hash.
pub async fn set_password(app: &App, operator: &str, raw_email: &str, new_password: &str) -> Result<(), SupportError> {
    let user = find(app, raw_email).await?;
    may_change(app, operator, "set_password", &user).await?;
    let checked = app
        .password_policy_of(&user.id)
        .await?
        .check(new_password, &[user.username.as_ref(), user.email.local_part(), user.name.as_ref()]);
    let checked = match checked {
        Ok(password) => app.refuse_breached(&password).await.map(|()| password),
        Err(reason) => Err(reason),
    };
    let password = match checked {
        Ok(password) => password,
        Err(reason) => {
            audit(app, operator, "set_password", &user, "refused: password policy").await?;
            return Err(SupportError::WeakPassword(FieldErrors::from([("password".to_owned(), reason.to_string())])));
        }
    };
    let hash = app.passwords.hash(&password).await?;
    if !app.store.set_password(&user.id, &hash).await? {
        audit(app, operator, "set_password", &user, "refused: account being removed").await?;
        return Err(SupportError::NotFound);
    }
    app.attempts.clear(&app.counter_key(&user.email)?).await?;
    audit(app, operator, "set_password", &user, "done, learner notified").await?;
    let request = MailRequest::PasswordChanged { user_id: user.id.to_string(), by_operator: true };
    send_later(app, &request).await?;
    Ok(())
}

/// Clears the sign-in failure count of an account, and so any lock.
pub async fn unlock(app: &App, operator: &str, raw_email: &str) -> Result<(), SupportError> {
    let user = find(app, raw_email).await?;
    may_change(app, operator, "unlock", &user).await?;
    crate::flows::signin::clear_account_counters(app, &user).await?;
    audit(app, operator, "unlock", &user, "done").await.map_err(SupportError::from)
}

/// Grants (`true`) or revokes the operator role. Refused for the operator's own account; the
/// admin API (IAM) is the only way in, so a console operator never gets here with their own.
/// Granted only to an active account: a pending one was proven by nobody's mailbox (whoever
/// registered the address may not own it). The store checks the status in the same write.
pub async fn set_operator_role(app: &App, operator: &str, raw_email: &str, grant: bool) -> Result<(), SupportError> {
    let user = find(app, raw_email).await?;
    let action = if grant { "grant_operator" } else { "revoke_operator" };
    if matches!(Actor::from_record(operator), Actor::Console { user_id, .. } if user_id == user.id) {
        audit(app, operator, action, &user, "refused: own role").await?;
        return Err(SupportError::OwnRole);
    }
    if user.operator == grant {
        return audit(app, operator, action, &user, "no_change").await.map_err(SupportError::from);
    }
    if grant && user.status != UserStatus::Active {
        audit(app, operator, action, &user, "refused: account not active").await?;
        return Err(SupportError::NotActive);
    }
    if !app.store.set_operator(&user.id, grant).await? {
        // Changed since it was read (an active account only ever goes on to be removed).
        audit(app, operator, action, &user, "refused: account being removed").await?;
        return Err(SupportError::NotFound);
    }
    audit(app, operator, action, &user, "done").await.map_err(SupportError::from)
}

/// Every account with the operator role, as operators see accounts.
pub async fn operators(app: &App) -> Result<Vec<UserView>, SupportError> {
    let now = app.clock.now();
    let mut views = Vec::new();
    for user in app.store.operators().await? {
        let lockout = app.attempts.state(&app.counter_key(&user.email)?, now).await?;
        let devices = known_devices(app, &user).await?;
        views.push(UserView::new(user, lockout, devices));
    }
    Ok(views)
}

/// Whose audit entries to list.
pub enum AuditSubject {
    Email(String),
    UserId(String),
}

/// The operator actions on one account, newest first.
pub async fn audit_entries(app: &App, subject: AuditSubject) -> Result<Vec<AuditEntry>, SupportError> {
    let user_id = match subject {
        AuditSubject::Email(email) => find(app, &email).await?.id,
        // A user id stays listable after the account is gone: that is what the log is for.
        AuditSubject::UserId(id) => UserId::parse(&id).ok_or(SupportError::InvalidUserId)?,
    };
    Ok(app.audit.entries_for(&user_id).await?)
}

/// What the operator's own password, asked again before a sensitive action, came to.
pub enum Confirmation {
    /// Typed in this session in the last 5 minutes: not asked.
    Recent,
    /// Typed (right) now. The presented session is ended and this one replaces it (a new token,
    /// the new `password_at`), so that a token that leaked before the confirmation does not
    /// carry it. The browser gets `token` for the remaining `lifetime_seconds`.
    Renewed { session: SessionRecord, token: Token, lifetime_seconds: i64 },
    /// Not typed, or not the operator's password.
    Refused,
}

/// Checks a console operator's confirmation: `typed` is what the form carried, if anything.
pub async fn confirm_operator(
    app: &App,
    user: &User,
    session: &SessionRecord,
    typed: Option<&str>,
) -> anyhow::Result<Confirmation> {
    let now = app.clock.now();
    if session.password_is_recent(now) {
        return Ok(Confirmation::Recent);
    }
    let Some(typed) = typed.filter(|t| !t.is_empty()) else {
        return Ok(Confirmation::Refused);
    };
    if !verify_own_password(app, user, typed).await? {
        return Ok(Confirmation::Refused);
    }
    let token = Token::generate();
    let renewed = SessionRecord { hash: token.hash(), last_seen_at: now, password_at: now, ..session.clone() };
    // The new one first: a failure in between leaves the operator signed in, never signed out.
    app.sessions.create_session(&renewed).await?;
    app.sessions.delete_session(&session.hash).await?;
    let lifetime_seconds = (renewed.expires_at.unix() - now.unix()).max(0);
    tracing::info!(user_id = %user.id, "operator confirmed: session renewed");
    Ok(Confirmation::Renewed { session: renewed, token, lifetime_seconds })
}
