//! One module per Lambda function. A handler takes the request and always answers: every error
//! becomes a response here, so no request ends in a runtime error or a panic.
//!
//! `by_binary` maps the binary names the SAM template builds to their handlers: the local
//! gateway reads the routes from `template.yaml` and dispatches through it.

pub mod account;
pub mod activate;
pub mod admin_users;
pub mod password_reset;
pub mod recovery_worker;
pub mod register;
pub mod sessions;
pub mod worker;

use crate::App;
use lambda_http::{Body, Request, Response};
use std::future::Future;
use std::pin::Pin;

pub type HandlerFuture<'a> = Pin<Box<dyn Future<Output = Response<Body>> + Send + 'a>>;
pub type HttpHandler = for<'a> fn(&'a App, Request) -> HandlerFuture<'a>;

/// The HTTP handler of each function binary, by binary name.
pub fn by_binary(binary: &str) -> Option<HttpHandler> {
    let handler: HttpHandler = match binary {
        "register" => |app, req| Box::pin(register::handle(app, req)),
        "activate" => |app, req| Box::pin(activate::handle(app, req)),
        "admin-users" => |app, req| Box::pin(admin_users::handle(app, req)),
        "sessions" => |app, req| Box::pin(sessions::handle(app, req)),
        "account" => |app, req| Box::pin(account::handle(app, req)),
        "password-reset" => |app, req| Box::pin(password_reset::handle(app, req)),
        _ => return None,
    };
    Some(handler)
}

/// Every binary with an HTTP handler.
pub const HTTP_BINARIES: &[&str] = &[
    "register",
    "activate",
    "admin-users",
    "sessions",
    "account",
    "password-reset",
];

pub type WorkerFuture<'a> = Pin<Box<dyn Future<Output = worker::SqsBatchResponse> + Send + 'a>>;
pub type SqsHandler = for<'a> fn(&'a App, worker::SqsEvent) -> WorkerFuture<'a>;

/// The SQS handler of each worker binary, by binary name.
pub fn worker_by_binary(binary: &str) -> Option<SqsHandler> {
    let handler: SqsHandler = match binary {
        "recovery-worker" => |app, event| Box::pin(recovery_worker::handle(app, event)),
        _ => return None,
    };
    Some(handler)
}

/// Every binary with an SQS handler.
pub const WORKER_BINARIES: &[&str] = &["recovery-worker"];

/// Runs the SQS handler of `binary` as a Lambda function.
pub async fn run_worker_lambda(binary: &str) -> Result<(), lambda_runtime::Error> {
    crate::telemetry::init();
    let handler = worker_by_binary(binary).ok_or_else(|| format!("no SQS handler for binary {binary:?}"))?;
    let app = App::from_env()
        .await
        .inspect_err(|e| tracing::error!(error = format!("{e:#}"), "configuration error"))?;
    let app = &app;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<worker::SqsEvent>| async move {
            Ok::<_, std::convert::Infallible>(handler(app, event.payload).await)
        },
    ))
    .await
}

/// Runs the HTTP handler of `binary` as a Lambda function: tracing, configuration and AWS
/// clients once per process, then one request at a time.
pub async fn run_lambda(binary: &str) -> Result<(), lambda_http::Error> {
    crate::telemetry::init();
    let handler = by_binary(binary).ok_or_else(|| format!("no HTTP handler for binary {binary:?}"))?;
    let app = App::from_env()
        .await
        .inspect_err(|e| tracing::error!(error = format!("{e:#}"), "configuration error"))?;
    let app = &app;
    lambda_http::run(lambda_http::service_fn(move |req: Request| async move {
        Ok::<_, std::convert::Infallible>(handler(app, req).await)
    }))
    .await
}
