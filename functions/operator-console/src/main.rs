//! Lambda function `operator-console`: wiring only; the handler is in `learners::handlers`.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    learners::handlers::run_lambda("operator-console").await
}
