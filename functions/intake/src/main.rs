//! Lambda function `intake` (S3 `ObjectCreated`): wiring only; it links its handler (`handlers::intake`) and no other.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    learners::wiring::run_intake_lambda(|app, event| Box::pin(learners::handlers::intake::handle(app, event))).await
}
