//! Function `admin-users`: `GET /admin/v1/users?email=` (operators only).

use crate::flows::admin::{unlock, user_by_email, LookupError};
use crate::http::identity::operator;
use crate::http::{query_param, response, route_key, single_field, ApiError, FieldErrors};
use crate::App;
use lambda_http::{Body, Request, Response};

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let Some(operator) = operator(&req) else {
        return ApiError::unauthorized().into_response();
    };
    match route_key(&req).as_str() {
        "GET /admin/v1/users" => lookup(app, &req, &operator.id).await,
        "POST /admin/v1/users/unlock" => unlock_user(app, &req, &operator.id).await,
        _ => ApiError::not_found().into_response(),
    }
}

async fn lookup(app: &App, req: &Request, operator: &str) -> Response<Body> {
    let Some(email) = query_param(req, "email") else {
        let fields = FieldErrors::from([("email".to_owned(), "This query parameter is required.".to_owned())]);
        return ApiError::validation(fields).into_response();
    };
    match user_by_email(app, &email).await {
        Ok(Some(user)) => {
            tracing::info!(operator, user_id = %user.user_id, "operator looked up a user");
            response::json(200, &user)
        }
        Ok(None) => user_not_found().into_response(),
        Err(error) => lookup_failed(error).into_response(),
    }
}

fn user_not_found() -> ApiError {
    ApiError::new(404, "user_not_found", "No account has this email address.")
}

fn lookup_failed(error: LookupError) -> ApiError {
    match error {
        LookupError::InvalidEmail(e) => ApiError::validation(FieldErrors::from([("email".to_owned(), e.to_string())])),
        LookupError::Unexpected(e) => ApiError::unexpected(&e),
    }
}

async fn unlock_user(app: &App, req: &Request, operator: &str) -> Response<Body> {
    let email = match single_field(req, "email") {
        Ok(email) => email,
        Err(error) => return error.into_response(),
    };
    match unlock(app, &email, operator).await {
        Ok(true) => response::empty(204),
        Ok(false) => user_not_found().into_response(),
        Err(error) => lookup_failed(error).into_response(),
    }
}
