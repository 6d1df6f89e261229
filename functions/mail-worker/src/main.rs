//! Lambda function `mail-worker` (SQS): wiring only; it links its handler (`handlers::mail_worker`)
//! and the SDKs of its AWS services (`wiring::functions::MAIL_WORKER`), no other.

fn main() -> Result<(), lambda_runtime::Error> {
    learners::wiring::run_worker_lambda(learners::wiring::functions::MAIL_WORKER, |app, event| {
        Box::pin(learners::handlers::mail_worker::handle(app, event))
    })
}
