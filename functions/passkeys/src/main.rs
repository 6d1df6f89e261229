//! Lambda function `passkeys`: wiring only; it links its handler (`handlers::passkeys`)
//! and the SDKs of its AWS services (`wiring::functions::PASSKEYS`), no other.

fn main() -> Result<(), lambda_http::Error> {
    learners::wiring::run_lambda(learners::wiring::functions::PASSKEYS, |app, req| {
        Box::pin(learners::handlers::passkeys::handle(app, req))
    })
}
