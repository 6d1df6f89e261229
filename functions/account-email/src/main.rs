//! Lambda function `account-email`: wiring only; it links its handler (`handlers::account_email`) and no other.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    learners::wiring::run_lambda(|app, req| Box::pin(learners::handlers::account_email::handle(app, req))).await
}
