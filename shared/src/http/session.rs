//! The session cookie.

use crate::domain::{SessionRecord, Token, User};
use crate::flows::signin::current_user;
use crate::App;
use lambda_http::Request;

pub const COOKIE: &str = "learners_session";

/// `Set-Cookie` for a new session lasting `max_age` seconds: HttpOnly, SameSite=Lax, and Secure
/// unless the site itself is plain HTTP on this machine (where a browser would not send it back).
pub fn set_cookie(app: &App, token: &Token, max_age: i64) -> String {
    format!("{COOKIE}={}; HttpOnly;{} SameSite=Lax; Path=/; Max-Age={max_age}", token.as_str(), secure(app))
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
