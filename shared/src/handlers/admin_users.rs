//! Function `admin-users`: `GET /admin/v1/users?email=` (operators only).

use crate::flows::admin::{user_by_email, LookupError};
use crate::http::identity::operator;
use crate::http::{query_param, response, route_key, ApiError, FieldErrors};
use crate::App;
use lambda_http::{Body, Request, Response};

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let Some(operator) = operator(&req) else {
        return ApiError::unauthorized().into_response();
    };
    match route_key(&req).as_str() {
        "GET /admin/v1/users" => lookup(app, &req, &operator.id).await,
        _ => ApiError::not_found().into_response(),
    }
}

async fn lookup(app: &App, req: &Request, operator: &str) -> Response<Body> {
    let Some(email) = query_param(req, "email") else {
        let fields = FieldErrors::from([(
            "email".to_owned(),
            "This query parameter is required.".to_owned(),
        )]);
        return ApiError::validation(fields).into_response();
    };
    match user_by_email(app, &email).await {
        Ok(Some(user)) => {
            tracing::info!(operator, user_id = %user.user_id, "operator looked up a user");
            response::json(200, &user)
        }
        Ok(None) => ApiError::new(404, "user_not_found", "No account has this email address.")
            .into_response(),
        Err(LookupError::InvalidEmail(e)) => {
            ApiError::validation(FieldErrors::from([("email".to_owned(), e.to_string())]))
                .into_response()
        }
        Err(LookupError::Unexpected(e)) => ApiError::unexpected(&e).into_response(),
    }
}
