//! The one error envelope of the API: `{"error":{"code","message","fields"?}}`. A 500 body is
//! opaque; its cause goes to the log where it is built.

use super::body::FieldErrors;
use super::response;
use lambda_http::{Body, Response};
use serde_json::json;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    pub fields: Option<FieldErrors>,
}

impl ApiError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), fields: None }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "bad_request", message)
    }

    pub fn payload_too_large() -> Self {
        Self::new(413, "payload_too_large", format!("The body is larger than {} bytes.", super::MAX_BODY_BYTES))
    }

    pub fn validation(fields: FieldErrors) -> Self {
        Self { fields: Some(fields), ..Self::new(422, "validation_failed", "Some fields are not valid.") }
    }

    pub fn not_found() -> Self {
        Self::new(404, "not_found", "There is nothing here.")
    }

    /// A state-changing request that did not come from the site's own pages.
    pub fn cross_origin() -> Self {
        Self::new(403, "cross_origin", "This request must come from the site's own pages.")
    }

    pub fn unauthorized() -> Self {
        Self::new(401, "unauthorized", "This route needs operator credentials.")
    }

    /// Logs the cause chain and answers an opaque 500.
    pub fn unexpected(error: &anyhow::Error) -> Self {
        tracing::error!(error = format!("{error:#}"), "request failed");
        Self::new(500, "internal_error", "Something went wrong on our side. Please try again later.")
    }

    pub fn into_response(self) -> Response<Body> {
        let mut error = json!({"code": self.code, "message": self.message});
        if let Some(fields) = self.fields {
            error["fields"] = json!(fields);
        }
        response::json(self.status, &json!({ "error": error }))
    }
}
