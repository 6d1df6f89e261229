//! Lambda function `operator-console`: wiring only; it links its handler (`handlers::operator_console`)
//! and the SDKs of its AWS services (`wiring::functions::OPERATOR_CONSOLE`), no other.

fn main() -> Result<(), lambda_http::Error> {
    learners::wiring::run_lambda(learners::wiring::functions::OPERATOR_CONSOLE, |app, req| {
        Box::pin(learners::handlers::operator_console::handle(app, req))
    })
}
