//! The cold-start baseline of `learners-bench coldstart`: the smallest `lambda_http` function,
//! on the system allocator, built with the same profile as ours.

use lambda_http::{service_fn, Error, Request};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::run(service_fn(|_req: Request| async { Ok::<_, Error>("hello") })).await
}
