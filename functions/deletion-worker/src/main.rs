//! Lambda function `deletion-worker` (SQS): wiring only; it links its handler (`handlers::deletion_worker`)
//! and the SDKs of its AWS services (`wiring::functions::DELETION_WORKER`), no other.

fn main() -> Result<(), lambda_runtime::Error> {
    learners::wiring::run_worker_lambda(learners::wiring::functions::DELETION_WORKER, |app, event| {
        Box::pin(learners::handlers::deletion_worker::handle(app, event))
    })
}
