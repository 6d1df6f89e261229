//! What the service writes to learners: the typed requests flows put on the mail queue
//! (`request`), the mail worker's part of each (`dispatch`: which account, which link), the
//! mails themselves (`messages`, rendered from templates), and delivery with retries. Mail always
//! goes to the address stored on the account, never to the form of it a request typed.
//!
//! Nothing here imports `flows`: flows only enqueue a `MailRequest` (`flows::outbox`), and the
//! mail worker (`handlers::mail_worker`) hands it to `dispatch`.

mod dispatch;
pub(crate) mod messages;
pub mod request;

pub use dispatch::dispatch;
pub use request::{MailRequest, NewRegistration};

use crate::domain::User;
use crate::metrics::Metric;
use crate::ports::{MailError, OutgoingMail};
use crate::App;
use rand::Rng;
use std::time::Duration;

/// Attempts for a mail whose failures are passing ones (SES throttling, 5xx), on top of the
/// SDK's own three; between them the wait doubles from `FIRST_BACKOFF`, with jitter. When all
/// fail, the caller's queue message comes back later (and nothing was spent on it).
const ATTEMPTS: u32 = 5;
const FIRST_BACKOFF: Duration = Duration::from_millis(250);

/// How long a refusal of mail (a hard bounce or a complaint) silences reset links: a learner who
/// asks for a reset link a day or more after the address last refused mail gets one (the
/// mailbox may work again; if it bounces again, the new refusal silences another day). Every
/// other mail stays silenced until an operator clears the refusal (`flows::mail_events`).
pub const REFUSAL_COOL_DOWN_SECONDS: i64 = 86_400;

/// `deliver` for a mail the learner asked for themselves (a reset link): past the cool-down,
/// a refused address gets it.
pub async fn deliver_asked_for(app: &App, user: &User, mail: &OutgoingMail, kind: &'static str) -> bool {
    if silenced(app, user, kind) {
        return true;
    }
    let now = app.clock.now();
    let cooled = user.mail_refused.as_ref().is_some_and(|r| r.at.plus_seconds(REFUSAL_COOL_DOWN_SECONDS) <= now);
    if cooled {
        tracing::info!(kind, user_id = %user.id, "mail sent to an address that refused mail a day or more ago");
        return send_with_retries(app, mail, kind).await;
    }
    deliver(app, user, mail, kind).await
}

/// Sends `mail` to `user` with retries; true when it went out, or need not (the address
/// refused mail before: a hard bounce or a complaint, see `User::mailable`). A mail that
/// cannot go out is logged (without its address or contents) and reported as false; `dispatch`
/// decides, per kind, whether its message comes back. Mail errors never change an answer to a
/// request, so they reveal nothing about which addresses exist (Django CVE-2024-45231).
pub async fn deliver(app: &App, user: &User, mail: &OutgoingMail, kind: &'static str) -> bool {
    if silenced(app, user, kind) {
        return true;
    }
    if !user.mailable() {
        tracing::info!(kind, user_id = %user.id, "mail not sent: the address refused mail before");
        app.metrics.count(Metric::MailsSuppressed);
        return true;
    }
    send_with_retries(app, mail, kind).await
}

/// A disabled account gets no mail but the notice of its disabling (`dispatch` sends that one
/// with `send_with_retries`, and checks this before minting any link): true (and counted as
/// suppressed) when `user` is disabled.
pub(crate) fn silenced(app: &App, user: &User, kind: &'static str) -> bool {
    if user.is_disabled() {
        tracing::info!(kind, user_id = %user.id, "mail not sent: the account is disabled");
        app.metrics.count(Metric::MailsSuppressed);
    }
    user.is_disabled()
}

/// `deliver` for a mail whose account may be gone (checked by the caller while it exists).
pub async fn send_with_retries(app: &App, mail: &OutgoingMail, kind: &'static str) -> bool {
    for attempt in 1..=ATTEMPTS {
        match app.mailer.send(mail).await {
            Ok(()) => {
                app.metrics.count(Metric::MailsSent);
                return true;
            }
            Err(MailError::Transient(error)) if attempt < ATTEMPTS => {
                let pause = backoff(attempt);
                tracing::warn!(kind, attempt, ?pause, error = format!("{error:#}"), "mail delivery failed, retrying");
                tokio::time::sleep(pause).await;
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

/// The pause after failed attempt `attempt` (1-based): `FIRST_BACKOFF` doubled each time,
/// between half and all of it ("equal jitter"), so throttled workers do not retry in step.
fn backoff(attempt: u32) -> Duration {
    let full = FIRST_BACKOFF * 2u32.pow(attempt.saturating_sub(1).min(10));
    let half = full / 2;
    half + rand::thread_rng().gen_range(Duration::ZERO..=half)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter() {
        for attempt in 1..=4 {
            let full = FIRST_BACKOFF * 2u32.pow(attempt - 1);
            for _ in 0..50 {
                let pause = backoff(attempt);
                assert!(pause >= full / 2 && pause <= full, "attempt {attempt}: {pause:?}");
            }
        }
    }
}
