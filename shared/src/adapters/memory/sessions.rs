//! `SessionStore` in memory: sessions and known browsers, each removed with its account.

use super::Tables;
use crate::domain::{DeviceRecord, SessionRecord, Timestamp, TokenHash, UserId};
use crate::ports::SessionStore;
use async_trait::async_trait;

#[async_trait]
impl SessionStore for Tables {
    async fn create_session(&self, session: &SessionRecord) -> anyhow::Result<()> {
        let mut state = self.lock();
        anyhow::ensure!(!state.sessions.contains_key(&session.hash), "session hash collision");
        state.sessions.insert(session.hash.clone(), session.clone());
        Ok(())
    }

    async fn session(&self, hash: &TokenHash, now: Timestamp) -> anyhow::Result<Option<SessionRecord>> {
        Ok(self.lock().sessions.get(hash).filter(|s| !s.is_expired(now)).cloned())
    }

    async fn delete_session(&self, hash: &TokenHash) -> anyhow::Result<()> {
        self.lock().sessions.remove(hash);
        Ok(())
    }

    async fn sessions_of(&self, user_id: &UserId, now: Timestamp) -> anyhow::Result<Vec<SessionRecord>> {
        let state = self.lock();
        let mut sessions: Vec<SessionRecord> =
            state.sessions.values().filter(|s| s.user_id == *user_id && !s.is_expired(now)).cloned().collect();
        sessions.sort_by(|a, b| (a.created_at, a.hash.as_str()).cmp(&(b.created_at, b.hash.as_str())));
        Ok(sessions)
    }

    async fn create_device(&self, device: &DeviceRecord) -> anyhow::Result<()> {
        let mut state = self.lock();
        anyhow::ensure!(!state.devices.contains_key(&device.hash), "device hash collision");
        state.devices.insert(device.hash.clone(), device.clone());
        Ok(())
    }

    async fn delete_device(&self, user_id: &UserId, hash: &TokenHash) -> anyhow::Result<()> {
        let mut state = self.lock();
        if state.devices.get(hash).is_some_and(|d| d.user_id == *user_id) {
            state.devices.remove(hash);
        }
        Ok(())
    }

    async fn known_devices(&self, user_id: &UserId, now: Timestamp) -> anyhow::Result<Vec<TokenHash>> {
        let state = self.lock();
        let mut devices: Vec<&DeviceRecord> =
            state.devices.values().filter(|d| d.user_id == *user_id && now < d.expires_at).collect();
        // Oldest first, as DynamoDB orders them (by expiry, then hash).
        devices.sort_by(|a, b| (a.expires_at, a.hash.as_str()).cmp(&(b.expires_at, b.hash.as_str())));
        Ok(devices.into_iter().map(|d| d.hash.clone()).collect())
    }

    async fn device(&self, hash: &TokenHash, now: Timestamp) -> anyhow::Result<Option<DeviceRecord>> {
        Ok(self.lock().devices.get(hash).filter(|d| now < d.expires_at).cloned())
    }

    async fn touch_session(
        &self,
        hash: &TokenHash,
        last_seen_at: Timestamp,
        password_at: Timestamp,
    ) -> anyhow::Result<()> {
        if let Some(session) = self.lock().sessions.get_mut(hash) {
            session.last_seen_at = last_seen_at;
            session.password_at = password_at;
        }
        Ok(())
    }
}
