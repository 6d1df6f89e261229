//! The one rule for queue messages no worker can read: every worker reports them failed on each
//! delivery (so SQS moves them to the dead-letter queue, and nothing is dropped) and counts them
//! once, on their last delivery, as `MalformedMessages`.

use learners::handlers::sqs::{SqsEvent, SqsMessage};
use learners::handlers::WORKER_HANDLERS;
use learners::metrics::Metric;

fn event(body: &str, receive_count: u32) -> SqsEvent {
    let mut message = SqsMessage::default();
    message.message_id = Some("m1".to_owned());
    message.body = Some(body.to_owned());
    message.attributes.insert("ApproximateReceiveCount".to_owned(), receive_count.to_string());
    let mut event = SqsEvent::default();
    event.records = vec![message];
    event
}

#[tokio::test]
async fn every_worker_dead_letters_a_malformed_message_and_counts_it_once() {
    assert_eq!(WORKER_HANDLERS.len(), 4, "a new worker: add it here by running this test");
    for (name, handler) in WORKER_HANDLERS {
        let (app, _parts, _clock) = learners_tests::memory_app();
        let last = app.config.max_receives;
        for body in ["not json at all", r#"{"unexpected": "shape"}"#] {
            for receive in 1..=last {
                let answer = handler(&app, event(body, receive)).await;
                let failed: Vec<&str> = answer.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
                assert_eq!(failed, ["m1"], "{name}: {body} on delivery {receive} must come back");
            }
        }
        assert_eq!(app.metrics.total(Metric::MalformedMessages), 2, "{name}: counted once per message");
    }
}
