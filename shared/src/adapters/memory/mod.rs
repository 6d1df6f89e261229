//! In-memory twins of the AWS adapters. They are real implementations: one lock makes every
//! multi-item write atomic, as TransactWriteItems is, and uniqueness is checked inside it;
//! transactions conflict as DynamoDB's do (`concurrency`).

mod concurrency;
mod mailer;
mod oidc;
mod queue;
mod store;

pub use concurrency::{Fault, CONFLICT_ATTEMPTS};
pub use mailer::{CapturedMail, MemoryMailer};
pub use oidc::MemoryOidcStore;
pub use queue::{InProcessQueue, QueuedBatch};
pub use store::MemoryStore;
