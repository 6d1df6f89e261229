//! The session cookie.

use crate::domain::Token;
use lambda_http::Request;

/// `__Host-`: browsers take this cookie only with `Secure`, `Path=/` and no `Domain`, so a
/// sibling subdomain cannot plant one for the site.
pub const COOKIE: &str = "__Host-learners_session";

/// `Set-Cookie` for a new session lasting `max_age` seconds: HttpOnly, Secure (browsers treat
/// `http://127.0.0.1` and `http://localhost` as secure, so `make dev` keeps it too),
/// SameSite=Lax, the whole site.
pub fn set_cookie(token: &Token, max_age: i64) -> String {
    format!("{COOKIE}={}; HttpOnly; Secure; SameSite=Lax; Path=/; Max-Age={max_age}", token.as_str())
}

/// The browser's device cookie (a year): the account knows this browser (see `sign_in_from`).
pub const DEVICE_COOKIE: &str = "__Host-learners_device";

pub fn device_cookie(token: &Token) -> String {
    format!(
        "{DEVICE_COOKIE}={}; HttpOnly; Secure; SameSite=Lax; Path=/; Max-Age={}",
        token.as_str(),
        crate::domain::DEVICE_TTL_SECONDS
    )
}

pub fn clear_cookie() -> String {
    format!("{COOKIE}=; HttpOnly; Secure; SameSite=Lax; Path=/; Max-Age=0")
}

/// The session token from the request's cookies.
pub fn cookie_token(req: &Request) -> Option<String> {
    cookie(req, COOKIE)
}

/// A cookie's value (API Gateway v2 may join the cookies with `; `, or send several `Cookie`
/// headers).
pub fn cookie(req: &Request, name: &str) -> Option<String> {
    req.headers()
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(found, _)| *found == name)
        .map(|(_, value)| value.to_owned())
}

/// The response, ending the browser's session cookie.
pub fn with_cleared_cookie(mut response: super::response::Reply) -> super::response::Reply {
    if let Ok(value) = http::HeaderValue::from_str(&clear_cookie()) {
        response.headers_mut().insert(http::header::SET_COOKIE, value);
    }
    response
}
