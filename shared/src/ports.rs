//! Ports: what the flows need from the outside world. Each has an AWS adapter and an in-memory
//! twin in `adapters`, and one contract test suite runs against both.

use crate::domain::{Timestamp, TokenHash, TokenRecord, User, UserId};
use async_trait::async_trait;

/// Why a new account could not be stored. Both claims are checked in the same atomic write, so
/// both may be reported at once.
#[derive(Debug, thiserror::Error)]
pub enum CreateUserError {
    #[error("the email or username is already claimed (email: {email_taken}, username: {username_taken})")]
    Taken {
        email_taken: bool,
        username_taken: bool,
    },
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// What consuming an emailed token found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenUse {
    /// This call used the token, and the user change that goes with it was applied.
    Consumed(TokenRecord),
    /// The token had been used before.
    AlreadyUsed(TokenRecord),
    Expired(TokenRecord),
    Unknown,
}

#[async_trait]
pub trait UserStore: Send + Sync {
    /// Stores a new user together with its email and username claims, and its first token if
    /// any, in one atomic write: either all of it exists afterwards or none of it.
    async fn create_user(
        &self,
        user: &User,
        token: Option<&TokenRecord>,
    ) -> Result<(), CreateUserError>;

    async fn user_by_email_key(&self, email_key: &str) -> anyhow::Result<Option<User>>;

    async fn user_by_id(&self, id: &UserId) -> anyhow::Result<Option<User>>;

    async fn put_token(&self, token: &TokenRecord) -> anyhow::Result<()>;

    /// Marks an unexpired, unused activation token used and activates its user, atomically: of
    /// many concurrent calls with one token, exactly one gets `Consumed`.
    async fn consume_activation_token(
        &self,
        hash: &TokenHash,
        now: Timestamp,
    ) -> anyhow::Result<TokenUse>;

    /// Takes the right to do something rate-limited under `key` (for instance one mail per
    /// account per minute): true for the first caller in each window of `window_seconds`.
    async fn claim_slot(
        &self,
        key: &str,
        now: Timestamp,
        window_seconds: i64,
    ) -> anyhow::Result<bool>;
}

/// A message for a learner. Bodies are complete: the adapter only delivers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutgoingMail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// Worth another try: throttling, a timeout, a 5xx.
    #[error("mail delivery failed for a passing reason")]
    Transient(#[source] anyhow::Error),
    #[error("mail delivery was refused")]
    Permanent(#[source] anyhow::Error),
}

#[async_trait]
pub trait Mailer: Send + Sync {
    async fn send(&self, mail: &OutgoingMail) -> Result<(), MailError>;
}

/// The queues behind batch work.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Queue {
    BulkRegistration,
    Deletion,
}

#[async_trait]
pub trait JobQueue: Send + Sync {
    /// Enqueues every body (in batches as the queue allows). Fails as a whole if any body could
    /// not be enqueued, naming how many were.
    async fn enqueue(&self, queue: Queue, bodies: &[String]) -> anyhow::Result<()>;
}

pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}
