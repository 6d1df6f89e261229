//! Self-registration: validate, hash, store the account and its activation token atomically,
//! and mail the link. Registering an address that already has an account answers exactly as a
//! new one would and mails the owner a notice instead (no enumeration).

use crate::domain::{Email, FieldErrors, FullName, User, UserId, UserSource, UserStatus, Username};
use crate::flows::outbox::{send_later, MailRequest};
use crate::metrics::Metric;
use crate::ports::CreateUserError;
use crate::App;

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
        let password = app
            .password_policy(crate::domain::Factors::PasswordOnly)
            .check(&self.password, &personal)
            .map_err(|e| note("password", e.to_string()))
            .ok();
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
    app.refuse_breached(&valid.password)
        .await
        .map_err(|e| RegistrationError::Invalid(FieldErrors::from([("password".to_owned(), e.to_string())])))?;
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
