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

/// A transaction cancelled by `TransactionConflict` is tried this many times in all, by the
/// DynamoDB adapter and by the in-memory store's model of it alike.
pub const CONFLICT_ATTEMPTS: u32 = 5;

/// How long to wait after the `attempt`-th conflict: a little longer each time, with jitter so
/// that the transactions that met do not meet again.
pub fn conflict_backoff(attempt: u32) -> std::time::Duration {
    std::time::Duration::from_millis(10 * u64::from(attempt) + rand::random::<u64>() % 20)
}
