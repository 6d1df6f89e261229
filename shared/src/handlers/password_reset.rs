//! Function `password-reset`: `GET /password-reset` (the form), `POST /api/v1/password-resets`
//! (ask for a link), `GET /password-reset/{token}` (the new-password form the link opens) and
//! `POST /api/v1/password-resets/{token}` (set the new password).

use crate::flows::recovery::{request_reset, reset_password, usable_reset_token, RecoveryError};
use crate::http::{is_form_post, pages, path_param, response, route_key, single_field, ApiError};
use crate::App;
use lambda_http::{Body, Request, Response};
use serde_json::json;

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let site = app.config.site_name.as_str();
    match route_key(&req).as_str() {
        "GET /password-reset" => response::html(200, pages::reset_request_form(site)),
        "POST /api/v1/password-resets" => request(app, &req).await,
        "GET /password-reset/{token}" => {
            let token = path_param(&req, "token").unwrap_or_default();
            // Only says whether the link can still be used; nothing is spent by looking.
            match usable_reset_token(app, &token).await {
                Ok(_) => response::html(200, pages::new_password_form(site, &token, None)),
                Err(RecoveryError::Unexpected(e)) => {
                    let status = ApiError::unexpected(&e).status;
                    response::html(
                        status,
                        pages::message(site, "Something went wrong", "Please try the link again in a moment."),
                    )
                }
                Err(_) => response::html(400, pages::reset_link_invalid(site)),
            }
        }
        "POST /api/v1/password-resets/{token}" => confirm(app, &req).await,
        _ => ApiError::not_found().into_response(),
    }
}

async fn request(app: &App, req: &Request) -> Response<Body> {
    let email = match single_field(req, "email") {
        Ok(email) => email,
        Err(error) => return error.into_response(),
    };
    if let Err(e) = request_reset(app, &email).await {
        // Logged and answered like success: the answer must not depend on the address.
        tracing::error!(error = format!("{e:#}"), "enqueueing a reset request failed");
    }
    if is_form_post(req) {
        response::html(202, pages::reset_requested(&app.config.site_name))
    } else {
        response::json(202, &json!({"status": "sent_if_registered"}))
    }
}

async fn confirm(app: &App, req: &Request) -> Response<Body> {
    let token = path_param(req, "token").unwrap_or_default();
    let site = app.config.site_name.as_str();
    let html = is_form_post(req);
    let password = match single_field(req, "password") {
        Ok(password) => password,
        Err(error) if html => {
            return response::html(error.status, pages::new_password_form(site, &token, Some(&error.message)))
        }
        Err(error) => return error.into_response(),
    };
    match reset_password(app, &token, &password).await {
        Ok(()) if html => response::html(200, pages::password_changed(site)),
        Ok(()) => response::empty(204),
        Err(RecoveryError::InvalidToken) if html => response::html(400, pages::reset_link_invalid(site)),
        Err(RecoveryError::InvalidToken) => ApiError::new(
            400,
            "invalid_token",
            "This reset link is invalid, has expired or has been used; ask for a new one.",
        )
        .into_response(),
        Err(RecoveryError::WeakPassword(fields)) if html => {
            let message = fields.values().next().cloned().unwrap_or_default();
            response::html(422, pages::new_password_form(site, &token, Some(&message)))
        }
        Err(RecoveryError::WeakPassword(fields)) => ApiError::validation(fields).into_response(),
        Err(RecoveryError::Unexpected(e)) => ApiError::unexpected(&e).into_response(),
    }
}
