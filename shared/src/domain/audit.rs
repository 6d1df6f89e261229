//! Operator actions on record. No password, token or secret is ever part of an entry.

use super::{Timestamp, UserId};
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    /// UUIDv7: orders entries of the same second.
    pub id: String,
    pub at: Timestamp,
    /// The IAM caller's ARN, or the local gateway's operator.
    pub operator: String,
    /// `activate`, `set_password`, `unlock`, ...
    pub action: String,
    pub user_id: UserId,
    /// `done`, `no_change`, or why it was refused (`password_policy: ...`).
    pub outcome: String,
}

impl AuditEntry {
    pub fn new(at: Timestamp, operator: &str, action: &str, user_id: &UserId, outcome: impl Into<String>) -> Self {
        Self {
            id: uuid::Uuid::now_v7().to_string(),
            at,
            operator: operator.to_owned(),
            action: action.to_owned(),
            user_id: user_id.clone(),
            outcome: outcome.into(),
        }
    }
}
