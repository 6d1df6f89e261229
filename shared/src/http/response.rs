//! The one reply type of every HTTP handler, rendered once (`Reply::render`) as JSON for a
//! program or as a page for a person. An error is an `ApiError` until then: a person gets it as
//! a page (the form they were on, when the handler gave one, or the error page), a program as
//! the JSON envelope; nothing re-reads a rendered body. Every response says `no-store`:
//! account answers are personal.

use super::pages::{self, Page};
use super::{ApiError, FieldErrors};
use crate::look::Look;
use http::{HeaderMap, HeaderValue};
use lambda_http::{Body, Response};
use serde::Serialize;

/// What a handler answers.
pub struct Reply {
    status: u16,
    body: ReplyBody,
    headers: HeaderMap,
    /// An origin a page's forms may end at besides the site (`form-action`).
    form_action: Option<String>,
}

enum ReplyBody {
    Json(String),
    Page(Page),
    Text(&'static str, String),
    Empty,
    /// JSON for a program; for a person `page` (the form again, with the error) or, without
    /// one, the error page.
    Error(ApiError, Option<Page>),
    /// API Gateway's answer for a route it does not have.
    RouteNotFound,
    /// One answer for a person, another for a program (a form post's page or redirect, and
    /// the API's JSON).
    Either(Box<Reply>, Box<Reply>),
}

impl Reply {
    fn new(status: u16, body: ReplyBody) -> Self {
        Self { status, body, headers: HeaderMap::new(), form_action: None }
    }

    pub fn status(&self) -> u16 {
        self.status
    }

    pub fn headers_mut(&mut self) -> &mut HeaderMap {
        &mut self.headers
    }

    /// Lets a page's forms (and their redirect chains) end at `origin` too, besides the site.
    pub fn allow_form_action(&mut self, origin: String) {
        self.form_action = Some(origin);
    }

    /// The error it carries, if it is one.
    pub fn error(&self) -> Option<&ApiError> {
        match &self.body {
            ReplyBody::Error(error, _) => Some(error),
            _ => None,
        }
    }

    /// The response, for a person (`person`: a page for every answer, errors included) or for
    /// a program.
    pub fn render(self, look: &Look, person: bool) -> Response<Body> {
        let Reply { status, body, headers, form_action } = self;
        let mut response = match body {
            ReplyBody::Either(for_person, _) if person => for_person.render(look, person),
            ReplyBody::Either(_, for_program) => for_program.render(look, person),
            ReplyBody::Json(body) => build(status, "application/json", Body::Text(body)),
            ReplyBody::Page(page) => page_response(look, status, page),
            ReplyBody::Text(content_type, body) => build(status, content_type, Body::Text(body)),
            ReplyBody::Empty => empty_response(status),
            ReplyBody::Error(error, page) if person => {
                let page = page.unwrap_or_else(|| {
                    pages::error(error.status, &error.message, error.fields.as_ref().unwrap_or(&FieldErrors::new()))
                });
                page_response(look, error.status, page)
            }
            ReplyBody::Error(error, _) => {
                build(error.status, "application/json", Body::Text(error.envelope().to_string()))
            }
            ReplyBody::RouteNotFound if person => {
                page_response(look, 404, pages::error(404, "There is no page at this address.", &FieldErrors::new()))
            }
            ReplyBody::RouteNotFound => {
                let mut response = Response::new(Body::Text(r#"{"message":"Not Found"}"#.to_owned()));
                *response.status_mut() = http::StatusCode::NOT_FOUND;
                response.headers_mut().insert("content-type", HeaderValue::from_static("application/json"));
                response
            }
        };
        // What the handler set wins over the defaults (a cacheable answer's `Cache-Control`);
        // a name it set more than once (`Set-Cookie`) keeps every value.
        for name in headers.keys() {
            response.headers_mut().remove(name);
        }
        for (name, value) in headers.iter() {
            response.headers_mut().append(name.clone(), value.clone());
        }
        let csp = response.headers().get("content-security-policy").and_then(|v| v.to_str().ok());
        if let (Some(origin), Some(csp)) = (form_action, csp) {
            let relaxed = csp.replace("form-action 'self'", &format!("form-action 'self' {origin}"));
            if let Ok(value) = HeaderValue::from_str(&relaxed) {
                response.headers_mut().insert("content-security-policy", value);
            }
        }
        response
    }
}

impl From<ApiError> for Reply {
    fn from(error: ApiError) -> Self {
        Reply::new(error.status, ReplyBody::Error(error, None))
    }
}

/// `for_person` to a person in a browser, `for_program` to a program.
pub fn either(for_person: Reply, for_program: Reply) -> Reply {
    Reply::new(for_program.status, ReplyBody::Either(Box::new(for_person), Box::new(for_program)))
}

/// An error that a person sees as `page` (the form again, with the error on it).
pub fn error_with_page(error: ApiError, page: Page) -> Reply {
    Reply::new(error.status, ReplyBody::Error(error, Some(page)))
}

pub fn json(status: u16, value: &impl Serialize) -> Reply {
    let body = serde_json::to_string(value).unwrap_or_else(|_| "{}".to_owned());
    Reply::new(status, ReplyBody::Json(body))
}

/// A page in the site's layout.
pub fn page(status: u16, page: Page) -> Reply {
    Reply::new(status, ReplyBody::Page(page))
}

/// `303 See Other` to a path of the site (after a form post). The location is checked here:
/// one that is no valid header value (it never comes from a request as is) goes to `/`.
pub fn see_other(location: &str) -> Reply {
    let mut reply = empty(303);
    let value = HeaderValue::from_str(location).unwrap_or_else(|_| HeaderValue::from_static("/"));
    reply.headers.insert(http::header::LOCATION, value);
    reply
}

/// A text body of the given type (a CSV report, say).
pub fn text(status: u16, content_type: &'static str, body: String) -> Reply {
    Reply::new(status, ReplyBody::Text(content_type, body))
}

/// A CSV file to download (an export), and the cursor of what did not fit (`x-next-cursor`).
pub fn csv_download(csv: String, filename: &str, next: Option<String>) -> Reply {
    let mut response = text(200, "text/csv; charset=utf-8", csv);
    let headers = response.headers_mut();
    if let Ok(value) = http::HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        headers.insert("content-disposition", value);
    }
    if let Some(value) = next.and_then(|next| http::HeaderValue::from_str(&next).ok()) {
        headers.insert("x-next-cursor", value);
    }
    response
}

/// Exactly what API Gateway answers for a route it does not have: a switched-off route answers
/// the same, so nobody can tell it exists (the local gateway uses it for unknown routes too).
pub fn route_not_found() -> Reply {
    Reply::new(404, ReplyBody::RouteNotFound)
}

pub fn empty(status: u16) -> Reply {
    Reply::new(status, ReplyBody::Empty)
}

/// The CSP allows the one stylesheet (by hash), the logo, and the site's own script file (no
/// inline script). A page whose URL
/// holds a token sends no `Referer` anywhere; the others send it to the site only.
fn page_response(look: &Look, status: u16, page: Page) -> Response<Body> {
    let referrer = if page.private_url { "no-referrer" } else { "same-origin" };
    let mut response = build(status, "text/html; charset=utf-8", Body::Text(pages::render(look, &page)));
    let headers = response.headers_mut();
    if let Ok(csp) = HeaderValue::from_str(&look.csp) {
        headers.insert("content-security-policy", csp);
    }
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    headers.insert("referrer-policy", HeaderValue::from_static(referrer));
    response
}

fn empty_response(status: u16) -> Response<Body> {
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert("cache-control", HeaderValue::from_static("no-store"));
    response
}

fn build(status: u16, content_type: &'static str, body: Body) -> Response<Body> {
    let mut response = Response::new(body);
    *response.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert("content-type", HeaderValue::from_static(content_type));
    headers.insert("cache-control", HeaderValue::from_static("no-store"));
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    response
}
