//! Lambda function `mail-events` (SQS): wiring only; it links its handler (`handlers::mail_events`)
//! and the SDKs of its AWS services (`wiring::functions::MAIL_EVENTS`), no other.

fn main() -> Result<(), lambda_runtime::Error> {
    learners::wiring::run_worker_lambda(learners::wiring::functions::MAIL_EVENTS, |app, event| {
        Box::pin(learners::handlers::mail_events::handle(app, event))
    })
}
