//! Lambda function `oidc`: wiring only; it links its handler (`handlers::oidc`)
//! and the SDKs of its AWS services (`wiring::functions::OIDC`), no other.

fn main() -> Result<(), lambda_http::Error> {
    learners::wiring::run_lambda(learners::wiring::functions::OIDC, |app, req| {
        Box::pin(learners::handlers::oidc::handle(app, req))
    })
}
