//! Lambda function `bulk-worker` (SQS): wiring only; it links its handler (`handlers::bulk_worker`)
//! and the SDKs of its AWS services (`wiring::functions::BULK_WORKER`), no other.

fn main() -> Result<(), lambda_runtime::Error> {
    learners::wiring::run_worker_lambda(learners::wiring::functions::BULK_WORKER, |app, event| {
        Box::pin(learners::handlers::bulk_worker::handle(app, event))
    })
}
