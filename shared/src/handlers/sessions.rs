//! Function `sessions`: `GET /login`, `POST /api/v1/sessions` (sign in) and
//! `DELETE /api/v1/sessions/current` (sign out).

use crate::flows::signin::{sign_in, sign_out, SignInError};
use crate::http::session::{clear_cookie, same_origin, set_cookie, signed_in};
use crate::http::{is_form_post, pages, response, route_key, ApiError, FieldErrors, Fields};
use crate::App;
use lambda_http::{Body, Request, Response};
use serde_json::json;

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    match route_key(&req).as_str() {
        "GET /login" => response::html(200, pages::login(&app.config.site_name, "", None)),
        "POST /api/v1/sessions" => create(app, &req).await,
        "DELETE /api/v1/sessions/current" => delete(app, &req).await,
        _ => ApiError::not_found().into_response(),
    }
}

/// The one answer for unknown email, wrong password, locked and being-removed accounts.
pub fn invalid_credentials(app: &App) -> ApiError {
    let policy = app.config.lockout;
    let minutes = (policy.lockout_seconds + 59) / 60;
    ApiError::new(
        401,
        "invalid_credentials",
        format!(
            "Email or password is incorrect. After {} failed attempts, sign-in is paused for {minutes} minutes.",
            policy.max_failures
        ),
    )
}

fn credentials(req: &Request) -> Result<(String, String), ApiError> {
    let mut fields = Fields::from_request(req)?;
    let mut errors = FieldErrors::new();
    let email = fields.string("email", &mut errors);
    let password = fields.string("password", &mut errors);
    fields.finish(&mut errors);
    match (email, password) {
        (Some(email), Some(password)) if errors.is_empty() => Ok((email, password)),
        _ => Err(ApiError::validation(errors)),
    }
}

async fn create(app: &App, req: &Request) -> Response<Body> {
    let html = is_form_post(req);
    let (email, password) = match credentials(req) {
        Ok(pair) => pair,
        Err(error) if html => {
            return response::html(error.status, pages::login(&app.config.site_name, "", Some(&error.message)))
        }
        Err(error) => return error.into_response(),
    };
    let error = match sign_in(app, &email, &password).await {
        Ok(signed_in) => {
            let cookie = set_cookie(app, &signed_in.token);
            let mut response = if html {
                // A browser form: on to the account page.
                let mut response = response::empty(303);
                response.headers_mut().insert(http::header::LOCATION, http::HeaderValue::from_static("/account/settings"));
                response
            } else {
                let user = &signed_in.user;
                response::json(
                    200,
                    &json!({"user": {
                        "user_id": user.id, "email": user.email.as_ref(), "username": user.username.as_ref(),
                        "name": user.name.as_ref(), "status": user.status,
                    }}),
                )
            };
            if let Ok(value) = http::HeaderValue::from_str(&cookie) {
                response.headers_mut().insert(http::header::SET_COOKIE, value);
            }
            return response;
        }
        Err(SignInError::InvalidCredentials) => invalid_credentials(app),
        Err(SignInError::NotActivated) => ApiError::new(
            403,
            "not_activated",
            "This account is not activated yet: follow the link in the activation email, or ask for a new one at /api/v1/activation-emails.",
        ),
        Err(SignInError::Unexpected(e)) => ApiError::unexpected(&e),
    };
    if html {
        response::html(error.status, pages::login(&app.config.site_name, &email, Some(&error.message)))
    } else {
        error.into_response()
    }
}

async fn delete(app: &App, req: &Request) -> Response<Body> {
    let session = match signed_in(app, req).await {
        Ok(Some((_, session))) => session,
        Ok(None) => return ApiError::new(401, "not_signed_in", "You are not signed in.").into_response(),
        Err(e) => return ApiError::unexpected(&e).into_response(),
    };
    if !same_origin(app, req) {
        return cross_origin().into_response();
    }
    if let Err(e) = sign_out(app, &session).await {
        return ApiError::unexpected(&e).into_response();
    }
    let mut response = response::empty(204);
    if let Ok(value) = http::HeaderValue::from_str(&clear_cookie(app)) {
        response.headers_mut().insert(http::header::SET_COOKIE, value);
    }
    response
}

pub fn cross_origin() -> ApiError {
    ApiError::new(403, "cross_origin", "This request must come from the site's own pages.")
}
