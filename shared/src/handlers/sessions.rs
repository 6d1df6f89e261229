//! Function `sessions`: `GET /login`, `POST /api/v1/sessions` (sign in),
//! `DELETE /api/v1/sessions/current` (sign out, for programs) and `POST /logout` (sign out,
//! the settings page's button), and API Gateway's `$default` route (not found).

use crate::domain::human_duration;
use crate::flows::signin::{sign_in_from, sign_out, Client, SignInError};
use crate::http::origin::{from_site, not_from_elsewhere};
use crate::http::pages::{self, LoginProblem, NEW_ACTIVATION_LINK};
use crate::http::session::{clear_cookie, cookie, device_cookie, set_cookie, signed_in, DEVICE_COOKIE};
use crate::http::{is_form_post, query_param, response, route_key, ApiError, FieldErrors, Fields};
use crate::App;
use lambda_http::{Body, Request, Response};
use serde_json::json;

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    match route_key(&req).as_str() {
        "GET /login" => {
            let next = query_param(&req, "next");
            let next = next.as_deref().and_then(local_path);
            let page = response::page(&app.config.look, 200, pages::login("", None, next));
            crate::handlers::oidc::let_sign_in_return_to_application(app, next, page).await
        }
        "POST /api/v1/sessions" => create(app, &req).await,
        "DELETE /api/v1/sessions/current" => delete(app, &req).await,
        "POST /logout" => logout(app, &req).await,
        // API Gateway's `$default` route: what no other route takes (a page for a browser).
        _ => response::route_not_found(),
    }
}

/// The caller's address as API Gateway (or the local gateway) saw it.
fn source_ip(req: &Request) -> Option<&str> {
    use lambda_http::request::RequestContext;
    use lambda_http::RequestExt;
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.http.source_ip.as_deref().filter(|ip| !ip.is_empty()),
        _ => None,
    }
}

/// The one answer for unknown email, wrong password, locked and being-removed accounts.
pub fn invalid_credentials(app: &App) -> ApiError {
    let policy = app.config.lockout;
    ApiError::new(
        401,
        "invalid_credentials",
        format!(
            "Email or password is incorrect. After {} failed attempts, sign-in is paused for {}.",
            policy.max_failures,
            human_duration(policy.lockout_seconds)
        ),
    )
}

/// The one place sign-in's refusals become HTTP. Their messages name the site's lockout policy
/// and address, so the mapping takes the app along with the error.
impl From<(&App, SignInError)> for ApiError {
    fn from((app, error): (&App, SignInError)) -> Self {
        match error {
            SignInError::InvalidCredentials => invalid_credentials(app),
            SignInError::NotActivated => ApiError::new(
                403,
                "not_activated",
                format!(
                    "This account is not activated yet: follow the link in the activation email, or ask for a new one at {}{NEW_ACTIVATION_LINK}.",
                    app.config.site_url
                ),
            ),
            SignInError::Unexpected(e) => ApiError::unexpected(&e),
        }
    }
}

/// Where a sign-in form may send the browser next: a path of this site only (`/operator`),
/// never another site (`https://evil.example`, `//evil.example`, `/\\evil.example`).
pub fn local_path(next: &str) -> Option<&str> {
    let local = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(|c| c.is_control() || c.is_whitespace());
    local.then_some(next)
}

/// Email, password, and where to go next (form posts only; a bad one is ignored).
fn credentials(req: &Request) -> Result<(String, String, Option<String>), ApiError> {
    let mut fields = Fields::from_request(req)?;
    let mut errors = FieldErrors::new();
    let email = fields.string("email", &mut errors);
    let password = fields.string("password", &mut errors);
    let next = if is_form_post(req) { fields.optional_string("next", &mut errors) } else { None };
    fields.finish(&mut errors);
    match (email, password) {
        (Some(email), Some(password)) if errors.is_empty() => {
            Ok((email, password, next.as_deref().and_then(local_path).map(str::to_owned)))
        }
        _ => Err(ApiError::validation(errors)),
    }
}

async fn create(app: &App, req: &Request) -> Response<Body> {
    let html = is_form_post(req);
    let look = &app.config.look;
    // Login CSRF: another site must not sign its visitors in to an account of its choosing.
    if !not_from_elsewhere(app, req) {
        return cross_origin().into_response();
    }
    let (email, password, next) = match credentials(req) {
        Ok(found) => found,
        Err(error) if html => {
            let problem = LoginProblem { message: &error.message, next: None };
            return response::page(look, error.status, pages::login("", Some(problem), None));
        }
        Err(error) => return error.into_response(),
    };
    let device = cookie(req, DEVICE_COOKIE);
    let client = Client { device: device.as_deref(), ip: source_ip(req) };
    let error = match sign_in_from(app, &email, &password, client).await {
        Ok(signed_in) => {
            let cookie = set_cookie(&signed_in.token, signed_in.lifetime_seconds);
            let device = device_cookie(&signed_in.device);
            let mut response = if html {
                // A browser form: on to where it was going, or the account page.
                let mut response = response::see_other("/account/settings");
                if let Some(value) = next.as_deref().and_then(|n| http::HeaderValue::from_str(n).ok()) {
                    response.headers_mut().insert(http::header::LOCATION, value);
                }
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
            for value in [cookie, device].iter().filter_map(|c| http::HeaderValue::from_str(c).ok()) {
                response.headers_mut().append(http::header::SET_COOKIE, value);
            }
            return response;
        }
        Err(SignInError::NotActivated) if html => {
            let problem = LoginProblem {
                message: "This account is not activated yet: follow the link in the activation email.",
                next: Some((NEW_ACTIVATION_LINK, "Send me a new activation link")),
            };
            let page = response::page(look, 403, pages::login(&email, Some(problem), next.as_deref()));
            return crate::handlers::oidc::let_sign_in_return_to_application(app, next.as_deref(), page).await;
        }
        Err(error) => ApiError::from((app, error)),
    };
    if html {
        let problem = LoginProblem { message: &error.message, next: None };
        let page = response::page(look, error.status, pages::login(&email, Some(problem), next.as_deref()));
        crate::handlers::oidc::let_sign_in_return_to_application(app, next.as_deref(), page).await
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
    if !from_site(app, req) {
        return cross_origin().into_response();
    }
    if let Err(e) = sign_out(app, &session).await {
        return ApiError::unexpected(&e).into_response();
    }
    with_cleared_cookie(response::empty(204))
}

/// The settings page's "Sign out": ends the session (if any) and goes to the sign-in page.
async fn logout(app: &App, req: &Request) -> Response<Body> {
    if !from_site(app, req) {
        return cross_origin().into_response();
    }
    match signed_in(app, req).await {
        Ok(Some((_, session))) => {
            if let Err(e) = sign_out(app, &session).await {
                return ApiError::unexpected(&e).into_response();
            }
        }
        Ok(None) => {}
        Err(e) => return ApiError::unexpected(&e).into_response(),
    }
    with_cleared_cookie(response::see_other("/login"))
}

pub fn with_cleared_cookie(mut response: Response<Body>) -> Response<Body> {
    if let Ok(value) = http::HeaderValue::from_str(&clear_cookie()) {
        response.headers_mut().insert(http::header::SET_COOKIE, value);
    }
    response
}

pub fn cross_origin() -> ApiError {
    ApiError::new(403, "cross_origin", "This request must come from the site's own pages.")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::clock::ManualClock;
    use crate::Config;
    use std::sync::Arc;

    #[test]
    fn sign_in_errors_name_the_lockout_policy_and_the_new_link_page() {
        let config = Config::from_pairs(&[
            ("LEARNERS_SITE_URL", "https://learn.example.org"),
            ("LEARNERS_MAX_FAILED_LOGINS", "3"),
            ("LEARNERS_LOCKOUT_SECONDS", "60"),
        ])
        .unwrap();
        let app = &App::in_memory(config, Arc::new(ManualClock::new())).0;
        assert_eq!(
            ApiError::from((app, SignInError::InvalidCredentials)),
            ApiError::new(
                401,
                "invalid_credentials",
                "Email or password is incorrect. After 3 failed attempts, sign-in is paused for 1 minute."
            )
        );
        assert_eq!(
            ApiError::from((app, SignInError::NotActivated)),
            ApiError::new(
                403,
                "not_activated",
                "This account is not activated yet: follow the link in the activation email, or ask for a new one at https://learn.example.org/activation-email."
            )
        );
        let failed = ApiError::from((app, SignInError::Unexpected(anyhow::anyhow!("table gone"))));
        assert_eq!(failed, ApiError::unexpected(&anyhow::anyhow!("another cause")));
    }

    #[test]
    fn next_is_a_local_path_only() {
        assert_eq!(local_path("/operator"), Some("/operator"));
        assert_eq!(local_path("/operator/jobs/1?x=2"), Some("/operator/jobs/1?x=2"));
        for bad in ["https://evil.example", "//evil.example", "/\\evil.example", "operator", "/ope rator", "/a\nb", ""]
        {
            assert_eq!(local_path(bad), None, "{bad:?}");
        }
    }
}
