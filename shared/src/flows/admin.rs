//! Operator look-ups.

use crate::domain::{Email, Timestamp, User, UserId, UserSource, UserStatus};
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
}

impl From<User> for UserView {
    fn from(user: User) -> Self {
        Self {
            user_id: user.id,
            email: user.email.to_string(),
            username: user.username.to_string(),
            name: user.name.to_string(),
            status: user.status,
            created_at: user.created_at,
            activated_at: user.activated_at,
            source: user.source,
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
    Ok(app
        .store
        .user_by_email_key(&email.key())
        .await?
        .map(UserView::from))
}
