//! Function `activate`: `GET /activate/{token}` (the page the email links to),
//! `POST /api/v1/activations` (API clients) and `POST /api/v1/activation-emails` (a new link).

use crate::flows::activation::{activate, resend, Activation, ActivationError};
use crate::http::{is_form_post, pages, path_param, response, route_key, single_field, ApiError};
use crate::App;
use lambda_http::{Body, Request, Response};
use serde_json::json;

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    match route_key(&req).as_str() {
        "GET /activate/{token}" => page(app, &req).await,
        "POST /api/v1/activations" => api(app, &req).await,
        "POST /api/v1/activation-emails" => new_link(app, &req).await,
        _ => ApiError::not_found().into_response(),
    }
}

async fn page(app: &App, req: &Request) -> Response<Body> {
    let token = path_param(req, "token").unwrap_or_default();
    let site = &app.config.site_name;
    match activate(app, &token).await {
        Ok(Activation::Activated) => response::html(200, pages::activated(site)),
        Ok(Activation::AlreadyActive) => response::html(200, pages::already_active(site)),
        Ok(Activation::Expired) => response::html(410, pages::activation_link_invalid(site, true)),
        Ok(Activation::Invalid) => response::html(404, pages::activation_link_invalid(site, false)),
        Err(ActivationError::Unexpected(e)) => {
            let status = ApiError::unexpected(&e).status;
            response::html(
                status,
                pages::message(site, "Something went wrong", "Please try the link again in a moment."),
            )
        }
    }
}

async fn api(app: &App, req: &Request) -> Response<Body> {
    let token = match single_field(req, "token") {
        Ok(token) => token,
        Err(error) => return error.into_response(),
    };
    match activate(app, &token).await {
        Ok(Activation::Activated | Activation::AlreadyActive) => response::json(200, &json!({"status": "active"})),
        Ok(Activation::Expired | Activation::Invalid) => {
            ApiError::new(400, "invalid_token", "This activation link is invalid or has expired; ask for a new one.")
                .into_response()
        }
        Err(ActivationError::Unexpected(e)) => ApiError::unexpected(&e).into_response(),
    }
}

async fn new_link(app: &App, req: &Request) -> Response<Body> {
    let email = match single_field(req, "email") {
        Ok(email) => email,
        Err(error) => return error.into_response(),
    };
    if let Err(ActivationError::Unexpected(e)) = resend(app, &email).await {
        // Logged, and answered like every other case: the answer must not tell what exists.
        tracing::error!(error = format!("{e:#}"), "resending an activation mail failed");
    }
    if is_form_post(req) {
        response::html(202, pages::activation_email_requested(&app.config.site_name))
    } else {
        response::json(202, &json!({"status": "sent_if_pending"}))
    }
}
