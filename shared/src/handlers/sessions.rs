//! Function `sessions`: `GET /` (the site's front), `GET /login`, `POST /login` (its form) and
//! `POST /api/v1/sessions` (programs): sign in (an account with a second factor goes on to
//! `GET /login/second-factor`, function `second-factor`); `DELETE /api/v1/sessions/current`
//! (sign out, for programs) and `POST /logout` (sign out, the settings page's button), and API
//! Gateway's `$default` route (not found).

use super::signed_in;
use crate::domain::human_duration;
use crate::flows::signin::{sign_in_from, sign_out, Client, SignInError, SignInStep};
use crate::http::error::ErrorCode;
use crate::http::origin::{from_site, not_from_elsewhere};
use crate::http::pages::{self, LoginProblem, NEW_ACTIVATION_LINK};
use crate::http::response::Reply;
use crate::http::session::{
    cookie, local_path, pending_cookie, with_cleared_cookie, with_cookie, COOKIE, DEVICE_COOKIE,
};
use crate::http::{is_form_post, query_param, response, route_key, source_ip, ApiError, FieldErrors, Fields};
use crate::App;
use lambda_http::Request;

pub async fn handle(app: &App, req: Request) -> Reply {
    match route_key(&req).as_str() {
        "GET /login" => {
            let next = query_param(&req, "next");
            let next = next.as_deref().and_then(local_path);
            // An application's `login_hint`, passed on by the authorization: a valid address
            // fills in the email field, anything else is ignored.
            let hint = query_param(&req, "login_hint").and_then(|hint| crate::domain::Email::parse(&hint).ok());
            let email = hint.as_ref().map_or("", |email| email.as_ref());
            let reply = response::page(200, pages::login(email, None, next));
            with_return_to_application(app, next, reply).await
        }
        "GET /" => home(app, &req).await,
        "POST /login" | "POST /api/v1/sessions" => create(app, &req).await,
        "DELETE /api/v1/sessions/current" => delete(app, &req).await,
        "POST /logout" => logout(app, &req).await,
        // API Gateway's `$default` route: what no other route takes (a page for a browser).
        _ => response::route_not_found(),
    }
}

/// The site's front, where every mail's header links: the way in (or, signed in, to the
/// account) and the LMS's address when configured. It reads the session only to choose the
/// links, so it changes nothing.
async fn home(app: &App, req: &Request) -> Reply {
    let user = match signed_in(app, req).await {
        Ok(found) => found.map(|(user, _)| user),
        Err(e) => return ApiError::unexpected(&e).into(),
    };
    let email = user.as_ref().map(|user| user.email.as_ref());
    response::page(200, pages::home(&app.site().site_name, email, app.config.lms_url.as_deref()))
}

/// The one answer for unknown email, wrong password, locked and being-removed accounts.
pub fn invalid_credentials(app: &App) -> ApiError {
    let policy = app.site().lockout;
    ApiError::new(
        ErrorCode::InvalidCredentials,
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
            SignInError::NotActivated => ApiError::new(ErrorCode::NotActivated,
                format!(
                    "This account is not activated yet: follow the link in the activation email, or ask for a new one at {}{NEW_ACTIVATION_LINK}.",
                    app.config.site_url
                ),
            ),
            SignInError::Throttled { retry_after_seconds } => ApiError::new(
                ErrorCode::TooManyAttempts,
                format!(
                    "Too many failed sign-ins from your network. Try again in {}.",
                    human_duration(retry_after_seconds)
                ),
            ),
            SignInError::Unexpected(e) => ApiError::unexpected(&e),
        }
    }
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

async fn create(app: &App, req: &Request) -> Reply {
    // Login CSRF: another site must not sign its visitors in to an account of its choosing.
    if !not_from_elsewhere(app, req) {
        return ApiError::cross_origin().into();
    }
    let (email, password, next) = match credentials(req) {
        Ok(found) => found,
        Err(error) => {
            let page = pages::login("", Some(LoginProblem { message: &error.message, next: None }), None);
            return response::error_with_page(error, page);
        }
    };
    let device = cookie(req, DEVICE_COOKIE);
    let session = cookie(req, COOKIE);
    let client = Client {
        device: device.as_deref(),
        session: session.as_deref(),
        ip: source_ip(req),
        user_agent: crate::http::user_agent(req),
    };
    let error = match sign_in_from(app, &email, &password, client).await {
        Ok(SignInStep::SecondFactor(pending)) => {
            // The password was right; the code is asked on the next page. A program is told so,
            // with the same cookie, and posts the code to the same route.
            let location = match next.as_deref() {
                Some(next) => format!("/login/second-factor?next={}", pages::urlencode(next)),
                None => "/login/second-factor".to_owned(),
            };
            let reply = response::either(
                response::see_other(&location),
                ApiError::new(
                    ErrorCode::SecondFactorRequired,
                    "The password is right; this account also needs its second factor: post {\"code\": ...} to /login/second-factor with the cookie of this answer.",
                )
                .into(),
            );
            return with_cookie(reply, &pending_cookie(&pending.token, pending.lifetime_seconds));
        }
        Ok(SignInStep::SignedIn(signed_in)) => {
            return super::signed_in_reply(&signed_in, next.as_deref());
        }
        Err(SignInError::NotActivated) => {
            let problem = LoginProblem {
                message: "This account is not activated yet: follow the link in the activation email.",
                next: Some((NEW_ACTIVATION_LINK, "Send me a new activation link")),
            };
            let page = pages::login(&email, Some(problem), next.as_deref());
            let reply = response::error_with_page(ApiError::from((app, SignInError::NotActivated)), page);
            return with_return_to_application(app, next.as_deref(), reply).await;
        }
        Err(error) => {
            // A refused network is told when to come back (the page says it in its message).
            let retry_after = match error {
                SignInError::Throttled { retry_after_seconds } => Some(retry_after_seconds),
                _ => None,
            };
            (ApiError::from((app, error)), retry_after)
        }
    };
    let (error, retry_after) = error;
    let page = pages::login(&email, Some(LoginProblem { message: &error.message, next: None }), next.as_deref());
    let mut reply = response::error_with_page(error, page);
    if let Some(value) = retry_after.and_then(|seconds| http::HeaderValue::from_str(&seconds.to_string()).ok()) {
        reply.headers_mut().insert(http::header::RETRY_AFTER, value);
    }
    with_return_to_application(app, next.as_deref(), reply).await
}

/// The sign-in page's `Content-Security-Policy` says `form-action 'self'`, and browsers hold a
/// form's whole redirect chain to it: a sign-in whose `next` is an authorization would end in
/// a redirect to the application, which the browser then blocks. When `next` is an
/// authorization of a registered application to one of its registered redirect URIs, that
/// URI's origin is allowed too (and nothing else).
async fn with_return_to_application(app: &App, next: Option<&str>, mut reply: Reply) -> Reply {
    if let Some(origin) = crate::oidc::returning_application_origin(app, next).await {
        reply.allow_form_action(origin);
    }
    reply
}

async fn delete(app: &App, req: &Request) -> Reply {
    let session = match signed_in(app, req).await {
        Ok(Some((_, session))) => session,
        Ok(None) => return ApiError::not_signed_in().into(),
        Err(e) => return ApiError::unexpected(&e).into(),
    };
    if !from_site(app, req) {
        return ApiError::cross_origin().into();
    }
    if let Err(e) = sign_out(app, &session).await {
        return ApiError::unexpected(&e).into();
    }
    with_cleared_cookie(response::empty(204))
}

/// The settings page's "Sign out": ends the session (if any) and goes to the sign-in page.
async fn logout(app: &App, req: &Request) -> Reply {
    if !from_site(app, req) {
        return ApiError::cross_origin().into();
    }
    match signed_in(app, req).await {
        Ok(Some((_, session))) => {
            if let Err(e) = sign_out(app, &session).await {
                return ApiError::unexpected(&e).into();
            }
        }
        Ok(None) => {}
        Err(e) => return ApiError::unexpected(&e).into(),
    }
    with_cleared_cookie(response::see_other("/login"))
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
        let app = &crate::wiring::in_memory(config, Arc::new(ManualClock::new())).0;
        assert_eq!(
            ApiError::from((app, SignInError::InvalidCredentials)),
            ApiError::new(
                ErrorCode::InvalidCredentials,
                "Email or password is incorrect. After 3 failed attempts, sign-in is paused for 1 minute."
            )
        );
        assert_eq!(
            ApiError::from((app, SignInError::NotActivated)),
            ApiError::new(ErrorCode::NotActivated,
                "This account is not activated yet: follow the link in the activation email, or ask for a new one at https://learn.example.org/activation-email."
            )
        );
        let throttled = ApiError::from((app, SignInError::Throttled { retry_after_seconds: 1800 }));
        assert_eq!(
            throttled,
            ApiError::new(
                ErrorCode::TooManyAttempts,
                "Too many failed sign-ins from your network. Try again in 30 minutes."
            )
        );
        assert_eq!(throttled.status, 429);
        let failed = ApiError::from((app, SignInError::Unexpected(anyhow::anyhow!("table gone"))));
        assert_eq!(failed, ApiError::unexpected(&anyhow::anyhow!("another cause")));
    }
}
