//! `UserStore` in memory.

use super::concurrency::{Fault, Faults, InFlight};
use crate::adapters::aws::items::{self, Item, RefAction};
use crate::adapters::capacity::{item_size, read_units, write_units, Units};
use crate::domain::{
    block_rows, AuditEntry, Counts, DeviceRecord, JobStatus, LockedNow, LockoutPolicy, LockoutState, MailRefusal,
    PasswordHash, Reservation, Retirement, RowJob, RowOutcome, SessionRecord, Timestamp, TokenHash, TokenPurpose,
    TokenRecord, User, UserId, UserStatus,
};
use crate::ports::{
    AuditLog, BulkCreate, CreateUserError, DeleteRequest, Deleted, JobCreated, LoginAttempts, RowJobs, SessionStore,
    TokenUse, UserStore,
};
use async_trait::async_trait;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;

#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
    in_flight: InFlight,
    faults: Faults,
    /// What DynamoDB would bill for the requests the DynamoDB adapter makes for the same calls.
    units: Mutex<Units>,
}

/// Runs a store call under the fault plan (`MemoryStore::inject_fault`).
macro_rules! call {
    ($self:ident, $what:expr, $body:expr) => {{
        let fail_after = $self.faults.enter($what)?;
        let result = $body;
        $self.faults.leave(fail_after, $what, result)
    }};
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
    counters: HashMap<String, Counter>,
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
}

/// A sign-in failure counter, as the DynamoDB item holds it.
struct Counter {
    failures: u32,
    locked_until: Option<Timestamp>,
    expires_at: Timestamp,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
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

    /// Store calls made so far (those under the fault plan: the row jobs' and the account
    /// reads and deletion they use).
    pub fn calls(&self) -> u64 {
        self.faults.calls()
    }

    /// The capacity units DynamoDB would have billed since the last call (see
    /// `adapters::capacity`): each call is billed as the requests the DynamoDB adapter sends
    /// for it, on the same items. Not billed: `delete_user`, `operators`, `AuditLog::latest`
    /// (their DynamoDB requests follow reference items and indexes the memory store has no
    /// twin of), and transactions retried after a conflict.
    pub fn consumed(&self) -> Units {
        std::mem::take(&mut *self.units.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// One request billed.
    fn bill(&self, reads: f64, writes: f64) {
        let mut units = self.units.lock().unwrap_or_else(|p| p.into_inner());
        units.reads += reads;
        units.writes += writes;
        units.requests += 1;
    }

    /// A consistent GetItem of `item` (or of nothing).
    fn bill_get(&self, item: Option<Item>) {
        self.bill(read_units(item.as_ref().map_or(0, item_size), true), 0.0);
    }

    /// A PutItem.
    fn bill_put(&self, item: &Item) {
        self.bill(0.0, write_units(item_size(item)));
    }

    /// An UpdateItem or DeleteItem: 1 (every item here is under 1 KB).
    fn bill_update(&self) {
        self.bill(0.0, 1.0);
    }

    /// A TransactWriteItems of these puts and `others` updates or deletes: 2 units each.
    fn bill_transaction(&self, puts: &[Item], others: usize) {
        let units: f64 = puts.iter().map(|item| write_units(item_size(item))).sum::<f64>() + others as f64;
        self.bill(0.0, 2.0 * units);
    }

    /// A consistent Query that returned `found`.
    fn bill_query<'a>(&self, found: impl IntoIterator<Item = &'a Item>) {
        self.bill(read_units(found.into_iter().map(item_size).sum(), true), 0.0);
    }

    /// BatchWriteItem requests of 25 puts each.
    fn bill_batches(&self, all: &[Item]) {
        for chunk in all.chunks(25) {
            self.bill(0.0, chunk.iter().map(|item| write_units(item_size(item))).sum());
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves no half-written state (every write below is
        // complete or absent), so a poisoned lock is safe to keep using.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Every job stored, for tests that look for one they have no id of.
    pub fn jobs(&self) -> Vec<RowJob> {
        self.lock().jobs.values().cloned().collect()
    }

    /// Every stored value as text, for tests that look for personal data left behind.
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
        out
    }
}

#[async_trait]
impl UserStore for MemoryStore {
    async fn create_user(&self, user: &User, token: Option<&TokenRecord>) -> Result<(), CreateUserError> {
        let mut keys = vec![
            format!("USER#{}", user.id),
            format!("EMAIL#{}", user.email.key()),
            format!("USERNAME#{}", user.username.key()),
        ];
        keys.extend(token.map(|t| format!("TOKEN#{:?}", t.hash)));
        let mut puts = vec![
            items::user_item(user),
            items::claim_item(items::email_key(&user.email.key()), &user.id),
            items::claim_item(items::username_key(&user.username.key()), &user.id),
        ];
        if let Some(token) = token {
            puts.push(items::token_item(token));
            puts.push(token_ref(token));
        }
        self.bill_transaction(&puts, 0);
        self.in_flight.transact(keys, || self.create_user_now(user, token)).await?
    }

    async fn username_taken(&self, username_key: &str) -> anyhow::Result<bool> {
        call!(self, "username_taken", {
            let taken = self.lock().usernames.get(username_key).cloned();
            self.bill_get(taken.as_ref().map(|id| items::claim_item(items::username_key(username_key), id)));
            Ok(taken.is_some())
        })
    }

    async fn user_by_email_key(&self, email_key: &str) -> anyhow::Result<Option<User>> {
        call!(self, "user_by_email_key", {
            let (claim, user) = {
                let state = self.lock();
                let claim = state.emails.get(email_key).cloned();
                let user = claim.as_ref().and_then(|id| state.users.get(id)).cloned();
                (claim, user)
            };
            self.bill_get(claim.as_ref().map(|id| items::claim_item(items::email_key(email_key), id)));
            if claim.is_some() {
                self.bill_get(user.as_ref().map(items::user_item));
            }
            Ok(user)
        })
    }

    async fn user_by_id(&self, id: &UserId) -> anyhow::Result<Option<User>> {
        call!(self, "user_by_id", {
            let user = self.lock().users.get(id).cloned();
            self.bill_get(user.as_ref().map(items::user_item));
            Ok(user)
        })
    }

    async fn put_token(&self, token: &TokenRecord) -> anyhow::Result<()> {
        self.bill_transaction(&[items::token_item(token), token_ref(token)], 0);
        let mut state = self.lock();
        if state.tokens.contains_key(&token.hash) {
            anyhow::bail!("token hash collision");
        }
        state.tokens.insert(token.hash.clone(), token.clone());
        Ok(())
    }

    async fn replace_activation_token(&self, token: &TokenRecord) -> anyhow::Result<bool> {
        if token.auth_epoch == 0 {
            return Ok(false);
        }
        self.bill_transaction(&[items::token_item(token), token_ref(token)], 1);
        let mut state = self.lock();
        if state.tokens.contains_key(&token.hash) {
            anyhow::bail!("token hash collision");
        }
        let Some(user) = state
            .users
            .get_mut(&token.user_id)
            .filter(|u| u.status == UserStatus::PendingActivation && u.auth_epoch + 1 == token.auth_epoch)
        else {
            return Ok(false);
        };
        user.auth_epoch = token.auth_epoch;
        state.tokens.insert(token.hash.clone(), token.clone());
        Ok(true)
    }

    async fn consume_activation_token(&self, hash: &TokenHash, now: Timestamp) -> anyhow::Result<TokenUse> {
        let mut state = self.lock();
        let stored = state.tokens.get(hash).cloned();
        self.bill_get(stored.as_ref().map(items::token_item));
        let Some(record) = stored.filter(|t| t.purpose == TokenPurpose::Activation) else {
            return Ok(TokenUse::Unknown);
        };
        if record.used_at.is_some() {
            return Ok(TokenUse::AlreadyUsed(record));
        }
        if record.is_expired(now) {
            return Ok(TokenUse::Expired(record));
        }
        // As in the DynamoDB transaction: the user must exist, not be on its way out, and still
        // be in the token's epoch (no newer link was sent).
        self.bill_transaction(&[], 2);
        let user_ok = state
            .users
            .get(&record.user_id)
            .is_some_and(|u| u.status != UserStatus::RemovalRequested && u.auth_epoch == record.auth_epoch);
        if !user_ok {
            // Cancelled: the DynamoDB adapter reads the token again to say what is true now.
            self.bill_get(Some(items::token_item(&record)));
        }
        let Some(user) = state
            .users
            .get_mut(&record.user_id)
            .filter(|u| u.status != UserStatus::RemovalRequested && u.auth_epoch == record.auth_epoch)
        else {
            return Ok(TokenUse::Unknown);
        };
        user.status = UserStatus::Active;
        user.activated_at.get_or_insert(now);
        let token = state.tokens.get_mut(hash).expect("token read above under the same lock");
        token.used_at = Some(now);
        Ok(TokenUse::Consumed(token.clone()))
    }

    async fn token(&self, hash: &TokenHash) -> anyhow::Result<Option<TokenRecord>> {
        let token = self.lock().tokens.get(hash).cloned();
        self.bill_get(token.as_ref().map(items::token_item));
        Ok(token)
    }

    async fn complete_password_reset(
        &self,
        token: &TokenRecord,
        hash: &PasswordHash,
        now: Timestamp,
    ) -> anyhow::Result<bool> {
        self.bill_transaction(&[], 2);
        let mut state = self.lock();
        let usable = state
            .tokens
            .get(&token.hash)
            .is_some_and(|t| t.purpose == TokenPurpose::PasswordReset && t.used_at.is_none() && !t.is_expired(now));
        let user_ok = state
            .users
            .get(&token.user_id)
            .is_some_and(|u| u.auth_epoch == token.auth_epoch && u.status != UserStatus::RemovalRequested);
        if !usable || !user_ok {
            return Ok(false);
        }
        let user = state.users.get_mut(&token.user_id).expect("checked above under the same lock");
        user.password_hash = Some(hash.clone());
        user.auth_epoch += 1;
        user.status = UserStatus::Active;
        user.activated_at.get_or_insert(now);
        state.tokens.get_mut(&token.hash).expect("checked above under the same lock").used_at = Some(now);
        Ok(true)
    }

    async fn set_password(&self, id: &UserId, hash: &PasswordHash) -> anyhow::Result<bool> {
        self.bill_update();
        let mut state = self.lock();
        match state.users.get_mut(id).filter(|u| u.status != UserStatus::RemovalRequested) {
            Some(user) => {
                user.password_hash = Some(hash.clone());
                user.auth_epoch += 1;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn activate_user(&self, id: &UserId, now: Timestamp) -> anyhow::Result<bool> {
        self.bill_update();
        let mut state = self.lock();
        match state.users.get_mut(id).filter(|u| u.status != UserStatus::RemovalRequested) {
            Some(user) => {
                user.status = UserStatus::Active;
                user.activated_at.get_or_insert(now);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn delete_user(&self, request: &DeleteRequest<'_>) -> anyhow::Result<Deleted> {
        call!(self, "delete_user", {
            let user = request.user;
            let mut keys = vec![
                format!("USER#{}", user.id),
                format!("EMAIL#{}", user.email.key()),
                format!("USERNAME#{}", user.username.key()),
                format!("RETIRED#{}", request.retirement.email_hmac),
            ];
            if let Some((job, outcome)) = request.job_row {
                keys.push(row_key(&job.id, outcome.row));
            }
            self.in_flight.transact(keys, || self.delete_now(request)).await
        })
    }

    async fn retirement(&self, email_hmac: &str) -> anyhow::Result<Option<Retirement>> {
        let record = self.lock().retirements.get(email_hmac).cloned();
        self.bill_get(record.as_ref().map(items::retirement_item));
        Ok(record)
    }

    async fn set_operator(&self, id: &UserId, operator: bool) -> anyhow::Result<bool> {
        if operator {
            let mut listing = items::operator_key(id);
            listing.insert("user_id".into(), items::s(id.as_str()));
            self.bill_transaction(&[listing], 1);
        } else {
            self.bill_transaction(&[], 2);
        }
        let mut state = self.lock();
        match state.users.get_mut(id) {
            Some(user) if user.status != UserStatus::RemovalRequested => {
                user.operator = operator;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn mark_mail_refused(&self, id: &UserId, refusal: &MailRefusal) -> anyhow::Result<bool> {
        self.bill_update();
        let mut state = self.lock();
        let Some(user) = state.users.get_mut(id) else {
            return Ok(false);
        };
        user.mail_refused = Some(refusal.clone());
        Ok(true)
    }

    async fn operators(&self) -> anyhow::Result<Vec<User>> {
        let mut operators: Vec<User> = self.lock().users.values().filter(|u| u.operator).cloned().collect();
        operators.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(operators)
    }

    async fn quota_used(&self, key: &str, now: Timestamp) -> anyhow::Result<u32> {
        let slot = self.lock().slots.get(key).copied();
        self.bill_get(slot.map(|(uses, until)| slot_item(key, uses, until)));
        Ok(slot.filter(|(_, until)| *until > now).map_or(0, |(uses, _)| uses))
    }

    async fn request_removal(&self, id: &UserId) -> anyhow::Result<bool> {
        self.bill_update();
        let mut state = self.lock();
        let Some(user) = state.users.get_mut(id) else {
            return Ok(false);
        };
        user.status = UserStatus::RemovalRequested;
        user.auth_epoch += 1;
        Ok(true)
    }

    async fn take_quota(&self, key: &str, now: Timestamp, window_seconds: i64, limit: u32) -> anyhow::Result<bool> {
        let mut state = self.lock();
        // One conditional update; a second when the first is refused (a full or ended window).
        self.bill_update();
        match state.slots.get_mut(key) {
            Some((uses, until)) if *until > now => {
                let allowed = *uses < limit;
                *uses += u32::from(allowed);
                if !allowed {
                    self.bill_update();
                }
                Ok(allowed)
            }
            None => {
                state.slots.insert(key.to_owned(), (1, now.plus_seconds(window_seconds)));
                Ok(true)
            }
            _ => {
                self.bill_update();
                state.slots.insert(key.to_owned(), (1, now.plus_seconds(window_seconds)));
                Ok(true)
            }
        }
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn create_session(&self, session: &SessionRecord) -> anyhow::Result<()> {
        let key = items::session_key(&session.hash);
        let owned = items::ref_item(&session.user_id, &key, RefAction::Delete, session.expires_at);
        self.bill_transaction(&[items::session_item(session), owned], 0);
        let mut state = self.lock();
        if state.sessions.contains_key(&session.hash) {
            anyhow::bail!("session hash collision");
        }
        state.sessions.insert(session.hash.clone(), session.clone());
        Ok(())
    }

    async fn session(&self, hash: &TokenHash, now: Timestamp) -> anyhow::Result<Option<SessionRecord>> {
        let session = self.lock().sessions.get(hash).cloned();
        self.bill_get(session.as_ref().map(items::session_item));
        Ok(session.filter(|s| !s.is_expired(now)))
    }

    async fn delete_session(&self, hash: &TokenHash) -> anyhow::Result<()> {
        self.bill_update();
        self.lock().sessions.remove(hash);
        Ok(())
    }

    async fn create_device(&self, device: &DeviceRecord) -> anyhow::Result<()> {
        self.bill_transaction(&[items::device_item(device), device_ref(device)], 0);
        let mut state = self.lock();
        anyhow::ensure!(!state.devices.contains_key(&device.hash), "device hash collision");
        state.devices.insert(device.hash.clone(), device.clone());
        Ok(())
    }

    async fn known_devices(&self, user_id: &UserId, now: Timestamp) -> anyhow::Result<Vec<TokenHash>> {
        let state = self.lock();
        // DynamoDB reads the account's device references, expired ones too (TTL deletes late).
        let references: Vec<Item> = state.devices.values().filter(|d| d.user_id == *user_id).map(device_ref).collect();
        self.bill_query(&references);
        let mut hashes: Vec<TokenHash> = state
            .devices
            .values()
            .filter(|d| d.user_id == *user_id && now < d.expires_at)
            .map(|d| d.hash.clone())
            .collect();
        hashes.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        Ok(hashes)
    }

    async fn device(&self, hash: &TokenHash, now: Timestamp) -> anyhow::Result<Option<DeviceRecord>> {
        let device = self.lock().devices.get(hash).cloned();
        self.bill_get(device.as_ref().map(items::device_item));
        Ok(device.filter(|d| now < d.expires_at))
    }

    async fn touch_session(
        &self,
        hash: &TokenHash,
        last_seen_at: Timestamp,
        password_at: Timestamp,
    ) -> anyhow::Result<()> {
        self.bill_update();
        if let Some(session) = self.lock().sessions.get_mut(hash) {
            session.last_seen_at = last_seen_at;
            session.password_at = password_at;
        }
        Ok(())
    }
}

#[async_trait]
impl LoginAttempts for MemoryStore {
    async fn reserve(&self, key: &str, now: Timestamp, policy: LockoutPolicy) -> anyhow::Result<Reservation> {
        let mut state = self.lock();
        let window_end = now.plus_seconds(policy.lockout_seconds);
        let fresh = Counter { failures: 1, locked_until: None, expires_at: window_end };
        // As on DynamoDB: one conditional update; a second (a new count) when it is refused;
        // then a read of the lock when that is refused too.
        self.bill_update();
        match state.counters.get_mut(key) {
            None => {
                state.counters.insert(key.to_owned(), fresh);
                Ok(Reservation::Granted)
            }
            // The lock (or the counting window) has run out: a new count starts.
            Some(counter) if counter.expires_at <= now || counter.locked_until.is_some_and(|until| until <= now) => {
                self.bill_update();
                *counter = fresh;
                Ok(Reservation::Granted)
            }
            Some(counter) if counter.locked_until.is_none() && counter.failures < policy.max_failures => {
                counter.failures += 1;
                counter.expires_at = window_end;
                Ok(Reservation::Granted)
            }
            Some(counter) => {
                self.bill_update();
                self.bill_get(Some(lockout_item(key, counter)));
                Ok(Reservation::Refused { locked_until: counter.locked_until })
            }
        }
    }

    async fn record_failure(
        &self,
        key: &str,
        now: Timestamp,
        policy: LockoutPolicy,
    ) -> anyhow::Result<Option<LockedNow>> {
        self.bill_update();
        let mut state = self.lock();
        let Some(counter) = state.counters.get_mut(key) else {
            return Ok(None);
        };
        if counter.locked_until.is_some() || counter.failures < policy.max_failures || counter.expires_at <= now {
            return Ok(None);
        }
        let until = now.plus_seconds(policy.lockout_seconds);
        counter.locked_until = Some(until);
        counter.expires_at = until;
        Ok(Some(LockedNow { failures: counter.failures, until }))
    }

    async fn clear(&self, key: &str) -> anyhow::Result<()> {
        self.bill_update();
        self.lock().counters.remove(key);
        Ok(())
    }

    async fn state(&self, key: &str, now: Timestamp) -> anyhow::Result<LockoutState> {
        let state = self.lock();
        self.bill_get(state.counters.get(key).map(|counter| lockout_item(key, counter)));
        Ok(match state.counters.get(key) {
            Some(counter) if counter.expires_at > now => LockoutState {
                failures: counter.failures,
                locked_until: counter.locked_until.filter(|until| *until > now),
            },
            _ => LockoutState::default(),
        })
    }
}

#[async_trait]
impl AuditLog for MemoryStore {
    async fn record(&self, entry: &AuditEntry) -> anyhow::Result<()> {
        self.bill_put(&items::audit_item(entry));
        self.lock().audit.entry(entry.user_id.clone()).or_default().push(entry.clone());
        Ok(())
    }

    async fn entries_for(&self, user_id: &UserId) -> anyhow::Result<Vec<AuditEntry>> {
        let mut entries = self.lock().audit.get(user_id).cloned().unwrap_or_default();
        self.bill_query(&entries.iter().map(items::audit_item).collect::<Vec<_>>());
        entries.sort_by(|a, b| (b.at, &b.id).cmp(&(a.at, &a.id)));
        Ok(entries)
    }

    async fn latest(&self, now: Timestamp, days: u32, limit: usize) -> anyhow::Result<Vec<AuditEntry>> {
        // As the DynamoDB index answers: whole days (UTC) back from today's.
        let first_day = (now.unix().div_euclid(86_400) - i64::from(days.saturating_sub(1))) * 86_400;
        let mut entries: Vec<AuditEntry> =
            self.lock().audit.values().flatten().filter(|e| e.at.unix() >= first_day).cloned().collect();
        entries.sort_by(|a, b| (b.at, &b.id).cmp(&(a.at, &a.id)));
        entries.truncate(limit);
        Ok(entries)
    }
}

/// The key a row's item has in a transaction (for conflicts between transactions).
fn row_key(job_id: &str, row: u64) -> String {
    format!("JOB#{job_id}#ROW#{row}")
}

// The items DynamoDB holds where the memory store keeps a field or a struct, for billing.

fn token_ref(token: &TokenRecord) -> Item {
    items::ref_item(&token.user_id, &items::token_key(&token.hash), RefAction::Delete, token.expires_at)
}

fn device_ref(device: &DeviceRecord) -> Item {
    items::ref_item(&device.user_id, &items::device_key(&device.hash), RefAction::Delete, device.expires_at)
}

fn slot_item(key: &str, uses: u32, until: Timestamp) -> Item {
    let mut item = items::slot_key(key);
    item.insert("uses".into(), items::n(i64::from(uses)));
    item.insert("until".into(), items::ts(until));
    item.insert("ttl".into(), items::ts(until));
    item
}

fn lockout_item(key: &str, counter: &Counter) -> Item {
    let mut item = items::lockout_key(key);
    item.insert("failures".into(), items::n(i64::from(counter.failures)));
    item.insert("expires_at".into(), items::ts(counter.expires_at));
    item.insert("ttl".into(), items::ts(counter.expires_at));
    if let Some(until) = counter.locked_until {
        item.insert("locked_until".into(), items::ts(until));
    }
    item
}

/// The row items of a job above `after`, at most `limit` from each shard, as the DynamoDB
/// adapter's 16 queries return them (what those queries are billed on).
fn shard_reads(rows: impl Iterator<Item = (u64, Item)>, limit: usize) -> Vec<Vec<Item>> {
    let mut shards: Vec<Vec<Item>> = vec![Vec::new(); crate::domain::ROW_SHARDS as usize];
    for (row, item) in rows {
        let shard = &mut shards[crate::domain::shard_of(row) as usize];
        if shard.len() < limit {
            shard.push(item);
        }
        if shards.iter().all(|s| s.len() >= limit) {
            break;
        }
    }
    shards
}

impl MemoryStore {
    /// A registration's transaction (see `UserStore::create_user`).
    fn create_user_now(&self, user: &User, token: Option<&TokenRecord>) -> Result<(), CreateUserError> {
        let mut state = self.lock();
        let email_taken = state.emails.contains_key(&user.email.key());
        let username_taken = state.usernames.contains_key(&user.username.key());
        let token_taken = token.is_some_and(|t| state.tokens.contains_key(&t.hash));
        if email_taken || username_taken || state.users.contains_key(&user.id) {
            return Err(CreateUserError::Taken { email_taken, username_taken });
        }
        if token_taken {
            return Err(CreateUserError::Unexpected(anyhow::anyhow!("token hash collision")));
        }
        state.emails.insert(user.email.key(), user.id.clone());
        state.usernames.insert(user.username.key(), user.id.clone());
        state.users.insert(user.id.clone(), user.clone());
        if let Some(token) = token {
            state.tokens.insert(token.hash.clone(), token.clone());
        }
        Ok(())
    }

    /// A deletion's final transaction (see `UserStore::delete_user`).
    fn delete_now(&self, request: &DeleteRequest<'_>) -> Deleted {
        let mut state = self.lock();
        let state = &mut *state;
        if let Some((job, outcome)) = request.job_row {
            if state.row_settled(&job.id, outcome.row) {
                return Deleted::AlreadySettled;
            }
        }
        let id = &request.user.id;
        let Some(user) = state.users.remove(id) else {
            return Deleted::NotFound;
        };
        state.emails.remove(&user.email.key());
        state.usernames.remove(&user.username.key());
        state.tokens.retain(|_, token| token.user_id != *id);
        state.sessions.retain(|_, session| session.user_id != *id);
        state.devices.retain(|_, device| device.user_id != *id);
        state.counters.remove(request.counter_key);
        let named = state.rows_of_user.remove(id).unwrap_or_default();
        // As DynamoDB's `rows_by_email` index finds them: rows holding the address as written.
        let written = state.rows_by_address.remove(&user.email.key()).unwrap_or_default();
        for (job_id, row) in named.into_iter().chain(written) {
            if let Some(outcome) = state.job_rows.get_mut(&job_id).and_then(|rows| rows.get_mut(&row)) {
                outcome.email = crate::domain::DELETED_EMAIL.to_owned();
            }
        }
        state.retirements.insert(request.retirement.email_hmac.clone(), request.retirement.clone());
        if let Some((job, outcome)) = request.job_row {
            state.note_row(&job.id, outcome);
        }
        if let Some(entry) = request.audit {
            state.audit.entry(entry.user_id.clone()).or_default().push(entry.clone());
        }
        Deleted::Deleted
    }
}

#[async_trait]
impl RowJobs for MemoryStore {
    async fn create_job(&self, job: &RowJob) -> anyhow::Result<JobCreated> {
        call!(self, "create_job", {
            let mut puts = vec![items::job_item(job)];
            puts.extend(job.idempotency.as_ref().map(|i| items::idempotency_item(job, i)));
            self.bill_transaction(&puts, 0);
            let mut state = self.lock();
            // A claim whose time is over (its job expired) is free again, as on DynamoDB.
            let held = job
                .idempotency
                .as_ref()
                .and_then(|i| state.idempotency.get(&i.key))
                .filter(|id| state.jobs.get(*id).is_some_and(|held| held.rows_expire_at() >= job.created_at))
                .cloned();
            if let Some(existing) = held {
                let existing = state.jobs.get(&existing).cloned();
                // The DynamoDB adapter reads the key's claim, then its job.
                self.bill_get(Some(puts[1].clone()));
                self.bill_get(existing.as_ref().map(items::job_item));
                existing.map(JobCreated::Existing).ok_or_else(|| anyhow::anyhow!("an idempotency key without its job"))
            } else if state.jobs.contains_key(&job.id) {
                Err(anyhow::anyhow!("job id collision"))
            } else {
                if let Some(idempotency) = &job.idempotency {
                    state.idempotency.insert(idempotency.key.clone(), job.id.clone());
                }
                state.jobs.insert(job.id.clone(), job.clone());
                Ok(JobCreated::Created)
            }
        })
    }

    async fn job(&self, id: &str) -> anyhow::Result<Option<RowJob>> {
        call!(self, "job", {
            let job = self.lock().jobs.get(id).cloned();
            self.bill_get(job.as_ref().map(items::job_item));
            Ok(job)
        })
    }

    async fn settle_at_intake(&self, job: &RowJob, outcomes: &[RowOutcome]) -> anyhow::Result<()> {
        call!(self, "settle_at_intake", {
            let expires = job.rows_expire_at();
            let mut all = Vec::with_capacity(outcomes.len() * 2);
            for outcome in outcomes {
                all.push(items::row_item(&job.id, outcome, expires));
                if outcome.is_problem() {
                    all.push(items::problem_item(&job.id, outcome, expires));
                }
            }
            self.bill_batches(&all);
            let mut state = self.lock();
            for outcome in outcomes {
                if !state.row_settled(&job.id, outcome.row) {
                    state.note_row(&job.id, outcome);
                }
            }
            Ok(())
        })
    }

    async fn mark_queued(&self, job_id: &str) -> anyhow::Result<()> {
        call!(self, "mark_queued", {
            self.bill_update();
            if let Some(job) = self.lock().jobs.get_mut(job_id).filter(|job| job.status == JobStatus::Receiving) {
                job.status = JobStatus::Queued;
            }
            Ok(())
        })
    }

    async fn mark_completed(&self, job_id: &str, counts: &Counts) -> anyhow::Result<()> {
        call!(self, "mark_completed", {
            self.bill_update();
            if let Some(job) = self.lock().jobs.get_mut(job_id) {
                job.status = JobStatus::Completed;
                job.final_counts = Some(*counts);
            }
            Ok(())
        })
    }

    async fn keep_passwords(
        &self,
        job_id: &str,
        passwords: &[(u64, String)],
        expires_at: Timestamp,
    ) -> anyhow::Result<()> {
        call!(self, "keep_passwords", {
            let all: Vec<Item> = passwords
                .iter()
                .map(|(row, password)| items::kept_password_item(job_id, *row, password, expires_at))
                .collect();
            self.bill_batches(&all);
            let mut state = self.lock();
            for (row, password) in passwords {
                state.kept_passwords.insert((job_id.to_owned(), *row), (password.clone(), expires_at));
            }
            Ok(())
        })
    }

    async fn kept_password(&self, job_id: &str, row: u64, now: Timestamp) -> anyhow::Result<Option<String>> {
        call!(self, "kept_password", {
            let state = self.lock();
            let kept = state.kept_passwords.get(&(job_id.to_owned(), row));
            self.bill_get(kept.map(|(password, expires)| items::kept_password_item(job_id, row, password, *expires)));
            Ok(kept.filter(|(_, expires_at)| now < *expires_at).map(|(password, _)| password.clone()))
        })
    }

    async fn create_bulk_user(
        &self,
        job: &RowJob,
        user: &User,
        outcome: &RowOutcome,
        audit: &AuditEntry,
    ) -> anyhow::Result<BulkCreate> {
        call!(self, "create_bulk_user", {
            let keys = vec![
                format!("USER#{}", user.id),
                format!("EMAIL#{}", user.email.key()),
                format!("USERNAME#{}", user.username.key()),
                row_key(&job.id, outcome.row),
            ];
            let expires = job.rows_expire_at();
            let puts = [
                items::user_item(user),
                items::claim_item(items::email_key(&user.email.key()), &user.id),
                items::claim_item(items::username_key(&user.username.key()), &user.id),
                items::row_item(&job.id, outcome, expires),
                items::audit_item(audit),
                items::ref_item(&user.id, &items::job_row_key(&job.id, outcome.row), RefAction::Scrub, expires),
            ];
            self.bill_transaction(&puts, 1);
            self.in_flight
                .transact(keys, || {
                    let mut state = self.lock();
                    if state.row_settled(&job.id, outcome.row) {
                        return BulkCreate::AlreadySettled;
                    }
                    let email_taken = state.emails.contains_key(&user.email.key());
                    let username_taken = state.usernames.contains_key(&user.username.key());
                    if email_taken || username_taken {
                        // The DynamoDB adapter makes sure the row was not settled meanwhile.
                        self.bill_get(None);
                        return BulkCreate::Taken { email_taken, username_taken };
                    }
                    state.emails.insert(user.email.key(), user.id.clone());
                    state.usernames.insert(user.username.key(), user.id.clone());
                    state.users.insert(user.id.clone(), user.clone());
                    state.kept_passwords.remove(&(job.id.clone(), outcome.row));
                    state.note_row(&job.id, outcome);
                    state.rows_of_user.entry(user.id.clone()).or_default().push((job.id.clone(), outcome.row));
                    state.audit.entry(audit.user_id.clone()).or_default().push(audit.clone());
                    BulkCreate::Created
                })
                .await
        })
    }

    async fn settle_row(&self, job: &RowJob, outcome: &RowOutcome) -> anyhow::Result<bool> {
        call!(self, "settle_row", {
            let expires = job.rows_expire_at();
            let mut puts = vec![items::row_item(&job.id, outcome, expires)];
            if outcome.is_problem() {
                puts.push(items::problem_item(&job.id, outcome, expires));
            }
            if let Some(user_id) = &outcome.user_id {
                let row = items::job_row_key(&job.id, outcome.row);
                let copy = items::problem_item(&job.id, outcome, expires);
                puts.push(items::ref_item(user_id, &row, RefAction::Scrub, expires));
                puts.push(items::ref_item(user_id, &copy, RefAction::Scrub, expires));
            }
            self.bill_transaction(&puts, 1);
            self.in_flight
                .transact(vec![row_key(&job.id, outcome.row)], || {
                    let mut state = self.lock();
                    if state.row_settled(&job.id, outcome.row) {
                        return false;
                    }
                    state.note_row(&job.id, outcome);
                    state.kept_passwords.remove(&(job.id.clone(), outcome.row));
                    if let Some(user_id) = &outcome.user_id {
                        state.rows_of_user.entry(user_id.clone()).or_default().push((job.id.clone(), outcome.row));
                    }
                    true
                })
                .await
        })
    }

    async fn block_rows(&self, job_id: &str, block: u64) -> anyhow::Result<Vec<RowOutcome>> {
        call!(self, "block_rows", {
            let (first, last) = block_rows(block);
            let state = self.lock();
            let rows: Vec<RowOutcome> = state
                .job_rows
                .get(job_id)
                .map(|rows| rows.range(first..=last).map(|(_, o)| o.clone()).collect())
                .unwrap_or_default();
            match state.jobs.get(job_id) {
                Some(job) => {
                    let expires = job.rows_expire_at();
                    self.bill_query(&rows.iter().map(|o| items::row_item(job_id, o, expires)).collect::<Vec<_>>());
                }
                None => self.bill_query(&[]),
            }
            Ok(rows)
        })
    }

    async fn record_tally(&self, job: &RowJob, block: u64, counts: &Counts) -> anyhow::Result<()> {
        call!(self, "record_tally", {
            self.bill_put(&items::tally_item(job, block, counts));
            let mut state = self.lock();
            let tally = state.tallies.entry(job.id.clone()).or_default().entry(block).or_default();
            if tally.settled() < counts.settled() {
                *tally = *counts;
            }
            Ok(())
        })
    }

    async fn tallied(&self, job_id: &str) -> anyhow::Result<Counts> {
        call!(self, "tallied", {
            let state = self.lock();
            match state.jobs.get(job_id) {
                Some(job) => {
                    let all = state.tallies.get(job_id).into_iter().flat_map(|t| t.iter());
                    let all: Vec<Item> = all.map(|(block, counts)| items::tally_item(job, *block, counts)).collect();
                    self.bill_query(&all);
                }
                None => self.bill_query(&[]),
            }
            let tallies = state.tallies.get(job_id).into_iter().flat_map(|t| t.values());
            Ok(tallies.fold(Counts::default(), |sum, tally| sum.plus(*tally)))
        })
    }

    async fn rows(&self, job_id: &str, after: u64, limit: usize) -> anyhow::Result<Vec<RowOutcome>> {
        call!(self, "rows", {
            let state = self.lock();
            let expires = state.jobs.get(job_id).map(RowJob::rows_expire_at).unwrap_or(Timestamp::from_unix(0));
            let all = state.job_rows.get(job_id).into_iter().flat_map(|rows| rows.range(after + 1..));
            let found = all.map(|(row, o)| (*row, items::row_item(job_id, o, expires)));
            for shard in shard_reads(found, limit.clamp(1, 1000)) {
                self.bill_query(&shard);
            }
            let rows = state.job_rows.get(job_id).into_iter().flat_map(|rows| rows.range(after + 1..));
            Ok(rows.take(limit).map(|(_, o)| o.clone()).collect())
        })
    }

    async fn problems(&self, job_id: &str, after: u64, limit: usize) -> anyhow::Result<Vec<RowOutcome>> {
        call!(self, "problems", {
            let state = self.lock();
            let expires = state.jobs.get(job_id).map(RowJob::rows_expire_at).unwrap_or(Timestamp::from_unix(0));
            let rows = state.job_rows.get(job_id);
            let all = state.problem_rows.get(job_id).into_iter().flat_map(|problems| problems.range(after + 1..));
            let found = all.filter_map(|row| rows?.get(row).map(|o| (*row, items::problem_item(job_id, o, expires))));
            for shard in shard_reads(found, limit.clamp(1, 1000)) {
                self.bill_query(&shard);
            }
            let (Some(problems), Some(rows)) = (state.problem_rows.get(job_id), state.job_rows.get(job_id)) else {
                return Ok(Vec::new());
            };
            Ok(problems.range(after + 1..).take(limit).filter_map(|row| rows.get(row).cloned()).collect())
        })
    }
}
