//! Lambda function `deletions`: wiring only; it links its handler (`handlers::deletions`)
//! and the SDKs of its AWS services (`wiring::functions::DELETIONS`), no other.

fn main() -> Result<(), lambda_http::Error> {
    learners::wiring::run_lambda(learners::wiring::functions::DELETIONS, |app, req| {
        Box::pin(learners::handlers::deletions::handle(app, req))
    })
}
