//! The session cookie, and the same-origin rule for requests a cookie authenticates.

use crate::domain::{SessionRecord, Token, User};
use crate::flows::signin::current_user;
use crate::App;
use lambda_http::Request;

pub const COOKIE: &str = "learners_session";

/// `Set-Cookie` for a new session: HttpOnly, SameSite=Lax, and Secure unless the site itself is
/// plain HTTP on this machine (where a browser would not send it back).
pub fn set_cookie(app: &App, token: &Token) -> String {
    format!(
        "{COOKIE}={}; HttpOnly;{} SameSite=Lax; Path=/; Max-Age={}",
        token.as_str(),
        secure(app),
        app.config.session_ttl_seconds
    )
}

pub fn clear_cookie(app: &App) -> String {
    format!("{COOKIE}=; HttpOnly;{} SameSite=Lax; Path=/; Max-Age=0", secure(app))
}

fn secure(app: &App) -> &'static str {
    if app.config.site_is_local_http() {
        ""
    } else {
        " Secure;"
    }
}

/// The session token from the request's cookies (API Gateway v2 may join them with `; `, or
/// send several `Cookie` headers).
pub fn cookie_token(req: &Request) -> Option<String> {
    req.headers()
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
}

/// The signed-in user of this request, if any.
pub async fn signed_in(app: &App, req: &Request) -> anyhow::Result<Option<(User, SessionRecord)>> {
    match cookie_token(req) {
        Some(token) => current_user(app, &token).await,
        None => Ok(None),
    }
}

/// Does a state-changing request come from the site's own pages? `Origin` must be the site's
/// origin; without `Origin`, `Referer` must be a page of the site. Neither: refused.
pub fn same_origin(app: &App, req: &Request) -> bool {
    let site = app.config.site_url.as_str();
    let origin = site_origin(site);
    let header = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
    match (header(http::header::ORIGIN), header(http::header::REFERER)) {
        (Some(value), _) => value == origin,
        (None, Some(referer)) => referer == site || referer.starts_with(&format!("{site}/")),
        (None, None) => false,
    }
}

/// `scheme://host[:port]` of the site URL.
fn site_origin(site_url: &str) -> &str {
    let after_scheme = site_url.find("://").map(|i| i + 3).unwrap_or(0);
    match site_url[after_scheme..].find('/') {
        Some(slash) => &site_url[..after_scheme + slash],
        None => site_url,
    }
}

#[cfg(test)]
mod tests {
    use super::site_origin;

    #[test]
    fn the_origin_is_scheme_host_and_port() {
        assert_eq!(site_origin("https://learn.example.org"), "https://learn.example.org");
        assert_eq!(site_origin("http://127.0.0.1:3000/lms"), "http://127.0.0.1:3000");
    }
}
