//! Lambda function `register`: wiring only; the handler is `learners::handlers`.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let handler = learners::handlers::by_binary("register").expect("this binary has a handler");
    learners::handlers::run_lambda(handler).await
}
