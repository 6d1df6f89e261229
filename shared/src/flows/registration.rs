//! Self-registration: validate, hash, store the account and its activation token atomically,
//! and mail the link. Registering an address that already has an account answers exactly as a
//! new one would and mails the owner a notice instead (no enumeration).

use crate::domain::{
    Email, FieldErrors, FullName, Token, TokenPurpose, TokenRecord, User, UserId, UserSource, UserStatus, Username,
};
use crate::flows::outbox::{send_later, MailRequest};
use crate::metrics::Metric;
use crate::ports::CreateUserError;
use crate::{mail, App};

/// A registration as submitted, before validation. Not `Debug`: it holds the password.
#[derive(Default)]
pub struct RegistrationForm {
    pub email: String,
    pub username: String,
    pub name: String,
    pub password: String,
    pub terms_accepted: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RegistrationError {
    #[error("some fields are not valid")]
    Invalid(FieldErrors),
    #[error("the username is taken")]
    UsernameTaken,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// What happened, for the logs only: the answer to the learner is the same either way.
#[derive(Debug, PartialEq, Eq)]
pub enum Registered {
    Created(UserId),
    EmailAlreadyRegistered,
}

pub struct ValidRegistration {
    email: Email,
    username: Username,
    name: FullName,
    password: crate::domain::Password,
}

impl RegistrationForm {
    /// Validates every field at once, so the learner sees every problem in one answer.
    pub fn validate(&self, app: &App) -> Result<ValidRegistration, FieldErrors> {
        let mut errors = FieldErrors::new();
        let mut note = |field: &str, message: String| {
            errors.insert(field.to_owned(), message);
        };
        let email = Email::parse(&self.email).map_err(|e| note("email", e.to_string())).ok();
        let username = Username::parse(&self.username).map_err(|e| note("username", e.to_string())).ok();
        let name = FullName::parse(&self.name).map_err(|e| note("name", e.to_string())).ok();
        let personal: Vec<&str> = [
            username.as_ref().map(AsRef::as_ref),
            email.as_ref().map(Email::local_part),
            name.as_ref().map(AsRef::as_ref),
        ]
        .into_iter()
        .flatten()
        .collect();
        let password =
            app.password_policy().check(&self.password, &personal).map_err(|e| note("password", e.to_string())).ok();
        if !self.terms_accepted {
            note("terms_accepted", "You need to accept the terms of service.".to_owned());
        }
        match (email, username, name, password) {
            (Some(email), Some(username), Some(name), Some(password)) if errors.is_empty() => {
                Ok(ValidRegistration { email, username, name, password })
            }
            _ => Err(errors),
        }
    }
}

pub async fn register(app: &App, form: &RegistrationForm) -> Result<Registered, RegistrationError> {
    let valid = form.validate(app).map_err(RegistrationError::Invalid)?;
    let now = app.clock.now();
    let password_hash = app.passwords.hash(&valid.password).await?;
    let user = User {
        id: UserId::generate(),
        email: valid.email,
        username: valid.username,
        name: valid.name,
        password_hash: Some(password_hash),
        status: UserStatus::PendingActivation,
        created_at: now,
        activated_at: None,
        terms_accepted_at: Some(now),
        source: UserSource::SelfService,
        auth_epoch: 0,
        operator: false,
        mail_refused: None,
    };
    // The same calls whether or not the address is taken: store the account (refused if the
    // address has one), then hand the mail to the queue, whose worker decides what it says.
    let created = app.store.create_user(&user, None).await;
    let outcome = match created {
        Ok(()) => {
            app.metrics.count(Metric::Registrations);
            Registered::Created(user.id.clone())
        }
        // Usernames are public, so saying one is taken reveals nothing; it is decided before
        // the email so that the answer never depends on whether the email exists.
        Err(CreateUserError::Taken { username_taken: true, .. }) => return Err(RegistrationError::UsernameTaken),
        Err(CreateUserError::Taken { .. }) => Registered::EmailAlreadyRegistered,
        Err(CreateUserError::Unexpected(error)) => return Err(error.into()),
    };
    let request = MailRequest::Registration { email: user.email.to_string(), user_id: user.id.to_string() };
    send_later(app, &request).await?;
    tracing::info!("registration handled");
    Ok(outcome)
}

/// The mail worker's part of a registration: the account it created gets its activation link
/// (once: a redelivered message finds the slot taken); if the address belonged to someone
/// else, that owner gets a notice, at most once per resend interval (so the form cannot be
/// used to flood a mailbox).
pub(crate) async fn mail_registration(app: &App, raw_email: &str, user_id: &str) -> anyhow::Result<()> {
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
        let notice = mail::registration_attempt_notice(&app.config, &owner);
        mail::deliver(app, &owner, &notice, "registration_notice").await;
    }
    tracing::info!(user_id = %owner.id, "registration attempt with an already registered email");
    Ok(())
}

pub(crate) fn activation_mail_slot(user_id: &UserId) -> String {
    format!("activation-mail#{user_id}")
}

/// Mails an activation link for `token` to the address stored on `user`.
pub(crate) async fn send_activation(app: &App, user: &User, token: &Token) {
    let link = format!("{}/activate/{}", app.config.site_url, token.as_str());
    let message = mail::activation(&app.config, user, &link);
    mail::deliver(app, user, &message, "activation").await;
}
