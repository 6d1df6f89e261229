//! Function `oidc`: the OpenID Connect provider's pages and public documents:
//! `GET /.well-known/openid-configuration`, `GET /.well-known/jwks.json`,
//! `GET|POST /oauth2/authorize`, `GET|POST /oauth2/userinfo`, `GET /oauth2/logout`.
//! (The token endpoint, the one that signs, is its own function: `oidc_token`.)

use super::signed_in;
use crate::http::pages;
use crate::http::response::Reply;
use crate::http::session::with_cleared_cookie;
use crate::http::{response, route_key, ApiError, FieldErrors};
use crate::oidc::authorize::{authorize, Authorization, AuthorizeError, AuthorizeParams};
use crate::oidc::logout::{logout, LogoutError, LogoutParams};
use crate::oidc::userinfo::{userinfo, UserinfoError};
use crate::App;
use lambda_http::{Request, RequestExt};
use serde_json::json;

/// How long applications may cache the discovery document and the keys. The keys for ten
/// minutes: a rotated-in key is published that long before it signs (see `KmsSigner`).
const DISCOVERY_MAX_AGE: u32 = 3600;
const JWKS_MAX_AGE: u32 = 600;

pub async fn handle(app: &App, req: Request) -> Reply {
    match route_key(&req).as_str() {
        "GET /.well-known/openid-configuration" => {
            cacheable(response::json(200, &crate::oidc::discovery(app)), DISCOVERY_MAX_AGE)
        }
        "GET /.well-known/jwks.json" => match app.signer.public_keys().await {
            Ok(keys) => {
                let keys: Vec<_> = keys.iter().map(|k| k.to_json()).collect();
                cacheable(response::json(200, &json!({ "keys": keys })), JWKS_MAX_AGE)
            }
            Err(e) => ApiError::unexpected(&e).into(),
        },
        "GET /oauth2/authorize" => authorization(app, &req, query_pairs(&req)).await,
        "POST /oauth2/authorize" => match form_pairs(&req) {
            Some(pairs) => authorization(app, &req, pairs).await,
            None => page(400, "The authorization request is not a valid form."),
        },
        "GET /oauth2/userinfo" | "POST /oauth2/userinfo" => user_info(app, &req).await,
        "GET /oauth2/logout" => end_session(app, &req).await,
        _ => ApiError::not_found().into(),
    }
}

/// Routes whose callers are programs (an error is JSON even to a form post or a browser).
pub fn for_programs(route_key: &str) -> bool {
    matches!(
        route_key,
        "POST /oauth2/token"
            | "GET /oauth2/userinfo"
            | "POST /oauth2/userinfo"
            | "GET /.well-known/openid-configuration"
            | "GET /.well-known/jwks.json"
    )
}

fn cacheable(mut response: Reply, max_age: u32) -> Reply {
    if let Ok(value) = http::HeaderValue::from_str(&format!("public, max-age={max_age}")) {
        response.headers_mut().insert(http::header::CACHE_CONTROL, value);
    }
    // Browser-based applications read these documents from their own origin.
    response.headers_mut().insert("access-control-allow-origin", http::HeaderValue::from_static("*"));
    response
}

fn query_pairs(req: &Request) -> Vec<(String, String)> {
    req.query_string_parameters().iter().map(|(name, value)| (name.to_owned(), value.to_owned())).collect()
}

fn form_pairs(req: &Request) -> Option<Vec<(String, String)>> {
    if crate::http::body::content_type(req).as_deref() != Some("application/x-www-form-urlencoded") {
        return None;
    }
    let bytes: &[u8] = req.body().as_ref();
    if bytes.len() > crate::http::MAX_BODY_BYTES {
        return None;
    }
    serde_urlencoded::from_bytes(bytes).ok()
}

fn page(status: u16, message: &str) -> Reply {
    response::page(status, pages::error(status, message, &FieldErrors::new()))
}

/// A redirect to wherever (another site included): the caller has checked it.
pub(crate) fn redirect(status: u16, location: &str) -> Reply {
    let mut response = response::empty(status);
    match http::HeaderValue::from_str(location) {
        Ok(value) => {
            response.headers_mut().insert(http::header::LOCATION, value);
            response
        }
        Err(_) => ApiError::bad_request("The redirect is not a valid URL.").into(),
    }
}

async fn authorization(app: &App, req: &Request, pairs: Vec<(String, String)>) -> Reply {
    let session = match signed_in(app, req).await {
        Ok(session) => session,
        Err(e) => return ApiError::unexpected(&e).into(),
    };
    // OIDC Core 3.1.2.1: `login_hint` fills in the sign-in page's email (a valid address only;
    // it is a hint, the learner may type another).
    let hint = pairs
        .iter()
        .find(|(name, _)| name == "login_hint")
        .and_then(|(_, value)| crate::domain::Email::parse(value).ok());
    match authorize(app, &AuthorizeParams::new(pairs), session).await {
        Ok(Authorization::Redirect(location)) => redirect(302, &location),
        Ok(Authorization::SignIn { return_to }) => {
            let mut login = url::form_urlencoded::Serializer::for_suffix(String::from("/login?"), "/login?".len());
            login.append_pair("next", &return_to);
            if let Some(hint) = hint {
                login.append_pair("login_hint", hint.as_ref());
            }
            redirect(303, &login.finish())
        }
        Err(AuthorizeError::UnknownClient) => {
            page(400, "This sign-in link is not valid: the application that sent you here is not registered.")
        }
        Err(AuthorizeError::UnregisteredRedirectUri) => page(
            400,
            "This sign-in link is not valid: it would send you back to an address the application did not register.",
        ),
        Err(AuthorizeError::Unexpected(e)) => ApiError::unexpected(&e).into(),
    }
}

/// RFC 6750 §2.1: the access token in `Authorization: Bearer`.
fn bearer(req: &Request) -> Option<&str> {
    let value = req.headers().get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

async fn user_info(app: &App, req: &Request) -> Reply {
    let result = match bearer(req) {
        Some(token) => userinfo(app, token).await,
        None => Err(UserinfoError::InvalidToken),
    };
    match result {
        Ok(claims) => response::json(200, &claims),
        Err(UserinfoError::InvalidToken) => {
            let mut response = response::json(
                401,
                &json!({"error": "invalid_token", "error_description": "The access token is invalid or expired."}),
            );
            response.headers_mut().insert(
                http::header::WWW_AUTHENTICATE,
                http::HeaderValue::from_static(r#"Bearer error="invalid_token""#),
            );
            response
        }
        Err(UserinfoError::Unexpected(e)) => ApiError::unexpected(&e).into(),
    }
}

async fn end_session(app: &App, req: &Request) -> Reply {
    let query = req.query_string_parameters();
    let param = |name| query.first(name).map(str::to_owned);
    let params = LogoutParams {
        id_token_hint: param("id_token_hint"),
        post_logout_redirect_uri: param("post_logout_redirect_uri"),
        state: param("state"),
        client_id: param("client_id"),
    };
    let session = match signed_in(app, req).await {
        Ok(session) => session.map(|(_, session)| session),
        Err(e) => return ApiError::unexpected(&e).into(),
    };
    match logout(app, &params, session.as_ref()).await {
        Ok(done) => {
            let response = match &done.redirect {
                Some(location) => redirect(303, location),
                None => response::see_other("/login"),
            };
            if done.ended {
                with_cleared_cookie(response)
            } else {
                response
            }
        }
        Err(LogoutError::InvalidHint) => {
            page(400, "This sign-out link is not valid: it does not come from an application you signed in to.")
        }
        Err(LogoutError::UnregisteredRedirectUri) => page(
            400,
            "This sign-out link is not valid: it would send you to an address the application did not register.",
        ),
        Err(LogoutError::Unexpected(e)) => ApiError::unexpected(&e).into(),
    }
}
