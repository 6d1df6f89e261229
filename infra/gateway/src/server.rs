//! The HTTP side: hyper in, `lambda_http::Request` to the function's handler, response out.

use crate::routes::{Lookup, RouteTable};
use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use lambda_http::aws_lambda_events::apigw::{
    ApiGatewayRequestAuthorizer, ApiGatewayRequestAuthorizerIamDescription, ApiGatewayV2httpRequestContext,
};
use lambda_http::request::RequestContext;
use lambda_http::{Body, RequestExt};
use learners::adapters::memory::{MemoryMailer, MemoryUploads, UploadRefused, UPLOAD_PATH};
use learners::handlers::{self, HttpHandler};
use learners::http::ApiError;
use learners::App;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::net::TcpListener;

/// API Gateway HTTP APIs refuse bodies over 10 MB.
const MAX_PAYLOAD: usize = 10 * 1024 * 1024;

/// A synchronous Lambda invocation carries at most 6 MB (6,291,456 bytes) of event: the body
/// as the event holds it (JSON-escaped text, or base64 for binary) and the rest of the
/// request. Over it, Lambda refuses the invocation (`RequestEntityTooLargeException`, a 413)
/// and API Gateway answers 413 without the function ever running.
pub const MAX_LAMBDA_EVENT: usize = 6 * 1024 * 1024;

/// What an event adds around the body (route, context, a few headers), counted generously.
const EVENT_OVERHEAD: usize = 2 * 1024;

/// The largest object the local uploads take (S3 takes 5 GB in one `PUT`; this is memory).
const MAX_OBJECT: usize = 512 * 1024 * 1024;

/// The operator the local admin token stands for, in audit records and logs.
pub const LOCAL_OPERATOR: &str = "arn:aws:iam::000000000000:user/local-operator";

pub struct Gateway {
    app: App,
    routes: RouteTable,
    /// Each function's handler, and the app confined to its function's services.
    handlers: HashMap<String, (HttpHandler, App)>,
    admin_token: String,
    /// The captured mail of the in-memory backend (absent on AWS).
    mail: Option<Arc<MemoryMailer>>,
    /// The in-memory backend's uploads (S3's part, `/_dev/uploads`) and the count of work in
    /// flight that an intake adds to.
    uploads: Option<(Arc<MemoryUploads>, Arc<AtomicUsize>)>,
}

impl Gateway {
    /// Fails when a template route names a binary that has no handler.
    pub fn new(
        app: App,
        routes: RouteTable,
        admin_token: String,
        mail: Option<Arc<MemoryMailer>>,
    ) -> anyhow::Result<Self> {
        let mut by_binary = HashMap::new();
        for route in &routes.routes {
            let handler = handlers::by_binary(&route.binary).with_context(|| {
                format!("template route {} names binary {:?}, which has no handler", route.key(), route.binary)
            })?;
            let services = learners::wiring::functions::of(&route.binary)
                .with_context(|| format!("template binary {:?} has no entry in wiring::functions", route.binary))?;
            by_binary.insert(route.binary.clone(), (handler, services.confine(&app)));
        }
        Ok(Self { app, routes, handlers: by_binary, admin_token, mail, uploads: None })
    }

    /// Serves the memory backend's uploads as S3 would, and starts the intake of each file
    /// stored (as the bucket's notification does), counting it in `pending` while it runs.
    pub fn with_uploads(mut self, uploads: Arc<MemoryUploads>, pending: Arc<AtomicUsize>) -> Self {
        self.uploads = Some((uploads, pending));
        self
    }

    pub fn app(&self) -> &App {
        &self.app
    }

    async fn handle(&self, req: hyper::Request<Incoming>, peer: SocketAddr) -> hyper::Response<Full<Bytes>> {
        let (parts, body) = req.into_parts();
        let path = parts.uri.path().to_owned();
        if path == UPLOAD_PATH || path.starts_with(&format!("{UPLOAD_PATH}/")) {
            return self.upload(parts, body, &path).await;
        }
        if path.starts_with("/_dev/") {
            return self.dev(&parts.method, &path);
        }
        let person = learners::http::person_asks(&parts.method, &parts.headers);
        let look = &self.app.config.look;
        let page_if_person = |reply: learners::http::response::Reply| reply.render(look, person);
        let head = parts.method == http::Method::HEAD;
        let authenticated = self.presents_admin_token(&parts.headers);
        // Operator routes: who is asking is settled before anything else about the request.
        if path.starts_with("/admin/") && !authenticated {
            return to_hyper(page_if_person(ApiError::unauthorized().into()));
        }
        let matched = match self.routes.lookup(parts.method.as_str(), &path) {
            Lookup::Found(matched) => matched,
            Lookup::MethodNotAllowed(allowed) => {
                let message = format!("This address takes {}.", allowed.join(", "));
                let mut response: learners::http::response::Reply =
                    ApiError::new(learners::http::error::ErrorCode::MethodNotAllowed, message).into();
                if let Ok(value) = http::HeaderValue::from_str(&allowed.join(", ")) {
                    response.headers_mut().insert(http::header::ALLOW, value);
                }
                return to_hyper(page_if_person(response));
            }
            Lookup::NotFound => return to_hyper(page_if_person(learners::http::response::route_not_found())),
        };
        let bytes = match Limited::new(body, MAX_PAYLOAD).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(_) => return plain(413, r#"{"message":"Request Entity Too Large"}"#),
        };
        if event_size(&parts.headers, &bytes) > MAX_LAMBDA_EVENT {
            return plain(413, r#"{"message":"Request Entity Too Large"}"#);
        }
        let mut context = ApiGatewayV2httpRequestContext::default();
        context.route_key = Some(matched.route.key());
        context.http.method = parts.method.clone();
        context.http.path = Some(path.clone());
        context.http.source_ip = Some(peer.ip().to_string());
        if authenticated {
            let mut iam = ApiGatewayRequestAuthorizerIamDescription::default();
            iam.user_arn = Some(LOCAL_OPERATOR.to_owned());
            let mut authorizer = ApiGatewayRequestAuthorizer::default();
            authorizer.iam = Some(iam);
            context.authorizer = Some(authorizer);
        }
        let query: HashMap<String, Vec<String>> =
            serde_urlencoded::from_str::<Vec<(String, String)>>(parts.uri.query().unwrap_or(""))
                .unwrap_or_default()
                .into_iter()
                .fold(HashMap::new(), |mut map, (k, v)| {
                    map.entry(k).or_default().push(v);
                    map
                });
        let params: HashMap<String, String> = matched.params.into_iter().collect();
        let body = if bytes.is_empty() {
            Body::Empty
        } else {
            match String::from_utf8(bytes.to_vec()) {
                Ok(text) => Body::Text(text),
                Err(e) => Body::Binary(e.into_bytes()),
            }
        };
        let mut parts = parts;
        if head {
            parts.method = http::Method::GET;
        }
        let request = lambda_http::Request::from_parts(parts, body)
            .with_request_context(RequestContext::ApiGatewayV2(context))
            .with_path_parameters(params)
            .with_query_string_parameters(query);
        let (handler, app) = &self.handlers[&matched.route.binary];
        let mut response = to_hyper(handlers::answer(app, *handler, request).await);
        if head {
            // The GET answer's status and headers, without its body.
            *response.body_mut() = Full::new(Bytes::new());
        }
        response
    }

    /// `Authorization: Bearer <LEARNERS_ADMIN_TOKEN>` (the scheme in any case, RFC 9110),
    /// compared in constant time.
    fn presents_admin_token(&self, headers: &http::HeaderMap) -> bool {
        let Some((scheme, presented)) = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().split_once(' '))
        else {
            return false;
        };
        if !scheme.eq_ignore_ascii_case("bearer") {
            return false;
        }
        let expected = self.admin_token.as_bytes();
        let presented = presented.trim().as_bytes();
        presented.len() == expected.len() && presented.iter().zip(expected).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }

    fn dev(&self, method: &http::Method, path: &str) -> hyper::Response<Full<Bytes>> {
        match (method.as_str(), path, &self.mail) {
            ("GET", "/_dev/mail", Some(mail)) => {
                let body = serde_json::to_string(&mail.sent()).unwrap_or_else(|_| "[]".to_owned());
                let mut response = plain(200, &body);
                response.headers_mut().insert("content-type", http::HeaderValue::from_static("application/json"));
                response
            }
            ("DELETE", "/_dev/mail", Some(mail)) => {
                mail.clear();
                plain(204, "")
            }
            _ => to_hyper(learners::http::response::route_not_found().render(&self.app.config.look, false)),
        }
    }
}

/// The size of the event a body makes: text as a JSON string; anything else (a multipart form
/// included) base64-encoded, as API Gateway passes a body whose type is not text.
fn event_size(headers: &http::HeaderMap, body: &[u8]) -> usize {
    let content_type = headers.get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let textual = content_type.is_empty()
        || content_type.starts_with("text/")
        || ["json", "xml", "x-www-form-urlencoded", "javascript"].iter().any(|t| content_type.contains(t));
    let body = match std::str::from_utf8(body).ok().filter(|_| textual) {
        // JSON escapes: `\"`, `\\`, `\n`, `\r`, `\t` add a byte; other control bytes five.
        Some(text) => {
            text.len()
                + text
                    .bytes()
                    .map(|b| match b {
                        b'"' | b'\\' | b'\n' | b'\r' | b'\t' => 1,
                        0..0x20 => 5,
                        _ => 0,
                    })
                    .sum::<usize>()
        }
        None => body.len().div_ceil(3) * 4,
    };
    body + EVENT_OVERHEAD
}

impl Gateway {
    /// `/_dev/uploads`: the memory backend's bucket. A signed `PUT` of an object, or a signed
    /// form `POST` (which goes on to its `success_action_redirect` with 303, as S3's does); then
    /// the object's intake starts, as S3's notification would start the function.
    async fn upload(&self, parts: http::request::Parts, body: Incoming, path: &str) -> hyper::Response<Full<Bytes>> {
        let Some((uploads, pending)) = &self.uploads else {
            return to_hyper(learners::http::response::route_not_found().render(&self.app.config.look, false));
        };
        let stored = match (parts.method.as_str(), path.strip_prefix(&format!("{UPLOAD_PATH}/"))) {
            ("PUT", Some(key)) => {
                let bytes = match Limited::new(body, MAX_OBJECT).collect().await {
                    Ok(collected) => collected.to_bytes(),
                    Err(_) => {
                        return s3_error(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size")
                    }
                };
                uploads.inner().accept_put(key, parts.uri.query().unwrap_or(""), bytes).map(|()| (key.to_owned(), None))
            }
            ("POST", None) => match form_upload(&parts.headers, body).await {
                Ok((fields, file)) => {
                    uploads.inner().accept_post(&fields, file).map(|(key, redirect)| (key, Some(redirect)))
                }
                Err(message) => return s3_error(400, "MalformedPOSTRequest", &message),
            },
            _ => {
                return s3_error(405, "MethodNotAllowed", "The specified method is not allowed against this resource.")
            }
        };
        let (key, redirect) = match stored {
            Ok(stored) => stored,
            Err(UploadRefused::Forbidden) => {
                return s3_error(403, "AccessDenied", "Request has expired or the signature does not match")
            }
            Err(refused @ UploadRefused::TooLarge) => return s3_error(400, "EntityTooLarge", &refused.to_string()),
            Err(refused @ UploadRefused::TooSmall) => return s3_error(400, "EntityTooSmall", &refused.to_string()),
        };
        let (app, pending) = (learners::wiring::functions::INTAKE.confine(&self.app), pending.clone());
        pending.fetch_add(1, Ordering::SeqCst);
        let intake_key = key.clone();
        tokio::spawn(async move {
            // Lambda tries an asynchronous event three times in all.
            for attempt in 1..=3 {
                let event = learners::handlers::intake::object_created("local-uploads", &intake_key);
                match learners::handlers::intake::handle(&app, event).await {
                    Ok(()) => break,
                    Err(error) => {
                        tracing::warn!(attempt, error = format!("{error:#}"), "intake failed");
                        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                    }
                }
            }
            pending.fetch_sub(1, Ordering::SeqCst);
        });
        match redirect {
            Some(to) => {
                let separator = if to.contains('?') { '&' } else { '?' };
                let location = format!("{to}{separator}key={}", learners::http::pages::urlencode(&key));
                let mut response = plain(303, "");
                if let Ok(value) = http::HeaderValue::from_str(&location) {
                    response.headers_mut().insert(http::header::LOCATION, value);
                }
                response
            }
            None => plain(200, ""),
        }
    }
}

/// A form post's fields and its file (the field named `file`, which S3 takes as the last).
async fn form_upload(headers: &http::HeaderMap, body: Incoming) -> Result<(HashMap<String, String>, Bytes), String> {
    let content_type = headers.get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let boundary =
        multer::parse_boundary(content_type).map_err(|_| "The body must be multipart/form-data.".to_owned())?;
    let stream = http_body_util::BodyExt::into_data_stream(Limited::new(body, MAX_OBJECT + 64 * 1024));
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut fields = HashMap::new();
    while let Some(field) = multipart.next_field().await.map_err(|e| e.to_string())? {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "file" {
            let file = field.bytes().await.map_err(|e| e.to_string())?;
            return Ok((fields, file));
        }
        fields.insert(name, field.text().await.map_err(|e| e.to_string())?);
    }
    Err("The form has no file field.".to_owned())
}

/// An error as S3 answers it.
fn s3_error(status: u16, code: &str, message: &str) -> hyper::Response<Full<Bytes>> {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    );
    let mut response = plain(status, &body);
    response.headers_mut().insert("content-type", http::HeaderValue::from_static("application/xml"));
    response
}

fn to_hyper(response: lambda_http::Response<Body>) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = response.into_parts();
    let bytes = match body {
        Body::Empty => Bytes::new(),
        Body::Text(text) => Bytes::from(text),
        Body::Binary(data) => Bytes::from(data),
        _ => Bytes::new(),
    };
    hyper::Response::from_parts(parts, Full::new(bytes))
}

fn plain(status: u16, body: &str) -> hyper::Response<Full<Bytes>> {
    let mut response = hyper::Response::new(Full::new(Bytes::from(body.to_owned())));
    *response.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    response
}

/// Serves until the task is dropped.
pub async fn serve(listener: TcpListener, gateway: Arc<Gateway>) -> anyhow::Result<()> {
    loop {
        let (stream, peer) = listener.accept().await.context("accepting a connection")?;
        let gateway = gateway.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let gateway = gateway.clone();
                async move { Ok::<_, std::convert::Infallible>(gateway.handle(req, peer).await) }
            });
            if let Err(error) =
                hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await
            {
                tracing::debug!(%error, "connection ended with an error");
            }
        });
    }
}
