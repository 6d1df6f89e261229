//! Lambda function `deletion-worker` (SQS): wiring only; the handler is in `learners::handlers`.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    learners::handlers::run_worker_lambda("deletion-worker").await
}
