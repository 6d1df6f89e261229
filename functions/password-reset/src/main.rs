//! Lambda function `password-reset`: wiring only; it links its handler (`handlers::password_reset`)
//! and the SDKs of its AWS services (`wiring::functions::PASSWORD_RESET`), no other.

fn main() -> Result<(), lambda_http::Error> {
    learners::wiring::run_lambda(learners::wiring::functions::PASSWORD_RESET, |app, req| {
        Box::pin(learners::handlers::password_reset::handle(app, req))
    })
}
