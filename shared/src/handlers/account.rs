//! Function `account`: `GET /api/v1/account`, `GET /account/settings` (with the account's second
//! factors) and (when the site allows it) `POST /api/v1/account/removal`, for the signed-in user.

use super::signed_in;
use crate::flows::removal::{request_self_removal, RemovalError};
use crate::http::error::ErrorCode;
use crate::http::origin::from_site;
use crate::http::response::Reply;
use crate::http::session::with_cleared_cookie;
use crate::http::{pages, response, route_key, single_field, ApiError, FieldErrors};
use crate::App;
use lambda_http::Request;
use serde_json::json;

pub async fn handle(app: &App, req: Request) -> Reply {
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
        Err(e) => return ApiError::unexpected(&e).into(),
    };
    match (route.as_str(), user) {
        ("GET /api/v1/account", Some(user)) => response::json(
            200,
            &json!({
                "user_id": user.id, "email": user.email.as_ref(), "username": user.username.as_ref(),
                "name": user.name.as_ref(), "status": user.status,
            }),
        ),
        ("GET /api/v1/account", None) => not_signed_in().into(),
        ("GET /account/settings", Some(user)) => match settings_page(app, &user, &FieldErrors::new()).await {
            Ok(page) => response::page(200, page),
            Err(e) => ApiError::unexpected(&e).into(),
        },
        ("GET /account/settings", None) => response::see_other("/login"),
        _ => ApiError::not_found().into(),
    }
}

impl From<RemovalError> for ApiError {
    fn from(error: RemovalError) -> Self {
        match error {
            RemovalError::InvalidPassword => ApiError::new(ErrorCode::InvalidPassword, "The password is not right."),
            RemovalError::Unexpected(e) => ApiError::unexpected(&e),
        }
    }
}

fn not_signed_in() -> ApiError {
    ApiError::not_signed_in()
}

/// The settings page, with the account's second factors, and the removal form when the site
/// allows it (and its error, if any).
async fn settings_page(
    app: &App,
    user: &crate::domain::User,
    removal_errors: &FieldErrors,
) -> anyhow::Result<pages::Page> {
    let factors = app.factors.second_factors(&user.id).await?;
    let removal = app.config.self_removal_enabled.then_some(removal_errors);
    Ok(pages::account_settings(user, pages::FactorsSummary::of(&factors), removal))
}

async fn removal(app: &App, req: &Request) -> Reply {
    let (user, session) = match signed_in(app, req).await {
        Ok(Some(signed_in)) => signed_in,
        Ok(None) => return not_signed_in().into(),
        Err(e) => return ApiError::unexpected(&e).into(),
    };
    if !from_site(app, req) {
        return ApiError::cross_origin().into();
    }
    let password = match single_field(req, "password") {
        Ok(password) => password,
        Err(error) => {
            return match settings_page(app, &user, error.fields.as_ref().unwrap_or(&FieldErrors::new())).await {
                Ok(page) => response::error_with_page(error, page),
                Err(e) => ApiError::unexpected(&e).into(),
            };
        }
    };
    match request_self_removal(app, &user, &session, &password).await {
        Ok(()) => with_cleared_cookie(response::either(
            response::page(202, pages::removal_requested()),
            response::json(202, &json!({"status": "removal_requested"})),
        )),
        Err(error) => {
            let error = ApiError::from(error);
            // The settings page again, with the answer at the password field.
            let errors = FieldErrors::from([("password".to_owned(), error.message.clone())]);
            match settings_page(app, &user, &errors).await {
                Ok(page) => response::error_with_page(error, page),
                Err(e) => ApiError::unexpected(&e).into(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removal_errors_answer_403_invalid_password_or_an_opaque_500() {
        assert_eq!(
            ApiError::from(RemovalError::InvalidPassword),
            ApiError::new(ErrorCode::InvalidPassword, "The password is not right.")
        );
        let failed = ApiError::from(RemovalError::Unexpected(anyhow::anyhow!("table gone")));
        assert_eq!(failed, ApiError::unexpected(&anyhow::anyhow!("another cause")));
    }
}
