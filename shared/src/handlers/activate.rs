//! Function `activate`: `GET /activate/{token}` (the page the email links to: it spends
//! nothing and offers the button), `POST /activate/{token}` (the button), `POST
//! /api/v1/activations` (API clients), `GET /activation-email` ("Send me a new activation link")
//! and `POST /api/v1/activation-emails` (a new link).

use crate::flows::activation::{activate, inspect, resend, Activation, ActivationError};
use crate::http::{is_form_post, pages, path_param, response, route_key, single_field, ApiError, FieldErrors};
use crate::App;
use lambda_http::{Body, Request, Response};
use serde_json::json;

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    match route_key(&req).as_str() {
        "GET /activate/{token}" => page(app, &req, false).await,
        "POST /activate/{token}" => page(app, &req, true).await,
        "POST /api/v1/activations" => api(app, &req).await,
        "GET /activation-email" => {
            response::page(&app.config.look, 200, pages::activation_email_form("", &FieldErrors::new()))
        }
        "POST /api/v1/activation-emails" => new_link(app, &req).await,
        _ => ApiError::not_found().into_response(),
    }
}

impl From<ActivationError> for ApiError {
    fn from(error: ActivationError) -> Self {
        match error {
            ActivationError::Unexpected(e) => ApiError::unexpected(&e),
        }
    }
}

/// The link's page. Opening it (`GET`, what mail scanners do) spends nothing: a usable link
/// shows the "Activate my account" button, whose post (`spend`) activates.
async fn page(app: &App, req: &Request, spend: bool) -> Response<Body> {
    let token = path_param(req, "token").unwrap_or_default();
    let look = &app.config.look;
    let outcome = if spend { activate(app, &token).await } else { inspect(app, &token).await };
    match outcome {
        Ok(Activation::Usable) => response::page(look, 200, pages::activation_confirm(&token)),
        Ok(Activation::Activated) => response::page(look, 200, pages::activated()),
        Ok(Activation::AlreadyActive) => response::page(look, 200, pages::already_active()),
        Ok(Activation::Expired) => response::page(look, 410, pages::activation_link_invalid(true)),
        Ok(Activation::Invalid) => response::page(look, 404, pages::activation_link_invalid(false)),
        Err(error) => ApiError::from(error).into_response(),
    }
}

async fn api(app: &App, req: &Request) -> Response<Body> {
    let token = match single_field(req, "token") {
        Ok(token) => token,
        Err(error) => return error.into_response(),
    };
    match activate(app, &token).await {
        Ok(Activation::Activated | Activation::AlreadyActive) => response::json(200, &json!({"status": "active"})),
        Ok(Activation::Usable | Activation::Expired | Activation::Invalid) => {
            ApiError::new(400, "invalid_token", "This activation link is invalid or has expired; ask for a new one.")
                .into_response()
        }
        Err(error) => ApiError::from(error).into_response(),
    }
}

async fn new_link(app: &App, req: &Request) -> Response<Body> {
    let html = is_form_post(req);
    let email = match single_field(req, "email") {
        Ok(email) => email,
        Err(error) if html => {
            let errors = error.fields.clone().unwrap_or_default();
            return response::page(&app.config.look, error.status, pages::activation_email_form("", &errors));
        }
        Err(error) => return error.into_response(),
    };
    if let Err(ActivationError::Unexpected(e)) = resend(app, &email).await {
        // Logged, and answered like every other case: the answer must not tell what exists.
        tracing::error!(error = format!("{e:#}"), "resending an activation mail failed");
    }
    if html {
        response::page(&app.config.look, 202, pages::activation_email_requested())
    } else {
        response::json(202, &json!({"status": "sent_if_pending"}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_activation_failure_is_an_opaque_500() {
        let failed = ApiError::from(ActivationError::Unexpected(anyhow::anyhow!("table gone")));
        assert_eq!(failed, ApiError::unexpected(&anyhow::anyhow!("another cause")));
    }
}
