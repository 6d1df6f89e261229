//! Function `activate`: `GET /activate/{token}` (the page the email links to: it spends
//! nothing and offers the button), `POST /activate/{token}` (the button), `POST
//! /api/v1/activations` (API clients), `GET /activation-email` ("Send me a new activation link")
//! and `POST /api/v1/activation-emails` (a new link).

use crate::flows::activation::{activate, inspect, resend, Activation, ActivationError};
use crate::http::error::ErrorCode;
use crate::http::response::Reply;
use crate::http::{pages, path_param, response, route_key, single_field, ApiError, FieldErrors};
use crate::App;
use lambda_http::Request;
use serde_json::json;

pub async fn handle(app: &App, req: Request) -> Reply {
    match route_key(&req).as_str() {
        "GET /activate/{token}" => page(app, &req, false).await,
        "POST /activate/{token}" => page(app, &req, true).await,
        "POST /api/v1/activations" => api(app, &req).await,
        "GET /activation-email" => response::page(200, pages::activation_email_form("", &FieldErrors::new())),
        "POST /api/v1/activation-emails" => new_link(app, &req).await,
        _ => ApiError::not_found().into(),
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
async fn page(app: &App, req: &Request, spend: bool) -> Reply {
    let token = path_param(req, "token").unwrap_or_default();
    let outcome = if spend { activate(app, &token).await } else { inspect(app, &token).await };
    match outcome {
        Ok(Activation::Usable) => response::page(200, pages::activation_confirm(&token)),
        Ok(Activation::Activated) => response::page(200, pages::activated()),
        Ok(Activation::AlreadyActive) => response::page(200, pages::already_active()),
        Ok(Activation::Expired) => response::page(410, pages::activation_link_invalid(true)),
        Ok(Activation::Invalid) => response::page(404, pages::activation_link_invalid(false)),
        Err(error) => ApiError::from(error).into(),
    }
}

async fn api(app: &App, req: &Request) -> Reply {
    let token = match single_field(req, "token") {
        Ok(token) => token,
        Err(error) => return error.into(),
    };
    match activate(app, &token).await {
        Ok(Activation::Activated | Activation::AlreadyActive) => response::json(200, &json!({"status": "active"})),
        Ok(Activation::Usable | Activation::Expired | Activation::Invalid) => {
            ApiError::new(ErrorCode::InvalidToken, "This activation link is invalid or has expired; ask for a new one.")
                .into()
        }
        Err(error) => ApiError::from(error).into(),
    }
}

async fn new_link(app: &App, req: &Request) -> Reply {
    let email = match single_field(req, "email") {
        Ok(email) => email,
        Err(error) => {
            let page = pages::activation_email_form("", error.fields.as_ref().unwrap_or(&FieldErrors::new()));
            return response::error_with_page(error, page);
        }
    };
    if let Err(ActivationError::Unexpected(e)) = resend(app, &email).await {
        // Logged, and answered like every other case: the answer must not tell what exists.
        tracing::error!(error = format!("{e:#}"), "resending an activation mail failed");
    }
    response::either(
        response::page(202, pages::activation_email_requested()),
        response::json(202, &json!({"status": "sent_if_pending"})),
    )
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
