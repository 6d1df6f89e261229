//! The one error envelope of the API: `{"error":{"code","message","fields"?}}`, with one
//! `ErrorCode` enum (its status goes with it). A 500 body is opaque; its cause goes to the log
//! where it is built. A person in a browser gets the same error as a page (`response::Reply`).

use crate::domain::FieldErrors;
use serde::Serialize;
use serde_json::json;

/// Every error code the service answers with, and its HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    BadRequest,
    BadColumns,
    BadCursor,
    BadIdempotencyKey,
    EmptyFile,
    InvalidToken,
    NotSignedIn,
    InvalidCredentials,
    Unauthorized,
    CrossOrigin,
    InvalidPassword,
    NotActivated,
    NotAnOperator,
    NotFound,
    UserNotFound,
    JobNotFound,
    ClientNotFound,
    IdempotencyKeyReused,
    OwnRole,
    PublicClient,
    UsernameTaken,
    /// Another account already uses the address (told to operators only).
    EmailTaken,
    /// An operator's action that mails a disabled account (it gets no mail): enable it first.
    AccountDisabled,
    /// "Resend the activation link" for an account that is not waiting for activation.
    NotPending,
    /// An account was mailed on operators' word as often as an hour allows.
    TooManyMails,
    MethodNotAllowed,
    PayloadTooLarge,
    ValidationFailed,
    /// Too many failed attempts from the caller's network: `Retry-After` says when to return.
    TooManyAttempts,
    /// A right password for an account with a second factor: the code is awaited
    /// (`POST /login/second-factor`, with the cookie that came with this answer).
    SecondFactorRequired,
    /// A wrong, used or malformed second-factor code, or a paused sign-in: one answer for all.
    InvalidCode,
    /// The sign-in waiting for its second factor is over (never begun, finished, expired).
    SignInExpired,
    /// Site settings: the version sent in `If-Match` is not the one in force (412).
    SettingsChanged,
    /// Site settings: a change without `If-Match` (428): it must say which version it read.
    VersionRequired,
    /// Site settings: the support role is held by active operators only (409).
    NotAnActiveOperator,
    InternalError,
}

impl ErrorCode {
    pub fn status(self) -> u16 {
        use ErrorCode::*;
        match self {
            BadRequest | BadColumns | BadCursor | BadIdempotencyKey | EmptyFile | InvalidToken => 400,
            NotSignedIn | InvalidCredentials | Unauthorized | SecondFactorRequired | InvalidCode | SignInExpired => 401,
            CrossOrigin | InvalidPassword | NotActivated | NotAnOperator => 403,
            NotFound | UserNotFound | JobNotFound | ClientNotFound => 404,
            MethodNotAllowed => 405,
            IdempotencyKeyReused | OwnRole | PublicClient | UsernameTaken | EmailTaken | AccountDisabled
            | NotPending | NotAnActiveOperator => 409,
            SettingsChanged => 412,
            PayloadTooLarge => 413,
            ValidationFailed => 422,
            VersionRequired => 428,
            TooManyAttempts | TooManyMails => 429,
            InternalError => 500,
        }
    }

    /// Every code, for tests and documentation.
    pub const ALL: [ErrorCode; 36] = [
        ErrorCode::BadRequest,
        ErrorCode::BadColumns,
        ErrorCode::BadCursor,
        ErrorCode::BadIdempotencyKey,
        ErrorCode::EmptyFile,
        ErrorCode::InvalidToken,
        ErrorCode::NotSignedIn,
        ErrorCode::InvalidCredentials,
        ErrorCode::Unauthorized,
        ErrorCode::CrossOrigin,
        ErrorCode::InvalidPassword,
        ErrorCode::NotActivated,
        ErrorCode::NotAnOperator,
        ErrorCode::NotFound,
        ErrorCode::UserNotFound,
        ErrorCode::JobNotFound,
        ErrorCode::ClientNotFound,
        ErrorCode::IdempotencyKeyReused,
        ErrorCode::OwnRole,
        ErrorCode::PublicClient,
        ErrorCode::UsernameTaken,
        ErrorCode::EmailTaken,
        ErrorCode::AccountDisabled,
        ErrorCode::NotPending,
        ErrorCode::TooManyMails,
        ErrorCode::MethodNotAllowed,
        ErrorCode::PayloadTooLarge,
        ErrorCode::ValidationFailed,
        ErrorCode::TooManyAttempts,
        ErrorCode::SecondFactorRequired,
        ErrorCode::InvalidCode,
        ErrorCode::SignInExpired,
        ErrorCode::SettingsChanged,
        ErrorCode::VersionRequired,
        ErrorCode::NotAnActiveOperator,
        ErrorCode::InternalError,
    ];

    /// The code as the envelope writes it (`invalid_credentials`).
    pub fn as_str(self) -> &'static str {
        use ErrorCode::*;
        match self {
            BadRequest => "bad_request",
            BadColumns => "bad_columns",
            BadCursor => "bad_cursor",
            BadIdempotencyKey => "bad_idempotency_key",
            EmptyFile => "empty_file",
            InvalidToken => "invalid_token",
            NotSignedIn => "not_signed_in",
            InvalidCredentials => "invalid_credentials",
            Unauthorized => "unauthorized",
            CrossOrigin => "cross_origin",
            InvalidPassword => "invalid_password",
            NotActivated => "not_activated",
            NotAnOperator => "not_an_operator",
            NotFound => "not_found",
            UserNotFound => "user_not_found",
            JobNotFound => "job_not_found",
            ClientNotFound => "client_not_found",
            IdempotencyKeyReused => "idempotency_key_reused",
            OwnRole => "own_role",
            PublicClient => "public_client",
            UsernameTaken => "username_taken",
            EmailTaken => "email_taken",
            AccountDisabled => "account_disabled",
            NotPending => "not_pending",
            TooManyMails => "too_many_mails",
            MethodNotAllowed => "method_not_allowed",
            PayloadTooLarge => "payload_too_large",
            ValidationFailed => "validation_failed",
            TooManyAttempts => "too_many_attempts",
            SecondFactorRequired => "second_factor_required",
            InvalidCode => "invalid_code",
            SignInExpired => "sign_in_expired",
            SettingsChanged => "settings_changed",
            VersionRequired => "version_required",
            NotAnActiveOperator => "not_an_active_operator",
            InternalError => "internal_error",
        }
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub code: ErrorCode,
    pub message: String,
    pub fields: Option<FieldErrors>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { status: code.status(), code, message: message.into(), fields: None }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }

    pub fn validation(fields: FieldErrors) -> Self {
        Self { fields: Some(fields), ..Self::new(ErrorCode::ValidationFailed, "Some fields are not valid.") }
    }

    pub fn not_found() -> Self {
        Self::new(ErrorCode::NotFound, "There is nothing here.")
    }

    /// A state-changing request that did not come from the site's own pages.
    pub fn cross_origin() -> Self {
        Self::new(ErrorCode::CrossOrigin, "This request must come from the site's own pages.")
    }

    pub fn not_signed_in() -> Self {
        Self::new(ErrorCode::NotSignedIn, "You are not signed in.")
    }

    pub fn unauthorized() -> Self {
        Self::new(ErrorCode::Unauthorized, "This route needs operator credentials.")
    }

    /// Logs the cause chain and answers an opaque 500.
    pub fn unexpected(error: &anyhow::Error) -> Self {
        tracing::error!(error = format!("{error:#}"), "request failed");
        Self::new(ErrorCode::InternalError, "Something went wrong on our side. Please try again later.")
    }

    /// The envelope, for a program.
    pub fn envelope(&self) -> serde_json::Value {
        let mut error = json!({"code": self.code, "message": self.message});
        if let Some(fields) = &self.fields {
            error["fields"] = json!(fields);
        }
        json!({ "error": error })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_one_snake_case_name_with_an_error_status() {
        let mut seen = std::collections::BTreeSet::new();
        for code in ErrorCode::ALL {
            let name = code.as_str();
            assert!(name.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{name}");
            assert!(seen.insert(name), "{name} twice");
            assert_eq!(serde_json::to_value(code).unwrap(), serde_json::Value::String(name.to_owned()));
            assert!((400..600).contains(&code.status()), "{code:?}");
        }
    }
}
