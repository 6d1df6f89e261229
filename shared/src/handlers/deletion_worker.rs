//! Function `deletion-worker` (SQS): deletes accounts: the rows of an operator's deletion job,
//! or the account of a learner's own request.

use super::sqs::{for_each_message, malformed, SqsBatchResponse, SqsEvent};
use crate::flows::removal::{process_own_request, DeletionMessage};
use crate::jobs::deletion::{Deletion, DeletionTarget};
use crate::jobs::{process, RowMessage};
use crate::App;

pub async fn handle(app: &App, event: SqsEvent) -> SqsBatchResponse {
    for_each_message(event, |delivery| async move {
        let final_attempt = delivery.is_final(app.config.max_receives);
        if let Ok(message) = serde_json::from_str::<RowMessage<DeletionTarget>>(&delivery.body) {
            return process::<Deletion>(app, &message, final_attempt).await;
        }
        let message: DeletionMessage =
            serde_json::from_str(&delivery.body).map_err(|e| malformed(app, &delivery, "deletion", e))?;
        match message.job_id.clone() {
            // Written before jobs went through the pipeline: the same rows, the same job.
            Some(job_id) => {
                let message = RowMessage { job_id, rows: message.targets };
                process::<Deletion>(app, &message, final_attempt).await
            }
            None => process_own_request(app, &message).await,
        }
    })
    .await
}
