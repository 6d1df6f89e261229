//! The typed message flows put on the mail queue: which mail, with its data. It names what
//! happened, not what to send: the worker reads the account and decides (an activation link or
//! a notice to the owner; a lock notice only to an account that exists). Its JSON is the queue
//! message's body; the format has not changed since the message got a `kind`, and a body from
//! before then (`{"email"}` alone) still reads as a reset request.

use serde::{Deserialize, Serialize};
use std::fmt;

/// What a registration typed (validated) and the hash of its password: what replaces a pending
/// registration of the same address. Its `Debug` hides the hash.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRegistration {
    pub username: String,
    pub name: String,
    pub password_hash: String,
    /// When the terms were accepted (Unix seconds).
    pub terms_accepted_at: i64,
    /// The version of the terms accepted (absent in messages from before versions existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terms_version: Option<String>,
}

impl fmt::Debug for NewRegistration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewRegistration")
            .field("username", &self.username)
            .field("name", &self.name)
            .field("password_hash", &"[redacted]")
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum MailRequest {
    /// "Forgot my password" for this address (as typed, valid, maybe not registered).
    PasswordReset { email: String },
    /// A registration with this address: `user_id` is the account it created or whose pending
    /// registration it replaced (its activation link); else the owner gets a notice. `source`:
    /// the requester's keyed source hash (`flows::registration::source_key`), never an IP.
    Registration {
        email: String,
        user_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        source: Option<String>,
        /// The registration itself, always sent (so that the request does the same work for
        /// every address): if the address has a pending self-registration, the worker replaces
        /// it with this one (`flows::registration` has why).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        registration: Option<NewRegistration>,
    },
    /// "Send me a new activation link" (`source` as for `Registration`).
    ActivationLink {
        email: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        source: Option<String>,
    },
    /// Sign-in to this address was just locked (known account or not).
    Lockout { email: String, failures: u32, until: i64 },
    /// The password of this account was changed (by the learner's reset link, or an operator).
    PasswordChanged { user_id: String, by_operator: bool },
    /// The learner changed their password on their account page (every other session ended):
    /// the owner is told, with what to do if it was not them.
    PasswordChangedByYou { user_id: String },
    /// An operator removed every second factor of this account (authenticator, passkeys,
    /// recovery codes): the owner is told.
    SecondFactorsRemoved { user_id: String },
    /// The learner asked for their account to be removed: a confirmation, to the address and
    /// name the account had (the deletion worker may be done first).
    RemovalRequested { user_id: String, email: String, name: String },
    /// An operator moved this account from `old_email` to the address it has now, raising its
    /// epoch to `auth_epoch` (`flows::admin_email`): a pending account gets a fresh activation
    /// link, an active one a notice at both addresses.
    EmailChangedByOperator { user_id: String, old_email: String, auth_epoch: u64 },
    /// The learner asked (with their password or second factor) to move their account to
    /// `new_email`: a confirmation link to that address if it is free, else a notice to its
    /// owner (the page answers the same either way).
    EmailChangeRequested { user_id: String, new_email: String },
    /// The learner confirmed a move from `old_email`: the old address is told, with "This was
    /// not me".
    EmailChangeConfirmed { user_id: String, old_email: String },
    /// An operator disabled this account (in epoch `auth_epoch`): the owner is told, the one
    /// mail a disabled account gets.
    AccountDisabled { user_id: String, auth_epoch: u64 },
    /// An operator's "Send a reset link": a reset link, as if the learner asked (the operator's
    /// own cap was taken by the flow; the learner's caps are not used).
    ResetLinkByOperator { user_id: String },
    /// An operator's "Resend the activation link": a fresh link to a pending account.
    ActivationLinkByOperator { user_id: String },
    /// A bulk upload with invitations created this account (job `job_id`): a link to choose a
    /// password, once.
    Invitation { user_id: String, job_id: String },
}

impl MailRequest {
    /// The queue message's body.
    pub fn to_body(&self) -> anyhow::Result<String> {
        Ok(serde_json::to_string(self)?)
    }

    /// A message body as the queue delivers it; `{"email"}` alone is a reset request from
    /// before the message had a kind. Anything else is an error, never a panic.
    pub fn parse(body: &str) -> Result<Self, serde_json::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Legacy {
            email: String,
        }
        serde_json::from_str(body).or_else(|e| {
            serde_json::from_str::<Legacy>(body).map(|l| Self::PasswordReset { email: l.email }).map_err(|_| e)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_already_queued_still_read() {
        let cases = [
            (r#"{"email":"a@b.org"}"#, MailRequest::PasswordReset { email: "a@b.org".into() }),
            (r#"{"kind":"password_reset","email":"a@b.org"}"#, MailRequest::PasswordReset { email: "a@b.org".into() }),
            (
                r#"{"kind":"registration","email":"a@b.org","user_id":"u1"}"#,
                MailRequest::Registration {
                    email: "a@b.org".into(),
                    user_id: "u1".into(),
                    source: None,
                    registration: None,
                },
            ),
            (
                r#"{"kind":"registration","email":"a@b.org","user_id":"u1","source":"5e","registration":{"username":"ada","name":"Ada","password_hash":"$argon2id$x","terms_accepted_at":1800000000}}"#,
                MailRequest::Registration {
                    email: "a@b.org".into(),
                    user_id: "u1".into(),
                    source: Some("5e".into()),
                    registration: Some(NewRegistration {
                        username: "ada".into(),
                        name: "Ada".into(),
                        password_hash: "$argon2id$x".into(),
                        terms_accepted_at: 1_800_000_000,
                        terms_version: None,
                    }),
                },
            ),
            (
                r#"{"kind":"activation_link","email":"a@b.org"}"#,
                MailRequest::ActivationLink { email: "a@b.org".into(), source: None },
            ),
            (
                r#"{"kind":"activation_link","email":"a@b.org","source":"5e"}"#,
                MailRequest::ActivationLink { email: "a@b.org".into(), source: Some("5e".into()) },
            ),
            (
                r#"{"kind":"lockout","email":"a@b.org","failures":6,"until":1800000000}"#,
                MailRequest::Lockout { email: "a@b.org".into(), failures: 6, until: 1_800_000_000 },
            ),
            (
                r#"{"kind":"password_changed","user_id":"u1","by_operator":true}"#,
                MailRequest::PasswordChanged { user_id: "u1".into(), by_operator: true },
            ),
            (
                r#"{"kind":"password_changed_by_you","user_id":"u1"}"#,
                MailRequest::PasswordChangedByYou { user_id: "u1".into() },
            ),
            (
                r#"{"kind":"second_factors_removed","user_id":"u1"}"#,
                MailRequest::SecondFactorsRemoved { user_id: "u1".into() },
            ),
            (
                r#"{"kind":"removal_requested","user_id":"u1","email":"a@b.org","name":"Ada"}"#,
                MailRequest::RemovalRequested { user_id: "u1".into(), email: "a@b.org".into(), name: "Ada".into() },
            ),
            (
                r#"{"kind":"email_changed_by_operator","user_id":"u1","old_email":"a@b.org","auth_epoch":2}"#,
                MailRequest::EmailChangedByOperator {
                    user_id: "u1".into(),
                    old_email: "a@b.org".into(),
                    auth_epoch: 2,
                },
            ),
            (
                r#"{"kind":"email_change_requested","user_id":"u1","new_email":"a@b.org"}"#,
                MailRequest::EmailChangeRequested { user_id: "u1".into(), new_email: "a@b.org".into() },
            ),
            (
                r#"{"kind":"email_change_confirmed","user_id":"u1","old_email":"a@b.org"}"#,
                MailRequest::EmailChangeConfirmed { user_id: "u1".into(), old_email: "a@b.org".into() },
            ),
            (
                r#"{"kind":"account_disabled","user_id":"u1","auth_epoch":3}"#,
                MailRequest::AccountDisabled { user_id: "u1".into(), auth_epoch: 3 },
            ),
            (
                r#"{"kind":"reset_link_by_operator","user_id":"u1"}"#,
                MailRequest::ResetLinkByOperator { user_id: "u1".into() },
            ),
            (
                r#"{"kind":"activation_link_by_operator","user_id":"u1"}"#,
                MailRequest::ActivationLinkByOperator { user_id: "u1".into() },
            ),
            (
                r#"{"kind":"invitation","user_id":"u1","job_id":"j1"}"#,
                MailRequest::Invitation { user_id: "u1".into(), job_id: "j1".into() },
            ),
        ];
        for (body, request) in cases {
            assert_eq!(MailRequest::parse(body).unwrap(), request, "{body}");
            assert_eq!(MailRequest::parse(&request.to_body().unwrap()).unwrap(), request);
        }
    }

    #[test]
    fn a_registration_request_never_shows_its_password_hash_in_logs() {
        let request = MailRequest::Registration {
            email: "a@b.org".into(),
            user_id: "u1".into(),
            source: None,
            registration: Some(NewRegistration {
                username: "ada".into(),
                name: "Ada".into(),
                password_hash: "$argon2id$v=19$secret".into(),
                terms_accepted_at: 0,
                terms_version: Some("2026-01".into()),
            }),
        };
        let shown = format!("{request:?}");
        assert!(!shown.contains("argon2") && shown.contains("[redacted]"), "{shown}");
    }

    #[test]
    fn anything_else_is_an_error() {
        for body in ["", "null", "[]", r#"{"kind":"spam","email":"a@b.org"}"#, r#"{"email":"a@b.org","x":1}"#, "\u{0}"]
        {
            assert!(MailRequest::parse(body).is_err(), "{body:?}");
        }
    }
}
