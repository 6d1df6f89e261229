//! Lambda function `activate`: wiring only; it links its handler (`handlers::activate`)
//! and the SDKs of its AWS services (`wiring::functions::ACTIVATE`), no other.

fn main() -> Result<(), lambda_http::Error> {
    learners::wiring::run_lambda(learners::wiring::functions::ACTIVATE, |app, req| {
        Box::pin(learners::handlers::activate::handle(app, req))
    })
}
