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
use learners::adapters::memory::MemoryMailer;
use learners::handlers::{self, HttpHandler};
use learners::http::ApiError;
use learners::App;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

/// API Gateway HTTP APIs refuse bodies over 10 MB.
const MAX_PAYLOAD: usize = 10 * 1024 * 1024;

/// The operator the local admin token stands for, in audit records and logs.
pub const LOCAL_OPERATOR: &str = "arn:aws:iam::000000000000:user/local-operator";

pub struct Gateway {
    app: App,
    routes: RouteTable,
    handlers: HashMap<String, HttpHandler>,
    admin_token: String,
    /// The captured mail of the in-memory backend (absent on AWS).
    mail: Option<Arc<MemoryMailer>>,
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
            by_binary.insert(route.binary.clone(), handler);
        }
        Ok(Self { app, routes, handlers: by_binary, admin_token, mail })
    }

    pub fn app(&self) -> &App {
        &self.app
    }

    async fn handle(&self, req: hyper::Request<Incoming>, peer: SocketAddr) -> hyper::Response<Full<Bytes>> {
        let (parts, body) = req.into_parts();
        let path = parts.uri.path().to_owned();
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
        let handler = self.handlers[&matched.route.binary];
        let mut response = to_hyper(handlers::answer(&self.app, handler, request).await);
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
