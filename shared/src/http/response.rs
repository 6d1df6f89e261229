//! Building responses. Every response says `no-store`: account answers are personal.

use super::pages::{self, Page};
use super::FieldErrors;
use crate::look::Look;
use lambda_http::{Body, Response};
use serde::Serialize;

pub fn json(status: u16, value: &impl Serialize) -> Response<Body> {
    let body = serde_json::to_string(value).unwrap_or_else(|_| "{}".to_owned());
    build(status, "application/json", Body::Text(body))
}

/// A page in the site's layout. The CSP allows the one stylesheet (by hash) and the logo, and
/// no script. A page whose URL holds a token sends no `Referer` anywhere; the others send it to
/// the site only.
pub fn page(look: &Look, status: u16, page: Page) -> Response<Body> {
    let mut response = build(status, "text/html; charset=utf-8", Body::Text(pages::render(look, &page)));
    let headers = response.headers_mut();
    if let Ok(csp) = http::HeaderValue::from_str(&look.csp) {
        headers.insert("content-security-policy", csp);
    }
    headers.insert("x-frame-options", http::HeaderValue::from_static("DENY"));
    let referrer = if page.private_url { "no-referrer" } else { "same-origin" };
    headers.insert("referrer-policy", http::HeaderValue::from_static(referrer));
    response
}

/// `303 See Other` to a path of the site (after a form post).
pub fn see_other(location: &'static str) -> Response<Body> {
    let mut response = empty(303);
    response.headers_mut().insert(http::header::LOCATION, http::HeaderValue::from_static(location));
    response
}

/// Turns an error answer meant for a program (the JSON envelope, or the route-not-found body)
/// into a page with the same status, for a person. Anything else passes through.
pub fn as_page(look: &Look, response: Response<Body>) -> Response<Body> {
    let is_json = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let status = response.status().as_u16();
    if !is_json || status < 400 {
        return response;
    }
    let parsed: serde_json::Value = serde_json::from_slice(response.body().as_ref()).unwrap_or_default();
    let error = &parsed["error"];
    let message = error["message"]
        .as_str()
        .or(parsed["message"].as_str().filter(|_| status == 404).map(|_| "There is no page at this address."))
        .unwrap_or("This request could not be used.");
    let fields: FieldErrors = serde_json::from_value(error["fields"].clone()).unwrap_or_default();
    let mut converted = page(look, status, pages::error(status, message, &fields));
    // Keep what the handler said besides the body (a cleared cookie, an `Allow`...).
    for (name, value) in response.headers() {
        if !converted.headers().contains_key(name) {
            converted.headers_mut().append(name.clone(), value.clone());
        }
    }
    converted
}

/// A text body of the given type (a CSV report, say).
pub fn text(status: u16, content_type: &'static str, body: String) -> Response<Body> {
    build(status, content_type, Body::Text(body))
}

/// Exactly what API Gateway answers for a route it does not have: a switched-off route answers
/// the same, so nobody can tell it exists (the local gateway uses it for unknown routes too).
pub fn route_not_found() -> Response<Body> {
    let mut response = Response::new(Body::Text(r#"{"message":"Not Found"}"#.to_owned()));
    *response.status_mut() = http::StatusCode::NOT_FOUND;
    response.headers_mut().insert("content-type", http::HeaderValue::from_static("application/json"));
    response
}

pub fn empty(status: u16) -> Response<Body> {
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert("cache-control", http::HeaderValue::from_static("no-store"));
    response
}

fn build(status: u16, content_type: &'static str, body: Body) -> Response<Body> {
    let mut response = Response::new(body);
    *response.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert("content-type", http::HeaderValue::from_static(content_type));
    headers.insert("cache-control", http::HeaderValue::from_static("no-store"));
    headers.insert("x-content-type-options", http::HeaderValue::from_static("nosniff"));
    response
}
