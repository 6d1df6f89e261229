//! Function `second-factor`: the second step of a sign-in (`GET`/`POST /login/second-factor`:
//! a code from the authenticator app or a recovery code, after a right password), and the
//! authenticator app's setup and removal and the recovery codes' renewal from the settings
//! page (`/account/authenticator`, `/account/authenticator/remove`, `/account/recovery-codes`).

use crate::domain::{human_duration, RecoveryCodes};
use crate::flows::second_factor::{complete_with_code, pending, SecondFactorError};
use crate::flows::signin::Client;
use crate::http::error::ErrorCode;
use crate::http::origin::not_from_elsewhere;
use crate::http::pages::{self, SecondFactorChoice};
use crate::http::response::{self, Reply};
use crate::http::session::{
    clear_pending_cookie, cookie, local_path, with_cookie, with_sign_in_cookies, COOKIE, DEVICE_COOKIE, PENDING_COOKIE,
};
use crate::http::{is_form_post, query_param, route_key, source_ip, ApiError, FieldErrors, Fields};
use crate::App;
use lambda_http::Request;
use serde_json::json;

pub async fn handle(app: &App, req: Request) -> Reply {
    match route_key(&req).as_str() {
        "GET /login/second-factor" => step_page(app, &req).await,
        "POST /login/second-factor" => step(app, &req).await,
        _ => ApiError::not_found().into(),
    }
}

/// The one answer for a wrong, used or malformed code and a paused sign-in.
fn invalid_code(app: &App) -> ApiError {
    let policy = app.config.lockout;
    ApiError::new(
        ErrorCode::InvalidCode,
        format!(
            "The code is not right, or was used already. After {} failed attempts, sign-in is paused for {}.",
            policy.max_failures,
            human_duration(policy.lockout_seconds)
        ),
    )
}

/// No live pending sign-in: a page saying to sign in again, and the cookie gone.
fn sign_in_again() -> Reply {
    let error = ApiError::new(ErrorCode::SignInExpired, "This sign-in has expired or is over. Sign in again.");
    let page = pages::message(
        "Sign in again",
        "This sign-in has expired or is over: sign in again with your email and password.",
        Some(("/login", "Sign in")),
    );
    with_cookie(response::error_with_page(error, page), &clear_pending_cookie())
}

/// `GET /login/second-factor?next=...&recovery=1`.
async fn step_page(app: &App, req: &Request) -> Reply {
    let Some(token) = cookie(req, PENDING_COOKIE) else {
        return sign_in_again();
    };
    let found = match pending(app, &token).await {
        Ok(Some(found)) => found,
        Ok(None) => return sign_in_again(),
        Err(e) => return ApiError::unexpected(&e).into(),
    };
    let next = query_param(req, "next");
    let choice = SecondFactorChoice {
        totp: found.factors.totp.is_some(),
        passkeys: !found.factors.passkeys.is_empty(),
        recovery_codes: !found.factors.recovery_codes.is_empty(),
        recovery: query_param(req, "recovery").as_deref() == Some("1"),
        next: next.as_deref().and_then(local_path),
    };
    response::page(200, pages::second_factor(choice, None))
}

/// The code, and where to go next (form posts only; a bad one is ignored).
fn code_fields(req: &Request) -> Result<(String, Option<String>), ApiError> {
    let mut fields = Fields::from_request(req)?;
    let mut errors = FieldErrors::new();
    let code = fields.string("code", &mut errors);
    let next = if is_form_post(req) { fields.optional_string("next", &mut errors) } else { None };
    fields.finish(&mut errors);
    match code {
        Some(code) if errors.is_empty() => Ok((code, next.as_deref().and_then(local_path).map(str::to_owned))),
        _ => Err(ApiError::validation(errors)),
    }
}

/// `POST /login/second-factor`: a form's `code` (and `next`), or a program's `{"code": ...}`.
async fn step(app: &App, req: &Request) -> Reply {
    // Login CSRF, as for the password.
    if !not_from_elsewhere(app, req) {
        return ApiError::cross_origin().into();
    }
    let Some(token) = cookie(req, PENDING_COOKIE) else {
        return sign_in_again();
    };
    let (code, next) = match code_fields(req) {
        Ok(found) => found,
        Err(error) => return again(app, &token, None, "", error).await,
    };
    let device = cookie(req, DEVICE_COOKIE);
    let session = cookie(req, COOKIE);
    let client = Client { device: device.as_deref(), session: session.as_deref(), ip: source_ip(req) };
    match complete_with_code(app, &token, &code, client).await {
        Ok(signed_in) => {
            let user = &signed_in.user;
            let reply = response::either(
                response::see_other(next.as_deref().unwrap_or("/account/settings")),
                response::json(
                    200,
                    &json!({"user": {
                        "user_id": user.id, "email": user.email.as_ref(), "username": user.username.as_ref(),
                        "name": user.name.as_ref(), "status": user.status,
                    }}),
                ),
            );
            with_sign_in_cookies(reply, &signed_in.token, signed_in.lifetime_seconds, &signed_in.device)
        }
        Err(SecondFactorError::Expired) => sign_in_again(),
        Err(SecondFactorError::InvalidCode) => again(app, &token, next.as_deref(), &code, invalid_code(app)).await,
        Err(SecondFactorError::Unexpected(e)) => ApiError::unexpected(&e).into(),
    }
}

/// The second step's page again, with `error` at the code.
async fn again(app: &App, token: &str, next: Option<&str>, typed: &str, error: ApiError) -> Reply {
    let found = match pending(app, token).await {
        Ok(Some(found)) => found,
        Ok(None) => return sign_in_again(),
        Err(e) => return ApiError::unexpected(&e).into(),
    };
    let message = match &error.fields {
        Some(fields) => fields.values().next().cloned().unwrap_or_else(|| error.message.clone()),
        None => error.message.clone(),
    };
    let choice = SecondFactorChoice {
        totp: found.factors.totp.is_some(),
        passkeys: !found.factors.passkeys.is_empty(),
        recovery_codes: !found.factors.recovery_codes.is_empty(),
        // A recovery code that failed is asked again in its own field.
        recovery: found.factors.totp.is_none() || RecoveryCodes::looks_like_one(typed),
        next,
    };
    response::error_with_page(error, pages::second_factor(choice, Some(&message)))
}
