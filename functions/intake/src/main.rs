//! Lambda function `intake` (S3 `ObjectCreated`): wiring only; it links its handler (`handlers::intake`)
//! and the SDKs of its AWS services (`wiring::functions::INTAKE`), no other.

fn main() -> Result<(), lambda_runtime::Error> {
    learners::wiring::run_intake_lambda(learners::wiring::functions::INTAKE, |app, event| {
        Box::pin(learners::handlers::intake::handle(app, event))
    })
}
