//! Function `account`: the signed-in learner's own account. `GET /api/v1/account`,
//! `GET /account/settings` (with the account's second factors), "Change my name"
//! (`/account/name`), "Change my password" (`/account/password`), "Where you're signed in"
//! (`/account/sessions`, ending one or every other), "Download my data" (`GET /account/data`,
//! `GET /api/v1/account/data`) and (when the site allows it) removal (`POST /account/removal`
//! for the page's form, `POST /api/v1/account/removal` for programs). Every POST needs the
//! site's own origin (`from_site`).

use super::signed_in;
use crate::domain::{SessionRecord, User};
use crate::flows::account::{self, AccountError};
use crate::flows::removal::{request_self_removal, RemovalError};
use crate::flows::signin::{Client, SignedIn};
use crate::http::account_pages::{self, SessionLine};
use crate::http::body::Fields;
use crate::http::error::ErrorCode;
use crate::http::origin::from_site;
use crate::http::response::Reply;
use crate::http::session::{cookie, with_cleared_cookie, with_sign_in_cookies, COOKIE, DEVICE_COOKIE};
use crate::http::{pages, response, route_key, single_field, source_ip, user_agent, ApiError, FieldErrors};
use crate::App;
use lambda_http::Request;
use serde_json::json;

pub async fn handle(app: &App, req: Request) -> Reply {
    let route = route_key(&req);
    if route == "POST /api/v1/account/removal" || route == "POST /account/removal" {
        // Switched off, the route does not exist, as far as anyone can tell.
        if !app.site().self_removal_enabled {
            return response::route_not_found();
        }
        return removal(app, &req).await;
    }
    let signed_in_now = match signed_in(app, &req).await {
        Ok(signed_in_now) => signed_in_now,
        Err(e) => return ApiError::unexpected(&e).into(),
    };
    if let Some((user, session)) = &signed_in_now {
        if let Some(reply) = own_account(app, &req, &route, user, session).await {
            return reply;
        }
    }
    let user = signed_in_now.map(|(user, _)| user);
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
        ("GET /api/v1/account/data", None) => not_signed_in().into(),
        ("GET /account/name" | "GET /account/password" | "GET /account/sessions" | "GET /account/data", None) => {
            response::see_other("/login")
        }
        ("POST /account/name" | "POST /account/password", None)
        | ("POST /account/sessions/end" | "POST /account/sessions/end-others", None) => not_signed_in().into(),
        _ => ApiError::not_found().into(),
    }
}

/// The account page's own routes, for a signed-in learner (`None`: not one of them).
async fn own_account(app: &App, req: &Request, route: &str, user: &User, session: &SessionRecord) -> Option<Reply> {
    let reply = match route {
        "GET /account/name" => response::page(200, account_pages::change_name(user.name.as_ref(), &FieldErrors::new())),
        "POST /account/name" => change_name(app, req, user).await,
        "GET /account/password" => match app.password_policy_of(&user.id).await {
            Ok(policy) => response::page(200, account_pages::change_password(policy, &FieldErrors::new())),
            Err(e) => ApiError::unexpected(&e).into(),
        },
        "POST /account/password" => change_password(app, req, user, session).await,
        "GET /account/sessions" => match sessions_page(app, user, session, None).await {
            Ok(page) => response::page(200, page),
            Err(e) => ApiError::unexpected(&e).into(),
        },
        "POST /account/sessions/end" => end_session(app, req, user, session).await,
        "POST /account/sessions/end-others" => end_others(app, req, user, session).await,
        "GET /account/data" | "GET /api/v1/account/data" => match account::my_data(app, user, session).await {
            Ok(data) => download(&data),
            Err(e) => ApiError::unexpected(&e).into(),
        },
        _ => return None,
    };
    Some(reply)
}

/// The browser's device and session cookies, for a fresh session.
fn client_cookies(req: &Request) -> (Option<String>, Option<String>) {
    (cookie(req, DEVICE_COOKIE), cookie(req, COOKIE))
}

/// The answer to a change that began a fresh session: its cookies, and the settings page (or
/// `to`) for a browser, `{"status": ...}` for a program.
fn renewed(signed_in: &SignedIn, to: &str, status: &str) -> Reply {
    let reply = response::either(response::see_other(to), response::json(200, &json!({ "status": status })));
    with_sign_in_cookies(reply, &signed_in.token, signed_in.lifetime_seconds, &signed_in.device)
}

impl From<AccountError> for ApiError {
    fn from(error: AccountError) -> Self {
        match error {
            AccountError::InvalidPassword => {
                ApiError::new(ErrorCode::InvalidPassword, "The current password is not right.")
            }
            AccountError::Invalid(fields) => ApiError::validation(fields),
            AccountError::UnknownSession => {
                ApiError::new(ErrorCode::NotFound, "That is not a session of your account, or it has ended.")
            }
            AccountError::Changed => ApiError::new(
                ErrorCode::InvalidToken,
                "Your account changed meanwhile (another change, or a sign-out everywhere): sign in again.",
            ),
            AccountError::Unexpected(e) => ApiError::unexpected(&e),
        }
    }
}

async fn change_name(app: &App, req: &Request, user: &User) -> Reply {
    if !from_site(app, req) {
        return ApiError::cross_origin().into();
    }
    let raw = match single_field(req, "name") {
        Ok(raw) => raw,
        Err(error) => {
            let errors = error.fields.clone().unwrap_or_default();
            return response::error_with_page(error, account_pages::change_name("", &errors));
        }
    };
    match account::change_name(app, user, &raw).await {
        Ok(name) => response::either(
            response::see_other("/account/settings"),
            response::json(200, &json!({"name": name.as_ref()})),
        ),
        Err(error) => {
            let error = ApiError::from(error);
            let errors = error.fields.clone().unwrap_or_default();
            response::error_with_page(error, account_pages::change_name(&raw, &errors))
        }
    }
}

/// The two fields of "Change my password" (and nothing else).
fn password_fields(req: &Request) -> Result<(String, String), ApiError> {
    let mut fields = Fields::from_request(req)?;
    let mut errors = FieldErrors::new();
    let current = fields.string("current_password", &mut errors);
    let new = fields.string("new_password", &mut errors);
    fields.finish(&mut errors);
    match (current, new) {
        (Some(current), Some(new)) if errors.is_empty() => Ok((current, new)),
        _ => Err(ApiError::validation(errors)),
    }
}

async fn change_password(app: &App, req: &Request, user: &User, session: &SessionRecord) -> Reply {
    if !from_site(app, req) {
        return ApiError::cross_origin().into();
    }
    let policy = match app.password_policy_of(&user.id).await {
        Ok(policy) => policy,
        Err(e) => return ApiError::unexpected(&e).into(),
    };
    let again = |error: ApiError, errors: FieldErrors| {
        response::error_with_page(error, account_pages::change_password(policy, &errors))
    };
    let (current, new) = match password_fields(req) {
        Ok(fields) => fields,
        Err(error) => {
            let errors = error.fields.clone().unwrap_or_default();
            return again(error, errors);
        }
    };
    let (device, old) = client_cookies(req);
    let client =
        Client { device: device.as_deref(), session: old.as_deref(), ip: source_ip(req), user_agent: user_agent(req) };
    match account::change_password(app, user, session, client, &current, &new).await {
        Ok(signed_in) => renewed(&signed_in, "/account/settings", "password_changed"),
        Err(AccountError::InvalidPassword) => {
            let error = ApiError::from(AccountError::InvalidPassword);
            let errors = FieldErrors::from([("current_password".to_owned(), error.message.clone())]);
            again(error, errors)
        }
        Err(AccountError::Changed) => with_cleared_cookie(ApiError::from(AccountError::Changed).into()),
        Err(error) => {
            let error = ApiError::from(error);
            let errors = error.fields.clone().unwrap_or_default();
            again(error, errors)
        }
    }
}

/// "Where you're signed in", with a notice (after ending one).
async fn sessions_page(
    app: &App,
    user: &User,
    current: &SessionRecord,
    notice: Option<&str>,
) -> anyhow::Result<pages::Page> {
    let lines: Vec<SessionLine> =
        account::live_sessions(app, user).await?.iter().map(|s| SessionLine::of(s, current)).collect();
    Ok(account_pages::sessions(&lines, notice))
}

async fn end_session(app: &App, req: &Request, user: &User, session: &SessionRecord) -> Reply {
    if !from_site(app, req) {
        return ApiError::cross_origin().into();
    }
    let id = match single_field(req, "session") {
        Ok(id) => id,
        Err(error) => return error.into(),
    };
    match account::end_session(app, user, session, &id).await {
        Ok(()) => response::either(
            response::see_other("/account/sessions"),
            response::json(200, &json!({"status": "session_ended"})),
        ),
        Err(error) => {
            let error = ApiError::from(error);
            match sessions_page(app, user, session, Some(&error.message.clone())).await {
                Ok(page) => response::error_with_page(error, page),
                Err(e) => ApiError::unexpected(&e).into(),
            }
        }
    }
}

async fn end_others(app: &App, req: &Request, user: &User, session: &SessionRecord) -> Reply {
    if !from_site(app, req) {
        return ApiError::cross_origin().into();
    }
    // No field at all (a form with just its button); anything sent is refused.
    let mut errors = FieldErrors::new();
    match Fields::from_request(req) {
        Ok(fields) => fields.finish(&mut errors),
        Err(error) if req.body().is_empty() => drop(error),
        Err(error) => return error.into(),
    }
    if !errors.is_empty() {
        return ApiError::validation(errors).into();
    }
    let (device, old) = client_cookies(req);
    let client =
        Client { device: device.as_deref(), session: old.as_deref(), ip: source_ip(req), user_agent: user_agent(req) };
    match account::end_other_sessions(app, user, session, client, None).await {
        Ok(signed_in) => renewed(&signed_in, "/account/sessions", "signed_out_elsewhere"),
        Err(AccountError::Changed) => with_cleared_cookie(ApiError::from(AccountError::Changed).into()),
        Err(error) => ApiError::from(error).into(),
    }
}

/// "Download my data": a JSON file to save (the same document for a program).
fn download(data: &serde_json::Value) -> Reply {
    let body = serde_json::to_string_pretty(data).unwrap_or_else(|_| "{}".to_owned());
    let mut reply = response::text(200, "application/json", body);
    let headers = reply.headers_mut();
    headers.insert(
        http::header::CONTENT_DISPOSITION,
        http::HeaderValue::from_static("attachment; filename=\"my-data.json\""),
    );
    headers.insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static("no-store"));
    reply
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
    let removal = app.site().self_removal_enabled.then_some(removal_errors);
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
