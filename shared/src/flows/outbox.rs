//! Mail leaves through the mail queue and its worker, never from a request: a request does the
//! same store and queue calls whether or not an address has an account (no enumeration by
//! timing), and its answer never waits for SES. The queue is the one the template calls
//! `RecoveryQueue` (password reset was its first kind); its worker is `recovery-worker`.
//!
//! A message names what happened, not what to send: the worker reads the account and decides
//! (an activation link or a notice to the owner; a lock notice only to an account that exists).

use crate::domain::Timestamp;
use crate::ports::Queue;
use crate::App;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum MailRequest {
    /// "Forgot my password" for this address (as typed, valid, maybe not registered).
    PasswordReset { email: String },
    /// A registration with this address: `user_id` is the account it created, if the address
    /// was free (its activation link); else the owner gets a notice.
    Registration { email: String, user_id: String },
    /// "Send me a new activation link".
    ActivationLink { email: String },
    /// Sign-in to this address was just locked (known account or not).
    Lockout { email: String, failures: u32, until: i64 },
    /// The password of this account was changed (by the learner's reset link, or an operator).
    PasswordChanged { user_id: String, by_operator: bool },
    /// The learner asked for their account to be removed: a confirmation, to the address and
    /// name the account had (the deletion worker may be done first).
    RemovalRequested { user_id: String, email: String, name: String },
}

/// Hands `request` to the mail queue.
pub async fn send_later(app: &App, request: &MailRequest) -> anyhow::Result<()> {
    app.queue.enqueue(Queue::Recovery, &[serde_json::to_string(request)?]).await
}

/// The worker's part. Err: the message comes back later.
pub async fn deliver(app: &App, request: &MailRequest) -> anyhow::Result<()> {
    match request {
        MailRequest::PasswordReset { email } => super::recovery::send_reset_link(app, email).await,
        MailRequest::Registration { email, user_id } => {
            super::registration::mail_registration(app, email, user_id).await
        }
        MailRequest::ActivationLink { email } => super::activation::mail_new_link(app, email).await,
        MailRequest::Lockout { email, failures, until } => {
            super::signin::mail_lockout(app, email, *failures, Timestamp::from_unix(*until)).await
        }
        MailRequest::PasswordChanged { user_id, by_operator } => {
            super::recovery::mail_password_changed(app, user_id, *by_operator).await
        }
        MailRequest::RemovalRequested { user_id, email, name } => {
            super::removal::mail_removal_requested(app, user_id, email, name).await
        }
    }
}

/// A message body as the queue delivers it; `{"email"}` alone is a reset request from before
/// the message had a kind.
pub fn parse(body: &str) -> Result<MailRequest, serde_json::Error> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Legacy {
        email: String,
    }
    serde_json::from_str(body).or_else(|e| {
        serde_json::from_str::<Legacy>(body).map(|l| MailRequest::PasswordReset { email: l.email }).map_err(|_| e)
    })
}
