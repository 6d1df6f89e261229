//! Lambda function `oidc-clients`: wiring only; it links its handler (`handlers::oidc_clients`)
//! and the SDKs of its AWS services (`wiring::functions::OIDC_CLIENTS`), no other.

fn main() -> Result<(), lambda_http::Error> {
    learners::wiring::run_lambda(learners::wiring::functions::OIDC_CLIENTS, |app, req| {
        Box::pin(learners::handlers::oidc_clients::handle(app, req))
    })
}
