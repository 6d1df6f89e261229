//! The account record.

use super::{Email, FullName, LockoutState, PasswordHash, Timestamp, Username};
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
    /// The version of the terms accepted then (`LEARNERS_TERMS_VERSION`); None for accounts
    /// made before versions were recorded, without one configured, or not by registration.
    pub terms_version: Option<String>,
    pub source: UserSource,
    /// Raised whenever every session (and outstanding reset link) of the user must stop
    /// working at once; each of those carries the epoch it was made in.
    pub auth_epoch: u64,
    /// The `operator` role: the console at `/operator` is theirs. Granted and revoked only
    /// through the IAM-authorised admin API.
    pub operator: bool,
    /// The `support` role (issue 25), above operators: it changes the site settings. Held only
    /// with the operator role; granted and revoked, like it, through the admin API (stored
    /// attribute `support`, absent = false).
    pub support: bool,
    /// The mail system reported that the address refuses mail (a hard bounce or a complaint).
    pub mail_refused: Option<MailRefusal>,
    /// An operator disabled the account (issue 26): it cannot sign in and gets no mail but the
    /// notice, until enabled again. Its status stays what it was.
    pub disabled_at: Option<Timestamp>,
}

impl User {
    /// Disabled by an operator (`disabled_at`): no sign-in, no session, no link, no mail but the
    /// notice of the disabling.
    pub fn is_disabled(&self) -> bool {
        self.disabled_at.is_some()
    }

    /// May the account be signed in to (and its sessions live)? Active and not disabled.
    pub fn may_sign_in(&self) -> bool {
        self.status == UserStatus::Active && !self.is_disabled()
    }

    /// May the service mail this account? Not while its address is one that refused mail.
    pub fn mailable(&self) -> bool {
        self.mail_refused.as_ref().is_none_or(|refusal| refusal.address != self.email.as_ref())
    }
}

/// A hard bounce or a spam complaint about the address an account had at the time. Mail to
/// the account stops while its email is that address (SES suspends senders whose bounce or
/// complaint rate climbs; mailing a refusing address again only raises it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MailRefusal {
    pub kind: MailRefusalKind,
    /// The address that refused, as stored on the account then.
    pub address: String,
    pub at: Timestamp,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MailRefusalKind {
    Bounce,
    Complaint,
}

impl MailRefusalKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bounce => "bounce",
            Self::Complaint => "complaint",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "bounce" => Some(Self::Bounce),
            "complaint" => Some(Self::Complaint),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_stops_mail_to_its_address_only() {
        let at = Timestamp::from_unix(1_800_000_000);
        let mut user = User {
            id: UserId::generate(),
            email: Email::parse("ada@example.org").unwrap(),
            username: Username::parse("ada").unwrap(),
            name: FullName::parse("Ada").unwrap(),
            password_hash: None,
            status: UserStatus::Active,
            created_at: at,
            activated_at: Some(at),
            terms_accepted_at: None,
            terms_version: None,
            source: UserSource::Bulk,
            auth_epoch: 0,
            operator: false,
            mail_refused: None,
            support: false,
            disabled_at: None,
        };
        assert!(user.mailable());
        user.mail_refused = Some(MailRefusal { kind: MailRefusalKind::Bounce, address: "ada@example.org".into(), at });
        assert!(!user.mailable());
        user.email = Email::parse("ada@new.example.org").unwrap();
        assert!(user.mailable(), "a new address is mailed again");
    }
}

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
    /// Has the operator role.
    pub operator: bool,
    /// Browsers that signed in to the account before (device cookies), and their failed
    /// sign-ins added up: they count apart from `failed_logins` (every other browser's).
    pub known_devices: u32,
    pub known_device_failed_logins: u32,
    /// The address refuses mail (SES reported a hard bounce or a complaint): the service sends
    /// it nothing. None when no refusal concerns the current address.
    pub mail_refused: Option<MailRefusal>,
    /// When an operator disabled the account; None while it is enabled.
    pub disabled_at: Option<Timestamp>,
}

impl UserView {
    /// The account as read, its lockout state and its known browsers (count, failures).
    pub fn new(user: User, lockout: LockoutState, devices: (u32, u32)) -> Self {
        let mail_refused = if user.mailable() { None } else { user.mail_refused.clone() };
        Self {
            mail_refused,
            disabled_at: user.disabled_at,
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
            operator: user.operator,
            known_devices: devices.0,
            known_device_failed_logins: devices.1,
        }
    }
}
