//! Function `passkeys`: the site's script (`GET /assets/passkeys.js`), the passkeys page
//! (`GET /account/passkeys`: list, add, remove), a sign-in with a passkey alone
//! (`POST /login/passkey`), the passkey as the second step after a password
//! (`POST /login/second-factor/passkey`), and the options (WebAuthn challenges) of each ceremony,
//! a signed-in user's confirmation included (`POST /account/passkeys/confirm/options`).
//!
//! The options routes answer JSON to the script (errors too: the script shows their message);
//! the others are form posts that answer pages. Every POST checks where it comes from: the
//! sign-in ones refuse other sites (login CSRF), the signed-in ones take the site's own pages
//! only.

use super::{signed_in, signed_in_reply};
use crate::domain::User;
use crate::flows::passkeys::{self, Ceremony, PasskeyError};
use crate::flows::second_factor::SecondFactorError;
use crate::flows::signin::{verify_own_password, Client};
use crate::http::error::ErrorCode;
use crate::http::origin::{from_site, not_from_elsewhere};
use crate::http::pages::{self, LoginProblem};
use crate::http::response::{self, Reply};
use crate::http::session::{cookie, local_path, COOKIE, DEVICE_COOKIE, PENDING_COOKIE};
use crate::http::{route_key, source_ip, ApiError, FieldErrors, Fields};
use crate::App;
use lambda_http::Request;
use serde_json::json;

/// The script, built into the binary.
const SCRIPT: &str = include_str!("../../assets/passkeys.js");

/// A week: the script's markup contract does not change between releases, and a browser that
/// holds an older copy still works with the pages.
const SCRIPT_CACHE: &str = "public, max-age=604800";

/// What every refused passkey sign-in says (no account is named, none told apart).
const SIGN_IN_REFUSED: &str = "The passkey was not accepted. Try again, or sign in with your email and password.";

pub async fn handle(app: &App, req: Request) -> Reply {
    match route_key(&req).as_str() {
        "GET /assets/passkeys.js" => script(),
        "GET /account/passkeys" => settings(app, &req).await,
        "POST /account/passkeys/options" => registration_options(app, &req).await,
        "POST /account/passkeys" => register(app, &req).await,
        "POST /account/passkeys/remove" => remove(app, &req).await,
        "POST /account/passkeys/confirm/options" => confirmation_options(app, &req).await,
        "POST /login/passkey/options" => sign_in_options(app, &req).await,
        "POST /login/passkey" => sign_in(app, &req).await,
        "POST /login/second-factor/passkey/options" => second_step_options(app, &req).await,
        "POST /login/second-factor/passkey" => second_step(app, &req).await,
        _ => response::route_not_found(),
    }
}

fn script() -> Reply {
    let mut reply = response::text(200, "text/javascript; charset=utf-8", SCRIPT.to_owned());
    reply.headers_mut().insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static(SCRIPT_CACHE));
    reply
}

/// The one place passkey errors become HTTP (`refused`: what a refused ceremony says here).
fn api_error(error: PasskeyError, refused: ApiError) -> ApiError {
    match error {
        PasskeyError::InvalidName => {
            let message =
                format!("Give the passkey a name of 1 to {} characters.", crate::domain::MAX_PASSKEY_NAME_CHARS);
            ApiError {
                fields: Some(FieldErrors::from([("name".to_owned(), message.clone())])),
                ..ApiError::new(ErrorCode::ValidationFailed, message)
            }
        }
        PasskeyError::TooMany => ApiError::new(
            ErrorCode::ValidationFailed,
            format!("An account keeps at most {} passkeys: remove one first.", crate::domain::MAX_PASSKEYS),
        ),
        PasskeyError::Refused => refused,
        PasskeyError::Unavailable => ApiError::unexpected(&anyhow::anyhow!(
            "passkeys are unavailable: LEARNERS_SITE_URL is no WebAuthn relying party"
        )),
        PasskeyError::Unexpected(e) => ApiError::unexpected(&e),
    }
}

/// An options answer: the challenge's token and the browser's options, or the error as JSON
/// (the script shows its message) even to a browser's form-encoded request.
fn options_reply(ceremony: Result<Ceremony, ApiError>) -> Reply {
    match ceremony {
        Ok(Ceremony { token, options }) => {
            response::json(200, &json!({"challenge": token.as_str(), "options": options}))
        }
        Err(error) => response::json(error.status, &error.envelope()),
    }
}

/// A field of an options request; the others (the rest of the form the script sends) are not
/// read: an options request changes nothing but a challenge of its own.
fn options_field(req: &Request, name: &str) -> Option<String> {
    if req.body().is_empty() {
        return None;
    }
    let mut fields = Fields::from_request(req).ok()?;
    fields.optional_string(name, &mut FieldErrors::new())
}

/// The ceremony's answer from its form: the credential (JSON), the challenge's token, and the
/// fields in `extra` (each optional), nothing else.
struct Answer {
    credential: String,
    challenge: String,
    extra: Vec<Option<String>>,
}

fn answer(req: &Request, extra: &[&str]) -> Result<Answer, ApiError> {
    let mut fields = Fields::from_request(req)?;
    let mut errors = FieldErrors::new();
    let credential = fields.string("credential", &mut errors);
    let challenge = fields.string("passkey_challenge", &mut errors);
    let extra = extra.iter().map(|name| fields.optional_string(name, &mut errors)).collect();
    fields.finish(&mut errors);
    match (credential, challenge) {
        (Some(credential), Some(challenge)) if errors.is_empty() => Ok(Answer { credential, challenge, extra }),
        _ => Err(ApiError::validation(errors)),
    }
}

/// The browser's cookies and address, for a sign-in.
fn client_of(req: &Request) -> (Option<String>, Option<String>, Option<&str>) {
    (cookie(req, DEVICE_COOKIE), cookie(req, COOKIE), source_ip(req))
}

/// The signed-in user, or the reply for a caller who is not.
async fn user_of(app: &App, req: &Request) -> Result<User, ApiError> {
    match signed_in(app, req).await {
        Ok(Some((user, _))) => Ok(user),
        Ok(None) => Err(ApiError::not_signed_in()),
        Err(e) => Err(ApiError::unexpected(&e)),
    }
}

/// The passkeys page of `user`, with a problem to show.
async fn passkeys_page(
    app: &App,
    user: &User,
    add_errors: &FieldErrors,
    problem: Option<&str>,
    removal: Option<(&str, &str)>,
) -> Result<pages::Page, ApiError> {
    let list = passkeys::passkeys(app, user).await.map_err(|e| ApiError::unexpected(&e))?;
    Ok(pages::passkeys(&list, add_errors, problem, removal))
}

/// The passkeys page again, with `error` shown on it.
async fn page_with_error(app: &App, user: &User, error: ApiError, removal: Option<&str>) -> Reply {
    let fields = error.fields.clone().unwrap_or_default();
    let problem = (error.fields.is_none() && removal.is_none()).then_some(error.message.as_str());
    let removal = removal.map(|id| (id, error.message.as_str()));
    match passkeys_page(app, user, &fields, problem, removal).await {
        Ok(page) => response::error_with_page(error, page),
        Err(unexpected) => unexpected.into(),
    }
}

async fn settings(app: &App, req: &Request) -> Reply {
    let user = match user_of(app, req).await {
        Ok(user) => user,
        Err(error) if error.code == ErrorCode::NotSignedIn => {
            return response::see_other("/login?next=/account/passkeys")
        }
        Err(error) => return error.into(),
    };
    match passkeys_page(app, &user, &FieldErrors::new(), None, None).await {
        Ok(page) => response::page(200, page),
        Err(error) => error.into(),
    }
}

async fn registration_options(app: &App, req: &Request) -> Reply {
    let user = match user_of(app, req).await {
        Ok(user) => user,
        Err(error) => return options_reply(Err(error)),
    };
    if !from_site(app, req) {
        return options_reply(Err(ApiError::cross_origin()));
    }
    let name = options_field(req, "name").unwrap_or_default();
    let refused = ApiError::bad_request("The passkey could not be started.");
    options_reply(passkeys::start_registration(app, &user, &name).await.map_err(|e| api_error(e, refused)))
}

async fn register(app: &App, req: &Request) -> Reply {
    let user = match user_of(app, req).await {
        Ok(user) => user,
        Err(error) => return error.into(),
    };
    if !from_site(app, req) {
        return ApiError::cross_origin().into();
    }
    let answer = match answer(req, &["name"]) {
        Ok(answer) => answer,
        Err(error) => return page_with_error(app, &user, error, None).await,
    };
    let name = answer.extra.into_iter().next().flatten().unwrap_or_default();
    match passkeys::finish_registration(app, &user, &answer.challenge, &answer.credential, &name).await {
        Ok(_) => response::see_other("/account/passkeys"),
        Err(error) => {
            let refused =
                ApiError::bad_request("The passkey was not added: the browser's answer was not accepted. Try again.");
            page_with_error(app, &user, api_error(error, refused), None).await
        }
    }
}

/// Removes a passkey, once the account's password is typed again.
async fn remove(app: &App, req: &Request) -> Reply {
    let user = match user_of(app, req).await {
        Ok(user) => user,
        Err(error) => return error.into(),
    };
    if !from_site(app, req) {
        return ApiError::cross_origin().into();
    }
    let mut fields = match Fields::from_request(req) {
        Ok(fields) => fields,
        Err(error) => return page_with_error(app, &user, error, None).await,
    };
    let mut errors = FieldErrors::new();
    let id = fields.string("id", &mut errors);
    let password = fields.string("password", &mut errors);
    fields.finish(&mut errors);
    let (Some(id), Some(password)) = (id, password) else {
        return page_with_error(app, &user, ApiError::validation(errors), None).await;
    };
    if !errors.is_empty() {
        return page_with_error(app, &user, ApiError::validation(errors), None).await;
    }
    match verify_own_password(app, &user, &password).await {
        Ok(true) => {}
        Ok(false) => {
            let error = ApiError::new(ErrorCode::InvalidPassword, "The password is not right.");
            return page_with_error(app, &user, error, Some(&id)).await;
        }
        Err(e) => return ApiError::unexpected(&e).into(),
    }
    match passkeys::remove(app, &user, &id).await {
        Ok(true) => response::see_other("/account/passkeys"),
        Ok(false) => {
            page_with_error(app, &user, ApiError::new(ErrorCode::NotFound, "This account has no such passkey."), None)
                .await
        }
        Err(error) => api_error(error, ApiError::not_found()).into(),
    }
}

async fn confirmation_options(app: &App, req: &Request) -> Reply {
    let user = match user_of(app, req).await {
        Ok(user) => user,
        Err(error) => return options_reply(Err(error)),
    };
    if !from_site(app, req) {
        return options_reply(Err(ApiError::cross_origin()));
    }
    let refused = ApiError::bad_request("This account has no passkey.");
    options_reply(passkeys::start_confirmation(app, &user).await.map_err(|e| api_error(e, refused)))
}

async fn sign_in_options(app: &App, req: &Request) -> Reply {
    if !not_from_elsewhere(app, req) {
        return options_reply(Err(ApiError::cross_origin()));
    }
    let refused = ApiError::bad_request("The passkey could not be started.");
    options_reply(passkeys::start_sign_in(app).await.map_err(|e| api_error(e, refused)))
}

/// A sign-in with a passkey alone. A refusal is the sign-in page again with one message,
/// whatever went wrong; no password counter is read or changed.
async fn sign_in(app: &App, req: &Request) -> Reply {
    if !not_from_elsewhere(app, req) {
        return ApiError::cross_origin().into();
    }
    let refused = |next: Option<&str>| {
        let page = pages::login("", Some(LoginProblem { message: SIGN_IN_REFUSED, next: None }), next);
        response::error_with_page(ApiError::new(ErrorCode::InvalidCredentials, SIGN_IN_REFUSED), page)
    };
    let answer = match answer(req, &["next"]) {
        Ok(answer) => answer,
        Err(_) => return refused(None),
    };
    let next = answer.extra.into_iter().next().flatten();
    let next = next.as_deref().and_then(local_path);
    let (device, session, ip) = client_of(req);
    let client =
        Client { device: device.as_deref(), session: session.as_deref(), ip, user_agent: crate::http::user_agent(req) };
    match passkeys::finish_sign_in(app, &answer.challenge, &answer.credential, client).await {
        Ok(signed_in) => signed_in_reply(&signed_in, next),
        Err(PasskeyError::Unexpected(e)) => ApiError::unexpected(&e).into(),
        Err(PasskeyError::Unavailable) => api_error(PasskeyError::Unavailable, ApiError::not_found()).into(),
        Err(_) => refused(next),
    }
}

fn expired() -> ApiError {
    ApiError::new(ErrorCode::InvalidToken, "This sign-in has expired. Sign in again.")
}

async fn second_step_options(app: &App, req: &Request) -> Reply {
    if !not_from_elsewhere(app, req) {
        return options_reply(Err(ApiError::cross_origin()));
    }
    let Some(raw) = cookie(req, PENDING_COOKIE) else {
        return options_reply(Err(expired()));
    };
    let pending = match crate::flows::second_factor::pending(app, &raw).await {
        Ok(Some(pending)) => pending,
        Ok(None) => return options_reply(Err(expired())),
        Err(e) => return options_reply(Err(ApiError::unexpected(&e))),
    };
    let refused = ApiError::bad_request("This account has no passkey.");
    options_reply(passkeys::start_second_step(app, &pending).await.map_err(|e| api_error(e, refused)))
}

/// The second step with a passkey: the session begins, the pending sign-in's cookie goes.
async fn second_step(app: &App, req: &Request) -> Reply {
    if !not_from_elsewhere(app, req) {
        return ApiError::cross_origin().into();
    }
    let Some(raw) = cookie(req, PENDING_COOKIE) else {
        return expired().into();
    };
    let answer = match answer(req, &["next"]) {
        Ok(answer) => answer,
        Err(error) => return error.into(),
    };
    let next = answer.extra.into_iter().next().flatten();
    let (device, session, ip) = client_of(req);
    let client =
        Client { device: device.as_deref(), session: session.as_deref(), ip, user_agent: crate::http::user_agent(req) };
    match passkeys::finish_second_step(app, &raw, &answer.challenge, &answer.credential, client).await {
        Ok(signed_in) => signed_in_reply(&signed_in, next.as_deref()),
        Err(SecondFactorError::Expired) => expired().into(),
        Err(SecondFactorError::InvalidCode) => ApiError::new(
            ErrorCode::InvalidCredentials,
            "The passkey was not accepted. Go back and try again, or use another way to sign in.",
        )
        .into(),
        Err(SecondFactorError::Unexpected(e)) => ApiError::unexpected(&e).into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_is_served_as_javascript_with_a_long_cache() {
        let reply = script();
        assert_eq!(reply.status(), 200);
        let look = crate::look::Look::new("Learn", None, None).unwrap();
        let response = reply.render(&look, false);
        assert_eq!(response.headers()["content-type"], "text/javascript; charset=utf-8");
        assert_eq!(response.headers()["cache-control"], SCRIPT_CACHE);
        assert!(SCRIPT.contains("data-passkey-start"));
    }
}
