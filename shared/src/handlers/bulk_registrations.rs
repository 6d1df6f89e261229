//! Function `bulk-registrations` (operators only): `POST /admin/v1/bulk-registrations` (a CSV
//! file; `?dry_run=true` only validates; `?invite=true` mails each created learner an invitation), `POST /admin/v1/bulk-registrations/uploads` (a job
//! whose file of any size goes to the uploads' bucket), `GET /admin/v1/bulk-registrations/{job_id}` and
//! `GET /admin/v1/bulk-registrations/{job_id}/report.csv`.

use super::row_jobs::{idempotency_key, new_upload, report, status};
use crate::domain::JobKind;
use crate::flows::bulk::{upload_with, UploadError, MAX_UPLOAD_BYTES};
use crate::http::body::content_type;
use crate::http::error::ErrorCode;
use crate::http::identity::operator;
use crate::http::response::Reply;
use crate::http::{query_flag, response, route_key, ApiError};
use crate::App;
use lambda_http::Request;
use serde_json::json;

pub async fn handle(app: &App, req: Request) -> Reply {
    let operator = match operator(app, &req) {
        Ok(operator) => operator,
        Err(refused) => return refused.into(),
    };
    let result = match route_key(&req).as_str() {
        "POST /admin/v1/bulk-registrations" => create(app, &req, &operator.id).await,
        "POST /admin/v1/bulk-registrations/uploads" => {
            new_upload(app, &req, JobKind::BulkRegistration, &operator.id).await
        }
        "GET /admin/v1/bulk-registrations/{job_id}" => status(app, &req, JobKind::BulkRegistration).await,
        "GET /admin/v1/bulk-registrations/{job_id}/report.csv" => report(app, &req, JobKind::BulkRegistration).await,
        _ => Err(ApiError::not_found()),
    };
    result.unwrap_or_else(Reply::from)
}

impl From<UploadError> for ApiError {
    fn from(error: UploadError) -> Self {
        match error {
            UploadError::Columns(message) => ApiError::new(ErrorCode::BadColumns, message),
            UploadError::File(message) => ApiError::bad_request(message),
            UploadError::Empty => ApiError::new(ErrorCode::EmptyFile, "The file has no header row."),
            UploadError::KeyReused => crate::jobs::IntakeError::KeyReused.into(),
            UploadError::Unexpected(e) => ApiError::unexpected(&e),
        }
    }
}

async fn create(app: &App, req: &Request, operator: &str) -> Result<Reply, ApiError> {
    let bytes: &[u8] = req.body().as_ref();
    // Read before anything else: a bad value must not fall through to the real import.
    let dry_run = query_flag(req, "dry_run")?;
    // `invite=true`: each learner the job creates is sent an invitation (issue 26).
    let invite = query_flag(req, "invite")?;
    let key = idempotency_key(req)?;
    if bytes.len() > MAX_UPLOAD_BYTES {
        return Err(ApiError::new(
            ErrorCode::PayloadTooLarge,
            "The file is larger than 5.9 MB; upload it instead (POST /admin/v1/bulk-registrations/uploads).",
        ));
    }
    if content_type(req).as_deref() != Some("text/csv") {
        return Err(ApiError::bad_request("Send the file as text/csv."));
    }
    if dry_run {
        let checked = crate::flows::bulk::dry_run(app, bytes).await?;
        let answer = json!({
            "dry_run": true,
            "rows": checked.rows,
            "errors": checked.problems,
            "warnings": checked.warnings,
            "unchecked": checked.unchecked,
        });
        return Ok(response::json(200, &answer));
    }
    let job = upload_with(app, operator, bytes, key.as_deref(), invite).await?;
    Ok(response::json(202, &json!({"job_id": job.id, "rows": job.total, "invite": job.invite})))
}
