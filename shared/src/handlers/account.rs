//! Function `account`: `GET /api/v1/account`, `GET /account/settings` and (when the site allows
//! it) `POST /api/v1/account/removal`, for the signed-in user.

use super::signed_in;
use crate::flows::removal::{request_self_removal, RemovalError};
use crate::http::origin::from_site;
use crate::http::session::with_cleared_cookie;
use crate::http::{is_form_post, pages, response, route_key, single_field, ApiError, FieldErrors};
use crate::App;
use lambda_http::{Body, Request, Response};
use serde_json::json;

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let route = route_key(&req);
    if route == "POST /api/v1/account/removal" {
        // Switched off, the route does not exist, as far as anyone can tell.
        if !app.config.self_removal_enabled {
            return response::route_not_found();
        }
        return removal(app, &req).await;
    }
    let user = match signed_in(app, &req).await {
        Ok(user) => user.map(|(user, _)| user),
        Err(e) => return ApiError::unexpected(&e).into_response(),
    };
    match (route.as_str(), user) {
        ("GET /api/v1/account", Some(user)) => response::json(
            200,
            &json!({
                "user_id": user.id, "email": user.email.as_ref(), "username": user.username.as_ref(),
                "name": user.name.as_ref(), "status": user.status,
            }),
        ),
        ("GET /api/v1/account", None) => not_signed_in().into_response(),
        ("GET /account/settings", Some(user)) => settings_page(app, 200, &user, &FieldErrors::new()),
        ("GET /account/settings", None) => response::see_other("/login"),
        _ => ApiError::not_found().into_response(),
    }
}

impl From<RemovalError> for ApiError {
    fn from(error: RemovalError) -> Self {
        match error {
            RemovalError::InvalidPassword => ApiError::new(403, "invalid_password", "The password is not right."),
            RemovalError::Unexpected(e) => ApiError::unexpected(&e),
        }
    }
}

fn not_signed_in() -> ApiError {
    ApiError::new(401, "not_signed_in", "You are not signed in.")
}

/// The settings page, with the removal form when the site allows it (and its error, if any).
fn settings_page(app: &App, status: u16, user: &crate::domain::User, removal_errors: &FieldErrors) -> Response<Body> {
    let removal = app.config.self_removal_enabled.then_some(removal_errors);
    response::page(&app.config.look, status, pages::account_settings(user, removal))
}

async fn removal(app: &App, req: &Request) -> Response<Body> {
    let (user, session) = match signed_in(app, req).await {
        Ok(Some(signed_in)) => signed_in,
        Ok(None) => return not_signed_in().into_response(),
        Err(e) => return ApiError::unexpected(&e).into_response(),
    };
    if !from_site(app, req) {
        return ApiError::cross_origin().into_response();
    }
    let html = is_form_post(req);
    let password = match single_field(req, "password") {
        Ok(password) => password,
        Err(error) if html => {
            let errors = error.fields.clone().unwrap_or_default();
            return settings_page(app, error.status, &user, &errors);
        }
        Err(error) => return error.into_response(),
    };
    match request_self_removal(app, &user, &session, &password).await {
        Ok(()) => with_cleared_cookie(if html {
            response::page(&app.config.look, 202, pages::removal_requested())
        } else {
            response::json(202, &json!({"status": "removal_requested"}))
        }),
        Err(RemovalError::InvalidPassword) if html => {
            // The settings page again, with the answer at the password field.
            let error = ApiError::from(RemovalError::InvalidPassword);
            let errors = FieldErrors::from([("password".to_owned(), error.message)]);
            settings_page(app, error.status, &user, &errors)
        }
        Err(error) => ApiError::from(error).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removal_errors_answer_403_invalid_password_or_an_opaque_500() {
        assert_eq!(
            ApiError::from(RemovalError::InvalidPassword),
            ApiError::new(403, "invalid_password", "The password is not right.")
        );
        let failed = ApiError::from(RemovalError::Unexpected(anyhow::anyhow!("table gone")));
        assert_eq!(failed, ApiError::unexpected(&anyhow::anyhow!("another cause")));
    }
}
