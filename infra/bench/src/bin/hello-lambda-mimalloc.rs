//! The hello world of `hello-lambda.rs` on mimalloc: what the allocator alone adds to a cold
//! start, under the template's `MIMALLOC_*` settings (`learners-bench coldstart` shows it).

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use lambda_http::{service_fn, Error, Request};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::run(service_fn(|_req: Request| async { Ok::<_, Error>("hello") })).await
}
