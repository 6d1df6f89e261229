//! Self-registration: validate, hash, store the account, and ask the mail worker for the link.
//! Registering an address that already has an active account answers exactly as a new one would
//! and mails the owner a notice instead (no enumeration).
//!
//! # Pre-registered addresses (issue 21)
//!
//! The threat: an attacker registers the victim V's address with a password A. The account waits,
//! pending, and its activation link goes to V's mailbox, where only V can follow it. If V later
//! registers (or just follows the first link), V must not end up activating an account that
//! password A signs in to: the mailbox V proved would then vouch for the attacker's password.
//!
//! The rules, which together make "the password of a registration nobody proved can never sign
//! in to the account the mailbox owner activates" hold whatever the order of events:
//!
//! 1. A later registration of a still-pending, self-registered address **replaces** the earlier
//!    one: its password hash, name, username (the claim moves in the same atomic write) and terms
//!    time, in the next `auth_epoch` (`UserStore::replace_registration`). Every link mailed for
//!    the earlier registration is of the old epoch, and ends. The mail worker does it
//!    (`mail::dispatch`), from the registration the request queued (`NewRegistration`: what was
//!    typed, and the password's hash, never the password), so that the request does the same
//!    work for a new, a pending and an active address. The account keeps its id: whichever
//!    registration's message the worker handles, the link it mints is of the epoch current then,
//!    and asks for the current registration's password.
//! 2. Activation is bound to the registration that sent the link (the token's epoch is the
//!    account's) and **asks for that registration's password** on the page the link opens
//!    (`flows::activation::activate`). A wrong password activates nothing and counts on the
//!    account's own confirmation counter (as many guesses as sign-in allows, then locked). So V, typing B, activates only a
//!    registration whose password is B; a link for the attacker's registration cannot be
//!    activated by V, and the attacker never sees the link.
//! 3. "Forgot my password" still activates a pending account (the reset link proves the mailbox,
//!    and it sets a password the mailbox owner chose): the way out for a learner who forgot the
//!    password they registered with, or whose address someone else registered after them.
//!
//! What stays the same: the answer to a registration is one answer whether the address is new,
//! pending or active (a username claimed by any account, this one included, gets the usual
//! "taken" answer, decided before the address is looked at, so it links no username to an
//! address). Accounts made by bulk registration are created active, and an operator's
//! "Activate" needs no link; neither is ever replaced (only self-registered pending accounts are).
//! Known limits: an operator's "Activate" of a pending account (`flows::admin::activate`, for a
//! lost activation mail) keeps the password it holds, which may be a registration nobody proved:
//! operators should rather have the learner reset the password (which activates too). Whether a
//! username becomes taken tells a new or pending address from an active
//! one (as before this change for new against active).
//!
//! A registration whose username was free when the request looked, but is claimed when the worker
//! replaces, changes nothing (and mails nothing): a race between two registrants of one username.
//!
//! Mail: each registration mail counts against the address's and the source's daily caps, which
//! the mail worker applies (`mail::dispatch`), so the answer here never depends on them.

use crate::domain::{Email, FieldErrors, FullName, User, UserId, UserSource, UserStatus, Username};
use crate::flows::outbox::{send_later, MailRequest};
use crate::mail::NewRegistration;
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
    /// The address has an account: its owner gets a notice, or, if it is a pending
    /// self-registration, this registration replaces it (decided by the mail worker).
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
    register_from(app, form, None).await
}

/// Registers, from the source `ip` (as the gateway saw it) if known: its keyed hash rides on the
/// mail request, for the per-source daily cap.
pub async fn register_from(
    app: &App,
    form: &RegistrationForm,
    ip: Option<&str>,
) -> Result<Registered, RegistrationError> {
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
        terms_version: app.config.terms_version.clone(),
        source: UserSource::SelfService,
        auth_epoch: 0,
        operator: false,
        mail_refused: None,
        support: false,
        disabled_at: None,
    };
    // The same calls whether or not the address is taken: store the account (refused if the
    // address has one), then hand the mail to the queue, whose worker decides what it says, and
    // whether this registration replaces a pending one of the address (rule 1).
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
    let registration = NewRegistration {
        username: user.username.to_string(),
        name: user.name.to_string(),
        password_hash: user.password_hash.as_ref().map(|h| h.as_str().to_owned()).unwrap_or_default(),
        terms_accepted_at: now.unix(),
        terms_version: user.terms_version.clone(),
    };
    let request = MailRequest::Registration {
        email: user.email.to_string(),
        user_id: user.id.to_string(),
        source: source_key(app, ip),
        registration: Some(registration),
    };
    send_later(app, &request).await?;
    tracing::info!("registration handled");
    Ok(outcome)
}

/// The key under which mail asked for from source `ip` is counted: an HMAC under the counter key
/// (never the address itself), IPv6 per /64 (one subscriber's prefix). None without an address or
/// a key (then only the per-address cap applies).
pub fn source_key(app: &App, ip: Option<&str>) -> Option<String> {
    keyed_source(app.config.counter_key.as_deref()?, ip?)
}

fn keyed_source(key: &str, ip: &str) -> Option<String> {
    Some(crate::domain::network_hmac(key, "mail-source:", &crate::domain::network_of(ip)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_key_is_keyed_and_never_the_address() {
        let k = "a counter key of at least thirty-two characters";
        let key = keyed_source(k, "203.0.113.7").unwrap();
        assert_eq!(key.len(), 64);
        assert!(!key.contains("203"));
        assert_ne!(key, keyed_source(k, "203.0.113.8").unwrap());
        assert_ne!(key, keyed_source("another key of at least thirty-two characters", "203.0.113.7").unwrap());
        // One IPv6 /64 is one source.
        assert_eq!(keyed_source(k, "2001:db8:1:2::1"), keyed_source(k, "2001:db8:1:2:ffff::9"));
        assert_ne!(keyed_source(k, "2001:db8:1:2::1"), keyed_source(k, "2001:db8:1:3::1"));
        assert_eq!(keyed_source(k, "not an address"), None);
    }
}
