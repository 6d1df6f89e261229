//! Lambda function `bulk-registrations`: wiring only; it links its handler (`handlers::bulk_registrations`)
//! and the SDKs of its AWS services (`wiring::functions::BULK_REGISTRATIONS`), no other.

fn main() -> Result<(), lambda_http::Error> {
    learners::wiring::run_lambda(learners::wiring::functions::BULK_REGISTRATIONS, |app, req| {
        Box::pin(learners::handlers::bulk_registrations::handle(app, req))
    })
}
