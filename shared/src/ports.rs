//! Ports: what the flows need from the outside world. Each has an AWS adapter and an in-memory
//! twin in `adapters`, and one contract test suite runs against both.

use crate::domain::{
    LockedNow, LockoutPolicy, LockoutState, Password, PasswordHash, Reservation, SessionRecord, Timestamp, TokenHash,
    TokenRecord, User, UserId,
};
use async_trait::async_trait;

/// Why a new account could not be stored. Both claims are checked in the same atomic write, so
/// both may be reported at once.
#[derive(Debug, thiserror::Error)]
pub enum CreateUserError {
    #[error("the email or username is already claimed (email: {email_taken}, username: {username_taken})")]
    Taken { email_taken: bool, username_taken: bool },
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
    async fn create_user(&self, user: &User, token: Option<&TokenRecord>) -> Result<(), CreateUserError>;

    async fn user_by_email_key(&self, email_key: &str) -> anyhow::Result<Option<User>>;

    async fn user_by_id(&self, id: &UserId) -> anyhow::Result<Option<User>>;

    async fn put_token(&self, token: &TokenRecord) -> anyhow::Result<()>;

    /// Marks an unexpired, unused activation token used and activates its user, atomically: of
    /// many concurrent calls with one token, exactly one gets `Consumed`.
    async fn consume_activation_token(&self, hash: &TokenHash, now: Timestamp) -> anyhow::Result<TokenUse>;

    /// Marks the account as being removed and ends all its sessions (raises `auth_epoch`).
    /// False when there is no such user.
    async fn request_removal(&self, id: &UserId) -> anyhow::Result<bool>;

    /// Takes the right to do something rate-limited under `key` (for instance one mail per
    /// account per minute): true for the first caller in each window of `window_seconds`.
    async fn claim_slot(&self, key: &str, now: Timestamp, window_seconds: i64) -> anyhow::Result<bool>;
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

#[async_trait]
pub trait SessionStore: Send + Sync {
    async fn create_session(&self, session: &SessionRecord) -> anyhow::Result<()>;

    /// The session, unless it is unknown or expired.
    async fn session(&self, hash: &TokenHash, now: Timestamp) -> anyhow::Result<Option<SessionRecord>>;

    async fn delete_session(&self, hash: &TokenHash) -> anyhow::Result<()>;
}

/// The brute-force counter, one per canonical email (known or not, so that an unknown address
/// behaves exactly like a known one). Every step is one atomic conditional write.
#[async_trait]
pub trait LoginAttempts: Send + Sync {
    /// Reserves one attempt before any password is verified: refused while locked or while
    /// `max_failures` attempts are already counted. A lock that has run out starts a new count.
    async fn reserve(&self, key: &str, now: Timestamp, policy: LockoutPolicy) -> anyhow::Result<Reservation>;

    /// Records that a reserved attempt failed. Returns `Some` to exactly one caller: the one
    /// whose failure locked the account.
    async fn record_failure(
        &self,
        key: &str,
        now: Timestamp,
        policy: LockoutPolicy,
    ) -> anyhow::Result<Option<LockedNow>>;

    /// Forgets the count (a success, or an operator's unlock).
    async fn clear(&self, key: &str) -> anyhow::Result<()>;

    async fn state(&self, key: &str, now: Timestamp) -> anyhow::Result<LockoutState>;
}

/// Password hashing, as a port so that tests can count verifications.
#[async_trait]
pub trait Passwords: Send + Sync {
    async fn hash(&self, password: &Password) -> anyhow::Result<PasswordHash>;
    async fn verify(&self, hash: &PasswordHash, candidate: &str) -> anyhow::Result<bool>;
}
