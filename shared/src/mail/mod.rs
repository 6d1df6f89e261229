//! What the service writes to learners, and delivery with retries. Mail always goes to the
//! address stored on the account, never to the form of it a request typed.

mod messages;

pub use messages::{
    activation, lockout, password_changed, password_reset, registration_attempt_notice, removal_requested,
};

use crate::ports::{MailError, Mailer, OutgoingMail};
use std::time::Duration;

/// Attempts for a mail whose failures are passing ones (on top of the SDK's own retries).
const ATTEMPTS: u32 = 3;

/// Sends with retries. A mail that cannot go out is logged (without its address or contents)
/// and reported as false; the flow that asked carries on, and its answer does not change, so
/// mail errors reveal nothing about which addresses exist (Django CVE-2024-45231).
pub async fn deliver(mailer: &dyn Mailer, mail: &OutgoingMail, kind: &'static str) -> bool {
    for attempt in 1..=ATTEMPTS {
        match mailer.send(mail).await {
            Ok(()) => return true,
            Err(MailError::Transient(error)) if attempt < ATTEMPTS => {
                tracing::warn!(kind, attempt, error = format!("{error:#}"), "mail delivery failed, retrying");
                tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
            }
            Err(error) => {
                let cause = match &error {
                    MailError::Transient(e) | MailError::Permanent(e) => format!("{e:#}"),
                };
                tracing::error!(kind, attempt, error = %error, cause, "mail not delivered");
                return false;
            }
        }
    }
    false
}
