//! Function `recovery-worker` (SQS): mails password reset links. A message that fails is
//! reported alone (partial batch failure) and comes back; the hourly quota bounds the mail.

use super::worker::{for_each_message, SqsBatchResponse, SqsEvent};
use crate::flows::recovery::{send_reset_link, ResetRequested};
use crate::App;

pub async fn handle(app: &App, event: SqsEvent) -> SqsBatchResponse {
    for_each_message(event, |delivery| async move {
        let request: ResetRequested = match serde_json::from_str(&delivery.body) {
            Ok(request) => request,
            Err(e) => {
                // Not ours to retry: a malformed message would fail the same way forever.
                tracing::error!(error = %e, "dropping a malformed recovery message");
                return Ok(());
            }
        };
        send_reset_link(app, &request).await
    })
    .await
}
