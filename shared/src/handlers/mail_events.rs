//! Function `mail-events` (SQS): SES bounce and complaint events, from the mail events queue
//! (SNS delivers them there); see `flows::mail_events`.

use super::sqs::{for_each_message, malformed, SqsBatchResponse, SqsEvent};
use crate::flows::mail_events::{record, refusals};
use crate::App;

pub async fn handle(app: &App, event: SqsEvent) -> SqsBatchResponse {
    for_each_message(event, |delivery| async move {
        let refusals = refusals(&delivery.body).map_err(|e| malformed(app, &delivery, "SES event", e))?;
        record(app, refusals).await
    })
    .await
}
