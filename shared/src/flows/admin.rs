//! Operator support: look-up, manual activation, enforced password, unlock, and the audit log
//! every one of these actions writes to (who, what, on whom, when, with what outcome).

pub use crate::domain::UserView;
use crate::domain::{Actor, AuditEntry, Email, FieldErrors, User, UserId, UserStatus};
use crate::flows::outbox::{send_later, MailRequest};
use crate::flows::signin::device_counter_key;
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
/// ends; the lockout is cleared; the learner is told unless `notify` is false. The password
/// itself goes nowhere but into the hash.
pub async fn set_password(
    app: &App,
    operator: &str,
    raw_email: &str,
    new_password: &str,
    notify: bool,
) -> Result<(), SupportError> {
    let user = find(app, raw_email).await?;
    let checked = app
        .password_policy(crate::domain::Factors::PasswordOnly)
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
    audit(app, operator, "set_password", &user, if notify { "done, learner notified" } else { "done, not notified" })
        .await?;
    if notify {
        let request = MailRequest::PasswordChanged { user_id: user.id.to_string(), by_operator: true };
        send_later(app, &request).await?;
    }
    Ok(())
}

/// Clears the sign-in failure count of an account, and so any lock.
pub async fn unlock(app: &App, operator: &str, raw_email: &str) -> Result<(), SupportError> {
    let user = find(app, raw_email).await?;
    app.attempts.clear(&app.counter_key(&user.email)?).await?;
    audit(app, operator, "unlock", &user, "done").await.map_err(SupportError::from)
}

/// Grants (`true`) or revokes the operator role. Refused for the operator's own account; the
/// admin API (IAM) is the only way in, so a console operator never gets here with their own.
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
    if !app.store.set_operator(&user.id, grant).await? {
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
