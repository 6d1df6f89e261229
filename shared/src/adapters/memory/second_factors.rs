//! `SecondFactorStore` in memory: an account's factors as one versioned record (removed with
//! the account), and ceremony challenges, each taken once.

use super::Tables;
use crate::domain::{Challenge, SecondFactors, Timestamp, TokenHash, UserId};
use crate::ports::SecondFactorStore;
use async_trait::async_trait;

#[async_trait]
impl SecondFactorStore for Tables {
    async fn second_factors(&self, user_id: &UserId) -> anyhow::Result<SecondFactors> {
        Ok(self.lock().second_factors.get(user_id).cloned().unwrap_or_default())
    }

    async fn save_second_factors(&self, user_id: &UserId, next: &SecondFactors) -> anyhow::Result<bool> {
        anyhow::ensure!(next.version > 0, "a saved record of second factors has a version above 0");
        let mut state = self.lock();
        let stored = state.second_factors.get(user_id).map_or(0, |f| f.version);
        // As DynamoDB's condition: the item is absent and this is version 1, or holds the one before.
        if stored + 1 != next.version || !state.users.contains_key(user_id) {
            return Ok(false);
        }
        state.second_factors.insert(user_id.clone(), next.clone());
        Ok(true)
    }

    async fn put_challenge(&self, challenge: &Challenge) -> anyhow::Result<()> {
        let mut state = self.lock();
        anyhow::ensure!(!state.challenges.contains_key(&challenge.hash), "challenge hash collision");
        state.challenges.insert(challenge.hash.clone(), challenge.clone());
        Ok(())
    }

    async fn challenge(&self, hash: &TokenHash, now: Timestamp) -> anyhow::Result<Option<Challenge>> {
        Ok(self.lock().challenges.get(hash).filter(|c| now < c.expires_at).cloned())
    }

    async fn take_challenge(&self, hash: &TokenHash, now: Timestamp) -> anyhow::Result<Option<Challenge>> {
        let mut state = self.lock();
        // An expired challenge stays (TTL removes it on DynamoDB) and is taken by no one.
        if state.challenges.get(hash).is_none_or(|c| now >= c.expires_at) {
            return Ok(None);
        }
        Ok(state.challenges.remove(hash))
    }
}
