//! Implementations of the ports: `aws` (DynamoDB, SES v2, SQS) and `memory` (the embedded
//! default of `make dev`, and the fast side of the contract tests), plus clocks.

pub mod aws;
pub mod breached;
pub mod capacity;
pub mod clock;
pub mod local_signer;
pub mod memory;
pub mod passwords;
pub mod sealing;
pub mod unwired;

/// Keys in one BatchGetItem request (DynamoDB refuses more).
pub const BATCH_GET_KEYS: usize = 100;

/// Requests in a row that answer nothing (every key left unprocessed) before a batch read
/// gives up.
pub const BATCH_GET_STALLS: u32 = 8;

/// Reads `keys` with BatchGetItem's shape: at most `BATCH_GET_KEYS` a request; what a request
/// leaves unprocessed (throttling, the 16 MB answer limit) is asked again, after a backoff
/// when a request answered nothing. Both adapters read through it, so the memory store keeps
/// DynamoDB's batching and retries, not only its results.
pub async fn batch_get_all<K, V, F, Fut>(keys: Vec<K>, mut request: F) -> anyhow::Result<Vec<V>>
where
    F: FnMut(Vec<K>) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<(Vec<V>, Vec<K>)>>,
{
    let mut pending: std::collections::VecDeque<K> = keys.into();
    let mut found = Vec::new();
    let mut stalls = 0;
    while !pending.is_empty() {
        let take = pending.len().min(BATCH_GET_KEYS);
        let chunk: Vec<K> = pending.drain(..take).collect();
        let (items, unprocessed) = request(chunk).await?;
        if items.is_empty() && !unprocessed.is_empty() {
            stalls += 1;
            anyhow::ensure!(stalls < BATCH_GET_STALLS, "BatchGetItem answered nothing {stalls} times in a row");
            tokio::time::sleep(conflict_backoff(stalls)).await;
        } else {
            stalls = 0;
        }
        found.extend(items);
        pending.extend(unprocessed);
    }
    Ok(found)
}

/// A transaction cancelled by `TransactionConflict` is tried this many times in all, by the
/// DynamoDB adapter and by the in-memory store's model of it alike.
pub const CONFLICT_ATTEMPTS: u32 = 5;

/// How long to wait after the `attempt`-th conflict: a little longer each time, with jitter so
/// that the transactions that met do not meet again.
pub fn conflict_backoff(attempt: u32) -> std::time::Duration {
    std::time::Duration::from_millis(10 * u64::from(attempt) + rand::random::<u64>() % 20)
}
