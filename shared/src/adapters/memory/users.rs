//! `UserStore` in memory: accounts, their claims, tokens, quotas, deletion.

use super::{State, Tables};
use crate::domain::{
    FullName, MailRefusal, PasswordHash, Retirement, Timestamp, TokenHash, TokenPurpose, TokenRecord, User, UserId,
    UserPage, UserQuery, UserSource, UserStatus, DELETED_EMAIL,
};
use crate::ports::{
    CreateUserError, DeleteRequest, Deleted, EmailChange, EmailChanged, HeldClaims, Reregistration, TokenUse, UserStore,
};

/// A claim item's key, as a batch read asks for it.
#[derive(Clone)]
enum Claim {
    Email(String),
    Username(String),
}
use async_trait::async_trait;

/// Something an account owns that its deletion removes one request at a time, in the order
/// DynamoDB reads the account's references (by sort key: devices, job rows, sessions, tokens).
enum Owned {
    Device(TokenHash),
    Row(String, u64),
    Session(TokenHash),
    Token(TokenHash),
}

#[async_trait]
impl UserStore for Tables {
    async fn create_user(&self, user: &User, token: Option<&TokenRecord>) -> Result<(), CreateUserError> {
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

    async fn user_by_email_key(&self, email_key: &str) -> anyhow::Result<Option<User>> {
        let state = self.lock();
        Ok(state.emails.get(email_key).and_then(|id| state.users.get(id)).cloned())
    }

    async fn replace_registration(&self, previous: &User, next: &User) -> anyhow::Result<Reregistration> {
        crate::ports::check_replacement(previous, next)?;
        let mut state = self.lock();
        let state = &mut *state;
        // As in the DynamoDB transaction: the account is still the one read.
        let Some(user) = state.users.get_mut(&previous.id).filter(|u| {
            u.status == UserStatus::PendingActivation
                && u.source == UserSource::SelfService
                && u.auth_epoch == previous.auth_epoch
                && u.username.key() == previous.username.key()
        }) else {
            return Ok(Reregistration::Changed);
        };
        let (old, new) = (previous.username.key(), next.username.key());
        if old != new {
            if state.usernames.contains_key(&new) {
                return Ok(Reregistration::UsernameTaken);
            }
            state.usernames.remove(&old);
            state.usernames.insert(new, previous.id.clone());
        }
        user.username = next.username.clone();
        user.name = next.name.clone();
        user.password_hash = next.password_hash.clone();
        user.terms_accepted_at = next.terms_accepted_at;
        user.terms_version = next.terms_version.clone();
        user.auth_epoch = next.auth_epoch;
        Ok(Reregistration::Replaced)
    }

    async fn username_taken(&self, username_key: &str) -> anyhow::Result<bool> {
        Ok(self.lock().usernames.contains_key(username_key))
    }

    async fn claims_held(&self, email_keys: &[String], username_keys: &[String]) -> anyhow::Result<HeldClaims> {
        let keys = email_keys
            .iter()
            .map(|k| Claim::Email(k.clone()))
            .chain(username_keys.iter().map(|k| Claim::Username(k.clone())));
        let claims = crate::adapters::batch_get_all(keys.collect(), |chunk| async move {
            self.batch_get_request(chunk, |state, claim| match claim {
                Claim::Email(key) => state.emails.get(key).map(|id| (claim.clone(), id.clone())),
                Claim::Username(key) => state.usernames.get(key).map(|id| (claim.clone(), id.clone())),
            })
        })
        .await?;
        let mut held = HeldClaims::default();
        let mut owners = std::collections::HashMap::new();
        for (claim, id) in claims {
            match claim {
                Claim::Email(key) => {
                    owners.insert(id, key);
                }
                Claim::Username(key) => {
                    held.usernames.insert(key);
                }
            }
        }
        let ids: Vec<UserId> = owners.keys().cloned().collect();
        let users = crate::adapters::batch_get_all(ids, |chunk| async move {
            self.batch_get_request(chunk, |state, id| state.users.get(id).cloned())
        })
        .await?;
        for user in users {
            if let Some(key) = owners.remove(&user.id) {
                held.emails.insert(key, user);
            }
        }
        Ok(held)
    }

    async fn user_by_id(&self, id: &UserId) -> anyhow::Result<Option<User>> {
        Ok(self.lock().users.get(id).cloned())
    }

    async fn put_token(&self, token: &TokenRecord) -> anyhow::Result<()> {
        let mut state = self.lock();
        anyhow::ensure!(!state.tokens.contains_key(&token.hash), "token hash collision");
        state.tokens.insert(token.hash.clone(), token.clone());
        Ok(())
    }

    async fn replace_activation_token(&self, token: &TokenRecord) -> anyhow::Result<bool> {
        // Epoch 0 has none before it: a token of epoch 0 is no newer link.
        if token.auth_epoch == 0 {
            return Ok(false);
        }
        let mut state = self.lock();
        anyhow::ensure!(!state.tokens.contains_key(&token.hash), "token hash collision");
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
        let Some(record) = state.tokens.get(hash).filter(|t| t.purpose == TokenPurpose::Activation).cloned() else {
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
        let Some(user) = state
            .users
            .get_mut(&record.user_id)
            .filter(|u| u.status != UserStatus::RemovalRequested && u.auth_epoch == record.auth_epoch)
        else {
            return Ok(TokenUse::Unknown);
        };
        user.status = UserStatus::Active;
        user.activated_at.get_or_insert(now);
        let used = TokenRecord { used_at: Some(now), ..record };
        state.tokens.insert(hash.clone(), used.clone());
        Ok(TokenUse::Consumed(used))
    }

    async fn token(&self, hash: &TokenHash) -> anyhow::Result<Option<TokenRecord>> {
        Ok(self.lock().tokens.get(hash).cloned())
    }

    async fn complete_password_reset(
        &self,
        token: &TokenRecord,
        hash: &PasswordHash,
        now: Timestamp,
    ) -> anyhow::Result<bool> {
        let mut state = self.lock();
        let state = &mut *state;
        let Some(stored) = state.tokens.get_mut(&token.hash).filter(|t| {
            matches!(t.purpose, TokenPurpose::PasswordReset | TokenPurpose::Invitation)
                && t.used_at.is_none()
                && !t.is_expired(now)
        }) else {
            return Ok(false);
        };
        let Some(user) = state
            .users
            .get_mut(&token.user_id)
            .filter(|u| u.auth_epoch == token.auth_epoch && u.status != UserStatus::RemovalRequested)
        else {
            return Ok(false);
        };
        user.password_hash = Some(hash.clone());
        user.auth_epoch += 1;
        user.status = UserStatus::Active;
        user.activated_at.get_or_insert(now);
        stored.used_at = Some(now);
        Ok(true)
    }

    async fn change_email(&self, change: &EmailChange<'_>) -> anyhow::Result<EmailChanged> {
        let mut state = self.lock();
        let state = &mut *state;
        let read = change.user;
        // As in the DynamoDB transaction: the account is still the one read, the new claim is
        // free (or its own), and the link is unspent, unexpired and the account's.
        let current = state.users.get(&read.id).filter(|u| {
            u.email.as_ref() == read.email.as_ref() && u.auth_epoch == read.auth_epoch && u.status == read.status
        });
        let token = change.token.map(|hash| state.tokens.get(hash));
        let token_spendable = match token {
            None => true,
            Some(token) => {
                token.is_some_and(|t| t.used_at.is_none() && !t.is_expired(change.now) && t.user_id == read.id)
            }
        };
        let (old_key, new_key) = (read.email.key(), change.new_email.key());
        let taken = old_key != new_key && state.emails.contains_key(&new_key);
        if taken {
            return Ok(EmailChanged::Taken);
        }
        if current.is_none() || !token_spendable {
            return Ok(EmailChanged::Stale);
        }
        if old_key != new_key {
            state.emails.remove(&old_key);
            state.emails.insert(new_key, read.id.clone());
        }
        if let Some(user) = state.users.get_mut(&read.id) {
            user.email = change.new_email.clone();
            if change.end_sessions {
                user.auth_epoch += 1;
            }
        }
        if let Some(token) = change.token.and_then(|hash| state.tokens.get_mut(hash)) {
            token.used_at = Some(change.now);
        }
        Ok(EmailChanged::Changed)
    }

    async fn set_password(&self, id: &UserId, hash: &PasswordHash) -> anyhow::Result<bool> {
        let mut state = self.lock();
        let Some(user) = state.users.get_mut(id).filter(|u| u.status != UserStatus::RemovalRequested) else {
            return Ok(false);
        };
        user.password_hash = Some(hash.clone());
        user.auth_epoch += 1;
        Ok(true)
    }

    async fn set_name(&self, id: &UserId, name: &FullName) -> anyhow::Result<bool> {
        let mut state = self.lock();
        let Some(user) = state.users.get_mut(id).filter(|u| u.status != UserStatus::RemovalRequested) else {
            return Ok(false);
        };
        user.name = name.clone();
        Ok(true)
    }

    async fn raise_auth_epoch(&self, id: &UserId, epoch: u64, password: Option<&PasswordHash>) -> anyhow::Result<bool> {
        let mut state = self.lock();
        let Some(user) =
            state.users.get_mut(id).filter(|u| u.status != UserStatus::RemovalRequested && u.auth_epoch == epoch)
        else {
            return Ok(false);
        };
        if let Some(hash) = password {
            user.password_hash = Some(hash.clone());
        }
        user.auth_epoch += 1;
        Ok(true)
    }

    async fn set_disabled(&self, id: &UserId, epoch: u64, at: Option<Timestamp>) -> anyhow::Result<bool> {
        let mut state = self.lock();
        // As DynamoDB's condition: there, not being removed, in the epoch read, not already so.
        let Some(user) = state.users.get_mut(id).filter(|u| {
            u.status != UserStatus::RemovalRequested && u.auth_epoch == epoch && u.disabled_at.is_some() != at.is_some()
        }) else {
            return Ok(false);
        };
        if at.is_some() {
            user.auth_epoch += 1;
        }
        user.disabled_at = at;
        Ok(true)
    }

    async fn activate_user(&self, id: &UserId, now: Timestamp) -> anyhow::Result<bool> {
        let mut state = self.lock();
        let Some(user) = state.users.get_mut(id).filter(|u| u.status != UserStatus::RemovalRequested) else {
            return Ok(false);
        };
        user.status = UserStatus::Active;
        user.activated_at.get_or_insert(now);
        Ok(true)
    }

    /// The DynamoDB adapter's steps, one request each (`Tables::step`): the job row checked,
    /// the account read, then what it owns removed one by one, its counter, the rows naming
    /// its address, and last the one transaction of the account, its claims, the retirement
    /// record, the job row and the audit entry. A fault between two steps leaves what DynamoDB
    /// would: the account still there, some of what it owned gone.
    async fn delete_user(&self, request: &DeleteRequest<'_>) -> anyhow::Result<Deleted> {
        let user = request.user;
        let id = &user.id;
        if let Some((job, outcome)) = request.job_row {
            if self.step("delete_user: reading the job row", |state| state.row_settled(&job.id, outcome.row))? {
                return Ok(Deleted::AlreadySettled);
            }
        }
        if !self.step("delete_user: reading the account", |state| state.users.contains_key(id))? {
            return Ok(Deleted::NotFound);
        }
        for owned in self.step("delete_user: reading the references", |state| owned_by(state, id))? {
            let what = match &owned {
                Owned::Device(_) => "delete_user: a device",
                Owned::Row(..) => "delete_user: a job row",
                Owned::Session(_) => "delete_user: a session",
                Owned::Token(_) => "delete_user: a token",
            };
            self.step(what, |state| match owned {
                Owned::Device(hash) => {
                    state.devices.remove(&hash);
                }
                Owned::Session(hash) => {
                    state.sessions.remove(&hash);
                }
                Owned::Token(hash) => {
                    state.tokens.remove(&hash);
                }
                Owned::Row(job_id, row) => {
                    scrub(state, &job_id, row);
                    if let Some(rows) = state.rows_of_user.get_mut(id) {
                        rows.retain(|r| *r != (job_id.clone(), row));
                    }
                }
            })?;
        }
        self.step("delete_user: the sign-in counter", |state| state.counters.remove(request.counter_key))?;
        // As DynamoDB's `rows_by_email` index finds them: rows holding the address as written.
        let naming = self.step("delete_user: reading the rows naming the address", |state| {
            state.rows_by_address.get(&user.email.key()).cloned().unwrap_or_default()
        })?;
        for (job_id, row) in naming {
            self.step("delete_user: a row naming the address", |state| {
                scrub(state, &job_id, row);
                if let Some(rows) = state.rows_by_address.get_mut(&user.email.key()) {
                    rows.retain(|r| *r != (job_id.clone(), row));
                }
            })?;
        }
        self.step("delete_user: the final transaction", |state| final_transaction(state, request))
    }

    async fn retirement(&self, email_hmac: &str) -> anyhow::Result<Option<Retirement>> {
        Ok(self.lock().retirements.get(email_hmac).cloned())
    }

    async fn set_operator(&self, id: &UserId, operator: bool) -> anyhow::Result<bool> {
        let mut state = self.lock();
        let allowed = |u: &&mut User| {
            if operator {
                u.status == UserStatus::Active
            } else {
                u.status != UserStatus::RemovalRequested
            }
        };
        let Some(user) = state.users.get_mut(id).filter(allowed) else {
            return Ok(false);
        };
        user.operator = operator;
        // Support is held only with the operator role (as the DynamoDB update removes both).
        user.support &= operator;
        Ok(true)
    }

    async fn set_support(&self, id: &UserId, support: bool) -> anyhow::Result<bool> {
        let mut state = self.lock();
        let allowed = |u: &&mut User| {
            if support {
                u.status == UserStatus::Active && u.operator
            } else {
                u.status != UserStatus::RemovalRequested
            }
        };
        let Some(user) = state.users.get_mut(id).filter(allowed) else {
            return Ok(false);
        };
        user.support = support;
        Ok(true)
    }

    async fn mark_mail_refused(&self, id: &UserId, refusal: &MailRefusal) -> anyhow::Result<bool> {
        let mut state = self.lock();
        let Some(user) = state.users.get_mut(id) else {
            return Ok(false);
        };
        user.mail_refused = Some(refusal.clone());
        Ok(true)
    }

    async fn clear_mail_refusal(&self, id: &UserId) -> anyhow::Result<bool> {
        let mut state = self.lock();
        let Some(user) = state.users.get_mut(id) else {
            return Ok(false);
        };
        user.mail_refused = None;
        Ok(true)
    }

    async fn operators(&self) -> anyhow::Result<Vec<User>> {
        let mut operators: Vec<User> = self.lock().users.values().filter(|u| u.operator).cloned().collect();
        operators.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(operators)
    }

    async fn request_removal(&self, id: &UserId) -> anyhow::Result<bool> {
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
        match state.slots.get_mut(key) {
            Some((uses, until)) if *until > now => {
                let allowed = *uses < limit;
                *uses += u32::from(allowed);
                Ok(allowed)
            }
            // No window yet, or it is over: a new one starts with this use.
            _ => {
                state.slots.insert(key.to_owned(), (1, now.plus_seconds(window_seconds)));
                Ok(true)
            }
        }
    }

    async fn find_users(&self, query: &UserQuery) -> anyhow::Result<UserPage> {
        self.query_users(query)
    }

    async fn quota_used(&self, key: &str, now: Timestamp) -> anyhow::Result<u32> {
        let slot = self.lock().slots.get(key).copied();
        Ok(slot.filter(|(_, until)| *until > now).map_or(0, |(uses, _)| uses))
    }
}

/// What the account's references point at, in their sort-key order.
fn owned_by(state: &State, id: &UserId) -> Vec<Owned> {
    let mut devices: Vec<TokenHash> =
        state.devices.values().filter(|d| d.user_id == *id).map(|d| d.hash.clone()).collect();
    let mut sessions: Vec<TokenHash> =
        state.sessions.values().filter(|s| s.user_id == *id).map(|s| s.hash.clone()).collect();
    let mut tokens: Vec<TokenHash> =
        state.tokens.values().filter(|t| t.user_id == *id).map(|t| t.hash.clone()).collect();
    for hashes in [&mut devices, &mut sessions, &mut tokens] {
        hashes.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    }
    let rows = state.rows_of_user.get(id).cloned().unwrap_or_default();
    let mut owned: Vec<Owned> = devices.into_iter().map(Owned::Device).collect();
    owned.extend(rows.into_iter().map(|(job, row)| Owned::Row(job, row)));
    owned.extend(sessions.into_iter().map(Owned::Session));
    owned.extend(tokens.into_iter().map(Owned::Token));
    owned
}

/// Replaces a job row's address with `(deleted)`.
fn scrub(state: &mut State, job_id: &str, row: u64) {
    if let Some(outcome) = state.job_rows.get_mut(job_id).and_then(|rows| rows.get_mut(&row)) {
        outcome.email = DELETED_EMAIL.to_owned();
    }
}

/// A deletion's last step, with the conditions of its DynamoDB transaction: the account is
/// there, its claims are its own (or gone), the job row and the audit entry are new. Cancelled
/// as a whole otherwise.
fn final_transaction(state: &mut State, request: &DeleteRequest<'_>) -> Deleted {
    let user = request.user;
    let id = &user.id;
    let row_new = request.job_row.is_none_or(|(job, outcome)| !state.row_settled(&job.id, outcome.row));
    let ours = |claim: Option<&UserId>| claim.is_none_or(|holder| holder == id);
    let applies = state.users.contains_key(id)
        && ours(state.emails.get(&user.email.key()))
        && ours(state.usernames.get(&user.username.key()))
        && row_new
        && request.audit.is_none_or(|entry| !state.audit_exists(entry));
    if !applies {
        return if row_new { Deleted::NotFound } else { Deleted::AlreadySettled };
    }
    state.users.remove(id);
    state.second_factors.remove(id);
    if state.emails.get(&user.email.key()) == Some(id) {
        state.emails.remove(&user.email.key());
    }
    if state.usernames.get(&user.username.key()) == Some(id) {
        state.usernames.remove(&user.username.key());
    }
    state.retirements.insert(request.retirement.email_hmac.clone(), request.retirement.clone());
    if let Some((job, outcome)) = request.job_row {
        state.note_row(&job.id, outcome);
    }
    if let Some(entry) = request.audit {
        state.put_audit(entry);
    }
    Deleted::Deleted
}
