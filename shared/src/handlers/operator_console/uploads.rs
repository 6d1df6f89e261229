//! Files of any size from the console (issue 24): `POST /operator/bulk/upload` and
//! `POST /operator/deletions/upload` take the file's options (the invitations) and the
//! operator's confirmation, reserve a job waiting for its file (`jobs::open_upload`, as the
//! admin API's `.../uploads` does) and answer a form that posts the file straight to the
//! uploads' bucket under a POST policy: that job's object key and no other, at most
//! `MAX_FILE_BYTES`, valid `VALID_FOR`, and S3 sends the browser on to the job's page
//! (`success_action_redirect`, fixed by the policy). The file's arrival starts the intake.
//!
//! There is no check page before such a file is done (S3 passes no fields to us, and the
//! intake starts the job): the options are fixed before the upload, and the operator is told
//! so on both steps. Files up to 5.9 MB keep the check (`bulk_check`, `deletions_check`).
//! Who could abuse this, and how it is refused: docs/security.md, "Console uploads".

use super::{confirmed, needed, unexpected, with_confirmation, wrong_proof, Confirmed, Console, Typed};
use crate::domain::{JobKind, JobStatus};
use crate::http::console_pages::{upload_options, upload_send, urlencode};
use crate::http::response::{self, Reply};
use crate::http::{ApiError, FieldErrors};
use crate::App;
use lambda_http::Request;
use std::time::Duration;

/// The largest file a console upload takes: a million rows of a bulk registration.
pub const MAX_FILE_BYTES: u64 = 100 * 1024 * 1024;

/// How long the upload form works: the file must be on its way before the job would be cut
/// off (`domain::INTAKE_DEADLINE_SECONDS`, 15 minutes from the reservation), with time left
/// for the intake to read it.
pub const VALID_FOR: Duration = Duration::from_secs(600);

/// "Continue": the options, confirmed; then the form that sends the file to the bucket. The
/// form's `attempt` (one per page that shows the button) and its options name the job: the
/// same press sent again (a refreshed page, a double click) gets the same job and, once its
/// file has come, that job's page.
pub(super) async fn reserve(app: &App, req: &Request, console: &mut Console, kind: JobKind) -> Result<Reply, ApiError> {
    let own: &[&'static str] = match kind {
        JobKind::BulkRegistration => &["attempt", "invite"],
        JobKind::Deletion => &["attempt"],
    };
    let mut values = super::form_fields(req, &[], &with_confirmation(own))?;
    let typed = Typed::take(&mut values);
    let attempt = attempt(values.first().cloned().flatten())?;
    // "Send each learner an invitation" (a checkbox, off by default): recorded on the job.
    let invite = values.get(1).cloned().flatten().is_some_and(|v| v == "true");
    if !typed.any() {
        if let Some(with) = needed(app, console).await? {
            let page = upload_options(kind, invite, attempt.as_deref(), Some(with), &FieldErrors::new());
            return Ok(response::page(200, page));
        }
    }
    if let Confirmed::No(with) = confirmed(app, console, &typed).await? {
        return Ok(response::page(
            403,
            upload_options(kind, invite, attempt.as_deref(), Some(with), &wrong_proof(with)),
        ));
    }
    // The console's attempts and the API's Idempotency-Keys never name each other's jobs; the
    // same page pressed again with the other choice (after "Back") is another job.
    let idempotency = attempt.map(|attempt| format!("console:{attempt}:{invite}"));
    let job = crate::jobs::open_upload(app, kind, &console.actor, invite, idempotency.as_deref()).await?;
    let job_page = format!("/operator/jobs/{}", urlencode(&job.id));
    if job.status != JobStatus::Receiving {
        // The same press again after its file came: nothing more to send.
        return Ok(response::see_other(&job_page));
    }
    let back = format!("{}{job_page}", app.config.site_url.trim_end_matches('/'));
    let key = crate::jobs::object_key(kind, &job.id);
    let signed = app.uploads.presign_post(&key, &back, MAX_FILE_BYTES, VALID_FOR).await.map_err(unexpected)?;
    tracing::info!(operator = %console.actor, job_id = %job.id, kind = kind.as_str(), invite, "console upload reserved");
    let page = upload_send(kind, &job.id, invite, &signed.url, &signed.fields, MAX_FILE_BYTES, VALID_FOR);
    let mut reply = response::page(200, page);
    // The page's form ends at the bucket (S3's 303 then brings the browser back here).
    if let Some(origin) = origin_of(&signed.url) {
        reply.allow_form_action(origin);
    }
    Ok(reply)
}

/// The form's `attempt`, if it has one: what `console_pages::new_attempt` makes, or a refusal.
fn attempt(value: Option<String>) -> Result<Option<String>, ApiError> {
    let Some(value) = value else { return Ok(None) };
    if (1..=64).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Ok(Some(value));
    }
    let mut errors = FieldErrors::new();
    errors.insert("attempt".to_owned(), "Open the form again: this one is not the console's.".to_owned());
    Err(ApiError::validation(errors))
}

/// `scheme://host[:port]` of an absolute URL; None for anything else.
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next().filter(|host| !host.is_empty())?;
    let safe = |s: &str| s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b));
    (matches!(scheme, "http" | "https") && safe(host)).then(|| format!("{scheme}://{host}"))
}

#[cfg(test)]
mod tests {
    use super::origin_of;

    #[test]
    fn the_form_may_end_at_the_buckets_origin_only() {
        let bucket = "https://learners-uploads-abc.s3.eu-west-1.amazonaws.com/";
        assert_eq!(origin_of(bucket).as_deref(), Some("https://learners-uploads-abc.s3.eu-west-1.amazonaws.com"));
        assert_eq!(origin_of("http://127.0.0.1:5000/bucket").as_deref(), Some("http://127.0.0.1:5000"));
        assert_eq!(origin_of("http://127.0.0.1:8080/_dev/uploads").as_deref(), Some("http://127.0.0.1:8080"));
        for odd in ["/_dev/uploads", "javascript://x", "https://", "https://a b/", "https://x;y/"] {
            assert_eq!(origin_of(odd), None, "{odd}");
        }
    }
}
