//! `LoginAttempts` in memory: one counter per canonical email, each step one atomic change
//! with the conditions of the DynamoDB adapter's conditional updates.

use super::Tables;
use crate::domain::{LockedNow, LockoutPolicy, LockoutState, Reservation, Timestamp, UserId};
use crate::ports::LoginAttempts;
use async_trait::async_trait;

/// A sign-in failure counter, as the DynamoDB item holds it.
pub(super) struct Counter {
    failures: u32,
    locked_until: Option<Timestamp>,
    expires_at: Timestamp,
    /// The account a lock was noted for (`mark_locked`), while that lock lasts.
    locked_user: Option<UserId>,
}

impl Counter {
    /// The account this counter holds locked at `now`, as DynamoDB's `locked` index lists it.
    pub(super) fn locked_user(&self, now: Timestamp) -> Option<(UserId, Timestamp)> {
        let until = self.locked_until.filter(|until| *until > now)?;
        self.locked_user.clone().map(|user| (user, until))
    }
}

#[async_trait]
impl LoginAttempts for Tables {
    async fn reserve(&self, key: &str, now: Timestamp, policy: LockoutPolicy) -> anyhow::Result<Reservation> {
        let mut state = self.lock();
        let window_end = now.plus_seconds(policy.lockout_seconds);
        let fresh = Counter { failures: 1, locked_until: None, expires_at: window_end, locked_user: None };
        match state.counters.get_mut(key) {
            None => {
                state.counters.insert(key.to_owned(), fresh);
                Ok(Reservation::Granted)
            }
            // The lock (or the counting window) has run out: a new count starts.
            Some(counter) if counter.expires_at <= now || counter.locked_until.is_some_and(|until| until <= now) => {
                *counter = fresh;
                Ok(Reservation::Granted)
            }
            Some(counter) if counter.locked_until.is_none() && counter.failures < policy.max_failures => {
                counter.failures += 1;
                counter.expires_at = window_end;
                Ok(Reservation::Granted)
            }
            Some(counter) => Ok(Reservation::Refused { locked_until: counter.locked_until }),
        }
    }

    async fn record_failure(
        &self,
        key: &str,
        now: Timestamp,
        policy: LockoutPolicy,
    ) -> anyhow::Result<Option<LockedNow>> {
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
        self.lock().counters.remove(key);
        Ok(())
    }

    async fn release(&self, key: &str) -> anyhow::Result<()> {
        if let Some(counter) = self.lock().counters.get_mut(key) {
            if counter.locked_until.is_none() && counter.failures > 0 {
                counter.failures -= 1;
            }
        }
        Ok(())
    }

    async fn state(&self, key: &str, now: Timestamp) -> anyhow::Result<LockoutState> {
        Ok(match self.lock().counters.get(key) {
            Some(counter) if counter.expires_at > now => LockoutState {
                failures: counter.failures,
                locked_until: counter.locked_until.filter(|until| *until > now),
            },
            _ => LockoutState::default(),
        })
    }

    async fn mark_locked(&self, key: &str, user_id: Option<&UserId>, until: Timestamp) -> anyhow::Result<()> {
        if let Some(counter) = self.lock().counters.get_mut(key) {
            if counter.locked_until == Some(until) {
                counter.locked_user = user_id.cloned();
            }
        }
        Ok(())
    }

    async fn locked_now(&self, now: Timestamp, limit: usize) -> anyhow::Result<Vec<(UserId, Timestamp)>> {
        Ok(self.query_locked(now, limit))
    }
}
