//! SQS-triggered handlers: one span per message, and partial batch failures (only the
//! messages that failed come back, `ReportBatchItemFailures`).

use crate::metrics::Metric;
use crate::App;
use std::future::Future;
use tracing::Instrument;

pub use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};

/// One delivery of a message.
pub struct Delivery {
    pub body: String,
    /// 1 on the first delivery.
    pub receive_count: u32,
}

impl Delivery {
    /// Is this the last delivery before the dead-letter queue (after `max_receives`, the
    /// configured `LEARNERS_MAX_RECEIVES`)?
    pub fn is_final(&self, max_receives: u32) -> bool {
        self.receive_count >= max_receives
    }
}

/// The one rule for a message no worker can read (not JSON, or not the shape its queue
/// carries): it fails on every delivery, so SQS moves it to the queue's dead-letter queue after
/// `LEARNERS_MAX_RECEIVES` receives, where an operator can look at it and nothing is lost; it is
/// counted once, on its last delivery, as `MalformedMessages` (alarmed on). Nothing is dropped.
pub fn malformed(app: &App, delivery: &Delivery, what: &str, error: impl std::fmt::Display) -> anyhow::Error {
    if delivery.is_final(app.config.max_receives) {
        app.metrics.count(Metric::MalformedMessages);
    }
    tracing::error!(error = %error, receive_count = delivery.receive_count, "not a {what} message: it goes to the dead-letter queue");
    anyhow::anyhow!("not a {what} message")
}

/// Runs `work` on each message; reports the ids of those that failed.
pub async fn for_each_message<F, Fut>(event: SqsEvent, work: F) -> SqsBatchResponse
where
    F: Fn(Delivery) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    // The messages of a batch run side by side: a function given more than one vCPU uses them
    // (argon2 hashing runs on the blocking pool), and one slow message does not hold the rest.
    let runs = event.records.into_iter().map(|message| {
        let id = message.message_id.clone().unwrap_or_default();
        let receive_count = message.attributes.get("ApproximateReceiveCount").and_then(|c| c.parse().ok()).unwrap_or(1);
        let delivery = Delivery { body: message.body.unwrap_or_default(), receive_count };
        let span = tracing::info_span!("sqs_message", message_id = %id);
        let run = work(delivery).instrument(span);
        async move { (id, run.await) }
    });
    let mut response = SqsBatchResponse::default();
    for (id, result) in futures::future::join_all(runs).await {
        if let Err(error) = result {
            tracing::error!(message_id = %id, error = format!("{error:#}"), "message failed; it will come back");
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            response.batch_item_failures.push(failure);
        }
    }
    response
}
