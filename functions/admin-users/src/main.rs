//! Lambda function `admin-users`: wiring only; it links its handler (`handlers::admin_users`)
//! and the SDKs of its AWS services (`wiring::functions::ADMIN_USERS`), no other.

fn main() -> Result<(), lambda_http::Error> {
    learners::wiring::run_lambda(learners::wiring::functions::ADMIN_USERS, |app, req| {
        Box::pin(learners::handlers::admin_users::handle(app, req))
    })
}
