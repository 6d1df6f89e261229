//! HTTP plumbing shared by the handlers: reading bodies into allow-listed fields, the error
//! envelope, operator identity, where a request comes from, and the server-rendered pages.

pub mod account_pages;
pub mod body;
pub mod console_pages;
pub mod error;
pub mod identity;
pub mod multipart;
pub mod origin;
pub mod pages;
pub mod response;
pub mod session;

use lambda_http::{Request, RequestExt};

pub use body::{FieldErrors, Fields, MAX_BODY_BYTES};
pub use error::ApiError;

/// The route a request came in on, as the template names it (`"GET /activate/{token}"`): API
/// Gateway puts it in the request context; the local gateway does the same.
pub fn route_key(req: &Request) -> String {
    use lambda_http::request::RequestContext;
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.route_key.clone().unwrap_or_default(),
        _ => String::new(),
    }
}

/// A path parameter, such as `{token}`.
pub fn path_param(req: &Request, name: &str) -> Option<String> {
    req.path_parameters().first(name).map(str::to_owned)
}

/// A yes-or-no query parameter, read strictly: `true`, `false`, `1` or `0` in any case; absent
/// is false; anything else is a 422 (a typo must never run the real thing: `?dry_run=ture`).
pub fn query_flag(req: &Request, name: &str) -> Result<bool, ApiError> {
    match query_param(req, name).map(|v| v.to_ascii_lowercase()).as_deref() {
        None => Ok(false),
        Some("true" | "1") => Ok(true),
        Some("false" | "0") => Ok(false),
        Some(_) => {
            Err(ApiError::validation(FieldErrors::from([(name.to_owned(), "Must be true, false, 1 or 0.".to_owned())])))
        }
    }
}

/// A query string parameter.
pub fn query_param(req: &Request, name: &str) -> Option<String> {
    req.query_string_parameters().first(name).map(str::to_owned)
}

/// Was the body an HTML form post (so the answer should be a page, not JSON)?
pub fn is_form_post(req: &Request) -> bool {
    matches!(body::content_type(req).as_deref(), Some("application/x-www-form-urlencoded" | "multipart/form-data"))
}

/// Is a person in a browser asking: a form post, or a page request (`GET`/`HEAD` that accepts
/// `text/html`)? They get a page for every answer, errors included.
pub fn wants_page(req: &Request) -> bool {
    person_asks(req.method(), req.headers())
}

/// `wants_page` on a request's method and headers (for the local gateway, before it has built
/// a `Request`).
pub fn person_asks(method: &http::Method, headers: &http::HeaderMap) -> bool {
    let header = |name| headers.get(name).and_then(|v: &http::HeaderValue| v.to_str().ok());
    let content_type =
        header(http::header::CONTENT_TYPE).map(|v| v.split(';').next().unwrap_or_default().trim().to_ascii_lowercase());
    let form = matches!(content_type.as_deref(), Some("application/x-www-form-urlencoded" | "multipart/form-data"));
    let accepts_html = header(http::header::ACCEPT).is_some_and(|accept| accept.contains("text/html"));
    form || (matches!(*method, http::Method::GET | http::Method::HEAD) && accepts_html)
}

/// The caller's address as API Gateway (or the local gateway) saw it. Never stored or logged as
/// is: the per-source counts key its network with an HMAC (`domain::network_hmac`).
pub fn source_ip(req: &Request) -> Option<&str> {
    use lambda_http::request::RequestContext;
    use lambda_http::RequestExt;
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.http.source_ip.as_deref().filter(|ip| !ip.is_empty()),
        _ => None,
    }
}

/// The browser's `User-Agent`, if it sent a readable one (kept only as a coarse name,
/// `domain::browser_label`).
pub fn user_agent(req: &Request) -> Option<&str> {
    req.headers().get(http::header::USER_AGENT).and_then(|v| v.to_str().ok())
}

/// Reads a body of exactly one required string field (and nothing else).
pub fn single_field(req: &Request, name: &str) -> Result<String, ApiError> {
    let mut fields = Fields::from_request(req)?;
    let mut errors = FieldErrors::new();
    let value = fields.string(name, &mut errors);
    fields.finish(&mut errors);
    match value {
        Some(value) if errors.is_empty() => Ok(value),
        _ => Err(ApiError::validation(errors)),
    }
}
