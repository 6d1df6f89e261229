//! Operator support: look-up, manual activation, enforced password, unlock, removing second
//! factors, and the audit log every one of these actions writes to (who, what, on whom, when,
//! with what outcome).
//!
//! Who acts decides what they may change (`Actor::may_change`): an operator in the console never
//! sets the password of, deletes, unlocks, activates or removes the second factors of an account
//! with the operator role (nor changes its email: `flows::admin_email`); the IAM-authenticated
//! admin API can. A refusal is audited and changes
//! nothing.

pub use crate::domain::UserView;
use crate::domain::{
    Actor, AuditEntry, Email, FieldErrors, SecondFactors, SessionRecord, Token, User, UserId, UserStatus,
};
use crate::flows::outbox::{send_later, MailRequest};
use crate::flows::second_factor::verify_own_code;
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
    #[error("the account is disabled")]
    Disabled,
    #[error("only an account waiting for activation has an activation link")]
    NotPending,
    #[error("the account was mailed on operators' word too often this hour")]
    TooManyMails,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

async fn find(app: &App, raw_email: &str) -> Result<User, SupportError> {
    let email = Email::parse(raw_email)?;
    app.store.user_by_email_key(&email.key()).await?.ok_or(SupportError::NotFound)
}

/// Records an operator's action on `user` (and logs it, without the address).
pub async fn audit(app: &App, operator: &str, action: &str, user: &User, outcome: &str) -> anyhow::Result<()> {
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

/// The audit action of removing an account's second factors.
pub const REMOVE_SECOND_FACTORS: &str = "remove_second_factors";

/// Before the confirm step of removing second factors: refused (audited) for an account
/// `operator` may not change, or not found.
pub async fn may_remove_second_factors(app: &App, operator: &str, raw_email: &str) -> Result<(), SupportError> {
    let user = find(app, raw_email).await?;
    may_change(app, operator, REMOVE_SECOND_FACTORS, &user).await
}

/// Removes every second factor of an account (its authenticator, passkeys and recovery codes):
/// the support case of a lost phone. Signing in then takes the password alone. Refused in the
/// console for an account with the operator role; the admin API may (that is how an operator
/// who lost their phone gets back in). The owner is always told by mail. Idempotent: an account
/// with none is `no_change`, and nobody is mailed.
///
/// Sessions are not ended: one begun with a factor stays what it was (its `amr` says how it was
/// proven), and a sign-in waiting for a code finds none to check and is begun again with the
/// password. When the account itself may be in someone else's hands, setting a password (or
/// the learner's reset) ends every session.
pub async fn remove_second_factors(app: &App, operator: &str, raw_email: &str) -> Result<(), SupportError> {
    let user = find(app, raw_email).await?;
    may_change(app, operator, REMOVE_SECOND_FACTORS, &user).await?;
    // Replaced on the version read: an enrolment or a code spent in between makes the write
    // fail, and the removal reads again.
    for _ in 0..3 {
        let read = app.factors.second_factors(&user.id).await?;
        if !read.is_enrolled() && read.recovery_codes.is_empty() {
            return audit(app, operator, REMOVE_SECOND_FACTORS, &user, "no_change").await.map_err(SupportError::from);
        }
        let next = SecondFactors { version: read.version + 1, totp: None, passkeys: vec![], recovery_codes: vec![] };
        if app.factors.save_second_factors(&user.id, &next).await? {
            audit(app, operator, REMOVE_SECOND_FACTORS, &user, "done, learner notified").await?;
            send_later(app, &MailRequest::SecondFactorsRemoved { user_id: user.id.to_string() }).await?;
            return Ok(());
        }
    }
    Err(anyhow::anyhow!("the account's second factors kept changing while they were removed").into())
}

/// An account's second factors, as an operator sees them on the card.
pub async fn second_factors_of(app: &App, raw_email: &str) -> Result<SecondFactors, SupportError> {
    let user = find(app, raw_email).await?;
    Ok(app.factors.second_factors(&user.id).await?)
}

pub async fn user_by_email(app: &App, raw_email: &str) -> Result<UserView, SupportError> {
    let user = find(app, raw_email).await?;
    let lockout = app.attempts.state(&app.counter_key(&user.email)?, app.clock.now()).await?;
    let devices = known_devices(app, &user).await?;
    Ok(UserView::new(user, lockout, devices))
}

/// `user_by_email` for an operator looking a learner up (the admin API's look-up, `learnerctl
/// show`): recorded as a `view` (who looked at whom; nothing else), once per look-up.
pub async fn look_up(app: &App, operator: &str, raw_email: &str) -> Result<UserView, SupportError> {
    let view = user_by_email(app, raw_email).await?;
    record_view(app, operator, raw_email).await?;
    Ok(view)
}

/// Records that `operator` viewed the account of `raw_email` (the console's card): nothing
/// when no account has the address.
pub async fn record_view(app: &App, operator: &str, raw_email: &str) -> Result<(), SupportError> {
    match find(app, raw_email).await {
        Ok(user) => Ok(audit(app, operator, "view", &user, "done").await?),
        Err(SupportError::NotFound) | Err(SupportError::InvalidEmail(_)) => Ok(()),
        Err(other) => Err(other),
    }
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
    let password = match app.acceptable_password(&user, new_password).await? {
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

/// What an operator proves, to confirm a sensitive action.
pub enum Proof {
    /// Their own password (only where they have no second factor and none is required).
    Password(String),
    /// A code from their authenticator app, or one of their recovery codes.
    Code(String),
    /// A passkey's answer (`credential`) to the confirmation challenge it was given.
    Passkey { challenge: String, credential: String },
}

/// What the confirmation asks the operator for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfirmWith {
    /// No second factor enrolled, and `LEARNERS_OPERATOR_SECOND_FACTOR=optional`.
    Password,
    /// A second factor: a code (from the app, or a recovery code) where they have either, or a
    /// passkey where they have one.
    SecondFactor { passkeys: bool, codes: bool },
}

/// An operator with a second factor (or where one is required) confirms with it, never with the
/// password: a phished or guessed password alone does not carry a sensitive action.
pub async fn confirm_with(app: &App, user: &User) -> anyhow::Result<ConfirmWith> {
    let factors = app.factors.second_factors(&user.id).await?;
    Ok(if factors.is_enrolled() || app.config.operator_second_factor.is_required() {
        let codes = factors.totp.is_some() || !factors.recovery_codes.is_empty();
        ConfirmWith::SecondFactor {
            passkeys: !factors.passkeys.is_empty(),
            codes: codes || factors.passkeys.is_empty(),
        }
    } else {
        ConfirmWith::Password
    })
}

/// What the operator's confirmation, asked again before a sensitive action, came to.
pub enum Confirmation {
    /// A factor was proven in this session in the last 5 minutes: not asked.
    Recent,
    /// Proven now. The presented session is ended and this one replaces it (a new token, the
    /// new `password_at`), so that a token that leaked before the confirmation does not carry
    /// it. The browser gets `token` for the remaining `lifetime_seconds`.
    Renewed { session: SessionRecord, token: Token, lifetime_seconds: i64 },
    /// Nothing proven, a proof of the wrong kind (a password where a second factor is asked),
    /// or a wrong one.
    Refused,
}

/// Checks a console operator's confirmation: `proof` is what the form carried, if anything.
/// A code counts on the operator's own confirmation counter, as a password does.
pub async fn confirm_operator(
    app: &App,
    user: &User,
    session: &SessionRecord,
    proof: Option<Proof>,
) -> anyhow::Result<Confirmation> {
    let now = app.clock.now();
    if session.password_is_recent(now) {
        return Ok(Confirmation::Recent);
    }
    let Some(proof) = proof else {
        return Ok(Confirmation::Refused);
    };
    let proven = match (confirm_with(app, user).await?, proof) {
        (ConfirmWith::Password, Proof::Password(typed)) if !typed.is_empty() => {
            verify_own_password(app, user, &typed).await?
        }
        (ConfirmWith::SecondFactor { .. }, Proof::Code(typed)) if !typed.trim().is_empty() => {
            verify_own_code(app, user, &typed).await?.is_some()
        }
        (ConfirmWith::SecondFactor { passkeys: true, .. }, Proof::Passkey { challenge, credential }) => {
            crate::flows::passkeys::verify_own_passkey(app, user, &challenge, &credential).await?.is_some()
        }
        _ => false,
    };
    if !proven {
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
