//! Lambda function `sessions`: wiring only; it links its handler (`handlers::sessions`)
//! and the SDKs of its AWS services (`wiring::functions::SESSIONS`), no other.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> Result<(), lambda_http::Error> {
    learners::wiring::run_lambda(learners::wiring::functions::SESSIONS, |app, req| {
        Box::pin(learners::handlers::sessions::handle(app, req))
    })
}
