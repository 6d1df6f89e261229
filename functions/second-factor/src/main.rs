//! Lambda function `second-factor`: wiring only; it links its handler (`handlers::second_factor`)
//! and the SDKs of its AWS services (`wiring::functions::SECOND_FACTOR`), no other.

fn main() -> Result<(), lambda_http::Error> {
    learners::wiring::run_lambda(learners::wiring::functions::SECOND_FACTOR, |app, req| {
        Box::pin(learners::handlers::second_factor::handle(app, req))
    })
}
