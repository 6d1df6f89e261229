//! SQS-triggered handlers: one span per message, and partial batch failures (only the
//! messages that failed come back, `ReportBatchItemFailures`).

use std::future::Future;
use tracing::Instrument;

pub use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};

/// Runs `work` on each message body; reports the ids of those that failed.
pub async fn for_each_message<F, Fut>(event: SqsEvent, work: F) -> SqsBatchResponse
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let mut response = SqsBatchResponse::default();
    for message in event.records {
        let id = message.message_id.clone().unwrap_or_default();
        let span = tracing::info_span!("sqs_message", message_id = %id);
        let result = work(message.body.unwrap_or_default()).instrument(span).await;
        if let Err(error) = result {
            tracing::error!(message_id = %id, error = format!("{error:#}"), "message failed; it will come back");
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            response.batch_item_failures.push(failure);
        }
    }
    response
}
