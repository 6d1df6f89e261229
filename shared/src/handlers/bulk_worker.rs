//! Function `bulk-worker` (SQS): creates the accounts of a bulk registration, row by row.

use super::worker::{for_each_message, SqsBatchResponse, SqsEvent};
use crate::jobs::bulk_registration::{BulkRegistration, BulkRow};
use crate::jobs::{process, RowMessage};
use crate::App;

pub async fn handle(app: &App, event: SqsEvent) -> SqsBatchResponse {
    for_each_message(event, |delivery| async move {
        // A message that is not a bulk message fails every time: it ends in the DLQ, where an
        // operator can look at it.
        let message: RowMessage<BulkRow> =
            serde_json::from_str(&delivery.body).map_err(|e| anyhow::anyhow!("not a bulk message: {e}"))?;
        process::<BulkRegistration>(app, &message, delivery.is_final(app.config.max_receives)).await
    })
    .await
}
