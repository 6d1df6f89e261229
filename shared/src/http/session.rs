//! The session cookie, the device cookie, and the cookie of a sign-in waiting for its second
//! factor; and where a sign-in may send the browser next.

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

/// The cookie of a sign-in whose password was right, waiting for its second factor
/// (`flows::second_factor`): `SameSite=Strict`, so only the site's own pages send it.
pub const PENDING_COOKIE: &str = "__Host-learners-2fa";

pub fn pending_cookie(token: &Token, max_age: i64) -> String {
    format!("{PENDING_COOKIE}={}; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age={max_age}", token.as_str())
}

pub fn clear_pending_cookie() -> String {
    format!("{PENDING_COOKIE}=; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=0")
}

/// The answer to a finished sign-in (a password alone, or with its second factor): the new
/// session's cookie and the browser's new device cookie, and the end of any pending sign-in.
pub fn with_sign_in_cookies(
    mut reply: super::response::Reply,
    session: &Token,
    lifetime_seconds: i64,
    device: &Token,
) -> super::response::Reply {
    let cookies = [set_cookie(session, lifetime_seconds), device_cookie(device), clear_pending_cookie()];
    for value in cookies.iter().filter_map(|c| http::HeaderValue::from_str(c).ok()) {
        reply.headers_mut().append(http::header::SET_COOKIE, value);
    }
    reply
}

/// Adds a `Set-Cookie` to the answer.
pub fn with_cookie(mut reply: super::response::Reply, cookie: &str) -> super::response::Reply {
    if let Ok(value) = http::HeaderValue::from_str(cookie) {
        reply.headers_mut().append(http::header::SET_COOKIE, value);
    }
    reply
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_is_a_local_path_only() {
        assert_eq!(local_path("/operator"), Some("/operator"));
        assert_eq!(local_path("/operator/jobs/1?x=2"), Some("/operator/jobs/1?x=2"));
        for bad in ["https://evil.example", "//evil.example", "/\\evil.example", "operator", "/ope rator", "/a\nb", ""]
        {
            assert_eq!(local_path(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_pending_cookie_is_strict_and_host_only() {
        let token = Token::generate();
        let cookie = pending_cookie(&token, 600);
        assert!(cookie.starts_with("__Host-learners-2fa="));
        assert!(cookie.contains("; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=600"), "{cookie}");
        assert!(clear_pending_cookie().ends_with("Max-Age=0"));
    }
}
