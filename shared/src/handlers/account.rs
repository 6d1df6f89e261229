//! Function `account`: `GET /api/v1/account`, `GET /account/settings` and (when the site allows
//! it) `POST /api/v1/account/removal`, for the signed-in user.

use crate::flows::removal::{request_self_removal, RemovalError};
use crate::http::session::{clear_cookie, same_origin, signed_in};
use crate::http::{is_form_post, pages, response, route_key, single_field, ApiError};
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
        ("GET /api/v1/account", None) => ApiError::new(401, "not_signed_in", "You are not signed in.").into_response(),
        ("GET /account/settings", Some(user)) => {
            let removal = app.config.self_removal_enabled.then(pages::removal_form);
            response::html(200, pages::account_settings(&app.config.site_name, &user, removal))
        }
        ("GET /account/settings", None) => {
            let mut response = response::empty(303);
            response.headers_mut().insert(http::header::LOCATION, http::HeaderValue::from_static("/login"));
            response
        }
        _ => ApiError::not_found().into_response(),
    }
}

async fn removal(app: &App, req: &Request) -> Response<Body> {
    let (user, session) = match signed_in(app, req).await {
        Ok(Some(signed_in)) => signed_in,
        Ok(None) => return ApiError::new(401, "not_signed_in", "You are not signed in.").into_response(),
        Err(e) => return ApiError::unexpected(&e).into_response(),
    };
    if !same_origin(app, req) {
        return crate::handlers::sessions::cross_origin().into_response();
    }
    let password = match single_field(req, "password") {
        Ok(password) => password,
        Err(error) => return error.into_response(),
    };
    match request_self_removal(app, &user, &session, &password).await {
        Ok(()) => {
            let mut response = if is_form_post(req) {
                response::html(202, pages::removal_requested(&app.config.site_name))
            } else {
                response::json(202, &json!({"status": "removal_requested"}))
            };
            if let Ok(value) = http::HeaderValue::from_str(&clear_cookie(app)) {
                response.headers_mut().insert(http::header::SET_COOKIE, value);
            }
            response
        }
        Err(RemovalError::InvalidPassword) => {
            ApiError::new(403, "invalid_password", "The password is not right.").into_response()
        }
        Err(RemovalError::Unexpected(e)) => ApiError::unexpected(&e).into_response(),
    }
}
