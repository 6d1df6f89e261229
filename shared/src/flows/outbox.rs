//! Mail leaves through the mail queue and its worker, never from a request: a request does the
//! same store and queue calls whether or not an address has an account (no enumeration by
//! timing), and its answer never waits for SES. The queue is the one the template calls
//! `MailQueue`; its worker is `mail-worker`, which
//! hands each message to `mail::dispatch`. Flows only put a typed `MailRequest` on it: what
//! happened, not what to send; they never render or send a mail.

pub use crate::mail::request::MailRequest;
use crate::ports::Queue;
use crate::App;

/// Hands `request` to the mail queue.
pub async fn send_later(app: &App, request: &MailRequest) -> anyhow::Result<()> {
    app.queue.enqueue(Queue::Mail, &[request.to_body()?]).await
}
