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
