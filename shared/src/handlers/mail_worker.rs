//! Function `mail-worker` (SQS): the mail worker. It sends every mail the service sends,
//! from the typed requests flows put on its queue (`flows::outbox`), each handed to
//! `mail::dispatch`. A message that fails is reported alone (partial batch failure) and comes
//! back.

use super::sqs::{for_each_message, malformed, SqsBatchResponse, SqsEvent};
use crate::mail::{dispatch, MailRequest};
use crate::App;

pub async fn handle(app: &App, event: SqsEvent) -> SqsBatchResponse {
    // The site settings in force for this batch (lifetimes, the look, password rules).
    app.refresh_settings().await;
    for_each_message(event, |delivery| async move {
        let request = MailRequest::parse(&delivery.body).map_err(|e| malformed(app, &delivery, "mail", e))?;
        dispatch(app, &request).await
    })
    .await
}
