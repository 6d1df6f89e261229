//! Function `deletion-worker` (SQS): deletes accounts, one target at a time.

use super::worker::{for_each_message, SqsBatchResponse, SqsEvent};
use crate::flows::removal::{process, DeletionMessage};
use crate::App;

pub async fn handle(app: &App, event: SqsEvent) -> SqsBatchResponse {
    for_each_message(event, |delivery| async move {
        let message: DeletionMessage =
            serde_json::from_str(&delivery.body).map_err(|e| anyhow::anyhow!("not a deletion message: {e}"))?;
        process(app, &message, delivery.is_final(app.config.max_receives)).await
    })
    .await
}
