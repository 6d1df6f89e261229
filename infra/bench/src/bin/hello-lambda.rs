//! The cold-start baseline of `learners-bench coldstart`: the smallest `lambda_http` function,
//! with the same allocator and build profile as ours.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use lambda_http::{service_fn, Error, Request};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::run(service_fn(|_req: Request| async { Ok::<_, Error>("hello") })).await
}
