//! Function `bulk-worker` (SQS): creates the accounts of a bulk registration, row by row.

use super::sqs::{for_each_message, malformed, SqsBatchResponse, SqsEvent};
use crate::jobs::bulk_registration::{BulkRegistration, BulkRow};
use crate::jobs::{process, RowMessage};
use crate::App;

pub async fn handle(app: &App, event: SqsEvent) -> SqsBatchResponse {
    // The site settings in force for this batch (lifetimes, the look, password rules).
    app.refresh_settings().await;
    for_each_message(event, |delivery| async move {
        let message: RowMessage<BulkRow> =
            serde_json::from_str(&delivery.body).map_err(|e| malformed(app, &delivery, "bulk", e))?;
        process::<BulkRegistration>(app, &message, delivery.is_final(app.config.max_receives)).await
    })
    .await
}
