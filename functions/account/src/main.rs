//! Lambda function `account`: wiring only; it links its handler (`handlers::account`)
//! and the SDKs of its AWS services (`wiring::functions::ACCOUNT`), no other.

fn main() -> Result<(), lambda_http::Error> {
    learners::wiring::run_lambda(learners::wiring::functions::ACCOUNT, |app, req| {
        Box::pin(learners::handlers::account::handle(app, req))
    })
}
