//! The in-memory `OidcStore`: one lock makes every step atomic, as DynamoDB's conditional
//! writes and transactions are in `aws::dynamodb::oidc`.

use crate::domain::oidc::{ClientId, CodeRecord, CodeUse, GrantToken, OidcClient};
use crate::domain::{Timestamp, TokenHash};
use crate::ports::{GrantTokenKind, OidcStore};
use async_trait::async_trait;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

#[derive(Default)]
pub struct MemoryOidcStore {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    clients: BTreeMap<ClientId, OidcClient>,
    codes: HashMap<TokenHash, CodeRecord>,
    access: HashMap<TokenHash, GrantToken>,
    refresh: HashMap<TokenHash, GrantToken>,
    revoked: HashMap<String, Timestamp>,
}

impl State {
    fn tokens(&mut self, kind: GrantTokenKind) -> &mut HashMap<TokenHash, GrantToken> {
        match kind {
            GrantTokenKind::Access => &mut self.access,
            GrantTokenKind::Refresh => &mut self.refresh,
        }
    }
}

impl MemoryOidcStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves no half-written step: every step is one insert.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait]
impl OidcStore for MemoryOidcStore {
    async fn create_client(&self, client: &OidcClient) -> anyhow::Result<()> {
        let mut state = self.state();
        anyhow::ensure!(!state.clients.contains_key(&client.id), "an application has the id {} already", client.id);
        state.clients.insert(client.id.clone(), client.clone());
        Ok(())
    }

    async fn client(&self, id: &ClientId) -> anyhow::Result<Option<OidcClient>> {
        Ok(self.state().clients.get(id).cloned())
    }

    async fn clients(&self) -> anyhow::Result<Vec<OidcClient>> {
        Ok(self.state().clients.values().cloned().collect())
    }

    async fn delete_client(&self, id: &ClientId) -> anyhow::Result<bool> {
        Ok(self.state().clients.remove(id).is_some())
    }

    async fn set_client_secret(&self, id: &ClientId, hash: &TokenHash) -> anyhow::Result<bool> {
        Ok(match self.state().clients.get_mut(id) {
            Some(client) => {
                client.secret_hash = Some(hash.clone());
                true
            }
            None => false,
        })
    }

    async fn put_code(&self, code: &CodeRecord) -> anyhow::Result<()> {
        self.state().codes.insert(code.hash.clone(), code.clone());
        Ok(())
    }

    async fn consume_code(&self, hash: &TokenHash, now: Timestamp) -> anyhow::Result<CodeUse> {
        let mut state = self.state();
        let Some(code) = state.codes.get_mut(hash) else {
            return Ok(CodeUse::Unknown);
        };
        if code.used_at.is_some() {
            return Ok(CodeUse::AlreadyUsed(code.clone()));
        }
        code.used_at = Some(now);
        Ok(CodeUse::Consumed(code.clone()))
    }

    async fn put_token(&self, kind: GrantTokenKind, token: &GrantToken) -> anyhow::Result<()> {
        self.state().tokens(kind).insert(token.hash.clone(), token.clone());
        Ok(())
    }

    async fn grant_token(&self, kind: GrantTokenKind, hash: &TokenHash) -> anyhow::Result<Option<GrantToken>> {
        Ok(self.state().tokens(kind).get(hash).cloned())
    }

    async fn rotate_refresh_token(&self, used: &TokenHash, next: &GrantToken, now: Timestamp) -> anyhow::Result<bool> {
        let mut state = self.state();
        match state.refresh.get_mut(used) {
            Some(token) if token.used_at.is_none() => token.used_at = Some(now),
            _ => return Ok(false),
        }
        state.refresh.insert(next.hash.clone(), next.clone());
        Ok(true)
    }

    async fn revoke_family(&self, family: &str, until: Timestamp) -> anyhow::Result<()> {
        let mut state = self.state();
        let entry = state.revoked.entry(family.to_owned()).or_insert(until);
        *entry = (*entry).max(until);
        Ok(())
    }

    async fn family_revoked(&self, family: &str, now: Timestamp) -> anyhow::Result<bool> {
        Ok(self.state().revoked.get(family).is_some_and(|until| now <= *until))
    }
}
