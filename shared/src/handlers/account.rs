//! Function `account`: `GET /api/v1/account` and `GET /account/settings`, for the signed-in user.

use crate::http::session::signed_in;
use crate::http::{pages, response, route_key, ApiError};
use crate::App;
use lambda_http::{Body, Request, Response};
use serde_json::json;

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let user = match signed_in(app, &req).await {
        Ok(user) => user.map(|(user, _)| user),
        Err(e) => return ApiError::unexpected(&e).into_response(),
    };
    match (route_key(&req).as_str(), user) {
        ("GET /api/v1/account", Some(user)) => response::json(
            200,
            &json!({
                "user_id": user.id, "email": user.email.as_ref(), "username": user.username.as_ref(),
                "name": user.name.as_ref(), "status": user.status,
            }),
        ),
        ("GET /api/v1/account", None) => ApiError::new(401, "not_signed_in", "You are not signed in.").into_response(),
        ("GET /account/settings", Some(user)) => {
            response::html(200, pages::account_settings(&app.config.site_name, &user, None))
        }
        ("GET /account/settings", None) => {
            let mut response = response::empty(303);
            response
                .headers_mut()
                .insert(http::header::LOCATION, http::HeaderValue::from_static("/login"));
            response
        }
        _ => ApiError::not_found().into_response(),
    }
}
