//! Lambda function `register`: wiring only; it links its handler (`handlers::register`)
//! and the SDKs of its AWS services (`wiring::functions::REGISTER`), no other.

fn main() -> Result<(), lambda_http::Error> {
    learners::wiring::run_lambda(learners::wiring::functions::REGISTER, |app, req| {
        Box::pin(learners::handlers::register::handle(app, req))
    })
}
