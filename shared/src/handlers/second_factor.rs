//! Function `second-factor`: the second step of a sign-in (`GET`/`POST /login/second-factor`:
//! a code from the authenticator app or a recovery code, after a right password), and, for the
//! signed-in user, the authenticator app's setup (`GET`/`POST /account/authenticator`), its
//! removal (`GET`/`POST /account/authenticator/remove`) and the recovery codes' renewal
//! (`GET`/`POST /account/recovery-codes`), each change asking for the password again.

use super::signed_in;
use crate::domain::{human_duration, RecoveryCodes, User, CHALLENGE_SECONDS};
use crate::flows::second_factor::{complete_with_code, pending, SecondFactorError};
use crate::flows::signin::Client;
use crate::flows::totp::{self, TotpError};
use crate::http::error::ErrorCode;
use crate::http::origin::{from_site, not_from_elsewhere};
use crate::http::pages::{self, PasswordConfirmation, SecondFactorChoice};
use crate::http::response::{self, Reply};
use crate::http::session::{
    clear_pending_cookie, cookie, local_path, with_cookie, COOKIE, DEVICE_COOKIE, PENDING_COOKIE,
};
use crate::http::{is_form_post, query_param, route_key, source_ip, ApiError, FieldErrors, Fields};
use crate::App;
use lambda_http::Request;
use serde_json::json;

pub async fn handle(app: &App, req: Request) -> Reply {
    match route_key(&req).as_str() {
        "GET /login/second-factor" => step_page(app, &req).await,
        "POST /login/second-factor" => step(app, &req).await,
        route => settings(app, &req, route).await,
    }
}

/// The one answer for a wrong, used or malformed code and a paused sign-in.
fn invalid_code(app: &App) -> ApiError {
    let policy = app.site().lockout;
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
    let reply = response::page(200, pages::second_factor(choice, None));
    with_return_to_application(app, choice_next(req).as_deref(), reply).await
}

/// `next` of the page's address, when it is a local path.
fn choice_next(req: &Request) -> Option<String> {
    query_param(req, "next").filter(|next| local_path(next).is_some())
}

/// As on the sign-in page (`handlers::sessions`): the page's `form-action` CSP holds the
/// form's whole redirect chain, so when `next` is an authorization of a registered application
/// (to one of its redirect URIs), that URI's origin is allowed too.
async fn with_return_to_application(app: &App, next: Option<&str>, mut reply: Reply) -> Reply {
    if let Some(origin) = crate::oidc::returning_application_origin(app, next).await {
        reply.allow_form_action(origin);
    }
    reply
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
    let client = Client {
        device: device.as_deref(),
        session: session.as_deref(),
        ip: source_ip(req),
        user_agent: crate::http::user_agent(req),
    };
    match complete_with_code(app, &token, &code, client).await {
        Ok(signed_in) => super::signed_in_reply(&signed_in, next.as_deref()),
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
    let reply = response::error_with_page(error, pages::second_factor(choice, Some(&message)));
    with_return_to_application(app, next, reply).await
}

/// The settings page's routes, for the signed-in user.
async fn settings(app: &App, req: &Request, route: &str) -> Reply {
    let user = match signed_in(app, req).await {
        Ok(Some((user, _))) => user,
        Ok(None) if req.method() == http::Method::GET => {
            let path = req.uri().path();
            return response::see_other(&format!("/login?next={}", pages::urlencode(path)));
        }
        Ok(None) => return ApiError::not_signed_in().into(),
        Err(e) => return ApiError::unexpected(&e).into(),
    };
    if req.method() != http::Method::GET && !from_site(app, req) {
        return ApiError::cross_origin().into();
    }
    match route {
        "GET /account/authenticator" => setup_page(app, &user).await,
        "POST /account/authenticator" => confirm_setup(app, req, &user).await,
        "GET /account/recovery-codes" => {
            response::page(200, pages::confirm_with_password(RENEWAL, &FieldErrors::new()))
        }
        "POST /account/recovery-codes" => renew(app, req, &user).await,
        "GET /account/authenticator/remove" => {
            response::page(200, pages::confirm_with_password(REMOVAL, &FieldErrors::new()))
        }
        "POST /account/authenticator/remove" => remove(app, req, &user).await,
        _ => ApiError::not_found().into(),
    }
}

const RENEWAL: PasswordConfirmation<'static> = PasswordConfirmation {
    title: "Renew my recovery codes",
    paragraph: "Ten new recovery codes replace the ones you have: those stop working. Type your password to make them.",
    action: "/account/recovery-codes",
    button: "Make new recovery codes",
    danger: false,
};

const REMOVAL: PasswordConfirmation<'static> = PasswordConfirmation {
    title: "Remove the authenticator app",
    paragraph: "Signing in will no longer ask for a code from your app (with no other second factor, your recovery codes stop working too). Type your password to remove it.",
    action: "/account/authenticator/remove",
    button: "Remove the authenticator app",
    danger: true,
};

/// The one place the settings flows' refusals become HTTP.
impl From<TotpError> for ApiError {
    fn from(error: TotpError) -> Self {
        match error {
            TotpError::SetupExpired => ApiError::new(
                ErrorCode::InvalidToken,
                "This setup has expired. Start again from your account settings.",
            ),
            TotpError::InvalidCode => ApiError::new(
                ErrorCode::InvalidCode,
                "The code is not right. Type the code your app shows now (it changes every 30 seconds).",
            ),
            TotpError::InvalidPassword => ApiError::new(ErrorCode::InvalidPassword, "The password is not right."),
            TotpError::AlreadySetUp => {
                ApiError::bad_request("An authenticator app is set up already. To set up another, remove it first.")
            }
            TotpError::NotSetUp => ApiError::bad_request("No authenticator app is set up."),
            TotpError::Unexpected(e) => ApiError::unexpected(&e),
        }
    }
}

fn valid_for() -> String {
    human_duration(CHALLENGE_SECONDS)
}

/// `GET /account/authenticator`: a new secret, its QR code, and the field for a code.
async fn setup_page(app: &App, user: &User) -> Reply {
    match totp::begin_setup(app, user).await {
        Ok(setup) => {
            response::page(200, pages::authenticator_setup(&setup.token, &setup.secret, &setup.uri, &valid_for(), None))
        }
        Err(TotpError::AlreadySetUp) => response::page(
            200,
            pages::message(
                "An authenticator app is set up",
                "Your account has an authenticator app already. To set up another one, remove this one first.",
                Some(("/account/settings", "Back to account settings")),
            ),
        ),
        Err(error) => ApiError::from(error).into(),
    }
}

/// `POST /account/authenticator`: `setup` and `code`.
async fn confirm_setup(app: &App, req: &Request, user: &User) -> Reply {
    let mut fields = match Fields::from_request(req) {
        Ok(fields) => fields,
        Err(error) => return error.into(),
    };
    let mut errors = FieldErrors::new();
    let setup = fields.string("setup", &mut errors);
    let code = fields.string("code", &mut errors);
    fields.finish(&mut errors);
    let (Some(setup), Some(code)) = (setup, code) else {
        return ApiError::validation(errors).into();
    };
    if !errors.is_empty() {
        return ApiError::validation(errors).into();
    }
    match totp::confirm_setup(app, user, &setup, &code).await {
        Ok(codes) => {
            let codes = codes.unwrap_or_default();
            let paragraph = match codes.is_empty() {
                true => "Every sign-in now asks for a code from your app after your password. Your recovery codes stay as they were.",
                false => "Every sign-in now asks for a code from your app after your password. If you lose your phone, a recovery code stands in for it: here are ten.",
            };
            response::either(
                response::page(200, pages::recovery_codes("Your authenticator app is set up", paragraph, &codes)),
                response::json(200, &json!({"recovery_codes": codes})),
            )
        }
        Err(TotpError::InvalidCode) => {
            let error = ApiError::from(TotpError::InvalidCode);
            match totp::setup_in_progress(app, user, &setup).await {
                Ok(Some(live)) => {
                    let page = pages::authenticator_setup(
                        &live.token,
                        &live.secret,
                        &live.uri,
                        &valid_for(),
                        Some(&error.message),
                    );
                    response::error_with_page(error, page)
                }
                Ok(None) => ApiError::from(TotpError::SetupExpired).into(),
                Err(e) => ApiError::unexpected(&e).into(),
            }
        }
        Err(TotpError::SetupExpired) => {
            let error = ApiError::from(TotpError::SetupExpired);
            let page = pages::message(
                "This setup has expired",
                &error.message,
                Some(("/account/authenticator", "Start again")),
            );
            response::error_with_page(error, page)
        }
        Err(error) => ApiError::from(error).into(),
    }
}

/// The password of a confirmation form, or the form again with the reason under its field.
fn password_of(req: &Request, what: PasswordConfirmation<'static>) -> Result<String, Box<Reply>> {
    crate::http::single_field(req, "password").map_err(|error| {
        let errors = error.fields.clone().unwrap_or_default();
        Box::new(response::error_with_page(error, pages::confirm_with_password(what, &errors)))
    })
}

fn refused(error: TotpError, what: PasswordConfirmation<'static>) -> Reply {
    let error = ApiError::from(error);
    let errors = FieldErrors::from([("password".to_owned(), error.message.clone())]);
    let page = pages::confirm_with_password(what, &errors);
    response::error_with_page(error, page)
}

/// `POST /account/recovery-codes`: ten new codes, shown once.
async fn renew(app: &App, req: &Request, user: &User) -> Reply {
    let password = match password_of(req, RENEWAL) {
        Ok(password) => password,
        Err(reply) => return *reply,
    };
    match totp::renew_recovery_codes(app, user, &password).await {
        Ok(codes) => response::either(
            response::page(
                200,
                pages::recovery_codes(
                    "Your new recovery codes",
                    "Your earlier recovery codes no longer work. Here are ten new ones.",
                    &codes,
                ),
            ),
            response::json(200, &json!({"recovery_codes": codes})),
        ),
        Err(error @ (TotpError::InvalidPassword | TotpError::NotSetUp)) => refused(error, RENEWAL),
        Err(error) => ApiError::from(error).into(),
    }
}

/// `POST /account/authenticator/remove`.
async fn remove(app: &App, req: &Request, user: &User) -> Reply {
    let password = match password_of(req, REMOVAL) {
        Ok(password) => password,
        Err(reply) => return *reply,
    };
    match totp::remove_authenticator(app, user, &password).await {
        Ok(()) => response::either(response::see_other("/account/settings"), response::empty(204)),
        Err(error @ (TotpError::InvalidPassword | TotpError::NotSetUp)) => refused(error, REMOVAL),
        Err(error) => ApiError::from(error).into(),
    }
}
