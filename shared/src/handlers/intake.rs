//! Function `intake` (S3 `ObjectCreated` on the uploads' bucket, under `uploads/`): an uploaded
//! job's file is read as a stream and its rows go out (`jobs::receive_upload`), by its kind's
//! parser. The local gateway calls it the same way once it has stored a file.

use crate::domain::JobKind;
use crate::jobs::bulk_registration::BulkRegistration;
use crate::jobs::deletion::Deletion;
use crate::jobs::{job_of_key, receive_upload};
use crate::App;
pub use aws_lambda_events::event::s3::{S3Event, S3EventRecord};

/// Takes in every object of the event. An error (the event comes again: S3 invokes
/// asynchronously, and Lambda retries a failed event twice) only after every record was tried.
pub async fn handle(app: &App, event: S3Event) -> anyhow::Result<()> {
    // The rows are checked by the site's rules in force (a password minimum changed in the
    // site settings applies to an uploaded file as to one sent in the request).
    app.refresh_settings().await;
    let mut first_error = None;
    for record in event.records {
        let Some(key) = record.s3.object.key.as_deref().map(object_key) else {
            continue;
        };
        let result = match job_of_key(&key) {
            Some((JobKind::BulkRegistration, _)) => {
                receive_upload::<BulkRegistration>(app, &key, crate::flows::bulk::parser(app)).await
            }
            Some((JobKind::Deletion, _)) => {
                receive_upload::<Deletion>(app, &key, crate::flows::removal::parser()).await
            }
            None => {
                tracing::warn!(key, "an object that names no job: left to the bucket's lifecycle rule");
                Ok(())
            }
        };
        if let Err(error) = result {
            tracing::error!(key, error = format!("{error:#}"), "intake failed; the event comes again");
            first_error.get_or_insert(error);
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// An event's object key as stored: S3 sends it URL-encoded, with `+` for a space.
fn object_key(raw: &str) -> String {
    let spaced = raw.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced).decode_utf8_lossy().into_owned()
}

/// The event S3 sends when `key` is stored in `bucket` (the local gateway's, and tests').
pub fn object_created(bucket: &str, key: &str) -> S3Event {
    let mut record = S3EventRecord::default();
    record.event_source = Some("aws:s3".to_owned());
    record.event_name = Some("ObjectCreated:Put".to_owned());
    record.s3.bucket.name = Some(bucket.to_owned());
    let encoded: String = percent_encoding::utf8_percent_encode(key, percent_encoding::NON_ALPHANUMERIC)
        .to_string()
        .replace("%2F", "/")
        .replace("%2D", "-")
        .replace("%2E", ".")
        .replace("%5F", "_");
    record.s3.object.key = Some(encoded);
    let mut event = S3Event::default();
    event.records.push(record);
    event
}
