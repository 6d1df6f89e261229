//! Function `activate`: `GET /activate/{token}` (the page the email links to: it spends
//! nothing and offers the password field and the button), `POST /activate/{token}` (the button,
//! with the registration's password), `POST /api/v1/activations` (API clients: token and
//! password), `GET /activation-email` ("Send me a new activation link") and `POST
//! /activation-email` (its form) or `POST /api/v1/activation-emails` (programs): a new link.

use crate::flows::activation::{activate, inspect, resend_from, Activation, ActivationError};
use crate::http::error::ErrorCode;
use crate::http::response::Reply;
use crate::http::{pages, path_param, response, route_key, single_field, source_ip, ApiError, FieldErrors, Fields};
use crate::App;
use lambda_http::Request;
use serde_json::json;

pub async fn handle(app: &App, req: Request) -> Reply {
    match route_key(&req).as_str() {
        "GET /activate/{token}" => page(app, &req, false).await,
        "POST /activate/{token}" => page(app, &req, true).await,
        "POST /api/v1/activations" => api(app, &req).await,
        "GET /activation-email" => response::page(200, pages::activation_email_form("", &FieldErrors::new())),
        "POST /activation-email" | "POST /api/v1/activation-emails" => new_link(app, &req).await,
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

/// What the page says when the password typed is not the registration's.
const WRONG_PASSWORD: &str = "This is not the password of the registration this link was sent for (or sign-in to the \
     account is paused after too many attempts). Type the password you chose when you registered; if you registered \
     more than once, the latest registration's. Forgot it? Reset your password: that activates your account too.";

/// The link's page. Opening it (`GET`, what mail scanners do) spends nothing: a usable link
/// shows the password field and the "Activate my account" button, whose post (`spend`)
/// activates with the registration's password.
async fn page(app: &App, req: &Request, spend: bool) -> Reply {
    let token = path_param(req, "token").unwrap_or_default();
    if !spend {
        return show(&token, inspect(app, &token).await);
    }
    match read_fields(req, false) {
        Ok((_, password)) => show(&token, activate(app, &token, &password).await),
        // No password (or a body that is no form): the page again, asking for it.
        Err(error) => match inspect(app, &token).await {
            Ok(Activation::Usable) => {
                let page = pages::activation_confirm(&token, Some("Type the password you registered with."));
                response::error_with_page(error, page)
            }
            outcome => show(&token, outcome),
        },
    }
}

fn show(token: &str, outcome: Result<Activation, ActivationError>) -> Reply {
    match outcome {
        Ok(Activation::Usable) => response::page(200, pages::activation_confirm(token, None)),
        Ok(Activation::WrongPassword) => response::page(401, pages::activation_confirm(token, Some(WRONG_PASSWORD))),
        Ok(Activation::Activated) => response::page(200, pages::activated()),
        Ok(Activation::AlreadyActive) => response::page(200, pages::already_active()),
        Ok(Activation::Expired) => response::page(410, pages::activation_link_invalid(true)),
        Ok(Activation::Invalid) => response::page(404, pages::activation_link_invalid(false)),
        Err(error) => ApiError::from(error).into(),
    }
}

/// The one place an activation body becomes its fields: `password`, and `token` for the API
/// route (the page has it in its path).
fn read_fields(req: &Request, with_token: bool) -> Result<(String, String), ApiError> {
    let mut fields = Fields::from_request(req)?;
    let mut errors = FieldErrors::new();
    let token = if with_token { fields.string("token", &mut errors) } else { Some(String::new()) };
    let password = fields.string("password", &mut errors);
    fields.finish(&mut errors);
    match (token, password) {
        (Some(token), Some(password)) if errors.is_empty() => Ok((token, password)),
        _ => Err(ApiError::validation(errors)),
    }
}

async fn api(app: &App, req: &Request) -> Reply {
    let (token, password) = match read_fields(req, true) {
        Ok(fields) => fields,
        Err(error) => return error.into(),
    };
    match activate(app, &token, &password).await {
        Ok(Activation::Activated | Activation::AlreadyActive) => response::json(200, &json!({"status": "active"})),
        Ok(Activation::WrongPassword) => ApiError::new(
            ErrorCode::InvalidCredentials,
            "This is not the password of the registration this link was sent for.",
        )
        .into(),
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
    if let Err(ActivationError::Unexpected(e)) = resend_from(app, &email, source_ip(req)).await {
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
