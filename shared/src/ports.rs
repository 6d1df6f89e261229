//! Ports: what the flows need from the outside world. Each has an AWS adapter and an in-memory
//! twin in `adapters`, and one contract test suite runs against both.

use crate::domain::oidc::{ClientId, CodeRecord, CodeUse, GrantToken, OidcClient, PublicJwk};
use crate::domain::StoredSettings;
use crate::domain::{
    AuditEntry, AuditPage, AuditQuery, Challenge, Counts, Cursor, DeviceRecord, Email, FullName, LockedNow,
    LockoutPolicy, LockoutState, MailRefusal, Password, PasswordHash, Reservation, Retirement, RowJob, RowOutcome,
    SecondFactors, SessionRecord, Timestamp, TokenHash, TokenRecord, User, UserId, UserPage, UserQuery,
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

/// What a batch look-up of claims found (`UserStore::claims_held`).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct HeldClaims {
    /// Per email key asked for that an account holds: that account.
    pub emails: std::collections::HashMap<String, User>,
    /// The username keys asked for that an account holds.
    pub usernames: std::collections::HashSet<String>,
}

/// A deletion: the user as read, and what to record with it.
pub struct DeleteRequest<'a> {
    pub user: &'a User,
    /// The key of the user's sign-in counter.
    pub counter_key: &'a str,
    pub retirement: &'a Retirement,
    /// The deletion job and its row, settled in the same transaction.
    pub job_row: Option<(&'a RowJob, &'a RowOutcome)>,
    pub audit: Option<&'a AuditEntry>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    Deleted,
    /// The account was gone already (deleted by another delivery, or never there).
    NotFound,
    /// The job row was settled before: nothing changed, nothing counted.
    AlreadySettled,
}

/// What replacing a pending registration did (`UserStore::replace_registration`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reregistration {
    /// The account now holds the new registration, in the next epoch.
    Replaced,
    /// The new username is claimed by another account: nothing changed.
    UsernameTaken,
    /// The account is no longer the pending self-registered one that was read (activated,
    /// replaced by another registration, being removed, gone): nothing changed.
    Changed,
}

/// `UserStore::replace_registration`'s precondition, a caller's promise (both adapters check
/// it): one account, one address, the next epoch, a password.
pub fn check_replacement(previous: &User, next: &User) -> anyhow::Result<()> {
    anyhow::ensure!(
        next.id == previous.id
            && next.email.key() == previous.email.key()
            && next.auth_epoch == previous.auth_epoch + 1
            && next.password_hash.is_some(),
        "a replacement registration must be the same account and address, in the next epoch, with a password"
    );
    Ok(())
}

/// A change of an account's address (`UserStore::change_email`): the account's email claim
/// moves to the new address, and the account item says so, in one write.
pub struct EmailChange<'a> {
    /// The account as read: the change applies only while its address, epoch and status are
    /// still these (no other change, removal or sign-out everywhere came in between).
    pub user: &'a User,
    pub new_email: &'a Email,
    /// The emailed link this change spends, in the same write: it must still be unused and
    /// unexpired at `now`, and the account's. The caller checked its purpose and address.
    pub token: Option<&'a TokenHash>,
    /// Also raise the account's `auth_epoch`: every session, known browser and link of the
    /// account stops working ("This was not me").
    pub end_sessions: bool,
    pub now: Timestamp,
}

/// What `UserStore::change_email` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailChanged {
    Changed,
    /// Another account holds the new address: nothing changed.
    Taken,
    /// The account is not the one read (changed, removed, gone), or the link was spent or
    /// expired in between: nothing changed.
    Stale,
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

    /// Replaces the registration a pending, self-registered account holds with a later one for
    /// the same address, atomically: `next` is `previous` (as read) with another password hash,
    /// name, username and terms time, and `auth_epoch` one higher (every link mailed for the
    /// earlier registration ends). A changed username moves its claim in the same write. Applies
    /// only while the account is still exactly `previous`'s epoch, pending and self-registered.
    async fn replace_registration(&self, previous: &User, next: &User) -> anyhow::Result<Reregistration>;

    /// Does an account hold this username (its lowercased key)?
    async fn username_taken(&self, username_key: &str) -> anyhow::Result<bool>;

    /// Which of these email and username keys accounts hold, and the accounts holding the
    /// emails: read in batches (DynamoDB's BatchGetItem, at most 100 keys a request; keys a
    /// request leaves unprocessed are asked again), not one request per key. For a dry run's
    /// and a deletion check's thousands of rows within a request's time.
    async fn claims_held(&self, email_keys: &[String], username_keys: &[String]) -> anyhow::Result<HeldClaims>;

    async fn user_by_id(&self, id: &UserId) -> anyhow::Result<Option<User>>;

    async fn put_token(&self, token: &TokenRecord) -> anyhow::Result<()>;

    /// Stores a new activation token for a pending user and ends every older one, atomically:
    /// the user's `auth_epoch` goes from `token.auth_epoch - 1` to `token.auth_epoch` (activation
    /// tokens only work in their own epoch). False when the user is not pending, or another
    /// new token won the race.
    async fn replace_activation_token(&self, token: &TokenRecord) -> anyhow::Result<bool>;

    /// Marks an unexpired, unused activation token used and activates its user, atomically: of
    /// many concurrent calls with one token, exactly one gets `Consumed`. A token of an older
    /// epoch (a newer link was sent) is `Unknown`.
    async fn consume_activation_token(&self, hash: &TokenHash, now: Timestamp) -> anyhow::Result<TokenUse>;

    /// An emailed token as stored (used or not, expired or not), if it exists.
    async fn token(&self, hash: &TokenHash) -> anyhow::Result<Option<TokenRecord>>;

    /// Uses a reset token (or an invitation) and sets the new password in one atomic write: the token must be
    /// unused and unexpired, and the user still in the token's `auth_epoch` and not being
    /// removed. Raises `auth_epoch` (every session and other reset link ends) and activates a
    /// pending account (the learner proved the mailbox). False when a condition failed.
    async fn complete_password_reset(
        &self,
        token: &TokenRecord,
        hash: &PasswordHash,
        now: Timestamp,
    ) -> anyhow::Result<bool>;

    /// Moves the account to a new address (see `EmailChange`). A new address that differs from
    /// the old one only in case moves no claim, only the account item's spelling.
    async fn change_email(&self, change: &EmailChange<'_>) -> anyhow::Result<EmailChanged>;

    /// Sets a password (an operator's), raising `auth_epoch`. False when there is no such user
    /// or it is being removed.
    async fn set_password(&self, id: &UserId, hash: &PasswordHash) -> anyhow::Result<bool>;

    /// Sets the account's full name (the learner's own change). False when there is no such user
    /// or it is being removed.
    async fn set_name(&self, id: &UserId, name: &FullName) -> anyhow::Result<bool>;

    /// Ends every session, known browser, reset link and OpenID Connect grant of the account at
    /// once: `auth_epoch` goes from `epoch` (as read) to the next, with a new password in the
    /// same write when given. False (nothing changed) when the account is gone, being removed,
    /// or no longer in `epoch` (another change came first).
    async fn raise_auth_epoch(&self, id: &UserId, epoch: u64, password: Option<&PasswordHash>) -> anyhow::Result<bool>;

    /// Disables (`Some(at)`) or enables (`None`) an account, on the epoch read: disabling sets
    /// `disabled_at` and raises `auth_epoch` from `epoch` in the same write (every session, known
    /// browser, emailed link and grant ends); enabling clears `disabled_at` and leaves the epoch.
    /// The status is never changed. False (nothing changed) when the account is gone, being
    /// removed, no longer in `epoch`, or already disabled (enabled).
    async fn set_disabled(&self, id: &UserId, epoch: u64, at: Option<Timestamp>) -> anyhow::Result<bool>;

    /// Activates an account (idempotent). False when there is no such user or it is being removed.
    async fn activate_user(&self, id: &UserId, now: Timestamp) -> anyhow::Result<bool>;

    /// Deletes an account and everything that is its own: its sessions, tokens and sign-in
    /// counter go, its address is scrubbed from job rows, its email and username become free
    /// again, and a retirement record (no personal data) is written. The account, its claims,
    /// the retirement record, the job row (if any) and the audit entry (if any) go in one final
    /// transaction, after the rest: a crash half-way leaves the account there, to be deleted
    /// again by the redelivered message.
    async fn delete_user(&self, request: &DeleteRequest<'_>) -> anyhow::Result<Deleted>;

    async fn retirement(&self, email_hmac: &str) -> anyhow::Result<Option<Retirement>>;

    /// Grants (`true`) or revokes the operator role, and keeps the list of operators in step,
    /// atomically. False when there is no such user or it is being removed, and (granting)
    /// when the account is not active.
    async fn set_operator(&self, id: &UserId, operator: bool) -> anyhow::Result<bool>;

    /// Grants (`true`) or revokes the support role (it changes the site settings). Granted only
    /// to an active account that holds the operator role; revoking the operator role revokes it
    /// too. False when the condition failed (no such user, not an active operator, being
    /// removed).
    async fn set_support(&self, id: &UserId, support: bool) -> anyhow::Result<bool>;

    /// Records that the account's address refused mail (the latest report wins). False when
    /// there is no such user.
    async fn mark_mail_refused(&self, id: &UserId, refusal: &MailRefusal) -> anyhow::Result<bool>;

    /// Forgets that the account's address refused mail (an operator's decision: the address
    /// works again), so mail goes to it again. False when there is no such user.
    async fn clear_mail_refusal(&self, id: &UserId) -> anyhow::Result<bool>;

    /// Every account with the operator role.
    async fn operators(&self) -> anyhow::Result<Vec<User>>;

    /// Marks the account as being removed and ends all its sessions (raises `auth_epoch`).
    /// False when there is no such user.
    async fn request_removal(&self, id: &UserId) -> anyhow::Result<bool>;

    /// Takes one use of a rate-limited action under `key` (for instance "two reset mails per
    /// account per hour"): true while fewer than `limit` uses were taken in the current window
    /// of `window_seconds`, which starts with the first use.
    async fn take_quota(&self, key: &str, now: Timestamp, window_seconds: i64, limit: u32) -> anyhow::Result<bool>;

    /// How many uses `key` has taken in its current window (0 when none is running).
    async fn quota_used(&self, key: &str, now: Timestamp) -> anyhow::Result<u32>;

    /// A page of accounts (`UserQuery`): newest first, or (with a prefix) the addresses that
    /// start with it, then the usernames that do of accounts whose address does not. Answered
    /// from indexes (never a scan); a page holds at most `limit` and may hold fewer with more to
    /// come (the index reads of one call are bounded): `next` says where the next one starts.
    async fn find_users(&self, query: &UserQuery) -> anyhow::Result<UserPage>;
}

/// A message for a learner. Bodies are complete: the adapter only delivers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutgoingMail {
    pub to: String,
    /// The display name it comes from (the site setting `mail_from_name`; empty: the address
    /// alone). Checked: no quotes, angle brackets or line breaks.
    pub from_name: String,
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

/// The queues behind work done off the request path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Queue {
    BulkRegistration,
    Deletion,
    /// Every mail the service sends (typed requests, rendered by the mail worker): mailing off
    /// the request path keeps an answer's timing the same whether or not the address has an
    /// account.
    Mail,
    /// SES bounce and complaint events (sent by SNS, never by the service).
    MailEvents,
}

impl Queue {
    pub const ALL: [Queue; 4] = [Queue::BulkRegistration, Queue::Deletion, Queue::Mail, Queue::MailEvents];

    /// The environment variable holding its URL.
    pub fn url_variable(self) -> &'static str {
        match self {
            Self::BulkRegistration => "LEARNERS_BULK_QUEUE_URL",
            Self::Deletion => "LEARNERS_DELETION_QUEUE_URL",
            Self::Mail => "LEARNERS_MAIL_QUEUE_URL",
            Self::MailEvents => "LEARNERS_MAIL_EVENTS_QUEUE_URL",
        }
    }

    /// Its resource in `template.yaml`.
    pub fn logical_id(self) -> &'static str {
        match self {
            Self::BulkRegistration => "BulkQueue",
            Self::Deletion => "DeletionQueue",
            Self::Mail => "MailQueue",
            Self::MailEvents => "MailEventsQueue",
        }
    }

    /// The suffix of its name when provisioned on an endpoint.
    pub fn suffix(self) -> &'static str {
        match self {
            Self::BulkRegistration => "bulk",
            Self::Deletion => "deletion",
            Self::Mail => "mail",
            Self::MailEvents => "mail-events",
        }
    }
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

    /// The account's unexpired sessions (of any epoch: the caller keeps the live ones), found
    /// through the account's references to them, oldest first.
    async fn sessions_of(&self, user_id: &UserId, now: Timestamp) -> anyhow::Result<Vec<SessionRecord>>;

    /// Remembers a browser that signed in to `device.user_id` (deleted with the account).
    async fn create_device(&self, device: &DeviceRecord) -> anyhow::Result<()>;

    /// Forgets a known browser (its record and its account's reference to it). Nothing
    /// happens when it is gone already.
    async fn delete_device(&self, user_id: &UserId, hash: &TokenHash) -> anyhow::Result<()>;

    /// The browsers an account knows (unexpired), by the hash of their token, oldest first.
    async fn known_devices(&self, user_id: &UserId, now: Timestamp) -> anyhow::Result<Vec<TokenHash>>;

    /// A known browser, unless unknown or expired.
    async fn device(&self, hash: &TokenHash, now: Timestamp) -> anyhow::Result<Option<DeviceRecord>>;

    /// Records an operator session's latest request and when its password was last typed.
    /// Nothing happens to a session that is gone.
    async fn touch_session(
        &self,
        hash: &TokenHash,
        last_seen_at: Timestamp,
        password_at: Timestamp,
    ) -> anyhow::Result<()>;
}

/// Second factors, and the short ceremonies that use them. An account's factors are one record,
/// replaced whole on the version that was read (two writers of one version: one wins), and
/// deleted with the account. A ceremony's challenge is taken once: of many concurrent takes of
/// one challenge, exactly one gets it.
#[async_trait]
pub trait SecondFactorStore: Send + Sync {
    /// The account's factors; `SecondFactors::default()` (version 0) when none were ever saved.
    async fn second_factors(&self, user_id: &UserId) -> anyhow::Result<SecondFactors>;

    /// Replaces the account's factors with `next`, whose `version` must be one more than the
    /// version read: false (nothing changed) when another write came first.
    async fn save_second_factors(&self, user_id: &UserId, next: &SecondFactors) -> anyhow::Result<bool>;

    /// Stores a new challenge (a hash clash is an error).
    async fn put_challenge(&self, challenge: &Challenge) -> anyhow::Result<()>;

    /// The challenge, unless unknown, taken, or expired (left in place).
    async fn challenge(&self, hash: &TokenHash, now: Timestamp) -> anyhow::Result<Option<Challenge>>;

    /// Removes the challenge and returns it, unless unknown, taken before, or expired: of many
    /// concurrent takes of one challenge, exactly one gets it.
    async fn take_challenge(&self, hash: &TokenHash, now: Timestamp) -> anyhow::Result<Option<Challenge>>;
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

    /// Gives back one reserved attempt that did not fail (a success that must not use up a
    /// shared budget, such as a network's): the count goes down by one, unless it is locked or
    /// empty. Atomic like `reserve`.
    async fn release(&self, key: &str) -> anyhow::Result<()>;

    async fn state(&self, key: &str, now: Timestamp) -> anyhow::Result<LockoutState>;

    /// Notes whose account a counter locked (`record_failure` said so) until `until`, for the
    /// "Locked now" list; `None` (an address without an account) notes that no account is
    /// locked, with the same one write, so a lock costs the same whether or not the address has
    /// an account. Nothing happens when the counter is no longer locked until then (cleared, or
    /// a new count began).
    async fn mark_locked(&self, key: &str, user_id: Option<&UserId>, until: Timestamp) -> anyhow::Result<()>;

    /// The accounts locked at `now` (as `mark_locked` noted them), soonest unlocked first, at
    /// most `limit`: (account, locked until). One account may come once per locked counter.
    async fn locked_now(&self, now: Timestamp, limit: usize) -> anyhow::Result<Vec<(UserId, Timestamp)>>;
}

/// The site settings (issue 25): one current record, replaced whole on the version that was
/// read (two saves of one version: one wins, the other changes nothing), and every saved
/// version kept for "Restore". No item: the stack's parameters are the settings.
#[async_trait]
pub trait SettingsStore: Send + Sync {
    /// The settings in force, None when none was ever saved.
    async fn current_settings(&self) -> anyhow::Result<Option<StoredSettings>>;

    /// Saves `next` as the settings in force and as a kept version, with its audit entry, in
    /// one atomic write: only while the version in force is `next.version - 1` (0: none saved).
    /// False (nothing written) when another save came first.
    async fn save_settings(&self, next: &StoredSettings, audit: &AuditEntry) -> anyhow::Result<bool>;

    /// A kept version, if it exists.
    async fn settings_version(&self, version: u64) -> anyhow::Result<Option<StoredSettings>>;

    /// The kept versions, newest first, at most `limit`.
    async fn settings_history(&self, limit: usize) -> anyhow::Result<Vec<StoredSettings>>;
}

/// The record of operator actions, newest first per user.
#[async_trait]
pub trait AuditLog: Send + Sync {
    async fn record(&self, entry: &AuditEntry) -> anyhow::Result<()>;
    async fn entries_for(&self, user_id: &UserId) -> anyhow::Result<Vec<AuditEntry>>;

    /// Entries across accounts (or one learner's), newest first, that pass the query's filters,
    /// a page at a time: a page starts below the cursor, so paging never repeats nor skips an
    /// entry. From indexes only (the `feed` index by day and shard; a learner's own partition).
    async fn find_entries(&self, query: &AuditQuery) -> anyhow::Result<AuditPage>;
}

/// What storing one bulk row found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BulkCreate {
    Created,
    /// The row was settled before (a redelivered message): nothing changed, nothing counted.
    AlreadySettled,
    Taken {
        email_taken: bool,
        username_taken: bool,
    },
}

/// What recording a new job found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobCreated {
    Created,
    /// A job holds the same idempotency key already: nothing was written; this is that job.
    Existing(RowJob),
}

/// Row jobs (bulk registration, deletion by list). A row is settled exactly once: its item is
/// written with `attribute_not_exists`, in the same transaction as what the row does, so a
/// message delivered twice (or a worker killed half-way) changes nothing the second time. No
/// write of a row touches the job: counts come from per-block tallies, each written by the
/// worker of its block from the block's settled rows (so they stay exact under redelivery, and
/// concurrent workers share no item).
#[async_trait]
pub trait RowJobs: Send + Sync {
    /// Records a new job (`Receiving`) and, in the same write, claims its idempotency key.
    async fn create_job(&self, job: &RowJob) -> anyhow::Result<JobCreated>;

    async fn job(&self, id: &str) -> anyhow::Result<Option<RowJob>>;

    /// Jobs of every kind, newest first, after `after` (a `Cursor::Key` this gave out), at most
    /// `limit`, from an index (never a scan); with where the next page starts.
    async fn recent_jobs(&self, after: Option<&Cursor>, limit: usize) -> anyhow::Result<(Vec<RowJob>, Option<Cursor>)>;

    /// Settles the rows the intake refused (invalid rows, duplicates in the file), in batches.
    /// Writing the same outcomes again changes nothing.
    async fn settle_at_intake(&self, job: &RowJob, outcomes: &[RowOutcome]) -> anyhow::Result<()>;

    /// `Receiving` -> `Queued`, once every message is out (no other status is changed), with
    /// the number of rows (an uploaded file's is known only once it is read).
    async fn mark_queued(&self, job_id: &str, total: u64) -> anyhow::Result<()>;

    /// Records that every row is settled, with the final counts (readers need not add the
    /// tallies again). Idempotent.
    async fn mark_completed(&self, job_id: &str, counts: &Counts) -> anyhow::Result<()>;

    /// Keeps the passwords of a job's rows, sealed (`Sealer`), so that they never travel
    /// through a queue (or land in its dead-letter queue). Each goes in the same write that
    /// settles its row, or expires at `expires_at`.
    async fn keep_passwords(
        &self,
        job_id: &str,
        passwords: &[(u64, String)],
        expires_at: Timestamp,
    ) -> anyhow::Result<()>;

    /// The kept (sealed) password of a row, unless settled or expired.
    async fn kept_password(&self, job_id: &str, row: u64, now: Timestamp) -> anyhow::Result<Option<String>>;

    /// Creates the account of a row, its outcome and an audit entry, atomically (and forgets
    /// the row's kept password).
    async fn create_bulk_user(
        &self,
        job: &RowJob,
        user: &User,
        outcome: &RowOutcome,
        audit: &AuditEntry,
    ) -> anyhow::Result<BulkCreate>;

    /// Settles a row that changes no account (and forgets its kept password). False when it
    /// was settled before.
    async fn settle_row(&self, job: &RowJob, outcome: &RowOutcome) -> anyhow::Result<bool>;

    /// The settled rows of one block, in row order, read consistently.
    async fn block_rows(&self, job_id: &str, block: u64) -> anyhow::Result<Vec<RowOutcome>>;

    /// Records a block's counts, unless a tally that counts as many rows or more is there
    /// already (tallies only grow, whoever writes them in whatever order).
    async fn record_tally(&self, job: &RowJob, block: u64, counts: &Counts) -> anyhow::Result<()>;

    /// The sum of every block's tally.
    async fn tallied(&self, job_id: &str) -> anyhow::Result<Counts>;

    /// Settled rows numbered above `after`, in row order, at most `limit`.
    async fn rows(&self, job_id: &str, after: u64, limit: usize) -> anyhow::Result<Vec<RowOutcome>>;

    /// Skipped and failed rows numbered above `after`, in row order, at most `limit` (kept
    /// apart so that reading them does not mean reading every row).
    async fn problems(&self, job_id: &str, after: u64, limit: usize) -> anyhow::Result<Vec<RowOutcome>>;

    /// The settled rows that name an account (its bulk registration, ...), found through the
    /// account's references to them, as (job id, row), by job and row.
    async fn rows_of_user(&self, user_id: &UserId) -> anyhow::Result<Vec<(String, RowOutcome)>>;
}

/// Password hashing, as a port so that tests can count verifications.
#[async_trait]
pub trait Passwords: Send + Sync {
    async fn hash(&self, password: &Password) -> anyhow::Result<PasswordHash>;
    async fn verify(&self, hash: &PasswordHash, candidate: &str) -> anyhow::Result<bool>;
}

/// A corpus of breached passwords, asked when a new password is chosen (NIST SP 800-63B-4).
/// The local list (`domain::password_list`) is checked by the policy itself; this is the larger
/// corpus behind it. An error means the corpus could not be asked, never that the password is
/// good or bad: the caller goes on with the local list's verdict.
#[async_trait]
pub trait BreachedPasswords: Send + Sync {
    /// Has `password` been seen in a breach?
    async fn is_breached(&self, password: &Password) -> anyhow::Result<bool>;
}

/// What OpenID Connect keeps: the registered applications, authorization codes, and the
/// access and refresh tokens issued from them. Tokens belong to a family (one authorization);
/// revoking the family ends every token of it at once, however many there are.
#[async_trait]
pub trait OidcStore: Send + Sync {
    /// Registers an application (its id is new: a clash is an error).
    async fn create_client(&self, client: &OidcClient) -> anyhow::Result<()>;

    async fn client(&self, id: &ClientId) -> anyhow::Result<Option<OidcClient>>;

    /// Every registered application, by id.
    async fn clients(&self) -> anyhow::Result<Vec<OidcClient>>;

    /// False when there is no such application.
    async fn delete_client(&self, id: &ClientId) -> anyhow::Result<bool>;

    /// Replaces a confidential application's secret. False when there is no such application.
    async fn set_client_secret(&self, id: &ClientId, hash: &TokenHash) -> anyhow::Result<bool>;

    async fn put_code(&self, code: &CodeRecord) -> anyhow::Result<()>;

    /// Marks a code used, atomically: of many concurrent calls with one code, exactly one gets
    /// `Consumed`. Expiry is the caller's to check (an expired code is still reported).
    async fn consume_code(&self, hash: &TokenHash, now: Timestamp) -> anyhow::Result<CodeUse>;

    /// Stores an access token, or a refresh token (kept apart by kind).
    async fn put_token(&self, kind: GrantTokenKind, token: &GrantToken) -> anyhow::Result<()>;

    /// A token as stored (used or not, expired or not).
    async fn grant_token(&self, kind: GrantTokenKind, hash: &TokenHash) -> anyhow::Result<Option<GrantToken>>;

    /// Marks a refresh token used and stores its successor, atomically. False when it was used
    /// before (a replay: of many concurrent calls, exactly one gets true) or is unknown.
    async fn rotate_refresh_token(&self, used: &TokenHash, next: &GrantToken, now: Timestamp) -> anyhow::Result<bool>;

    /// Ends every token of a family, now and for as long as any could still be presented.
    async fn revoke_family(&self, family: &str, until: Timestamp) -> anyhow::Result<()>;

    async fn family_revoked(&self, family: &str, now: Timestamp) -> anyhow::Result<bool>;
}

/// Which kind of token `OidcStore::put_token` and `grant_token` mean.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrantTokenKind {
    Access,
    Refresh,
}

/// Signs ID tokens (RS256) with a key that may never leave its keeper (KMS), and tells the
/// public keys that verify them.
#[async_trait]
pub trait Signer: Send + Sync {
    /// The public key of the key that signs now (its `kid` goes into a token's header).
    async fn signing_key(&self) -> anyhow::Result<PublicJwk>;

    /// The RSASSA-PKCS1-v1_5 SHA-256 signature of `message` by the key that signs now.
    async fn sign_rs256(&self, message: &[u8]) -> anyhow::Result<Vec<u8>>;

    /// The current key and any previous one whose tokens may still be live (the JWKS).
    async fn public_keys(&self) -> anyhow::Result<Vec<PublicJwk>>;
}

/// Seals the secrets the store keeps for a while (a bulk row's password until its row is
/// settled): the table and its point-in-time backups hold ciphertext, bound to the scope (a
/// job) and the number (a row) it was sealed for, that only the functions allowed to open it
/// can read (in AWS: a KMS key that the intakes may encrypt under and the bulk worker alone
/// may decrypt with).
#[async_trait]
pub trait Sealer: Send + Sync {
    /// Seals every secret of one scope, in order, each bound to the scope and its number.
    async fn seal(&self, scope: &str, secrets: &[(u64, String)]) -> anyhow::Result<Vec<String>>;

    /// The secret sealed for `scope` and `number`; an error when it was sealed for another
    /// scope or number, altered, or sealed under another key.
    async fn open(&self, scope: &str, number: u64, sealed: &str) -> anyhow::Result<String>;
}

/// A request that stores one file, signed ahead of time, so that the file goes from the
/// operator's machine to the store without passing through a function (a synchronous Lambda
/// invocation carries at most 6 MB).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedUpload {
    /// `PUT` (the API, `learnerctl`) or `POST` (an HTML form).
    pub method: &'static str,
    pub url: String,
    /// Headers a `PUT` must carry as they are (they are part of what was signed).
    pub headers: Vec<(String, String)>,
    /// Form fields a `POST` must carry, in this order, before the file (a field named `file`).
    pub fields: Vec<(String, String)>,
}

/// The bytes of a stored file, as they come (never the whole file in memory).
pub type ObjectStream = std::pin::Pin<Box<dyn futures::Stream<Item = anyhow::Result<bytes::Bytes>> + Send>>;

/// Where bulk files wait for their intake: a private bucket in AWS (objects go after a day),
/// the local gateway's own store on the memory backend. An object's key names its job
/// (`uploads::object_key`); its arrival starts the intake (S3's `ObjectCreated` event, or the
/// gateway on the memory backend).
#[async_trait]
pub trait Uploads: Send + Sync {
    /// A signed `PUT` of the object `key`, valid for `valid_for` from now (the wall clock: the
    /// store checks it against its own).
    async fn presign_put(&self, key: &str, valid_for: std::time::Duration) -> anyhow::Result<SignedUpload>;

    /// A signed form `POST` (a POST policy) of the object `key`, of at most `max_bytes`, that
    /// sends the browser on to `redirect` once the object is stored.
    async fn presign_post(
        &self,
        key: &str,
        redirect: &str,
        max_bytes: u64,
        valid_for: std::time::Duration,
    ) -> anyhow::Result<SignedUpload>;

    /// The object's bytes as a stream; `None` when there is no such object.
    async fn open(&self, key: &str) -> anyhow::Result<Option<ObjectStream>>;

    /// Deletes the object (nothing when there is none).
    async fn delete(&self, key: &str) -> anyhow::Result<()>;
}
