//! Operator look-ups.

use crate::domain::{Email, LockoutState, Timestamp, User, UserId, UserSource, UserStatus};
use crate::flows::signin::counter_key;
use crate::App;
use serde::Serialize;

/// What an operator sees of an account (never its password hash).
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct UserView {
    pub user_id: UserId,
    pub email: String,
    pub username: String,
    pub name: String,
    pub status: UserStatus,
    pub created_at: Timestamp,
    pub activated_at: Option<Timestamp>,
    pub source: UserSource,
    /// Failed sign-ins counted in the current window, and the end of a lock in force.
    pub failed_logins: u32,
    pub locked_until: Option<Timestamp>,
}

impl UserView {
    fn new(user: User, lockout: LockoutState) -> Self {
        Self {
            user_id: user.id,
            email: user.email.to_string(),
            username: user.username.to_string(),
            name: user.name.to_string(),
            status: user.status,
            created_at: user.created_at,
            activated_at: user.activated_at,
            source: user.source,
            failed_logins: lockout.failures,
            locked_until: lockout.locked_until,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error("not a valid email address: {0}")]
    InvalidEmail(#[from] crate::domain::EmailError),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

pub async fn user_by_email(app: &App, raw_email: &str) -> Result<Option<UserView>, LookupError> {
    let email = Email::parse(raw_email)?;
    let Some(user) = app.store.user_by_email_key(&email.key()).await? else {
        return Ok(None);
    };
    let lockout = app.attempts.state(&counter_key(&email), app.clock.now()).await?;
    Ok(Some(UserView::new(user, lockout)))
}

/// Clears the sign-in failure count of an account (and so any lock). Ok(false): no such account.
pub async fn unlock(app: &App, raw_email: &str, operator: &str) -> Result<bool, LookupError> {
    let email = Email::parse(raw_email)?;
    let Some(user) = app.store.user_by_email_key(&email.key()).await? else {
        return Ok(false);
    };
    app.attempts.clear(&counter_key(&email)).await?;
    tracing::info!(operator, user_id = %user.id, "operator unlocked sign-in");
    Ok(true)
}
