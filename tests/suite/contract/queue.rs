//! `JobQueue`: a test per adapter (the in-process queue, SQS on moto).

use learners::adapters::aws::{provision, AwsClients, SqsQueue};
use learners::adapters::memory::InProcessQueue;
use learners::ports::{JobQueue, Queue};
use learners_tests::{moto, unique};

#[tokio::test]
async fn the_in_process_queue_delivers_batches_of_ten() {
    let (queue, mut receiver) = InProcessQueue::new();
    let bodies: Vec<String> = (0..25).map(|i| i.to_string()).collect();
    queue.enqueue(Queue::BulkRegistration, &bodies).await.unwrap();
    let mut got = Vec::new();
    for expected in [10, 10, 5] {
        let batch = receiver.recv().await.unwrap();
        assert_eq!((batch.queue, batch.bodies.len()), (Queue::BulkRegistration, expected));
        got.extend(batch.bodies);
    }
    assert_eq!(got, bodies);
    queue.enqueue(Queue::Mail, &[]).await.unwrap();
    assert!(receiver.try_recv().is_err(), "nothing to enqueue, no batch");
    // Without a consumer nothing can be enqueued, and the caller hears of it.
    drop(receiver);
    assert!(queue.enqueue(Queue::Deletion, &bodies).await.is_err());
}

#[tokio::test]
async fn sqs_receives_every_enqueued_body() {
    let clients = AwsClients::for_endpoint(moto::url()).await;
    let made = provision::provision(&clients, &unique("queue-")).await.unwrap();
    let queue = SqsQueue::new(clients.sqs.clone(), made.queue_urls.clone());
    let bodies: Vec<String> = (0..25).map(|i| format!("body-{i}")).collect();
    queue.enqueue(Queue::Deletion, &bodies).await.unwrap();
    let mut got = Vec::new();
    for _ in 0..20 {
        let output = clients
            .sqs
            .receive_message()
            .queue_url(&made.queue_urls[&Queue::Deletion])
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        got.extend(output.messages().iter().filter_map(|m| m.body().map(str::to_owned)));
        if got.len() >= 25 {
            break;
        }
    }
    got.sort();
    let mut expected = bodies.clone();
    expected.sort();
    assert_eq!(got, expected);
    // Only the named queue gets them; nothing to enqueue sends nothing.
    queue.enqueue(Queue::Mail, &[]).await.unwrap();
    for other in [Queue::BulkRegistration, Queue::Mail, Queue::MailEvents] {
        let output = clients.sqs.receive_message().queue_url(&made.queue_urls[&other]).send().await.unwrap();
        assert!(output.messages().is_empty(), "{other:?} received messages");
    }
    let unconfigured = SqsQueue::new(clients.sqs, Default::default());
    assert!(unconfigured
        .enqueue(Queue::BulkRegistration, &bodies)
        .await
        .unwrap_err()
        .to_string()
        .contains("LEARNERS_BULK_QUEUE_URL"));
}
