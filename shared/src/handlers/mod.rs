//! One module per Lambda function. A handler takes the request and always answers: every error
//! becomes a response here, so no request ends in a runtime error or a panic.
//!
//! `HTTP_HANDLERS` and `WORKER_HANDLERS` map the binary names the SAM template builds to their
//! handlers: the local gateway reads the routes and queues from `template.yaml` and dispatches
//! through them, and a test checks that both lists match the template.

pub mod account;
pub mod account_email;
pub mod activate;
pub mod admin_users;
pub mod bulk_registrations;
pub mod bulk_worker;
pub mod deletion_worker;
pub mod deletions;
pub mod intake;
pub mod mail_events;
pub mod mail_worker;
pub mod oidc;
pub mod oidc_clients;
pub mod oidc_token;
pub mod operator_console;
pub mod passkeys;
pub mod password_reset;
pub mod register;
mod row_jobs;
pub mod second_factor;
pub mod sessions;
pub mod sqs;

use crate::http::response::Reply;
use crate::App;
use lambda_http::{Body, Request, Response};
use std::future::Future;
use std::pin::Pin;

pub type HandlerFuture<'a> = Pin<Box<dyn Future<Output = Reply> + Send + 'a>>;
pub type HttpHandler = for<'a> fn(&'a App, Request) -> HandlerFuture<'a>;
pub type WorkerFuture<'a> = Pin<Box<dyn Future<Output = sqs::SqsBatchResponse> + Send + 'a>>;
pub type SqsHandler = for<'a> fn(&'a App, sqs::SqsEvent) -> WorkerFuture<'a>;
pub type IntakeFuture<'a> = Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send + 'a>>;
/// The handler of an S3 event (`intake`): an error makes Lambda deliver the event again.
pub type IntakeHandler = for<'a> fn(&'a App, intake::S3Event) -> IntakeFuture<'a>;

/// Every function binary with an HTTP handler, and the handler.
pub const HTTP_HANDLERS: &[(&str, HttpHandler)] = &[
    ("register", |app, req| Box::pin(register::handle(app, req))),
    ("activate", |app, req| Box::pin(activate::handle(app, req))),
    ("admin-users", |app, req| Box::pin(admin_users::handle(app, req))),
    ("sessions", |app, req| Box::pin(sessions::handle(app, req))),
    ("second-factor", |app, req| Box::pin(second_factor::handle(app, req))),
    ("account", |app, req| Box::pin(account::handle(app, req))),
    ("account-email", |app, req| Box::pin(account_email::handle(app, req))),
    ("password-reset", |app, req| Box::pin(password_reset::handle(app, req))),
    ("passkeys", |app, req| Box::pin(passkeys::handle(app, req))),
    ("bulk-registrations", |app, req| Box::pin(bulk_registrations::handle(app, req))),
    ("deletions", |app, req| Box::pin(deletions::handle(app, req))),
    ("operator-console", |app, req| Box::pin(operator_console::handle(app, req))),
    ("oidc", |app, req| Box::pin(oidc::handle(app, req))),
    ("oidc-token", |app, req| Box::pin(oidc_token::handle(app, req))),
    ("oidc-clients", |app, req| Box::pin(oidc_clients::handle(app, req))),
];

/// Every function binary with an SQS handler, and the handler.
pub const WORKER_HANDLERS: &[(&str, SqsHandler)] = &[
    ("mail-worker", |app, event| Box::pin(mail_worker::handle(app, event))),
    ("bulk-worker", |app, event| Box::pin(bulk_worker::handle(app, event))),
    ("deletion-worker", |app, event| Box::pin(deletion_worker::handle(app, event))),
    ("mail-events", |app, event| Box::pin(mail_events::handle(app, event))),
];

/// Calls `handler`; a person in a browser gets a page for every answer, an error meant for a
/// program included (with its status). The functions and the local gateway both answer
/// through here.
pub async fn answer(app: &App, handler: HttpHandler, req: Request) -> Response<Body> {
    // The site settings in force for this request (read again once the copy is 30 s old).
    app.refresh_settings().await;
    // OAuth clients post forms to the token endpoint and must get its JSON errors back.
    let person = crate::http::wants_page(&req) && !oidc::for_programs(&crate::http::route_key(&req));
    let mut response = handler(app, req).await.render(&app.site().look, person);
    if app.config.site_is_https() {
        // Browsers that once reached the site over https never try plain http again, on its
        // subdomains either (a plain-http subdomain could otherwise set cookies for the site).
        response
            .headers_mut()
            .insert("strict-transport-security", http::HeaderValue::from_static("max-age=31536000; includeSubDomains"));
    }
    response
}

pub fn by_binary(binary: &str) -> Option<HttpHandler> {
    HTTP_HANDLERS.iter().find(|(name, _)| *name == binary).map(|(_, handler)| *handler)
}

pub fn worker_by_binary(binary: &str) -> Option<SqsHandler> {
    WORKER_HANDLERS.iter().find(|(name, _)| *name == binary).map(|(_, handler)| *handler)
}

/// The signed-in user of this request, if any.
/// After a sign-in (a password, a code, a passkey): a browser goes on to `next` (a local path)
/// or the account page, a program gets the account as JSON; both get the new session and
/// device cookies, and the end of a pending sign-in.
pub(crate) fn signed_in_reply(signed_in: &crate::flows::signin::SignedIn, next: Option<&str>) -> Reply {
    let user = &signed_in.user;
    let next = next.and_then(crate::http::session::local_path).unwrap_or("/account/settings");
    let reply = crate::http::response::either(
        crate::http::response::see_other(next),
        crate::http::response::json(
            200,
            &serde_json::json!({"user": {
                "user_id": user.id, "email": user.email.as_ref(), "username": user.username.as_ref(),
                "name": user.name.as_ref(), "status": user.status,
            }}),
        ),
    );
    crate::http::session::with_sign_in_cookies(reply, &signed_in.token, signed_in.lifetime_seconds, &signed_in.device)
}

pub(crate) async fn signed_in(
    app: &App,
    req: &Request,
) -> anyhow::Result<Option<(crate::domain::User, crate::domain::SessionRecord)>> {
    match crate::http::session::cookie_token(req) {
        Some(token) => crate::flows::signin::current_user(app, &token).await,
        None => Ok(None),
    }
}
