//! Building responses. Every response says `no-store`: account answers are personal.

use lambda_http::{Body, Response};
use serde::Serialize;

pub fn json(status: u16, value: &impl Serialize) -> Response<Body> {
    let body = serde_json::to_string(value).unwrap_or_else(|_| "{}".to_owned());
    build(status, "application/json", Body::Text(body))
}

pub fn html(status: u16, page: String) -> Response<Body> {
    let mut response = build(status, "text/html; charset=utf-8", Body::Text(page));
    let headers = response.headers_mut();
    headers.insert(
        "content-security-policy",
        http::HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
    );
    headers.insert("x-frame-options", http::HeaderValue::from_static("DENY"));
    // Pages carry tokens in their URL: never hand them on to another site.
    headers.insert("referrer-policy", http::HeaderValue::from_static("no-referrer"));
    response
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
