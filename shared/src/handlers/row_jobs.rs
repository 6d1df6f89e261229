//! What the two job APIs (bulk registrations, deletions) answer alike: a job's status with a
//! page of its problem rows, its report in pages, the `Idempotency-Key` header, and the one
//! place the pipeline's errors become HTTP.

use crate::domain::{JobKind, JobProgress, RowJob, RowResult};
use crate::http::error::ErrorCode;
use crate::http::response::Reply;
use crate::http::{path_param, query_param, response, ApiError};
use crate::jobs::{parse_cursor, problems_page, progress, report_page, CursorError, IntakeError};
use crate::App;
use lambda_http::Request;
use serde_json::{json, Value};

impl From<CursorError> for ApiError {
    fn from(error: CursorError) -> Self {
        ApiError::new(ErrorCode::BadCursor, error.to_string())
    }
}

impl From<IntakeError> for ApiError {
    fn from(error: IntakeError) -> Self {
        match error {
            IntakeError::KeyReused => ApiError::new(
                ErrorCode::IdempotencyKeyReused,
                "This Idempotency-Key came with another body; use a new key for new content.",
            ),
            IntakeError::Unexpected(e) => ApiError::unexpected(&e),
        }
    }
}

/// The request's `Idempotency-Key`: 1 to 255 visible ASCII characters, if given.
pub(crate) fn idempotency_key(req: &Request) -> Result<Option<String>, ApiError> {
    let Some(value) = req.headers().get("idempotency-key") else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(key) if (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic()) => {
            Ok(Some(key.to_owned()))
        }
        _ => Err(ApiError::new(
            ErrorCode::BadIdempotencyKey,
            "The Idempotency-Key must be 1 to 255 visible ASCII characters.",
        )),
    }
}

/// The job named by the `{job_id}` path parameter, if it is of `kind`.
pub(crate) async fn job_of_kind(app: &App, req: &Request, kind: JobKind) -> Result<JobProgress, ApiError> {
    let id = path_param(req, "job_id").unwrap_or_default();
    progress(app, &id)
        .await
        .map_err(|e| ApiError::unexpected(&e))?
        .filter(|progress| progress.job.kind == kind)
        .ok_or_else(|| ApiError::new(ErrorCode::JobNotFound, "There is no such job."))
}

/// `GET .../{job_id}[?cursor=]`: the counts under the kind's own names, and a page of at most
/// 100 problem rows (`errors`) with `next_cursor` while more follow. A deletion job lists its
/// failed rows only (a row without an account is no problem to act on, and keeps no address).
pub(crate) async fn status(app: &App, req: &Request, kind: JobKind) -> Result<Reply, ApiError> {
    let cursor = parse_cursor(query_param(req, "cursor").as_deref())?;
    let progress = job_of_kind(app, req, kind).await?;
    let keep = |row: &crate::domain::RowOutcome| kind == JobKind::BulkRegistration || row.result == RowResult::Failed;
    let page = problems_page(app, &progress.job, cursor, keep).await.map_err(|e| ApiError::unexpected(&e))?;
    // Each row's result under the kind's own name, as the counts and the report name it.
    let errors: Vec<Value> = page
        .items
        .iter()
        .map(|row| {
            let mut value = serde_json::to_value(row).unwrap_or_default();
            value["result"] = Value::from(kind.outcome_name(row.result));
            value
        })
        .collect();
    let mut body = json!({
        "job_id": progress.job.id, "status": progress.status, "total": progress.job.total,
        "errors": errors, "next_cursor": page.next_cursor,
    });
    for result in [RowResult::Done, RowResult::Skipped, RowResult::Failed] {
        body[kind.outcome_name(result)] = Value::from(progress.counts.of_result(result));
    }
    Ok(response::json(200, &body))
}

/// `GET .../{job_id}/report.csv[?cursor=]`: at most `REPORT_ROWS_PER_PAGE` rows a response,
/// each page a whole CSV file; `x-next-cursor` and a `Link: rel="next"` name the next page.
pub(crate) async fn report(app: &App, req: &Request, kind: JobKind) -> Result<Reply, ApiError> {
    let cursor = parse_cursor(query_param(req, "cursor").as_deref())?;
    let progress = job_of_kind(app, req, kind).await?;
    report_response(app, &progress.job, cursor).await
}

/// One page of a job's report as a CSV download, naming the next page while one follows (the
/// API's and the console's report alike).
pub(crate) async fn report_response(app: &App, job: &RowJob, cursor: u64) -> Result<Reply, ApiError> {
    let mut page = report_page(app, job, cursor).await.map_err(|e| ApiError::unexpected(&e))?;
    let csv = page.items.pop().unwrap_or_default();
    let mut response = response::text(200, "text/csv; charset=utf-8", csv);
    let headers = response.headers_mut();
    let part = if cursor == 0 { String::new() } else { format!("-after-{cursor}") };
    if let Ok(value) = http::HeaderValue::from_str(&format!("attachment; filename=\"job-{}{part}.csv\"", job.id)) {
        headers.insert("content-disposition", value);
    }
    if let Some(next) = page.next_cursor {
        if let Ok(value) = http::HeaderValue::from_str(&next) {
            headers.insert("x-next-cursor", value);
        }
        if let Ok(value) = http::HeaderValue::from_str(&format!("<?cursor={next}>; rel=\"next\"")) {
            headers.insert("link", value);
        }
    }
    Ok(response)
}

/// `POST .../uploads`: a new job whose file goes straight to the uploads' bucket by a signed
/// `PUT` (any size; the file's arrival starts the intake). The body is empty or a JSON object:
/// `{"invite": true}` for a bulk registration whose learners get an invitation. 201 with the
/// job's id and the request to send the file with.
pub(crate) async fn new_upload(app: &App, req: &Request, kind: JobKind, operator: &str) -> Result<Reply, ApiError> {
    let key = idempotency_key(req)?;
    let mut errors = crate::http::FieldErrors::new();
    let body: &[u8] = req.body().as_ref();
    let invite = if body.is_empty() {
        false
    } else {
        let mut fields = crate::http::Fields::from_request(req)?;
        let invite = match kind {
            JobKind::BulkRegistration => fields.boolean("invite", &mut errors),
            JobKind::Deletion => false,
        };
        fields.finish(&mut errors);
        invite
    };
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let job = crate::jobs::open_upload(app, kind, operator, invite, key.as_deref()).await?;
    if job.status != crate::domain::JobStatus::Receiving {
        // The same key again, after the file came: the job as it is, and nothing to upload.
        return Ok(response::json(200, &json!({"job_id": job.id, "upload": null})));
    }
    let object = crate::jobs::object_key(kind, &job.id);
    let upload =
        app.uploads.presign_put(&object, crate::jobs::UPLOAD_VALID_FOR).await.map_err(|e| ApiError::unexpected(&e))?;
    let headers: serde_json::Map<String, Value> =
        upload.headers.into_iter().map(|(name, value)| (name, Value::String(value))).collect();
    Ok(response::json(
        201,
        &json!({
            "job_id": job.id,
            "upload": {
                "method": upload.method,
                "url": upload.url,
                "headers": headers,
                "expires_in": crate::jobs::UPLOAD_VALID_FOR.as_secs(),
            },
        }),
    ))
}
