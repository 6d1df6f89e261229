//! Function `bulk-worker` (SQS): creates the accounts of a bulk registration, row by row.

use super::worker::{for_each_message, SqsBatchResponse, SqsEvent};
use crate::flows::bulk::{process, BulkMessage};
use crate::App;

pub async fn handle(app: &App, event: SqsEvent) -> SqsBatchResponse {
    for_each_message(event, |delivery| async move {
        // A message that is not a bulk message fails every time: it ends in the DLQ, where an
        // operator can look at it.
        let message: BulkMessage =
            serde_json::from_str(&delivery.body).map_err(|e| anyhow::anyhow!("not a bulk message: {e}"))?;
        process(app, &message, delivery.is_final(app.config.max_receives)).await
    })
    .await
}
