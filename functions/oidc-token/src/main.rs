//! Lambda function `oidc-token`: wiring only; it links its handler (`handlers::oidc_token`) and no other.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    learners::wiring::run_lambda(|app, req| Box::pin(learners::handlers::oidc_token::handle(app, req))).await
}
