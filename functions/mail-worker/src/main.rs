//! Lambda function `mail-worker` (SQS): wiring only; it links its handler (`handlers::mail_worker`) and no other.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    learners::wiring::run_worker_lambda(|app, event| Box::pin(learners::handlers::mail_worker::handle(app, event)))
        .await
}
