//! An in-process queue: what is enqueued is handed, in batches of up to 10 as SQS delivers
//! them, to whoever holds the receiving end (the local gateway turns them into SQS events for
//! the worker functions).

use crate::ports::{JobQueue, Queue};
use async_trait::async_trait;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedBatch {
    pub queue: Queue,
    pub bodies: Vec<String>,
}

pub struct InProcessQueue {
    sender: mpsc::UnboundedSender<QueuedBatch>,
    pending: Arc<AtomicUsize>,
}

impl InProcessQueue {
    pub fn new() -> (Self, mpsc::UnboundedReceiver<QueuedBatch>) {
        let (sender, receiver) = mpsc::unbounded_channel();
        (Self { sender, pending: Arc::default() }, receiver)
    }

    /// Messages enqueued and not yet finished (the consumer counts them down): zero means
    /// every worker is done, which is what tests wait for.
    pub fn pending(&self) -> Arc<AtomicUsize> {
        self.pending.clone()
    }
}

#[async_trait]
impl JobQueue for InProcessQueue {
    async fn enqueue(&self, queue: Queue, bodies: &[String]) -> anyhow::Result<()> {
        self.pending.fetch_add(bodies.len(), Ordering::SeqCst);
        for chunk in bodies.chunks(10) {
            self.sender
                .send(QueuedBatch { queue, bodies: chunk.to_vec() })
                .map_err(|_| anyhow::anyhow!("the in-process {queue:?} queue has no consumer"))?;
        }
        Ok(())
    }
}
