//! One decorator over every store port: `WithFaults` wraps a store and implements `UserStore`,
//! `SessionStore`, `LoginAttempts`, `AuditLog`, `RowJobs`, `SecondFactorStore` and `SettingsStore` by passing each call on, under
//! two models of what DynamoDB does to the service:
//!
//! - faults: any call can fail before its change (the store was not reached) or after it (the
//!   answer was lost), as planned by `inject_fault`; calls are counted in the order they start;
//! - conflicts: every method that is a `TransactWriteItems` in the DynamoDB adapter holds the
//!   keys of the items that transaction writes for the transaction's time, and is cancelled and
//!   tried again while another one holds one of them (`concurrency::InFlight`), as the adapter
//!   tries again on `TransactionConflict`.
//!
//! A unit test below reads `ports.rs` and the DynamoDB adapter: a port method that does not go
//! through `call` or `transact` here, or a DynamoDB transaction that is not modelled as one,
//! fails it.

use super::concurrency::{Fault, Faults, InFlight};
use crate::domain::StoredSettings;
use crate::domain::{
    AuditEntry, AuditPage, AuditQuery, Challenge, Counts, Cursor, DeviceRecord, FullName, LockedNow, LockoutPolicy,
    LockoutState, MailRefusal, PasswordHash, Reservation, Retirement, RowJob, RowOutcome, SecondFactors, SessionRecord,
    Timestamp, TokenHash, TokenRecord, User, UserId, UserPage, UserQuery,
};
use crate::ports::{
    AuditLog, BulkCreate, CreateUserError, DeleteRequest, Deleted, EmailChange, EmailChanged, HeldClaims, JobCreated,
    LoginAttempts, Reregistration, RowJobs, SecondFactorStore, SessionStore, SettingsStore, TokenUse, UserStore,
};
use crate::ports::{ObjectStream, SignedUpload, Uploads};
use async_trait::async_trait;
use std::future::Future;
use std::sync::Arc;

pub struct WithFaults<S> {
    inner: S,
    faults: Arc<Faults>,
    in_flight: InFlight,
}

impl<S> WithFaults<S> {
    /// `inner` under its own fault plan.
    pub fn wrap(inner: S) -> Self {
        Self::sharing(inner, Arc::default())
    }

    /// `inner` under `faults`, a plan it may share (the memory store's multi-request calls
    /// answer to it step by step).
    pub(super) fn sharing(inner: S, faults: Arc<Faults>) -> Self {
        Self { inner, faults, in_flight: InFlight::default() }
    }

    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Transactions take `time` from start to end: another transaction on one of their items
    /// meanwhile is cancelled (`TransactionConflict`) and tried again, as on DynamoDB.
    pub fn set_transaction_time(&self, time: std::time::Duration) {
        self.in_flight.set_transaction_time(time);
    }

    /// Transactions cancelled by a conflict so far.
    pub fn conflicts(&self) -> u64 {
        self.in_flight.conflicts()
    }

    /// The `nth` store call from now (1: the next one) fails, before or after its change.
    pub fn inject_fault(&self, nth: u64, fault: Fault) {
        self.faults.plan(nth, fault);
    }

    /// Store calls made so far (and the steps of calls that make several requests).
    pub fn calls(&self) -> u64 {
        self.faults.calls()
    }

    /// A call under the fault plan.
    async fn call<T, E: From<anyhow::Error>>(
        &self,
        what: &'static str,
        work: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        let fail_after = self.faults.enter(what)?;
        let result = work.await;
        self.leave(fail_after, what, result)
    }

    /// A call that is one transaction on DynamoDB: under the fault plan, and holding `keys`
    /// (conflicting with other transactions on them) while it runs.
    async fn transact<T, E: From<anyhow::Error>, F: Future<Output = Result<T, E>>>(
        &self,
        what: &'static str,
        keys: Vec<String>,
        work: impl FnOnce() -> F,
    ) -> Result<T, E> {
        let fail_after = self.faults.enter(what)?;
        let result = self.in_flight.transact(keys, work).await.map_err(E::from).and_then(|done| done);
        self.leave(fail_after, what, result)
    }

    fn leave<T, E: From<anyhow::Error>>(&self, fail_after: bool, what: &str, result: Result<T, E>) -> Result<T, E> {
        match result {
            Ok(done) => Ok(self.faults.leave(fail_after, what, Ok(done))?),
            Err(error) => Err(error),
        }
    }
}

// The keys of the items a DynamoDB transaction writes (see `adapters/aws/items.rs`), as the
// conflict model names them.

fn user(id: &UserId) -> String {
    format!("USER#{id}")
}

fn claims(user: &User) -> [String; 2] {
    [format!("EMAIL#{}", user.email.key()), format!("USERNAME#{}", user.username.key())]
}

fn token(hash: &TokenHash) -> String {
    format!("TOKEN#{}", hash.as_str())
}

/// A reference from an account to an item of its own.
fn reference(owner: &UserId, item: &str) -> String {
    format!("USER#{owner}|REF#{item}")
}

fn row(job_id: &str, row: u64) -> String {
    format!("JOB#{job_id}#ROW#{row}")
}

fn kept_password(job_id: &str, row: u64) -> String {
    format!("JOB#{job_id}#PASSWORD#{row}")
}

fn audit(entry: &AuditEntry) -> String {
    format!("AUDIT#{}#{}#{}", entry.user_id, entry.at.unix(), entry.id)
}

fn second_factors(id: &UserId) -> String {
    format!("USER#{id}|FACTORS")
}

/// The settings in force and a kept version.
fn settings(version: u64) -> [String; 2] {
    ["SETTINGS|CURRENT".to_owned(), format!("SETTINGS|VERSION#{version}")]
}

fn operator(id: &UserId) -> String {
    format!("OPERATORS#{id}")
}

#[async_trait]
impl<S: UserStore> UserStore for WithFaults<S> {
    async fn create_user(&self, new: &User, first: Option<&TokenRecord>) -> Result<(), CreateUserError> {
        let mut keys = vec![user(&new.id)];
        keys.extend(claims(new));
        if let Some(first) = first {
            keys.extend([token(&first.hash), reference(&new.id, &token(&first.hash))]);
        }
        self.transact("UserStore::create_user", keys, || self.inner.create_user(new, first)).await
    }

    async fn replace_registration(&self, previous: &User, next: &User) -> anyhow::Result<Reregistration> {
        let mut keys = vec![user(&previous.id)];
        if previous.username.key() != next.username.key() {
            keys.extend(claims(previous).into_iter().skip(1));
            keys.extend(claims(next).into_iter().skip(1));
        }
        self.transact("UserStore::replace_registration", keys, || self.inner.replace_registration(previous, next)).await
    }

    async fn user_by_email_key(&self, email_key: &str) -> anyhow::Result<Option<User>> {
        self.call("UserStore::user_by_email_key", self.inner.user_by_email_key(email_key)).await
    }

    async fn username_taken(&self, username_key: &str) -> anyhow::Result<bool> {
        self.call("UserStore::username_taken", self.inner.username_taken(username_key)).await
    }

    async fn claims_held(&self, email_keys: &[String], username_keys: &[String]) -> anyhow::Result<HeldClaims> {
        self.call("UserStore::claims_held", self.inner.claims_held(email_keys, username_keys)).await
    }

    async fn user_by_id(&self, id: &UserId) -> anyhow::Result<Option<User>> {
        self.call("UserStore::user_by_id", self.inner.user_by_id(id)).await
    }

    async fn put_token(&self, record: &TokenRecord) -> anyhow::Result<()> {
        let keys = vec![token(&record.hash), reference(&record.user_id, &token(&record.hash))];
        self.transact("UserStore::put_token", keys, || self.inner.put_token(record)).await
    }

    async fn replace_activation_token(&self, record: &TokenRecord) -> anyhow::Result<bool> {
        let keys = vec![user(&record.user_id), token(&record.hash), reference(&record.user_id, &token(&record.hash))];
        self.transact("UserStore::replace_activation_token", keys, || self.inner.replace_activation_token(record)).await
    }

    async fn consume_activation_token(&self, hash: &TokenHash, now: Timestamp) -> anyhow::Result<TokenUse> {
        // The adapter reads the token, then changes it and its account in one transaction.
        let mut keys = vec![token(hash)];
        keys.extend(self.inner.token(hash).await?.map(|record| user(&record.user_id)));
        self.transact("UserStore::consume_activation_token", keys, || self.inner.consume_activation_token(hash, now))
            .await
    }

    async fn token(&self, hash: &TokenHash) -> anyhow::Result<Option<TokenRecord>> {
        self.call("UserStore::token", self.inner.token(hash)).await
    }

    async fn change_email(&self, change: &EmailChange<'_>) -> anyhow::Result<EmailChanged> {
        let mut keys = vec![user(&change.user.id)];
        if change.user.email.key() != change.new_email.key() {
            keys.extend([format!("EMAIL#{}", change.user.email.key()), format!("EMAIL#{}", change.new_email.key())]);
        }
        keys.extend(change.token.map(token));
        self.transact("UserStore::change_email", keys, || self.inner.change_email(change)).await
    }

    async fn complete_password_reset(
        &self,
        record: &TokenRecord,
        hash: &PasswordHash,
        now: Timestamp,
    ) -> anyhow::Result<bool> {
        let keys = vec![token(&record.hash), user(&record.user_id)];
        self.transact("UserStore::complete_password_reset", keys, || {
            self.inner.complete_password_reset(record, hash, now)
        })
        .await
    }

    async fn set_password(&self, id: &UserId, hash: &PasswordHash) -> anyhow::Result<bool> {
        self.call("UserStore::set_password", self.inner.set_password(id, hash)).await
    }

    async fn set_name(&self, id: &UserId, name: &FullName) -> anyhow::Result<bool> {
        self.call("UserStore::set_name", self.inner.set_name(id, name)).await
    }

    async fn raise_auth_epoch(&self, id: &UserId, epoch: u64, password: Option<&PasswordHash>) -> anyhow::Result<bool> {
        self.call("UserStore::raise_auth_epoch", self.inner.raise_auth_epoch(id, epoch, password)).await
    }

    async fn set_disabled(&self, id: &UserId, epoch: u64, at: Option<Timestamp>) -> anyhow::Result<bool> {
        self.call("UserStore::set_disabled", self.inner.set_disabled(id, epoch, at)).await
    }

    async fn activate_user(&self, id: &UserId, now: Timestamp) -> anyhow::Result<bool> {
        self.call("UserStore::activate_user", self.inner.activate_user(id, now)).await
    }

    async fn delete_user(&self, request: &DeleteRequest<'_>) -> anyhow::Result<Deleted> {
        // The keys of its last step, the one transaction (the steps before are single writes).
        let mut keys = vec![user(&request.user.id), format!("RETIRED#{}", request.retirement.email_hmac)];
        keys.extend(claims(request.user));
        keys.extend(request.job_row.map(|(job, outcome)| row(&job.id, outcome.row)));
        keys.extend(request.audit.map(audit));
        keys.push(operator(&request.user.id));
        keys.push(second_factors(&request.user.id));
        self.transact("UserStore::delete_user", keys, || self.inner.delete_user(request)).await
    }

    async fn retirement(&self, email_hmac: &str) -> anyhow::Result<Option<Retirement>> {
        self.call("UserStore::retirement", self.inner.retirement(email_hmac)).await
    }

    async fn set_operator(&self, id: &UserId, role: bool) -> anyhow::Result<bool> {
        let keys = vec![user(id), operator(id)];
        self.transact("UserStore::set_operator", keys, || self.inner.set_operator(id, role)).await
    }

    async fn set_support(&self, id: &UserId, support: bool) -> anyhow::Result<bool> {
        self.call("UserStore::set_support", self.inner.set_support(id, support)).await
    }

    async fn mark_mail_refused(&self, id: &UserId, refusal: &MailRefusal) -> anyhow::Result<bool> {
        self.call("UserStore::mark_mail_refused", self.inner.mark_mail_refused(id, refusal)).await
    }

    async fn clear_mail_refusal(&self, id: &UserId) -> anyhow::Result<bool> {
        self.call("UserStore::clear_mail_refusal", self.inner.clear_mail_refusal(id)).await
    }

    async fn operators(&self) -> anyhow::Result<Vec<User>> {
        self.call("UserStore::operators", self.inner.operators()).await
    }

    async fn find_users(&self, query: &UserQuery) -> anyhow::Result<UserPage> {
        self.call("UserStore::find_users", self.inner.find_users(query)).await
    }

    async fn request_removal(&self, id: &UserId) -> anyhow::Result<bool> {
        self.call("UserStore::request_removal", self.inner.request_removal(id)).await
    }

    async fn take_quota(&self, key: &str, now: Timestamp, window_seconds: i64, limit: u32) -> anyhow::Result<bool> {
        self.call("UserStore::take_quota", self.inner.take_quota(key, now, window_seconds, limit)).await
    }

    async fn quota_used(&self, key: &str, now: Timestamp) -> anyhow::Result<u32> {
        self.call("UserStore::quota_used", self.inner.quota_used(key, now)).await
    }
}

#[async_trait]
impl<S: SessionStore> SessionStore for WithFaults<S> {
    async fn create_session(&self, session: &SessionRecord) -> anyhow::Result<()> {
        let item = format!("SESSION#{}", session.hash.as_str());
        let keys = vec![reference(&session.user_id, &item), item];
        self.transact("SessionStore::create_session", keys, || self.inner.create_session(session)).await
    }

    async fn session(&self, hash: &TokenHash, now: Timestamp) -> anyhow::Result<Option<SessionRecord>> {
        self.call("SessionStore::session", self.inner.session(hash, now)).await
    }

    async fn delete_session(&self, hash: &TokenHash) -> anyhow::Result<()> {
        self.call("SessionStore::delete_session", self.inner.delete_session(hash)).await
    }

    async fn create_device(&self, device: &DeviceRecord) -> anyhow::Result<()> {
        let item = format!("DEVICE#{}", device.hash.as_str());
        let keys = vec![reference(&device.user_id, &item), item];
        self.transact("SessionStore::create_device", keys, || self.inner.create_device(device)).await
    }

    async fn delete_device(&self, user_id: &UserId, hash: &TokenHash) -> anyhow::Result<()> {
        let item = format!("DEVICE#{}", hash.as_str());
        let keys = vec![reference(user_id, &item), item];
        self.transact("SessionStore::delete_device", keys, || self.inner.delete_device(user_id, hash)).await
    }

    async fn sessions_of(&self, user_id: &UserId, now: Timestamp) -> anyhow::Result<Vec<SessionRecord>> {
        self.call("SessionStore::sessions_of", self.inner.sessions_of(user_id, now)).await
    }

    async fn known_devices(&self, user_id: &UserId, now: Timestamp) -> anyhow::Result<Vec<TokenHash>> {
        self.call("SessionStore::known_devices", self.inner.known_devices(user_id, now)).await
    }

    async fn device(&self, hash: &TokenHash, now: Timestamp) -> anyhow::Result<Option<DeviceRecord>> {
        self.call("SessionStore::device", self.inner.device(hash, now)).await
    }

    async fn touch_session(
        &self,
        hash: &TokenHash,
        last_seen_at: Timestamp,
        password_at: Timestamp,
    ) -> anyhow::Result<()> {
        self.call("SessionStore::touch_session", self.inner.touch_session(hash, last_seen_at, password_at)).await
    }
}

#[async_trait]
impl<S: SecondFactorStore> SecondFactorStore for WithFaults<S> {
    async fn second_factors(&self, user_id: &UserId) -> anyhow::Result<SecondFactors> {
        self.call("SecondFactorStore::second_factors", self.inner.second_factors(user_id)).await
    }

    async fn save_second_factors(&self, user_id: &UserId, next: &SecondFactors) -> anyhow::Result<bool> {
        let keys = vec![user(user_id), second_factors(user_id)];
        self.transact("SecondFactorStore::save_second_factors", keys, || self.inner.save_second_factors(user_id, next))
            .await
    }

    async fn put_challenge(&self, challenge: &Challenge) -> anyhow::Result<()> {
        self.call("SecondFactorStore::put_challenge", self.inner.put_challenge(challenge)).await
    }

    async fn challenge(&self, hash: &TokenHash, now: Timestamp) -> anyhow::Result<Option<Challenge>> {
        self.call("SecondFactorStore::challenge", self.inner.challenge(hash, now)).await
    }

    async fn take_challenge(&self, hash: &TokenHash, now: Timestamp) -> anyhow::Result<Option<Challenge>> {
        self.call("SecondFactorStore::take_challenge", self.inner.take_challenge(hash, now)).await
    }
}

#[async_trait]
impl<S: LoginAttempts> LoginAttempts for WithFaults<S> {
    async fn reserve(&self, key: &str, now: Timestamp, policy: LockoutPolicy) -> anyhow::Result<Reservation> {
        self.call("LoginAttempts::reserve", self.inner.reserve(key, now, policy)).await
    }

    async fn record_failure(
        &self,
        key: &str,
        now: Timestamp,
        policy: LockoutPolicy,
    ) -> anyhow::Result<Option<LockedNow>> {
        self.call("LoginAttempts::record_failure", self.inner.record_failure(key, now, policy)).await
    }

    async fn release(&self, key: &str) -> anyhow::Result<()> {
        self.call("LoginAttempts::release", self.inner.release(key)).await
    }

    async fn clear(&self, key: &str) -> anyhow::Result<()> {
        self.call("LoginAttempts::clear", self.inner.clear(key)).await
    }

    async fn state(&self, key: &str, now: Timestamp) -> anyhow::Result<LockoutState> {
        self.call("LoginAttempts::state", self.inner.state(key, now)).await
    }

    async fn mark_locked(&self, key: &str, user_id: Option<&UserId>, until: Timestamp) -> anyhow::Result<()> {
        self.call("LoginAttempts::mark_locked", self.inner.mark_locked(key, user_id, until)).await
    }

    async fn locked_now(&self, now: Timestamp, limit: usize) -> anyhow::Result<Vec<(UserId, Timestamp)>> {
        self.call("LoginAttempts::locked_now", self.inner.locked_now(now, limit)).await
    }
}

#[async_trait]
impl<S: AuditLog> AuditLog for WithFaults<S> {
    async fn record(&self, entry: &AuditEntry) -> anyhow::Result<()> {
        self.call("AuditLog::record", self.inner.record(entry)).await
    }

    async fn entries_for(&self, user_id: &UserId) -> anyhow::Result<Vec<AuditEntry>> {
        self.call("AuditLog::entries_for", self.inner.entries_for(user_id)).await
    }

    async fn find_entries(&self, query: &AuditQuery) -> anyhow::Result<AuditPage> {
        self.call("AuditLog::find_entries", self.inner.find_entries(query)).await
    }
}

/// The uploads' object store (S3 in AWS) fails as any other call can.
#[async_trait]
impl<S: Uploads> Uploads for WithFaults<S> {
    async fn presign_put(&self, key: &str, valid_for: std::time::Duration) -> anyhow::Result<SignedUpload> {
        self.call("Uploads::presign_put", self.inner.presign_put(key, valid_for)).await
    }

    async fn presign_post(
        &self,
        key: &str,
        redirect: &str,
        max_bytes: u64,
        valid_for: std::time::Duration,
    ) -> anyhow::Result<SignedUpload> {
        self.call("Uploads::presign_post", self.inner.presign_post(key, redirect, max_bytes, valid_for)).await
    }

    async fn open(&self, key: &str) -> anyhow::Result<Option<ObjectStream>> {
        self.call("Uploads::open", self.inner.open(key)).await
    }

    async fn delete(&self, key: &str) -> anyhow::Result<()> {
        self.call("Uploads::delete", self.inner.delete(key)).await
    }
}

#[async_trait]
impl<S: RowJobs> RowJobs for WithFaults<S> {
    async fn create_job(&self, job: &RowJob) -> anyhow::Result<JobCreated> {
        let mut keys = vec![format!("JOB#{}", job.id)];
        keys.extend(job.idempotency.as_ref().map(|i| format!("IDEMPOTENCY#{}", i.key)));
        self.transact("RowJobs::create_job", keys, || self.inner.create_job(job)).await
    }

    async fn job(&self, id: &str) -> anyhow::Result<Option<RowJob>> {
        self.call("RowJobs::job", self.inner.job(id)).await
    }

    async fn recent_jobs(&self, after: Option<&Cursor>, limit: usize) -> anyhow::Result<(Vec<RowJob>, Option<Cursor>)> {
        self.call("RowJobs::recent_jobs", self.inner.recent_jobs(after, limit)).await
    }

    async fn settle_at_intake(&self, job: &RowJob, outcomes: &[RowOutcome]) -> anyhow::Result<()> {
        self.call("RowJobs::settle_at_intake", self.inner.settle_at_intake(job, outcomes)).await
    }

    async fn mark_queued(&self, job_id: &str, total: u64) -> anyhow::Result<()> {
        self.call("RowJobs::mark_queued", self.inner.mark_queued(job_id, total)).await
    }

    async fn mark_completed(&self, job_id: &str, counts: &Counts) -> anyhow::Result<()> {
        self.call("RowJobs::mark_completed", self.inner.mark_completed(job_id, counts)).await
    }

    async fn keep_passwords(
        &self,
        job_id: &str,
        passwords: &[(u64, String)],
        expires_at: Timestamp,
    ) -> anyhow::Result<()> {
        self.call("RowJobs::keep_passwords", self.inner.keep_passwords(job_id, passwords, expires_at)).await
    }

    async fn kept_password(&self, job_id: &str, row: u64, now: Timestamp) -> anyhow::Result<Option<String>> {
        self.call("RowJobs::kept_password", self.inner.kept_password(job_id, row, now)).await
    }

    async fn create_bulk_user(
        &self,
        job: &RowJob,
        new: &User,
        outcome: &RowOutcome,
        entry: &AuditEntry,
    ) -> anyhow::Result<BulkCreate> {
        let settled = row(&job.id, outcome.row);
        let mut keys = vec![user(&new.id), reference(&new.id, &settled), settled, audit(entry)];
        keys.extend(claims(new));
        keys.push(kept_password(&job.id, outcome.row));
        self.transact("RowJobs::create_bulk_user", keys, || self.inner.create_bulk_user(job, new, outcome, entry)).await
    }

    async fn settle_row(&self, job: &RowJob, outcome: &RowOutcome) -> anyhow::Result<bool> {
        let settled = row(&job.id, outcome.row);
        let mut keys = vec![kept_password(&job.id, outcome.row)];
        if let Some(owner) = &outcome.user_id {
            keys.push(reference(owner, &settled));
        }
        keys.push(settled);
        self.transact("RowJobs::settle_row", keys, || self.inner.settle_row(job, outcome)).await
    }

    async fn block_rows(&self, job_id: &str, block: u64) -> anyhow::Result<Vec<RowOutcome>> {
        self.call("RowJobs::block_rows", self.inner.block_rows(job_id, block)).await
    }

    async fn record_tally(&self, job: &RowJob, block: u64, counts: &Counts) -> anyhow::Result<()> {
        self.call("RowJobs::record_tally", self.inner.record_tally(job, block, counts)).await
    }

    async fn tallied(&self, job_id: &str) -> anyhow::Result<Counts> {
        self.call("RowJobs::tallied", self.inner.tallied(job_id)).await
    }

    async fn rows(&self, job_id: &str, after: u64, limit: usize) -> anyhow::Result<Vec<RowOutcome>> {
        self.call("RowJobs::rows", self.inner.rows(job_id, after, limit)).await
    }

    async fn problems(&self, job_id: &str, after: u64, limit: usize) -> anyhow::Result<Vec<RowOutcome>> {
        self.call("RowJobs::problems", self.inner.problems(job_id, after, limit)).await
    }

    async fn rows_of_user(&self, user_id: &UserId) -> anyhow::Result<Vec<(String, RowOutcome)>> {
        self.call("RowJobs::rows_of_user", self.inner.rows_of_user(user_id)).await
    }
}

#[async_trait]
impl<S: SettingsStore> SettingsStore for WithFaults<S> {
    async fn current_settings(&self) -> anyhow::Result<Option<StoredSettings>> {
        self.call("SettingsStore::current_settings", self.inner.current_settings()).await
    }

    async fn save_settings(&self, next: &StoredSettings, entry: &AuditEntry) -> anyhow::Result<bool> {
        let mut keys = settings(next.version).to_vec();
        keys.push(audit(entry));
        self.transact("SettingsStore::save_settings", keys, || self.inner.save_settings(next, entry)).await
    }

    async fn settings_version(&self, version: u64) -> anyhow::Result<Option<StoredSettings>> {
        self.call("SettingsStore::settings_version", self.inner.settings_version(version)).await
    }

    async fn settings_history(&self, limit: usize) -> anyhow::Result<Vec<StoredSettings>> {
        self.call("SettingsStore::settings_history", self.inner.settings_history(limit)).await
    }
}

#[cfg(test)]
mod tests {
    //! The wrapper's coverage, read from the code: every method of every port the DynamoDB
    //! adapter implements goes through `call` or `transact` here, and `transact` exactly where
    //! the adapter's method is a TransactWriteItems.

    const PORTS: &str = include_str!("../../ports.rs");
    const WRAPPER: &str = include_str!("faults.rs");
    const DYNAMODB: [&str; 8] = [
        include_str!("../aws/dynamodb/mod.rs"),
        include_str!("../aws/dynamodb/settings.rs"),
        include_str!("../aws/dynamodb/second_factors.rs"),
        include_str!("../aws/dynamodb/users.rs"),
        include_str!("../aws/dynamodb/sessions.rs"),
        include_str!("../aws/dynamodb/lockout.rs"),
        include_str!("../aws/dynamodb/audit.rs"),
        include_str!("../aws/dynamodb/jobs.rs"),
    ];

    /// (trait, method) for every method of every trait in `ports.rs`.
    fn port_methods() -> Vec<(String, String)> {
        let mut found = Vec::new();
        let mut current = None;
        for line in PORTS.lines() {
            if let Some(rest) = line.strip_prefix("pub trait ") {
                current = Some(ident(rest));
            } else if line == "}" {
                current = None;
            } else if let Some(port) = &current {
                let line = line.trim_start();
                if let Some(rest) = line.strip_prefix("async ").unwrap_or(line).strip_prefix("fn ") {
                    found.push((port.clone(), ident(rest)));
                }
            }
        }
        found
    }

    fn ident(text: &str) -> String {
        text.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect()
    }

    /// The `impl <Port> for <ty>` blocks of `source`: (port, the block's text).
    fn impls<'a>(source: &'a str, ty: &str) -> Vec<(String, &'a str)> {
        let marker = format!(" for {ty} {{");
        let mut found = Vec::new();
        for (at, _) in source.match_indices(&marker) {
            let line_start = source[..at].rfind('\n').map_or(0, |i| i + 1);
            let header = &source[line_start..at];
            let port = ident(header.rsplit([' ', '>']).next().unwrap_or(""));
            let block = block_from(source, at + marker.len() - 1);
            found.push((port, block));
        }
        found
    }

    /// The text from the brace at `open` to its match.
    fn block_from(source: &str, open: usize) -> &str {
        let mut depth = 0;
        for (i, c) in source[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 1 => return &source[open..=open + i],
                '}' => depth -= 1,
                _ => {}
            }
        }
        &source[open..]
    }

    /// The body of `fn name(` in `block`.
    fn method<'a>(block: &'a str, name: &str) -> Option<&'a str> {
        // No signature here holds a brace: the first one opens the body.
        let start = block.find(&format!("fn {name}("))?;
        Some(block_from(block, start + block[start..].find('{')?))
    }

    #[test]
    fn every_port_method_goes_through_the_fault_and_conflict_model() {
        let ports = port_methods();
        let adapter: Vec<(String, &str)> = DYNAMODB.iter().flat_map(|file| impls(file, "DynamoStore")).collect();
        let wrapper = impls(WRAPPER, "WithFaults<S>");
        let mut problems = Vec::new();
        let (mut wrapped, mut transactions) = (0, 0);
        let store_ports: Vec<&String> = adapter.iter().map(|(port, _)| port).collect();
        assert_eq!(store_ports.len(), 7, "the DynamoDB adapter implements seven ports: {store_ports:?}");
        for (port, name) in ports.iter().filter(|(port, _)| store_ports.contains(&port)) {
            let Some((_, block)) = wrapper.iter().find(|(p, _)| p == port) else {
                problems.push(format!("WithFaults does not implement {port}"));
                continue;
            };
            let Some(body) = method(block, name) else {
                problems.push(format!("{port}::{name} is not in WithFaults"));
                continue;
            };
            let on_dynamodb = adapter.iter().filter(|(p, _)| p == port).find_map(|(_, b)| method(b, name));
            let Some(on_dynamodb) = on_dynamodb else {
                problems.push(format!("{port}::{name} is not in the DynamoDB adapter"));
                continue;
            };
            let transaction = on_dynamodb.contains("self.transact(") || on_dynamodb.contains("self.put_owned(");
            let label = format!("\"{port}::{name}\"");
            let through = if transaction { "self.transact(" } else { "self.call(" };
            let compact: String = body.split_whitespace().collect();
            if !compact.contains(&format!("{through}{label}")) {
                problems.push(format!("{port}::{name} does not go through {through}{label}"));
            }
            if !body.contains(&format!("self.inner.{name}(")) {
                problems.push(format!("{port}::{name} does not pass the call on to the same method"));
            }
            wrapped += 1;
            transactions += usize::from(transaction);
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
        // The figures the module doc and the README give.
        assert_eq!((wrapped, transactions), (72, 17), "methods wrapped, transactions modelled");
    }
}
