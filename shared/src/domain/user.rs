//! The account record.

use super::{Email, FullName, PasswordHash, Timestamp, Username};
use serde::Serialize;
use std::fmt;

/// A time-ordered UUIDv7: sortable, and it tells nothing about the learner.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, PartialOrd, Ord)]
#[serde(transparent)]
pub struct UserId(String);

impl UserId {
    pub fn generate() -> Self {
        Self(uuid::Uuid::now_v7().to_string())
    }

    pub fn parse(value: &str) -> Option<Self> {
        uuid::Uuid::parse_str(value).ok().map(|id| Self(id.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UserStatus {
    PendingActivation,
    Active,
    RemovalRequested,
}

impl UserStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PendingActivation => "pending_activation",
            Self::Active => "active",
            Self::RemovalRequested => "removal_requested",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "pending_activation" => Some(Self::PendingActivation),
            "active" => Some(Self::Active),
            "removal_requested" => Some(Self::RemovalRequested),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UserSource {
    #[serde(rename = "self")]
    SelfService,
    Bulk,
    Operator,
}

impl UserSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SelfService => "self",
            Self::Bulk => "bulk",
            Self::Operator => "operator",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "self" => Some(Self::SelfService),
            "bulk" => Some(Self::Bulk),
            "operator" => Some(Self::Operator),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub email: Email,
    pub username: Username,
    pub name: FullName,
    /// Absent for bulk accounts created without one: such a learner sets it by password reset.
    pub password_hash: Option<PasswordHash>,
    pub status: UserStatus,
    pub created_at: Timestamp,
    pub activated_at: Option<Timestamp>,
    pub terms_accepted_at: Option<Timestamp>,
    pub source: UserSource,
    /// Raised whenever every session (and outstanding reset link) of the user must stop
    /// working at once; each of those carries the epoch it was made in.
    pub auth_epoch: u64,
    /// The `operator` role: the console at `/operator` is theirs. Granted and revoked only
    /// through the IAM-authorised admin API.
    pub operator: bool,
}
