//! Function `password-reset`: `GET /password-reset` (the form), `POST /password-reset` or
//! `POST /api/v1/password-resets` (ask for a link), `GET /password-reset/{token}` (the
//! new-password form the link opens) and `POST /password-reset/{token}` or
//! `POST /api/v1/password-resets/{token}` (set the new password). Each form posts to its page's
//! own address (so a refused one leaves the browser there); programs use the `/api/v1/` twins.

use crate::domain::human_duration;
use crate::flows::recovery::{request_reset, reset_password, usable_reset_token, RecoveryError};
use crate::http::error::ErrorCode;
use crate::http::response::Reply;
use crate::http::{pages, path_param, response, route_key, single_field, ApiError, FieldErrors};
use crate::App;
use lambda_http::Request;
use serde_json::json;

pub async fn handle(app: &App, req: Request) -> Reply {
    match route_key(&req).as_str() {
        "GET /password-reset" => response::page(200, pages::reset_request_form("", &FieldErrors::new())),
        "POST /password-reset" | "POST /api/v1/password-resets" => request(app, &req).await,
        "GET /password-reset/{token}" => {
            let token = path_param(&req, "token").unwrap_or_default();
            // Only says whether the link can still be used; nothing is spent by looking.
            match usable_reset_token(app, &token).await {
                Ok((_, user)) => match app.password_policy_of(&user.id).await {
                    Ok(policy) => response::page(200, pages::new_password_form(&token, &FieldErrors::new(), policy)),
                    Err(e) => ApiError::unexpected(&e).into(),
                },
                Err(error @ RecoveryError::Unexpected(_)) => ApiError::from(error).into(),
                Err(_) => response::page(400, pages::reset_link_invalid()),
            }
        }
        "POST /password-reset/{token}" | "POST /api/v1/password-resets/{token}" => confirm(app, &req).await,
        _ => ApiError::not_found().into(),
    }
}

impl From<RecoveryError> for ApiError {
    fn from(error: RecoveryError) -> Self {
        match error {
            RecoveryError::InvalidToken => ApiError::new(
                ErrorCode::InvalidToken,
                "This reset link is invalid, has expired or has been used; ask for a new one.",
            ),
            RecoveryError::WeakPassword(fields) => ApiError::validation(fields),
            RecoveryError::Unexpected(e) => ApiError::unexpected(&e),
        }
    }
}

async fn request(app: &App, req: &Request) -> Reply {
    let email = match single_field(req, "email") {
        Ok(email) => email,
        Err(error) => {
            let page = pages::reset_request_form("", error.fields.as_ref().unwrap_or(&FieldErrors::new()));
            return response::error_with_page(error, page);
        }
    };
    if let Err(e) = request_reset(app, &email).await {
        // Logged and answered like success: the answer must not depend on the address.
        tracing::error!(error = format!("{e:#}"), "enqueueing a reset request failed");
    }
    response::either(
        response::page(202, pages::reset_requested(&human_duration(app.site().reset_ttl_seconds))),
        response::json(202, &json!({"status": "sent_if_registered"})),
    )
}

async fn confirm(app: &App, req: &Request) -> Reply {
    let token = path_param(req, "token").unwrap_or_default();
    let password = match single_field(req, "password") {
        Ok(password) => password,
        Err(error) => {
            let errors = error.fields.clone().unwrap_or_default();
            let page = pages::new_password_form(&token, &errors, policy_for(app, &token).await);
            return response::error_with_page(error, page);
        }
    };
    match reset_password(app, &token, &password).await {
        Ok(()) => response::either(response::page(200, pages::password_changed()), response::empty(204)),
        Err(RecoveryError::InvalidToken) => {
            response::error_with_page(RecoveryError::InvalidToken.into(), pages::reset_link_invalid())
        }
        Err(RecoveryError::WeakPassword(fields)) => {
            let page = pages::new_password_form(&token, &fields, policy_for(app, &token).await);
            response::error_with_page(ApiError::validation(fields), page)
        }
        Err(error) => ApiError::from(error).into(),
    }
}

/// The password policy the form of a reset link shows: its account's (shorter with a second
/// factor), or the single-factor one when the link or the store does not say.
async fn policy_for(app: &App, token: &str) -> crate::domain::PasswordPolicy {
    let single = app.password_policy(crate::domain::Factors::PasswordOnly);
    match usable_reset_token(app, token).await {
        Ok((_, user)) => app.password_policy_of(&user.id).await.unwrap_or(single),
        Err(_) => single,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_errors_answer_400_invalid_token_422_or_an_opaque_500() {
        assert_eq!(
            ApiError::from(RecoveryError::InvalidToken),
            ApiError::new(
                ErrorCode::InvalidToken,
                "This reset link is invalid, has expired or has been used; ask for a new one."
            )
        );
        let fields = FieldErrors::from([("password".to_owned(), "Too short.".to_owned())]);
        assert_eq!(ApiError::from(RecoveryError::WeakPassword(fields.clone())), ApiError::validation(fields));
        let failed = ApiError::from(RecoveryError::Unexpected(anyhow::anyhow!("table gone")));
        assert_eq!(failed, ApiError::unexpected(&anyhow::anyhow!("another cause")));
    }
}
