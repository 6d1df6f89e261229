//! Operator actions on record. No password, token or secret is ever part of an entry.

use super::{Timestamp, User, UserId};
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    /// UUIDv7: orders entries of the same second.
    pub id: String,
    pub at: Timestamp,
    /// Who: see `Actor` (an IAM caller's ARN, or a console operator's user id and email).
    pub operator: String,
    /// `activate`, `set_password`, `unlock`, `remove_second_factors`, ...
    pub action: String,
    pub user_id: UserId,
    /// `done`, `no_change`, or why it was refused (`password_policy: ...`).
    pub outcome: String,
}

/// Who did an action on record: an IAM principal (by its ARN, or the local gateway's stand-in),
/// an operator signed in to the console (a user, by id and email), or the learner themselves
/// (a change they made on their account page, or "This was not me"). Jobs and audit entries keep
/// it as one string (`to_record`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    Iam(String),
    Console { user_id: UserId, email: String },
    Learner(UserId),
}

const CONSOLE_PREFIX: &str = "console:";
const LEARNER_PREFIX: &str = "learner:";

/// What an operator reads for an entry by the learner themselves.
pub const LEARNER_LABEL: &str = "the learner";

impl Actor {
    /// `arn:...`, `console:<user id>:<email>`, or `learner:<user id>`.
    pub fn to_record(&self) -> String {
        match self {
            Self::Iam(arn) => arn.clone(),
            Self::Console { user_id, email } => format!("{CONSOLE_PREFIX}{user_id}:{email}"),
            Self::Learner(user_id) => format!("{LEARNER_PREFIX}{user_id}"),
        }
    }

    pub fn from_record(record: &str) -> Self {
        if let Some(user_id) = record.strip_prefix(LEARNER_PREFIX).and_then(UserId::parse) {
            return Self::Learner(user_id);
        }
        let console = record.strip_prefix(CONSOLE_PREFIX).and_then(|rest| rest.split_once(':'));
        match console.and_then(|(id, email)| Some((UserId::parse(id)?, email))) {
            Some((user_id, email)) => Self::Console { user_id, email: email.to_owned() },
            None => Self::Iam(record.to_owned()),
        }
    }

    /// May this actor set the password of `target`, delete, unlock, activate it or remove its
    /// second factors? Always, but for an account with the operator role only through the
    /// IAM-authenticated admin API: in the console, an operator being offboarded could otherwise
    /// set a colleague's password (and go on as them), strip a colleague's second factor, or
    /// delete them. The people who hold the AWS keys keep these actions.
    /// A learner changes only their own account.
    pub fn may_change(&self, target: &User) -> bool {
        match self {
            Self::Learner(user_id) => *user_id == target.id,
            Self::Iam(_) => true,
            Self::Console { .. } => !target.operator,
        }
    }

    /// What a person reads: the operator's email, the IAM principal, or "the learner".
    pub fn label(&self) -> &str {
        match self {
            Self::Iam(arn) => arn,
            Self::Console { email, .. } => email,
            Self::Learner(_) => LEARNER_LABEL,
        }
    }
}

impl AuditEntry {
    /// Where the entry sits in the log's order (newest last): `<epoch seconds, 12 digits>#<id>`,
    /// the sort key of both its items; a cursor of the log is one of these.
    pub fn sort_key(&self) -> String {
        format!("{:012}#{}", self.at.unix().max(0), self.id)
    }

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

/// The subject of the audit entries of exports (they concern no one account): a UUID no
/// account has (accounts get UUIDv7s; the site settings' entries have the nil UUID).
pub fn exports_subject() -> UserId {
    UserId::parse("00000000-0000-0000-0000-000000000001").unwrap_or_else(UserId::generate)
}

/// Which entries of the log to list: across accounts, or one learner's, newest first, between
/// two times, after a cursor (a `Cursor::Key` holding an entry's `sort_key`, or the end of a
/// day the previous page did not reach).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditQuery {
    /// Text the actor's record contains (an ARN or part of one; `console:<user id>:` for an
    /// operator of the console).
    pub operator: Option<String>,
    /// The action, exactly (`view`, `unlock`, ...).
    pub action: Option<String>,
    /// One learner's entries only (their account's own partition: no day walk).
    pub learner: Option<UserId>,
    /// At or after.
    pub from: Timestamp,
    /// At or before.
    pub to: Timestamp,
    pub after: Option<super::Cursor>,
    pub limit: usize,
}

impl AuditQuery {
    /// The position the page starts below: the cursor, or the end of `to`'s second (every key
    /// of that second sorts under `~`).
    pub fn start_key(&self) -> String {
        let to = format!("{:012}#~", self.to.unix().max(0));
        match &self.after {
            Some(super::Cursor::Key(after)) => after.clone().min(to),
            _ => to,
        }
    }

    /// Does an entry pass the filters (dates, operator, action, learner)? The cursor aside.
    pub fn admits(&self, entry: &AuditEntry) -> bool {
        entry.at >= self.from
            && entry.at <= self.to
            && self.operator.as_ref().is_none_or(|text| entry.operator.contains(text.as_str()))
            && self.action.as_ref().is_none_or(|action| entry.action == *action)
            && self.learner.as_ref().is_none_or(|id| entry.user_id == *id)
    }
}

/// A page of the log, and where the next starts (none: this was the last). A page may be short
/// (even empty) with a next cursor: what one call reads is bounded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    pub next: Option<super::Cursor>,
}

/// A cursor of the log, as `Cursor::decode` gave it: a key that starts with 12 digits and `#`
/// (anything else was not given out by the log).
pub fn audit_cursor(cursor: super::Cursor) -> Result<super::Cursor, super::BadCursor> {
    match &cursor {
        super::Cursor::Key(key)
            if key.len() > 13 && key.as_bytes()[12] == b'#' && key[..12].bytes().all(|b| b.is_ascii_digit()) =>
        {
            Ok(cursor)
        }
        _ => Err(super::BadCursor),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_actor_survives_its_record() {
        let console = Actor::Console { user_id: UserId::generate(), email: "op@example.org".into() };
        assert_eq!(Actor::from_record(&console.to_record()), console);
        assert_eq!(console.label(), "op@example.org");
        let iam = Actor::Iam("arn:aws:iam::123456789012:user/ops".into());
        assert_eq!(Actor::from_record(&iam.to_record()), iam);
        assert_eq!(Actor::from_record("console:not-a-uuid:x"), Actor::Iam("console:not-a-uuid:x".into()));
        let learner = Actor::Learner(UserId::generate());
        assert_eq!(Actor::from_record(&learner.to_record()), learner);
        assert_eq!(learner.label(), LEARNER_LABEL);
        assert_eq!(Actor::from_record("learner:x"), Actor::Iam("learner:x".into()));
    }
}
