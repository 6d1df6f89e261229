//! The row-job pipeline under DynamoDB's concurrency, on the embedded store: its transactions
//! take `TRANSACTION_MS` and cancel each other when they touch an item another holds (the
//! conflict model of `adapters::memory::concurrency`). A 5,000-row job is settled by 1, 10 and
//! 50 concurrent workers, with every message delivered once, then with every message delivered
//! twice at once (SQS delivers at least once; the worst case). Against: the same items (account,
//! claims, row, audit entry, reference, password delete) written straight through the store by
//! as many writers, with the same transaction time.

use crate::bulk::csv;
use crate::harness::{active_user, rate, spread};
use learners::adapters::clock::SystemClock;
use learners::adapters::memory::MemoryStore;
use learners::domain::{AuditEntry, JobKind, RowOutcome, RowResult, UserSource};
use learners::jobs::bulk_registration::{BulkRegistration, BulkRow};
use learners::jobs::{process, RowMessage};
use learners::{App, Config};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// About what one TransactWriteItems takes on DynamoDB within a region.
pub const TRANSACTION_MS: u64 = 2;

pub struct Run {
    pub rows_per_second: f64,
    pub conflicts: u64,
    pub raw_rows_per_second: f64,
}

fn app() -> (App, Arc<MemoryStore>, tokio::sync::mpsc::UnboundedReceiver<learners::adapters::memory::QueuedBatch>) {
    let config =
        Config::from_pairs(&[("LEARNERS_SITE_URL", "https://learn.example.org")]).expect("bench configuration");
    let (app, parts) = learners::wiring::in_memory(config, Arc::new(SystemClock));
    parts.store.set_transaction_time(Duration::from_millis(TRANSACTION_MS));
    (app, parts.store, parts.queue)
}

/// Rows per second from the first delivery to the job's completion, `workers` at a time.
pub async fn run(rows: usize, workers: usize, deliveries: usize) -> anyhow::Result<Run> {
    let (app, store, mut queue) = app();
    let tag = format!("p{workers}x{deliveries}");
    let job = learners::flows::bulk::upload(&app, "bench", csv(rows, &tag, false).as_bytes(), None)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut bodies = Vec::new();
    while let Ok(batch) = queue.try_recv() {
        bodies.extend(batch.bodies);
    }
    let messages: VecDeque<String> =
        bodies.iter().flat_map(|body| std::iter::repeat_n(body.clone(), deliveries)).collect();
    let outstanding = Arc::new(AtomicUsize::new(messages.len()));
    let messages = Arc::new(Mutex::new(messages));
    let start = Instant::now();
    let tasks: Vec<_> = (0..workers)
        .map(|_| {
            let (app, messages, outstanding) = (app.clone(), messages.clone(), outstanding.clone());
            tokio::spawn(async move {
                while outstanding.load(Ordering::SeqCst) > 0 {
                    let next = messages.lock().expect("queue").pop_front();
                    let Some(body) = next else {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                        continue;
                    };
                    let message: RowMessage<BulkRow> = serde_json::from_str(&body)?;
                    match process::<BulkRegistration>(&app, &message, false).await {
                        Ok(()) => {
                            outstanding.fetch_sub(1, Ordering::SeqCst);
                        }
                        // Back to the end of the queue, as SQS hands a failed message back.
                        Err(_) => messages.lock().expect("queue").push_back(body),
                    }
                }
                Ok::<_, anyhow::Error>(())
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    let rows_per_second = rate(rows, start);
    let progress = learners::jobs::progress(&app, &job.id).await?.ok_or_else(|| anyhow::anyhow!("no job"))?;
    anyhow::ensure!(progress.counts.done == rows as u64, "{} of {rows} rows created", progress.counts.done);
    let conflicts = store.conflicts();
    let raw_rows_per_second = raw(rows, workers).await?;
    Ok(Run { rows_per_second, conflicts, raw_rows_per_second })
}

/// The items of `rows` bulk rows written straight through the store, `writers` at a time.
async fn raw(rows: usize, writers: usize) -> anyhow::Result<f64> {
    let (app, _store, _queue) = app();
    let job = crate::harness::new_job(&app, "raw".into(), JobKind::BulkRegistration, rows);
    app.jobs.create_job(&job).await?;
    spread(rows, writers, move |i| {
        let (app, job) = (app.clone(), job.clone());
        async move {
            let (email, username) = (format!("raw{i}@example.com"), format!("raw{i}"));
            let now = app.clock.now();
            let user = active_user(&email, &username, &format!("Bulk Learner {i}"), None, UserSource::Bulk, now)?;
            let mut outcome = RowOutcome::new(i as u64 + 2, &email, RowResult::Done, "created", "");
            outcome.user_id = Some(user.id.clone());
            let audit = AuditEntry::new(now, "bench", "bulk_register", &user.id, "created");
            app.jobs.create_bulk_user(&job, &user, &outcome, &audit).await.map(drop)
        }
    })
    .await
}
