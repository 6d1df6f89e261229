//! `JobQueue` on SQS: batches of 10 (SQS's limit), failed entries reported.

use super::LazyClient;
use crate::ports::{JobQueue, Queue};
use anyhow::{bail, Context};
use async_trait::async_trait;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use aws_sdk_sqs::Client;
use std::collections::BTreeMap;

pub struct SqsQueue {
    client: LazyClient<Client>,
    urls: BTreeMap<Queue, String>,
}

impl SqsQueue {
    pub fn new(client: Client, urls: BTreeMap<Queue, String>) -> Self {
        Self { client: LazyClient::ready(client), urls }
    }

    /// Its client is made on first use (see `LazyClient`).
    pub fn lazy(sdk: &aws_config::SdkConfig, urls: BTreeMap<Queue, String>) -> Self {
        Self { client: LazyClient::new(sdk, Client::new), urls }
    }

    fn client(&self) -> &Client {
        self.client.get()
    }

    fn url(&self, queue: Queue) -> anyhow::Result<&str> {
        match self.urls.get(&queue) {
            Some(url) => Ok(url),
            None => bail!("{} is not set, so nothing can be enqueued on the {queue:?} queue", queue.url_variable()),
        }
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
                .map(|(i, body)| SendMessageBatchRequestEntry::builder().id(i.to_string()).message_body(body).build())
                .collect::<Result<Vec<_>, _>>()
                .context("building SQS batch entries")?;
            let output = self
                .client()
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
