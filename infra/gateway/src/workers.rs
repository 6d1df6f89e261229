//! The gateway's stand-in for Lambda's SQS event source mappings: what is enqueued reaches the
//! worker function's own handler as an `SqsEvent`, and only the messages it reports as failed
//! come back (after a pause), up to `LEARNERS_MAX_RECEIVES` receives; then they go to the dead-letter list, as the
//! template's redrive policy does. In-process queues on the memory backend; SQS polling on AWS.

use crate::routes::RouteTable;
use anyhow::Context;
use learners::adapters::memory::QueuedBatch;
use learners::handlers::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use learners::handlers::{worker_by_binary, SqsHandler};
use learners::ports::Queue;
use learners::wiring::{functions, Services};
use learners::App;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;

/// How long a failed in-process message waits before it comes back (SQS: the visibility timeout).
const RETRY_PAUSE: Duration = Duration::from_millis(200);

/// The worker handler of each queue, as the template wires them, with its function's services.
#[derive(Clone)]
pub struct Workers {
    by_queue: BTreeMap<Queue, (SqsHandler, Services)>,
    /// The function (binary) that works each queue.
    binaries: BTreeMap<Queue, String>,
    /// Messages that failed every receive, per queue.
    pub dead_letters: Arc<Mutex<Vec<(Queue, String)>>>,
}

impl Workers {
    pub fn from_routes(routes: &RouteTable) -> anyhow::Result<Self> {
        let (mut by_queue, mut binaries) = (BTreeMap::new(), BTreeMap::new());
        for binding in &routes.workers {
            let queue = Queue::ALL
                .into_iter()
                .find(|q| q.logical_id() == binding.queue)
                .with_context(|| format!("template queue {} is not one the service knows", binding.queue))?;
            let handler = worker_by_binary(&binding.binary)
                .with_context(|| format!("template worker {:?} has no SQS handler", binding.binary))?;
            let services = functions::of(&binding.binary)
                .with_context(|| format!("template worker {:?} has no entry in wiring::functions", binding.binary))?;
            by_queue.insert(queue, (handler, services));
            binaries.insert(queue, binding.binary.clone());
        }
        Ok(Self { by_queue, binaries, dead_letters: Arc::default() })
    }

    pub fn queues(&self) -> impl Iterator<Item = Queue> + '_ {
        self.by_queue.keys().copied()
    }

    /// Runs `queue`'s worker on `event`, with only its function's services (as in Lambda).
    async fn run(&self, app: &App, queue: Queue, event: SqsEvent) -> Option<SqsBatchResponse> {
        let (handler, services) = self.by_queue.get(&queue)?;
        Some(handler(&services.confine(app), event).await)
    }

    /// The function (its binary's name) the template wires to `queue`.
    pub fn binary(&self, queue: Queue) -> Option<&str> {
        self.binaries.get(&queue).map(String::as_str)
    }

    /// Hands `bodies` to `queue`'s worker as one event of first deliveries, as Lambda's event
    /// source would; its answer names the messages that failed.
    pub async fn deliver(&self, app: &App, queue: Queue, bodies: &[String]) -> anyhow::Result<SqsBatchResponse> {
        let mut event = SqsEvent::default();
        event.records =
            bodies.iter().enumerate().map(|(i, body)| message(&i.to_string(), &i.to_string(), body, 1)).collect();
        self.run(app, queue, event).await.with_context(|| format!("no worker for {queue:?}"))
    }

    fn dead_letter(&self, queue: Queue, body: String) {
        tracing::error!(?queue, "message failed its last receive: dead-lettered");
        self.dead_letters.lock().unwrap_or_else(|p| p.into_inner()).push((queue, body));
    }
}

fn message(id: &str, receipt: &str, body: &str, receive_count: u32) -> SqsMessage {
    let mut message = SqsMessage::default();
    message.message_id = Some(id.to_owned());
    message.receipt_handle = Some(receipt.to_owned());
    message.body = Some(body.to_owned());
    message.event_source = Some("aws:sqs".to_owned());
    message.attributes = HashMap::from([("ApproximateReceiveCount".to_owned(), receive_count.to_string())]);
    message
}

/// Runs the in-process queues' batches through their workers until the app is dropped.
pub fn spawn_in_process(
    app: App,
    workers: Workers,
    mut batches: UnboundedReceiver<QueuedBatch>,
    pending: Arc<AtomicUsize>,
) {
    tokio::spawn(async move {
        while let Some(batch) = batches.recv().await {
            let (app, workers, pending) = (app.clone(), workers.clone(), pending.clone());
            // Batches run side by side, as concurrent Lambda invocations would.
            tokio::spawn(async move { run_in_process(&app, &workers, batch, &pending).await });
        }
    });
}

async fn run_in_process(app: &App, workers: &Workers, batch: QueuedBatch, pending: &AtomicUsize) {
    if !workers.by_queue.contains_key(&batch.queue) {
        tracing::error!(queue = ?batch.queue, "no worker consumes this queue: messages dropped");
        pending.fetch_sub(batch.bodies.len(), Ordering::SeqCst);
        return;
    }
    let mut waiting: Vec<(String, String)> =
        batch.bodies.into_iter().map(|body| (uuid::Uuid::now_v7().to_string(), body)).collect();
    for receive in 1..=app.config.max_receives {
        let mut event = SqsEvent::default();
        event.records = waiting.iter().map(|(id, body)| message(id, id, body, receive)).collect();
        let Some(response) = workers.run(app, batch.queue, event).await else { return };
        let failed: HashSet<String> = response.batch_item_failures.into_iter().map(|f| f.item_identifier).collect();
        let done = waiting.len() - waiting.iter().filter(|(id, _)| failed.contains(id)).count();
        pending.fetch_sub(done, Ordering::SeqCst);
        waiting.retain(|(id, _)| failed.contains(id));
        if waiting.is_empty() {
            return;
        }
        tokio::time::sleep(RETRY_PAUSE).await;
    }
    for (_, body) in waiting {
        workers.dead_letter(batch.queue, body);
        pending.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Polls each configured SQS queue that has a worker, as Lambda's event source mapping does:
/// batches of up to 10, successes deleted, failures left to come back after the visibility
/// timeout (and to the DLQ after 3 receives, by the queue's redrive policy). `pollers` per queue
/// run side by side, as several invocations of a worker would.
pub fn spawn_sqs_pollers(app: App, workers: Workers, sqs: aws_sdk_sqs::Client, pollers: usize) {
    let queues: Vec<Queue> = workers.queues().collect();
    for queue in queues.into_iter().flat_map(|q| std::iter::repeat_n(q, pollers.max(1))) {
        let Some(url) = app.config.queue_urls.get(&queue).cloned() else {
            tracing::warn!(?queue, "{} is not set: its worker does not run", queue.url_variable());
            continue;
        };
        let (app, workers, sqs) = (app.clone(), workers.clone(), sqs.clone());
        tokio::spawn(async move {
            loop {
                if let Err(error) = poll_once(&app, &workers, &sqs, queue, &url).await {
                    tracing::warn!(?queue, error = format!("{error:#}"), "polling failed");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        });
    }
}

async fn poll_once(
    app: &App,
    workers: &Workers,
    sqs: &aws_sdk_sqs::Client,
    queue: Queue,
    url: &str,
) -> anyhow::Result<()> {
    let output = sqs
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .wait_time_seconds(1)
        .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount)
        .send()
        .await
        .context("SQS ReceiveMessage")?;
    let messages = output.messages.unwrap_or_default();
    if messages.is_empty() {
        return Ok(());
    }
    let mut event = SqsEvent::default();
    for m in &messages {
        let count = m
            .attributes()
            .and_then(|a| a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount))
            .and_then(|c| c.parse().ok())
            .unwrap_or(1);
        event.records.push(message(
            m.message_id().unwrap_or_default(),
            m.receipt_handle().unwrap_or_default(),
            m.body().unwrap_or_default(),
            count,
        ));
    }
    let response = workers.run(app, queue, event).await.with_context(|| format!("no worker for {queue:?}"))?;
    let failed: HashSet<String> = response.batch_item_failures.into_iter().map(|f| f.item_identifier).collect();
    for m in messages.iter().filter(|m| !failed.contains(m.message_id().unwrap_or_default())) {
        sqs.delete_message()
            .queue_url(url)
            .receipt_handle(m.receipt_handle().unwrap_or_default())
            .send()
            .await
            .context("SQS DeleteMessage")?;
    }
    Ok(())
}

/// How often the gateway on the AWS adapters looks for new uploads.
const UPLOAD_POLL: Duration = Duration::from_secs(1);

/// The gateway's stand-in for the bucket's `ObjectCreated` notification on the AWS adapters
/// (`make dev-moto`): every second, each object under `uploads/` goes to the `intake` handler
/// as S3's event would. The intake deletes what it took in; an object it leaves (no job of its
/// name) is not offered again.
pub fn spawn_upload_poller(app: App, uploads: learners::adapters::aws::S3Uploads, bucket: String) {
    let intake = functions::INTAKE.confine(&app);
    tokio::spawn(async move {
        let mut left: HashSet<String> = HashSet::new();
        loop {
            match uploads.keys_under(learners::jobs::UPLOAD_PREFIX).await {
                Ok(keys) => {
                    let new: Vec<String> = keys.into_iter().filter(|key| !left.contains(key)).collect();
                    for key in new {
                        let event = learners::handlers::intake::object_created(&bucket, &key);
                        if let Err(error) = learners::handlers::intake::handle(&intake, event).await {
                            tracing::warn!(key, error = format!("{error:#}"), "intake failed; tried again");
                        } else {
                            left.insert(key);
                        }
                    }
                }
                Err(error) => tracing::warn!(error = format!("{error:#}"), "listing the uploads failed"),
            }
            tokio::time::sleep(UPLOAD_POLL).await;
        }
    });
}
