//! Lambda function `account-email`: wiring only; it links its handler (`handlers::account_email`)
//! and the SDKs of its AWS services (`wiring::functions::ACCOUNT_EMAIL`), no other.

fn main() -> Result<(), lambda_http::Error> {
    learners::wiring::run_lambda(learners::wiring::functions::ACCOUNT_EMAIL, |app, req| {
        Box::pin(learners::handlers::account_email::handle(app, req))
    })
}
