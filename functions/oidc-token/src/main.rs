//! Lambda function `oidc-token`: wiring only; it links its handler (`handlers::oidc_token`)
//! and the SDKs of its AWS services (`wiring::functions::OIDC_TOKEN`), no other.

fn main() -> Result<(), lambda_http::Error> {
    learners::wiring::run_lambda(learners::wiring::functions::OIDC_TOKEN, |app, req| {
        Box::pin(learners::handlers::oidc_token::handle(app, req))
    })
}
