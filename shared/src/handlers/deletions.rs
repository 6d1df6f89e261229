//! Function `deletions` (operators only): `POST /admin/v1/deletions` (JSON `{"emails":[...]}`
//! or a CSV with an `email` column; `?dry_run=true` only says what it would do),
//! `POST /admin/v1/deletions/uploads` (a job whose list of any length goes to the uploads'
//! bucket) and `GET /admin/v1/deletions/{job_id}`.

use super::row_jobs::{idempotency_key, new_upload, status};
use crate::domain::JobKind;
use crate::flows::removal::{check_deletions, check_list, read_list, request_deletions, ListError};
use crate::http::body::content_type;
use crate::http::error::ErrorCode;
use crate::http::identity::operator;
use crate::http::response::Reply;
use crate::http::{query_flag, response, route_key, ApiError, FieldErrors, Fields};
use crate::App;
use lambda_http::Request;
use serde_json::{json, Value};

pub async fn handle(app: &App, req: Request) -> Reply {
    let operator = match operator(app, &req) {
        Ok(operator) => operator,
        Err(refused) => return refused.into(),
    };
    let result = match route_key(&req).as_str() {
        "POST /admin/v1/deletions" => create(app, &req, &operator.id).await,
        "POST /admin/v1/deletions/uploads" => new_upload(app, &req, JobKind::Deletion, &operator.id).await,
        "GET /admin/v1/deletions/{job_id}" => status(app, &req, JobKind::Deletion).await,
        _ => Err(ApiError::not_found()),
    };
    result.unwrap_or_else(Reply::from)
}

/// A list's addresses with their rows, and the notes of its reading.
type Listed = (Vec<(u64, String)>, Vec<String>);

/// The addresses with their row numbers: JSON list positions count from 1; a file's as
/// `read_list` reads it (CSV rows as a spreadsheet shows them, the header is row 1); and what
/// was done to read the file.
fn emails(req: &Request) -> Result<Listed, ApiError> {
    let body: &[u8] = req.body().as_ref();
    if body.len() > crate::flows::bulk::MAX_UPLOAD_BYTES {
        return Err(ApiError::new(
            ErrorCode::PayloadTooLarge,
            "The body is larger than 5.9 MB; upload the list instead (POST /admin/v1/deletions/uploads).",
        ));
    }
    let mut warnings = Vec::new();
    let list = if content_type(req).as_deref() == Some("text/csv") {
        let read = read_list(body)?;
        warnings = read.warnings;
        read.emails
    } else {
        // A JSON list of 10,000 addresses is about 150 KB, past the usual 64 KiB of a body.
        let mut fields = Fields::from_request_within(req, crate::flows::bulk::MAX_UPLOAD_BYTES)?;
        let mut errors = FieldErrors::new();
        let raw = fields.value("emails", &mut errors);
        fields.finish(&mut errors);
        let Some(Value::Array(items)) = raw.filter(|_| errors.is_empty()) else {
            errors.entry("emails".into()).or_insert_with(|| "Must be a list of email addresses.".into());
            return Err(ApiError::validation(errors));
        };
        let mut list = Vec::with_capacity(items.len());
        for (i, item) in items.into_iter().enumerate() {
            let Value::String(email) = item else {
                return Err(ApiError::validation(FieldErrors::from([(
                    "emails".into(),
                    format!("Item {} is not a string.", i + 1),
                )])));
            };
            list.push((i as u64 + 1, email));
        }
        list
    };
    check_list(&list)?;
    Ok((list, warnings))
}

impl From<ListError> for ApiError {
    fn from(error: ListError) -> Self {
        let message = error.to_string();
        match error {
            ListError::NoHeader | ListError::BadRow(_) | ListError::File(_) => ApiError::bad_request(message),
            ListError::NoEmailColumn => ApiError::new(ErrorCode::BadColumns, message),
            ListError::Empty | ListError::TooMany => {
                ApiError::validation(FieldErrors::from([("emails".into(), message)]))
            }
        }
    }
}

async fn create(app: &App, req: &Request, operator: &str) -> Result<Reply, ApiError> {
    // Read before anything else: a bad value must not fall through to the real deletion.
    let dry_run = query_flag(req, "dry_run")?;
    let key = idempotency_key(req)?;
    let (list, warnings) = emails(req)?;
    if dry_run {
        let check = check_deletions(app, &list).await.map_err(|e| ApiError::unexpected(&e))?;
        let invalid: Vec<_> = check
            .invalid
            .iter()
            .map(|(row, email, message)| json!({"row": row, "email": email, "message": message}))
            .collect();
        return Ok(response::json(
            200,
            &json!({
                "dry_run": true,
                "lines": check.lines,
                "addresses": check.addresses,
                "accounts": check.accounts,
                "repeated": check.repeated,
                "invalid": invalid,
                "operator_rows": check.operator_rows,
                "warnings": warnings,
            }),
        ));
    }
    let body: &[u8] = req.body().as_ref();
    let job = request_deletions(app, operator, &list, key.as_deref().map(|key| (key, body))).await?;
    Ok(response::json(202, &json!({"job_id": job.id, "rows": job.total})))
}
