//! Lambda function `sessions`: wiring only; it links its handler (`handlers::sessions`)
//! and the SDKs of its AWS services (`wiring::functions::SESSIONS`), no other.

fn main() -> Result<(), lambda_http::Error> {
    learners::wiring::run_lambda(learners::wiring::functions::SESSIONS, |app, req| {
        Box::pin(learners::handlers::sessions::handle(app, req))
    })
}
