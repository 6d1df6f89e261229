//! `UserStore` in memory.

use crate::domain::{Timestamp, TokenHash, TokenPurpose, TokenRecord, User, UserId, UserStatus};
use crate::ports::{CreateUserError, TokenUse, UserStore};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    users: HashMap<UserId, User>,
    emails: HashMap<String, UserId>,
    usernames: HashMap<String, UserId>,
    tokens: HashMap<TokenHash, TokenRecord>,
    /// Rate-limit slots: key -> end of the window.
    slots: HashMap<String, Timestamp>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves no half-written state (every write below is
        // complete or absent), so a poisoned lock is safe to keep using.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Every stored value as text, for tests that look for personal data left behind.
    pub fn dump(&self) -> Vec<String> {
        let state = self.lock();
        let mut out: Vec<String> = state
            .users
            .values()
            .map(|u| format!("{u:?} {} {}", u.email, u.name))
            .collect();
        out.extend(state.emails.keys().cloned());
        out.extend(state.usernames.keys().cloned());
        out.extend(state.tokens.values().map(|t| format!("{t:?}")));
        out.extend(state.slots.keys().cloned());
        out
    }
}

#[async_trait]
impl UserStore for MemoryStore {
    async fn create_user(
        &self,
        user: &User,
        token: Option<&TokenRecord>,
    ) -> Result<(), CreateUserError> {
        let mut state = self.lock();
        let email_taken = state.emails.contains_key(&user.email.key());
        let username_taken = state.usernames.contains_key(&user.username.key());
        let token_taken = token.is_some_and(|t| state.tokens.contains_key(&t.hash));
        if email_taken || username_taken || state.users.contains_key(&user.id) {
            return Err(CreateUserError::Taken {
                email_taken,
                username_taken,
            });
        }
        if token_taken {
            return Err(CreateUserError::Unexpected(anyhow::anyhow!(
                "token hash collision"
            )));
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
        Ok(state
            .emails
            .get(email_key)
            .and_then(|id| state.users.get(id))
            .cloned())
    }

    async fn user_by_id(&self, id: &UserId) -> anyhow::Result<Option<User>> {
        Ok(self.lock().users.get(id).cloned())
    }

    async fn put_token(&self, token: &TokenRecord) -> anyhow::Result<()> {
        let mut state = self.lock();
        if state.tokens.contains_key(&token.hash) {
            anyhow::bail!("token hash collision");
        }
        state.tokens.insert(token.hash.clone(), token.clone());
        Ok(())
    }

    async fn consume_activation_token(
        &self,
        hash: &TokenHash,
        now: Timestamp,
    ) -> anyhow::Result<TokenUse> {
        let mut state = self.lock();
        let Some(record) = state
            .tokens
            .get(hash)
            .filter(|t| t.purpose == TokenPurpose::Activation)
            .cloned()
        else {
            return Ok(TokenUse::Unknown);
        };
        if record.used_at.is_some() {
            return Ok(TokenUse::AlreadyUsed(record));
        }
        if record.is_expired(now) {
            return Ok(TokenUse::Expired(record));
        }
        // As in the DynamoDB transaction: the user must exist and not be on its way out.
        let Some(user) = state
            .users
            .get_mut(&record.user_id)
            .filter(|u| u.status != UserStatus::RemovalRequested)
        else {
            return Ok(TokenUse::Unknown);
        };
        user.status = UserStatus::Active;
        user.activated_at.get_or_insert(now);
        let token = state
            .tokens
            .get_mut(hash)
            .expect("token read above under the same lock");
        token.used_at = Some(now);
        Ok(TokenUse::Consumed(token.clone()))
    }

    async fn claim_slot(
        &self,
        key: &str,
        now: Timestamp,
        window_seconds: i64,
    ) -> anyhow::Result<bool> {
        let mut state = self.lock();
        match state.slots.get(key) {
            Some(until) if *until > now => Ok(false),
            _ => {
                state
                    .slots
                    .insert(key.to_owned(), now.plus_seconds(window_seconds));
                Ok(true)
            }
        }
    }
}
