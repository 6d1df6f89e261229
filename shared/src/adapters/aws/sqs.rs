//! `JobQueue` on SQS: batches of 10 (SQS's limit), failed entries reported.

use crate::ports::{JobQueue, Queue};
use anyhow::{bail, Context};
use async_trait::async_trait;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use aws_sdk_sqs::Client;

pub struct SqsQueue {
    client: Client,
    bulk_url: String,
    deletion_url: String,
}

impl SqsQueue {
    pub fn new(client: Client, bulk_url: impl Into<String>, deletion_url: impl Into<String>) -> Self {
        Self {
            client,
            bulk_url: bulk_url.into(),
            deletion_url: deletion_url.into(),
        }
    }

    fn url(&self, queue: Queue) -> anyhow::Result<&str> {
        let (url, variable) = match queue {
            Queue::BulkRegistration => (&self.bulk_url, "LEARNERS_BULK_QUEUE_URL"),
            Queue::Deletion => (&self.deletion_url, "LEARNERS_DELETION_QUEUE_URL"),
        };
        if url.is_empty() {
            bail!("{variable} is not set, so nothing can be enqueued on the {queue:?} queue");
        }
        Ok(url)
    }
}

#[async_trait]
impl JobQueue for SqsQueue {
    async fn enqueue(&self, queue: Queue, bodies: &[String]) -> anyhow::Result<()> {
        let url = self.url(queue)?;
        for (chunk_index, chunk) in bodies.chunks(10).enumerate() {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, body)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(body)
                        .build()
                })
                .collect::<Result<Vec<_>, _>>()
                .context("building SQS batch entries")?;
            let output = self
                .client
                .send_message_batch()
                .queue_url(url)
                .set_entries(Some(entries))
                .send()
                .await
                .context("SQS SendMessageBatch")?;
            if !output.failed().is_empty() {
                bail!(
                    "SQS refused {} of the messages of batch {chunk_index} ({} enqueued before it)",
                    output.failed().len(),
                    chunk_index * 10
                );
            }
        }
        Ok(())
    }
}
