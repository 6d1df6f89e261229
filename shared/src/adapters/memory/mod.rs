//! The embedded twins of the AWS adapters. They are real implementations, laid out file for
//! file like `adapters/aws/dynamodb/` (`users`, `sessions`, `lockout`, `audit`, `jobs`, `settings`: each
//! implements the port its DynamoDB sibling does, with the same conditions and the same steps):
//! one lock makes every multi-item write atomic, as TransactWriteItems is, and uniqueness is
//! checked inside it.
//!
//! `Tables` is the store itself; `MemoryStore` is `Tables` inside `faults::WithFaults`, the one
//! decorator over every store port that can fail any call before or after its change and makes
//! every call that is a transaction on DynamoDB conflict as DynamoDB's do (`concurrency`).
//! Capacity is not modelled here: it is measured on the DynamoDB adapter's own requests
//! (`adapters::capacity`).

mod audit;
mod concurrency;
mod directory;
mod faults;
mod jobs;
mod lockout;
mod mailer;
mod oidc;
mod queue;
mod second_factors;
mod sessions;
mod settings;
mod uploads;
mod users;

pub use concurrency::{Fault, CONFLICT_ATTEMPTS};
pub use faults::WithFaults;
pub use mailer::{CapturedMail, MemoryMailer};
pub use oidc::MemoryOidcStore;
pub use queue::{InProcessQueue, QueuedBatch};
pub use uploads::{MemoryUploads, UploadObjects, UploadRefused, UPLOAD_PATH};

use crate::domain::{
    AuditEntry, Challenge, Counts, DeviceRecord, Retirement, RowJob, RowOutcome, SecondFactors, SessionRecord,
    Timestamp, TokenHash, TokenRecord, User, UserId,
};
use concurrency::Faults;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::sync::{Arc, Mutex};

/// The embedded store as the service uses it: `Tables` under the fault and conflict model.
pub type MemoryStore = WithFaults<Tables>;

impl MemoryStore {
    pub fn new() -> Self {
        // The deletion's steps answer to the same fault plan as the calls (see `users.rs`).
        let faults = Arc::new(Faults::default());
        let tables = Tables {
            state: Mutex::default(),
            steps: faults.clone(),
            batch_get_capacity: AtomicUsize::new(crate::adapters::BATCH_GET_KEYS),
            batch_get_requests: AtomicU64::new(0),
        };
        WithFaults::sharing(tables, faults)
    }

    /// Every job stored, for tests that look for one they have no id of.
    pub fn jobs(&self) -> Vec<RowJob> {
        self.inner().jobs()
    }

    /// Every stored value as text, for tests that look for personal data left behind.
    pub fn dump(&self) -> Vec<String> {
        self.inner().dump()
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

/// Every port on one lock, without faults or conflicts (`MemoryStore` adds them).
#[derive(Default)]
pub struct Tables {
    state: Mutex<State>,
    /// The fault plan that the steps of a multi-request call answer to.
    steps: Arc<Faults>,
    /// Keys a BatchGetItem request answers at most (`set_batch_get_capacity`).
    batch_get_capacity: AtomicUsize,
    batch_get_requests: AtomicU64,
}

#[derive(Default)]
struct State {
    users: HashMap<UserId, User>,
    emails: HashMap<String, UserId>,
    usernames: HashMap<String, UserId>,
    tokens: HashMap<TokenHash, TokenRecord>,
    /// Rate-limit quotas: key -> (uses, end of the window).
    slots: HashMap<String, (u32, Timestamp)>,
    sessions: HashMap<TokenHash, SessionRecord>,
    devices: HashMap<TokenHash, DeviceRecord>,
    audit: HashMap<UserId, Vec<AuditEntry>>,
    jobs: HashMap<String, RowJob>,
    /// Idempotency keys -> the job that holds each.
    idempotency: HashMap<String, String>,
    /// Per job, per block: its tally.
    tallies: HashMap<String, BTreeMap<u64, Counts>>,
    /// Per job, the rows that were skipped or failed (DynamoDB's `ERR#` copies).
    problem_rows: HashMap<String, BTreeSet<u64>>,
    retirements: HashMap<String, Retirement>,
    /// Job rows that name an account, by account: what a deletion scrubs (DynamoDB keeps
    /// reference items for the same purpose).
    rows_of_user: HashMap<UserId, Vec<(String, u64)>>,
    job_rows: HashMap<String, BTreeMap<u64, RowOutcome>>,
    /// Job rows by the address they hold (trimmed, ASCII lower case), as DynamoDB's
    /// `rows_by_email` index finds them: a deletion scrubs them without reading every row.
    rows_by_address: HashMap<String, Vec<(String, u64)>>,
    /// Passwords of bulk rows not settled yet: (job, row) -> (password, expiry).
    kept_passwords: HashMap<(String, u64), (String, Timestamp)>,
    counters: HashMap<String, lockout::Counter>,
    /// Per account, its second factors (`second_factors`); removed with the account.
    second_factors: HashMap<UserId, SecondFactors>,
    /// Ceremony challenges, by hash; an expired one stays until taken by no one (as TTL does).
    challenges: HashMap<TokenHash, Challenge>,
    /// The site settings: every saved version by number; the last is the one in force.
    settings: BTreeMap<u64, crate::domain::StoredSettings>,
}

impl State {
    /// Stores a job row, and indexes it by the address it holds.
    fn note_row(&mut self, job_id: &str, outcome: &RowOutcome) {
        // As DynamoDB indexes them: a row without an address is in no index.
        let address = outcome.email.trim().to_ascii_lowercase();
        if !address.is_empty() && address != crate::domain::DELETED_EMAIL {
            self.rows_by_address.entry(address).or_default().push((job_id.to_owned(), outcome.row));
        }
        self.job_rows.entry(job_id.to_owned()).or_default().insert(outcome.row, outcome.clone());
        if outcome.is_problem() {
            self.problem_rows.entry(job_id.to_owned()).or_default().insert(outcome.row);
        }
    }

    fn row_settled(&self, job_id: &str, row: u64) -> bool {
        self.job_rows.get(job_id).is_some_and(|rows| rows.contains_key(&row))
    }

    /// Whether an audit entry with this key (account, time, id) is stored.
    fn audit_exists(&self, entry: &AuditEntry) -> bool {
        self.audit.get(&entry.user_id).is_some_and(|all| all.iter().any(|e| e.at == entry.at && e.id == entry.id))
    }

    /// Stores an audit entry, replacing one with the same key (as a PutItem does).
    fn put_audit(&mut self, entry: &AuditEntry) {
        let all = self.audit.entry(entry.user_id.clone()).or_default();
        all.retain(|e| !(e.at == entry.at && e.id == entry.id));
        all.push(entry.clone());
    }
}

impl Tables {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves no half-written state (every write below is
        // complete or absent), so a poisoned lock is safe to keep using.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// One request of a call that makes several (a deletion's): it answers to the fault plan,
    /// so a test can stop the call between any two of them, as a crash would on DynamoDB.
    fn step<T>(&self, what: &str, change: impl FnOnce(&mut State) -> T) -> anyhow::Result<T> {
        let fail_after = self.steps.enter(what)?;
        let done = change(&mut self.lock());
        self.steps.leave(fail_after, what, Ok(done))
    }

    /// One BatchGetItem request: refused above `BATCH_GET_KEYS` keys, as DynamoDB refuses it;
    /// answers at most the keys `set_batch_get_capacity` allows (the rest come back
    /// unprocessed, as under throttling); one step of the fault plan.
    fn batch_get_request<K, V>(
        &self,
        keys: Vec<K>,
        read: impl Fn(&State, &K) -> Option<V>,
    ) -> anyhow::Result<(Vec<V>, Vec<K>)> {
        anyhow::ensure!(
            keys.len() <= crate::adapters::BATCH_GET_KEYS,
            "ValidationException: too many items requested for the BatchGetItem call"
        );
        let capacity = self.batch_get_capacity.load(std::sync::atomic::Ordering::Relaxed);
        self.step("BatchGetItem", |state| {
            let mut found = Vec::new();
            let mut unprocessed = Vec::new();
            for (i, key) in keys.into_iter().enumerate() {
                if i < capacity {
                    found.extend(read(state, &key));
                } else {
                    unprocessed.push(key);
                }
            }
            self.batch_get_requests.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            (found, unprocessed)
        })
    }

    /// Keys a BatchGetItem request answers at most (the others come back unprocessed).
    pub fn set_batch_get_capacity(&self, keys: usize) {
        self.batch_get_capacity.store(keys, std::sync::atomic::Ordering::Relaxed);
    }

    /// BatchGetItem requests made so far.
    pub fn batch_get_requests(&self) -> u64 {
        self.batch_get_requests.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn jobs(&self) -> Vec<RowJob> {
        self.lock().jobs.values().cloned().collect()
    }

    pub fn dump(&self) -> Vec<String> {
        let state = self.lock();
        let mut out: Vec<String> = state.users.values().map(|u| format!("{u:?} {} {}", u.email, u.name)).collect();
        out.extend(state.emails.keys().cloned());
        out.extend(state.usernames.keys().cloned());
        out.extend(state.tokens.values().map(|t| format!("{t:?}")));
        out.extend(state.slots.keys().cloned());
        out.extend(state.sessions.values().map(|s| format!("{s:?}")));
        out.extend(state.devices.values().map(|d| format!("{d:?}")));
        out.extend(state.counters.keys().cloned());
        out.extend(state.audit.values().flatten().map(|e| format!("{e:?}")));
        out.extend(state.jobs.values().map(|j| format!("{j:?}")));
        out.extend(state.job_rows.values().flat_map(|rows| rows.values()).map(|r| format!("{r:?}")));
        out.extend(state.retirements.values().map(|r| format!("{r:?}")));
        out.extend(state.kept_passwords.values().map(|(password, _)| password.clone()));
        out.extend(state.second_factors.values().map(|f| serde_json::to_string(f).unwrap_or_default()));
        out.extend(state.challenges.values().map(|c| format!("{c:?}")));
        out.extend(state.settings.values().map(|s| format!("{s:?}")));
        out
    }
}
